"""Outcome monitors: metrics equal a direct computation on the joined rows of each mature window,
immature windows are never scored, awkward outcomes are counted, and the demo's concept drift is
caught once its windows mature."""

from __future__ import annotations

import datetime
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planspec.cli import main
from planspec.demo import write_demo_data
from planspec.load import load_plan

from .enginekit import DAY, T0, compile_plan, plan_with

ROOT = Path(__file__).resolve().parent.parent
METRICS = ["precision", "recall", "f1", "accuracy", "fpr", "brier", "ece", "auc", "mae", "rmse",
           "mape", "share_within(10%)"]


def monitors(weights: bool, delay: str = "7d", coverage: float = 0.0, min_labels: int = 1
             ) -> list[dict[str, Any]]:
    out = []
    for i, m in enumerate(METRICS):
        regression = m in ("mae", "rmse", "mape", "share_within(10%)")
        source = {"name": "reg" if regression else "cls", "join_key": "id", "time": "known",
                  "label": "v" if regression else "y"}
        if weights:
            source["weights"] = "w"
        out.append({"id": f"m{i}", "when": f"{m} > 1e9", "source": source, "label_delay": delay,
                    "min_coverage": coverage, "min_labels": min_labels, "window": "7d"})
    return out


def dataset(rng: np.random.Generator, n: int, label_share: float, ties: bool
            ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    ts = T0 + rng.integers(0, 28 * DAY, n)
    score = rng.random(n)
    if ties:
        score = np.round(score, 1)
    ids = np.array([f"r{i}" for i in range(n)], dtype=object)
    scored = {"ts": ts.astype("datetime64[s]"), "id": ids, "p": score,
              "x": rng.normal(size=n), "c": np.array(["a"] * n, dtype=object)}
    has = rng.random(n) < label_share
    k = int(has.sum())
    y = (rng.random(k) < np.clip(score[has] + rng.normal(0, 0.3, k), 0, 1)).astype(float)
    v = score[has] + rng.normal(0, 0.2, k)
    v[rng.random(k) < 0.05] = 0.0  # zeros: left out of MAPE
    known = ts[has] + rng.integers(0, 20 * DAY, k)
    outcomes = {"id": ids[has], "known": known.astype("datetime64[s]"), "y": y, "v": v,
                "w": rng.uniform(0.5, 5.0, k)}
    return scored, outcomes


def reference(metric: str, p: np.ndarray, y: np.ndarray, v: np.ndarray, w: np.ndarray
              ) -> float | None:
    if p.size == 0:
        return None
    flagged, pos = p >= 0.5, y > 0.5
    W = w.sum()
    tp, fp = w[flagged & pos].sum(), w[flagged & ~pos].sum()
    fn, tn = w[~flagged & pos].sum(), w[~flagged & ~pos].sum()

    def ratio(a: float, b: float) -> float | None:
        return a / b if b > 0 else None

    if metric == "precision":
        return ratio(tp, tp + fp)
    if metric == "recall":
        return ratio(tp, tp + fn)
    if metric == "f1":
        return ratio(2 * tp, 2 * tp + fp + fn)
    if metric == "accuracy":
        return ratio(tp + tn, W)
    if metric == "fpr":
        return ratio(fp, fp + tn)
    if metric == "brier":
        return ratio(float((w * (p - y) ** 2).sum()), W)
    if metric == "ece":
        bins = np.clip((p * 10).astype(int), 0, 9)
        total = 0.0
        for b in range(10):
            m = bins == b
            if w[m].sum() > 0:
                total += w[m].sum() * abs(np.average(p[m], weights=w[m]) -
                                          np.average(y[m], weights=w[m]))
        return total / W
    if metric == "auc":
        pp, wp, pn, wn = p[pos], w[pos], p[~pos], w[~pos]
        if wp.sum() == 0 or wn.sum() == 0:
            return None
        gt = (pp[:, None] > pn[None, :]) + 0.5 * (pp[:, None] == pn[None, :])
        return float((wp[:, None] * wn[None, :] * gt).sum() / (wp.sum() * wn.sum()))
    err = p - v
    if metric == "mae":
        return ratio(float((w * np.abs(err)).sum()), W)
    if metric == "rmse":
        r = ratio(float((w * err * err).sum()), W)
        return None if r is None else float(np.sqrt(r))
    if metric == "mape":
        nz = v != 0
        return ratio(float((w[nz] * np.abs(err[nz]) / np.abs(v[nz])).sum()), w[nz].sum())
    if metric == "share_within(10%)":
        return ratio(float(w[np.abs(err) <= 0.1 * np.abs(v)].sum()), W)
    raise AssertionError(metric)


def _seconds(iso: str) -> int:
    return int(datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), n=st.integers(1, 1500), share=st.sampled_from([0.05, 0.4, 1.0]),
       ties=st.booleans(), weights=st.booleans())
