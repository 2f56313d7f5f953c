"""Alert states: persistence (`for`), `keep_firing_for`, min_samples, and/or, multiple-testing
corrections; the Python API's inputs; and the demo data's injected events in the results."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats as sps

from planspec.compile import compile_plan
from planspec.demo import EVENTS, write_demo_data
from planspec.engine import adjust, fire
from planspec.load import load_plan
from planspec.profile import build_profile

from .enginekit import DAY, T0, day_end, frame, plan_with

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("levels", "for_", "keep", "expected"), [
    ([2, 2, 0, 0, 0], 2, 1, [0, 2, 2, 0, 0]),
    ([2, 0, 2, 0], 2, 0, [0, 0, 0, 0]),  # never two in a row
    ([2, 2, 0], 1, 0, [2, 2, 0]),
    ([1, 1, 2, 2, 1, 0, 0], 2, 0, [0, 1, 1, 2, 1, 0, 0]),  # fail drops back to warn
    ([2, -1, 2, 0], 2, 0, [0, 0, 2, 0]),  # insufficient data neither breaks nor extends a run
    ([2, 2, -1, -1, 0, 0], 1, 1, [2, 2, 2, 2, 2, 0]),  # nor counts as clean
])
def test_fire(levels: list[int], for_: int, keep: int, expected: list[int]) -> None:
    assert fire(levels, for_, keep) == expected


def test_bonferroni_and_bh_match_references() -> None:
    rng = np.random.default_rng(1)
    p = rng.random((6, 40)) ** 3
    p[2, 5] = np.nan  # a test with no data in one window
    bonf = adjust(p, "bonferroni")
    bh = adjust(p, "bh")
    for w in range(p.shape[1]):
        col = p[:, w]
        ok = ~np.isnan(col)
        assert np.allclose(bonf[ok, w], np.minimum(col[ok] * ok.sum(), 1))
        assert np.allclose(bh[ok, w], sps.false_discovery_control(col[ok], method="bh"))
        assert np.isnan(bh[~ok, w]).all()
    assert adjust(p, "none") is p


def _run(inputs: dict[str, str], cur: dict[str, np.ndarray], base: dict[str, np.ndarray],
         **kw: object) -> dict[str, list[str]]:
    program = compile_plan(plan_with(inputs, **kw))  # type: ignore[arg-type]
    results = program.run(cur, build_profile(program, base), as_of=day_end(cur))
    return {c.id: [w.status for w in c.windows] for c in results.checks}


def test_min_samples_gives_insufficient_data() -> None:
    rng = np.random.default_rng(2)
    base = frame(rng, 2000, 30, start=T0 - 40 * DAY)
    cur = frame(rng, 300, 14)
    cur_ts = cur["ts"].astype(np.int64)
    sparse = cur_ts < T0 + 7 * DAY
    keep = ~sparse | (np.arange(cur_ts.size) % 10 == 0)  # week 1 keeps a tenth of its rows
    cur = {k: v[keep] for k, v in cur.items()}
    statuses = _run({"m": "mean(x) shift > 100 sd"}, cur, base, min_samples=50)
    assert statuses["m"] == ["insufficient_data", "ok"]


def test_and_or_and_warn_levels() -> None:
    rng = np.random.default_rng(3)
    base = frame(rng, 5000, 30, start=T0 - 40 * DAY)
    cur = frame(rng, 3000, 21)
    cur["x"][cur["ts"].astype(np.int64) >= T0 + 7 * DAY] += 1.0  # weeks 2-3 move one SD
    statuses = _run({
        "gate": "mean(x) shift > 0.5 sd and ks(x).pvalue < 0.001",
        "either": "mean(x) shift > 50 sd or ks(x) > 0.2",
        "never": "mean(x) shift > 0.5 sd and ks(x).pvalue > 0.5",
    }, cur, base)
    assert statuses["gate"] == ["ok", "fail", "fail"]
    assert statuses["either"] == ["ok", "fail", "fail"]
    assert statuses["never"] == ["ok", "ok", "ok"]
    program = compile_plan(plan_with({"lv": "mean(x) shift > 3 sd"}, extra={}))
    assert program.rules[0].warn is None


def test_warn_level_between_ok_and_fail() -> None:
    rng = np.random.default_rng(4)
    base = frame(rng, 5000, 30, start=T0 - 40 * DAY)
    cur = frame(rng, 3000, 21)
    week = (cur["ts"].astype(np.int64) - T0) // (7 * DAY)
    cur["x"] = cur["x"] + np.choose(week, [0.0, 1.0, 2.0])
    plan = plan_with({"a": "mean(x) shift > 1.5 sd"})
    data = plan.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["input_alerts"][0]["warn"] = "mean(x) shift > 0.5 sd"
    program = compile_plan(type(plan).model_validate(data))
    results = program.run(cur, build_profile(program, base), as_of=day_end(cur))
    assert [w.status for w in results.checks[0].windows] == ["ok", "warn", "fail"]


def test_corrections_adjust_across_the_distinct_tests_of_a_window() -> None:
    rng = np.random.default_rng(11)
    base = frame(rng, 4000, 30, start=T0 - 40 * DAY)
    cur = frame(rng, 600, 35, shift=0.1)
    # Two distinct p-value tests (ks(x) is used twice but is one test): m = 2 per window.
    inputs = {"a": "ks(x).pvalue < 0.05", "b": "chi2(c).pvalue < 0.05", "c": "ks(x).pvalue < 0.01"}

    def pvalues(correction: str) -> dict[str, np.ndarray]:
        program = compile_plan(plan_with(inputs, correction=correction))
        results = program.run(cur, build_profile(program, base))
        return {c.id: np.array([w.value for w in c.windows]) for c in results.checks}

    raw, bonf, bh = pvalues("none"), pvalues("bonferroni"), pvalues("bh")
    assert np.array_equal(raw["a"], raw["c"])
    assert np.allclose(bonf["a"], np.minimum(raw["a"] * 2, 1))
    assert np.allclose(bonf["b"], np.minimum(raw["b"] * 2, 1))
    for w in range(raw["a"].size):
        expected = sps.false_discovery_control([raw["a"][w], raw["b"][w]], method="bh")
        assert np.allclose([bh["a"][w], bh["b"][w]], expected)


@pytest.mark.parametrize("kind", ["pyarrow", "dict", "pandas", "polars"])
def test_api_accepts_tables_and_frames(kind: str) -> None:
    rng = np.random.default_rng(6)
    base = frame(rng, 2000, 30, start=T0 - 40 * DAY)
    cur = frame(rng, 2000, 14)
    program = compile_plan(plan_with({"m": "mean(x) shift > 2 sd", "c": "psi(c) > 0.2"}))
    expected = program.run(cur, build_profile(program, base)).model_dump()

    def convert(d: dict[str, np.ndarray]) -> object:
        if kind == "dict":
            return d
        table = pa.table({k: pa.array(v.tolist() if v.dtype == object else v)
                          for k, v in d.items()})
        if kind == "pyarrow":
            return table
        if kind == "pandas":
            return table.to_pandas()
        polars = pytest.importorskip("polars")
        return polars.from_arrow(table)

    got = program.run(convert(cur), convert(base)).model_dump()
    assert got == expected


def test_results_serialize_to_json_and_back() -> None:
    rng = np.random.default_rng(8)
    program = compile_plan(plan_with({"m": "mean(x) shift > 2 sd"}))
    results = program.run(frame(rng, 500, 14), frame(rng, 500, 30, start=T0 - 40 * DAY))
    again = type(results).model_validate_json(results.model_dump_json())
    assert again == results


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    d = tmp_path_factory.mktemp("demo")
    paths = write_demo_data(d, rows=150_000)
    parsed = load_plan(ROOT / "plans" / "rental_inspector.yaml")
    assert parsed.plan is not None
    program = compile_plan(parsed.plan, parsed.source_map)
    results = program.run(str(paths["scored"]), str(paths["baseline"]), outcomes={
        name: str(paths[name]) for name in ("inspector_audits", "lease_registry")})
    return {"results": json.loads(results.model_dump_json()),
            "injected": json.loads(paths["injected"].read_text())}


def _day(s: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).replace(
        tzinfo=datetime.UTC)


def test_demo_checks_fire_where_drift_was_injected(demo_results: dict[str, object]) -> None:
    results, injected = demo_results["results"], demo_results["injected"]
    checks = {c["id"]: c for c in results["checks"]}  # type: ignore[index]
    assert {e["id"] for e in injected} == {e.id for e in EVENTS}  # type: ignore[union-attr]
    for event in injected:  # type: ignore[union-attr]
        start, end = _day(event["start"]), _day(event["end"])
        for alert in event["expect"]:
            # Outcome monitors can only judge windows whose outcomes have arrived.
            inside = [w for w in checks[alert]["windows"] if w["status"] != "immature"
                      and _day(w["start"]) >= start and _day(w["end"]) <= end]
            assert inside, (event["id"], alert)
            assert all(w["status"] == "fail" for w in inside), (event["id"], alert)


def test_demo_checks_stay_quiet_elsewhere(demo_results: dict[str, object]) -> None:
    results, injected = demo_results["results"], demo_results["injected"]
    # Concept drift does not move inputs or outputs: for them its period must stay quiet too.
    # Outcome monitors see every event that changes quality, concept drift included.
    every = [(_day(e["start"]), _day(e["end"])) for e in injected]  # type: ignore[union-attr]
    visible = [(_day(e["start"]), _day(e["end"])) for e in injected  # type: ignore[union-attr]
               if e["kind"] != "concept drift"]
    for check in results["checks"]:  # type: ignore[index]
        spans = every if check["kind"] == "outcome" else visible
        for w in check["windows"]:
            if w["status"] != "fail":
                continue
            s, e = _day(w["start"]), _day(w["end"])
            assert any(s < hi and e > lo for lo, hi in spans), (check["id"], w["start"])
