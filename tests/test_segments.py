"""Segments (`by: COLUMN`): each segment judged as if its rows were checked alone, in one pass;
unseen segments, the segment cap, the correction across segments, batches and the store; the
demo's segment-only drift."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from planspec.compile import compile_plan
from planspec.demo import write_demo_data
from planspec.engine.run import run_program
from planspec.load import load_plan
from planspec.profile import build_profile, load_profile
from planspec.render import render_runbook

from .enginekit import DAY, T0, frame, plan_with

ROOT = Path(__file__).resolve().parent.parent

SEGMENTED = {"shift": "mean(x) shift > 0.5 sd", "missing": "missing_rate(x) > 20%",
             "rate": "rate(p >= 0.5) change > 30%", "volume": "count change > 40%",
             "mean": "mean(x) > 0.3"}


def _by(plan: Any, by: str | None = "c", **defaults: object) -> Any:
    data = plan.model_dump(by_alias=True, mode="json")
    for a in data["input_alerts"] + data["output_alerts"]:
        a["by"] = by
    data["defaults"].update(defaults)
    return type(plan).model_validate(data)


def _data(seed: int = 5) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    base = frame(rng, 6000, 28, start=T0 - 35 * DAY, missing=0.05, categories=3)
    cur = frame(rng, 6000, 28, missing=0.05, categories=3)
    k1 = cur["c"] == "k1"  # one segment moves: mean, missing values and predictions
    cur["x"][k1] += 0.8
    cur["p"][k1] = np.minimum(cur["p"][k1] * 1.6, 1.0)
    return base, cur


def _only(data: dict[str, np.ndarray], value: str | None) -> dict[str, np.ndarray]:
    keep = np.array([v == value for v in data["c"]]) if value is not None else \
        np.array([v is None for v in data["c"]])
    return {k: v[keep] for k, v in data.items()}


def test_segmented_results_equal_checking_each_segment_alone() -> None:
    base, cur = _data()
    plain = plan_with({k: v for k, v in SEGMENTED.items() if k != "rate"},
                      {"rate": SEGMENTED["rate"]}, min_samples=100)
    program = compile_plan(_by(plain))
    results = program.run(cur, build_profile(program, base))
    by_id = {c.id: c for c in results.checks}
    alone = compile_plan(plain)
    for value, label in (("k0", "k0"), ("k1", "k1"), ("k2", "k2"), (None, "(missing)")):
        separate = alone.run(_only(cur, value), build_profile(alone, _only(base, value)))
        for c in separate.checks:
            seg = by_id[f"{c.id}[c={label}]"]
            assert (seg.by, seg.segment, seg.segment_baseline) == ("c", label, "segment")
            assert [w.start for w in seg.windows] == [w.start for w in c.windows]
            assert [w.status for w in seg.windows] == [w.status for w in c.windows], c.id
            assert [w.n for w in seg.windows] == [w.n for w in c.windows]
            for a, b in zip(seg.windows, c.windows, strict=True):
                assert (a.value is None) == (b.value is None)
                if a.value is not None and b.value is not None:
                    assert a.value == pytest.approx(b.value, rel=1e-9, abs=1e-12), c.id
    statuses = {c.id: {w.status for w in c.windows} for c in results.checks}
    assert "fail" in statuses["shift[c=k1]"] and "fail" not in statuses["shift[c=k0]"]
    assert results.segments is not None
    assert {(s.alert, s.tested, s.dropped) for s in results.segments} == {
        (a, 4, 0) for a in SEGMENTED}


def test_batches_and_tables_give_the_same_segments() -> None:
    base, cur = _data(6)
    program = compile_plan(_by(plan_with(SEGMENTED)))
    profile = build_profile(program, base)
    whole = run_program(program, cur, profile)
    batched = run_program(program, cur, profile, batch_rows=777)
    assert [(c.id, [(w.status, w.n) for w in c.windows]) for c in whole.checks] == \
        [(c.id, [(w.status, w.n) for w in c.windows]) for c in batched.checks]
    for a, b in zip(whole.checks, batched.checks, strict=True):
        for x, y in zip(a.windows, b.windows, strict=True):
            assert (x.value is None and y.value is None) or x.value == pytest.approx(y.value)


@pytest.mark.parametrize(("policy", "expected"), [
    ("insufficient_data", ({"insufficient_data"}, "none", 2)),
    ("overall", ({"ok", "fail"}, "overall", 3))])
def test_a_segment_the_baseline_never_saw(policy: str, expected: tuple[Any, ...]) -> None:
    rng = np.random.default_rng(7)
    base = frame(rng, 4000, 28, start=T0 - 35 * DAY, categories=2)
    cur = frame(rng, 4000, 14, categories=3)  # k2 is new
    cur["x"][cur["c"] == "k2"] += 2.0
    program = compile_plan(_by(plan_with({"m": "mean(x) shift > 1 sd"}),
                               unseen_segments=policy))
    results = program.run(cur, build_profile(program, base))
    new = next(c for c in results.checks if c.id == "m[c=k2]")
    statuses, baseline, tested = expected
    assert {w.status for w in new.windows} <= statuses and new.segment_baseline == baseline
    assert results.segments is not None and results.segments[0].unseen == ["k2"]
    assert results.segments[0].tested == tested


def test_the_segment_cap_keeps_the_largest() -> None:
    rng = np.random.default_rng(8)
    base = frame(rng, 4000, 28, start=T0 - 35 * DAY, categories=4)
    cur = frame(rng, 4000, 14, categories=4)
    cur["c"][np.isin(cur["c"], ["k3"]) & (rng.random(cur["c"].size) < 0.7)] = "k0"
    program = compile_plan(_by(plan_with({"m": "mean(x) shift > 1 sd"}), max_segments=2))
    results = program.run(cur, build_profile(program, base))
    counts = {v: int((cur["c"] == v).sum()) for v in ("k0", "k1", "k2", "k3")}
    top = sorted(counts, key=lambda v: (-counts[v], v))[:2]
    assert sorted(c.segment for c in results.checks) == sorted(top)  # type: ignore[type-var]
    assert results.segments is not None and results.segments[0].dropped == 2


def test_the_correction_covers_every_segment() -> None:
    rng = np.random.default_rng(9)
    base = frame(rng, 3000, 28, start=T0 - 35 * DAY, categories=3)
    cur = frame(rng, 3000, 14, categories=3)
    plain = plan_with({"k": "ks(x).pvalue < 0.05"})
    raw = compile_plan(_by(plain))
    profile = build_profile(raw, base)
    none = {c.id: c for c in raw.run(cur, profile).checks}
    bonf = compile_plan(_by(plain, correction="bonferroni"))
    adjusted = {c.id: c for c in bonf.run(cur, profile).checks}
    assert set(none) == set(adjusted) == {"k[c=k0]", "k[c=k1]", "k[c=k2]"}
    for cid, c in none.items():
        for w, a in zip(c.windows, adjusted[cid].windows, strict=True):
            assert w.value is not None and a.value is not None
            assert a.value == pytest.approx(min(1.0, w.value * 3))  # 3 segments, one test each


def test_profile_with_segments_round_trips_through_json() -> None:
    base, _ = _data()
    program = compile_plan(_by(plan_with(SEGMENTED)))
    profile = build_profile(program, base)
    assert set(profile.segments["c"]) == {"k0", "k1", "k2", "(missing)"}
    assert sum(p.rows for p in profile.segments["c"].values()) == profile.rows
    assert load_profile(profile.model_dump_json(), "b.json") == profile


def test_runbook_says_what_an_alert_is_split_by() -> None:
    parsed = load_plan(ROOT / "plans" / "rental_inspector.plan")
    text = render_runbook(parsed)
    part = text[text.index("### `source_sqft_change`"):]
    part = part[:part.index("\n### ")]
    assert "per `listing_source`" in part and "| split by | `listing_source`" in part


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("segdemo")
    paths = write_demo_data(d, rows=120_000)
    return {"paths": paths, "injected": json.loads(paths["injected"].read_text())}


def test_demo_segment_drift_fires_only_for_its_segment(demo: dict[str, Any]) -> None:
    event = next(e for e in demo["injected"] if e["id"] == "aggregator_gross_area")
    parsed = load_plan(ROOT / "plans" / "rental_inspector.yaml")
    assert parsed.plan is not None
    alert = next(a for a in parsed.plan.input_alerts if a.id == "source_sqft_change")
    assert alert.by == "listing_source"
    data = parsed.plan.model_dump(by_alias=True, mode="json")
    data["input_alerts"] = [{**a, "by": None} if a["id"] == alert.id else a
                            for a in data["input_alerts"]]
    data["input_alerts"].append({**next(a for a in data["input_alerts"] if a["id"] == alert.id),
                                 "id": "source_sqft_change_segmented", "by": "listing_source"})
    plan = type(parsed.plan).model_validate(data)
    program = compile_plan(plan)
    results = program.run(str(demo["paths"]["scored"]), str(demo["paths"]["baseline"]))
    inside = [c for c in results.checks if c.id.startswith("source_sqft_change")]
    start, end = event["start"] + "T00:00:00Z", event["end"] + "T00:00:00Z"

    def fails(cid: str) -> list[str]:
        c = next(x for x in inside if x.id == cid)
        return [w.start for w in c.windows if w.status == "fail"]

    seg = "source_sqft_change_segmented[listing_source=aggregator]"
    assert fails(seg) and all(start <= s < end for s in fails(seg))
    assert fails("source_sqft_change") == []  # diluted across all feeds: never fires
    for other in ("broker_portal", "owner_site"):
        assert fails(f"source_sqft_change_segmented[listing_source={other}]") == []
    firing = [f.id for f in results.firing]
    assert "source_sqft_change" not in firing


def test_text_and_report_name_firing_segments_worst_first() -> None:
    from planspec.render import render_report, render_results_text

    base, cur = _data()
    cur["x"][cur["c"] == "k2"] += 1.6  # k2 moves twice as far as k1
    program = compile_plan(_by(plan_with({"shift": "mean(x) shift > 0.5 sd"})))
    results = program.run(cur, build_profile(program, base))
    assert {f.id for f in results.firing} == {"shift[c=k1]", "shift[c=k2]"}
    text = render_results_text(results)
    assert "shift by c: 4 segments tested; 2 firing" in text
    assert text.index("c=k2:") < text.index("c=k1:")
    report = render_report(results)
    part = report[report.index("### `shift` per `c`"):]
    assert "4 segments tested; 2 firing." in part
    assert part.index("| `k2` | **fail**") < part.index("| `k1` | **fail**")