def test_metrics_equal_a_direct_computation_on_joined_rows(seed: int, n: int, share: float,
                                                           ties: bool, weights: bool) -> None:
    rng = np.random.default_rng(seed)
    scored, outcomes = dataset(rng, n, share, ties)
    as_of = T0 + 60 * DAY
    program = compile_plan(plan_with({"m": "mean(x) > 1e9"},
                                     extra={"outcome_monitors": monitors(weights)}))
    results = program.run(scored, scored, outcomes={"cls": outcomes, "reg": outcomes},
                          as_of=as_of)
    known = outcomes["known"].astype(np.int64)
    by_id = {k: i for i, k in enumerate(outcomes["id"])}
    ts = scored["ts"].astype(np.int64)
    for check in results.checks:
        if check.kind != "outcome":
            continue
        metric = METRICS[int(check.id[1:])]
        for win in check.windows:
            lo, hi = _seconds(win.start), _seconds(win.end)
            rows = np.flatnonzero((ts >= lo) & (ts < hi))
            idx = [by_id[k] for k in scored["id"][rows] if k in by_id]
            assert win.n == rows.size and win.labels == len(idx)
            if win.status == "immature":
                assert win.value is None
                continue
            p = scored["p"][[r for r in rows if scored["id"][r] in by_id]]
            y, v = outcomes["y"][idx], outcomes["v"][idx]
            w = outcomes["w"][idx] if weights else np.ones(len(idx))
            ref = reference(metric, p, y, v, w)
            assert (known[idx] <= as_of).all()  # every outcome here is known by as_of
            if ref is None:
                assert win.value is None
            elif metric == "auc":
                assert abs(win.value - ref) <= win.bound + 1e-12
            else:
                assert win.value == pytest.approx(ref, rel=1e-9, abs=1e-12), (metric, win.start)
            if win.labels:
                ess = w.sum() ** 2 / (w * w).sum()
                assert win.effective_n == pytest.approx(ess)


def test_immature_windows_are_never_scored_and_coverage_is_right() -> None:
    rng = np.random.default_rng(3)
    scored, outcomes = dataset(rng, 2000, 0.5, ties=False)
    as_of = T0 + 24 * DAY  # windows end on days 7, 14, 21, 28: with 7d delay only 2 are mature
    program = compile_plan(plan_with({"m": "mean(x) > 1e9"}, extra={"outcome_monitors": [
        {"id": "prec", "when": "precision < 2", "source": {"name": "cls", "join_key": "id",
         "time": "known", "label": "y"}, "label_delay": "7d", "min_coverage": 0.2,
         "min_labels": 10, "window": "7d"}]}))
    results = program.run(scored, scored, outcomes={"cls": outcomes}, as_of=as_of)
    [check] = [c for c in results.checks if c.kind == "outcome"]
    ts = scored["ts"].astype(np.int64)
    known = dict(zip(outcomes["id"], outcomes["known"].astype(np.int64), strict=True))
    for win in check.windows:
        lo, hi = _seconds(win.start), _seconds(win.end)
        rows = scored["id"][(ts >= lo) & (ts < hi)]
        labeled = [k for k in rows if k in known and known[k] <= as_of]
        assert win.coverage == pytest.approx(len(labeled) / rows.size)
        ripe = hi + 7 * DAY <= as_of and len(labeled) / rows.size >= 0.2
        assert (win.status == "immature") == (not ripe)
        if not ripe:
            assert win.status not in ("ok", "fail", "warn") and win.value is None
    assert [w.status for w in check.windows].count("immature") >= 2


def test_awkward_outcomes_are_counted_not_silently_dropped() -> None:
    t = T0 + DAY
    scored = {"ts": np.array([t, t, t, t, t], dtype="datetime64[s]"),
              "id": np.array(["a", "b", "c", "d", "e"], dtype=object),
              "p": np.array([0.9, 0.9, 0.1, 0.9, 0.9]), "x": np.zeros(5),
              "c": np.array(["k"] * 5, dtype=object)}
    outcomes = pa.table({
        "id": ["a", "a", "zzz", "b", "c", "d", "e"],
        "known": pa.array([t + 5 * DAY, t + 9 * DAY, t + DAY, None, t - DAY, t + 99 * DAY,
                           t + DAY], type=pa.timestamp("s")),
        "y": [0.0, 1.0, 1.0, 1.0, 0.0, 1.0, None],
    })
    program = compile_plan(plan_with({"m": "mean(x) > 1e9"}, extra={"outcome_monitors": [
        {"id": "prec", "when": "precision < 2", "source": {"name": "cls", "join_key": "id",
         "time": "known", "label": "y"}, "label_delay": "1s", "min_coverage": 0,
         "min_labels": 1, "window": "7d"}]}))
    results = program.run(scored, scored, outcomes={"cls": outcomes}, as_of=t + 30 * DAY)
    assert results.outcomes == {"cls": {
        "rows": 7, "missing_time": 1, "after_as_of": 1, "missing_label": 1, "duplicates": 1,
        "unmatched": 1, "before_prediction": 1, "used": 1, "invalid_label": 0,
        "missing_score": 0}}
    [check] = [c for c in results.checks if c.kind == "outcome"]
    w = next(x for x in check.windows if x.labels)
    # Only `a` is used, with its latest outcome (label 1): precision 1 of 1 flag.
    assert (w.labels, w.value) == (1, 1.0)


def test_bad_weights_are_a_data_error() -> None:
    from planspec.data import DataError

    scored, outcomes = dataset(np.random.default_rng(1), 100, 1.0, ties=False)
    outcomes["w"][0] = -1.0
    program = compile_plan(plan_with({"m": "mean(x) > 1e9"},
                                     extra={"outcome_monitors": monitors(True)[:1]}))
    with pytest.raises(DataError) as info:
        program.run(scored, scored, outcomes={"cls": outcomes}, as_of=T0 + 60 * DAY)
    assert info.value.code == "PS403"


def test_without_outcomes_every_window_is_immature_and_stand_ins_are_named() -> None:
    scored, _ = dataset(np.random.default_rng(2), 300, 1.0, ties=False)
    mon = monitors(False, coverage=0.1)[:1]
    mon[0]["stand_ins"] = ["out"]
    program = compile_plan(plan_with({"m": "mean(x) > 1e9"}, {"out": "psi(p) > 0.2"},
                                     extra={"outcome_monitors": mon}))
    results = program.run(scored, scored)
    [check] = [c for c in results.checks if c.kind == "outcome"]
    assert {w.status for w in check.windows} == {"immature"}
    assert check.stand_ins == ["out"]
    # The last window is not over: its stand-in is partial too, not judged.
    assert all(w.stand_ins == {"out": "partial" if w.partial else "ok"} for w in check.windows)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("demo")
    write_demo_data(d, rows=120_000)
    return d


def test_demo_precision_monitor_catches_the_concept_drift(demo: Path) -> None:
    parsed = load_plan(ROOT / "plans" / "rental_inspector.yaml")
    program = compile_plan(parsed.plan, parsed.source_map)  # type: ignore[arg-type]
    results = program.run(str(demo / "scored.parquet"), str(demo / "baseline.parquet"),
                          outcomes={n: str(demo / "outcomes" / f"{n}.parquet")
                                    for n in ("inspector_audits", "lease_registry")})
    audit = next(c for c in results.checks if c.id == "audit_precision")
    law = _seconds("2026-07-01T00:00:00Z")
    before = [w for w in audit.windows if _seconds(w.end) <= _seconds("2026-02-16T00:00:00Z")]
    after = [w for w in audit.windows if _seconds(w.start) >= law and w.status != "immature"]
    assert after, "some post-law windows must have matured"
    assert all(w.status == "ok" for w in before if w.status not in ("immature", "partial"))
    assert all(w.status == "fail" for w in after)
    first = after[0]
    assert first.known_at is not None and _seconds(first.known_at) >= _seconds(first.end) + 21 * DAY
    # Inputs and outputs stay quiet through the law's period (it is concept drift only).
    quiet_from, quiet_to = _seconds("2026-07-27T00:00:00Z"), _seconds("2026-09-07T00:00:00Z")
    for c in results.checks:
        if c.kind in ("input", "output"):
            assert all(w.status != "fail" for w in c.windows
                       if quiet_from <= _seconds(w.start) and _seconds(w.end) <= quiet_to), c.id


def test_check_cli_takes_outcomes_and_reports_when_known(demo: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    plan = str(ROOT / "plans" / "rental_inspector.plan")
    args = ["check", plan, "--baseline", str(demo / "baseline.parquet"), "--data",
            str(demo / "scored.parquet"), "--fail-on", "never", "--outcomes",
            str(demo / "outcomes" / "*.parquet")]
    # A glob of files named after their sources needs no SOURCE=.
    code = main([*args[:-1], str(demo / "outcomes" / "inspector_audits.parquet"),
                 f"lease_registry={demo / 'outcomes' / 'lease_registry.parquet'}"], out)
    assert code == 0
    assert "audit_precision" in out.getvalue() and "could first be known" in out.getvalue()
    out = io.StringIO()
    main([*args[:-2], "--format", "json"], out)
    results = json.loads(out.getvalue())
    assert all(w["status"] == "immature" for c in results["checks"] if c["kind"] == "outcome"
               for w in c["windows"])


@pytest.mark.parametrize(("extra", "code"), [
    (["--outcomes", "inspector_audit=x.parquet"], "PS408"),
    (["--as-of", "yesterday"], "PS404"),
])
def test_check_cli_outcome_errors(demo: Path, extra: list[str], code: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["check", str(ROOT / "plans" / "rental_inspector.yaml"), "--baseline",
                   str(demo / "baseline.parquet"), "--data", str(demo / "scored.parquet"),
                   *extra], io.StringIO())
    assert status == 2 and capsys.readouterr().err.startswith(f"error[{code}]")


def test_derived_labels_parse_and_evaluate() -> None:
    from planspec._expr import ExprError, parse_derived

    d = parse_derived("abs(price - rent) / rent > 10%")
    assert d.columns == ("price", "rent")
    got = d.evaluate({"price": np.array([1000.0, 1200.0, np.nan]),
                      "rent": np.array([1050.0, 1000.0, 1000.0])})
    assert got[:2].tolist() == [0.0, 1.0] and np.isnan(got[2])
    for text, code in [("abs(price - rent) >", "PS102"), ("sqrt(price) > 1", "PS103")]:
        with pytest.raises(ExprError) as info:
            parse_derived(text)
        assert info.value.code == code


def test_a_broken_derived_label_is_located() -> None:
    text = (ROOT / "plans" / "rental_inspector.yaml").read_text().replace(
        "label: abs(listing_price - lease_rent) / lease_rent > 10%",
        "label: abs(listing_price - lease_rent) / lease_rent >", 1)
    from planspec.check import check_plan
    from planspec.parse_yaml import parse_yaml

    parsed = parse_yaml(text, "p.yaml")
    [d] = check_plan(parsed.plan, parsed.source_map)  # type: ignore[arg-type]
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "lease_rent >" in s)
    assert (d.code, d.span.line) == ("PS102", line)


def test_a_derived_label_joins_outcome_and_scored_values() -> None:
    rng = np.random.default_rng(4)
    scored, outcomes = dataset(rng, 1500, 0.6, ties=False)
    outcomes["ref"] = rng.normal(0, 1, outcomes["id"].size)
    source = {"name": "cls", "join_key": "id", "time": "known",
              "label": "abs(x - ref) / abs(ref) > 50%"}
    program = compile_plan(plan_with({"m": "mean(x) > 1e9"}, extra={"outcome_monitors": [
        {"id": "prec", "when": "precision > 2", "source": source, "label_delay": "1d",
         "min_coverage": 0, "min_labels": 1, "window": "7d"}]}))
    results = program.run(scored, scored, outcomes={"cls": outcomes}, as_of=T0 + 60 * DAY)
    [check] = [c for c in results.checks if c.kind == "outcome"]
    by_id = {k: i for i, k in enumerate(outcomes["id"])}
    ts = scored["ts"].astype(np.int64)
    for w in check.windows:
        rows = np.flatnonzero((ts >= _seconds(w.start)) & (ts < _seconds(w.end)))
        rows = [r for r in rows if scored["id"][r] in by_id]
        refs = np.array([outcomes["ref"][by_id[scored["id"][r]]] for r in rows])
        y = (np.abs(scored["x"][rows] - refs) / np.abs(refs) > 0.5).astype(float)
        expected = reference("precision", scored["p"][rows], y, y, np.ones(len(rows)))
        assert w.value == (pytest.approx(expected) if expected is not None else None)


def test_a_derived_label_may_read_scored_values_only() -> None:
    rng = np.random.default_rng(5)
    scored, outcomes = dataset(rng, 800, 0.7, ties=False)
    source = {"name": "cls", "join_key": "id", "time": "known", "label": "x > 0"}
    program = compile_plan(plan_with({"m": "mean(x) > 1e9"}, extra={"outcome_monitors": [
        {"id": "prec", "when": "precision > 2", "source": source, "label_delay": "1d",
         "min_coverage": 0, "min_labels": 1, "window": "7d"}]}))
    results = program.run(scored, scored, outcomes={"cls": outcomes}, as_of=T0 + 60 * DAY)
    [check] = [c for c in results.checks if c.kind == "outcome"]
    known = set(outcomes["id"])
    ts = scored["ts"].astype(np.int64)
    for w in check.windows:
        rows = [r for r in np.flatnonzero((ts >= _seconds(w.start)) & (ts < _seconds(w.end)))
                if scored["id"][r] in known]
        y = (scored["x"][rows] > 0).astype(float)
        expected = reference("precision", scored["p"][rows], y, y, np.ones(len(rows)))
        assert w.value == (pytest.approx(expected) if expected is not None else None)
