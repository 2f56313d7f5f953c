"""Regression tests for the decision defects of issue #10: firing persistence, constant columns,
missing outcomes, `bound` units, `min_samples`, class predictions; each named after its defect."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planspec.compile import WindowSpec, compile_plan
from planspec.engine import fire
from planspec.engine.calendar import bucket_ids, windows
from planspec.model import Plan
from planspec.profile import build_profile

from .enginekit import DAY, T0, day_end, frame, plan_with


def _reference_fire(levels: list[int], for_: int, keep: int) -> list[int]:
    """The documented rule, read literally: level L fires at window i when some window j <= i
    ends `for_` consecutive judged windows at or above L, and no run of more than `keep`
    consecutive judged windows below L lies between j and i. The highest such L is reported."""
    judged = [i for i, lvl in enumerate(levels) if lvl >= 0]
    out = []
    for i in range(len(levels)):
        upto = [k for k in judged if k <= i]
        best = 0
        for level in (1, 2):
            for pos in range(len(upto)):
                window = upto[max(0, pos - for_ + 1): pos + 1]
                if len(window) < for_ or any(levels[k] < level for k in window):
                    continue
                run = longest = 0
                for k in upto[pos + 1:]:
                    run = run + 1 if levels[k] < level else 0
                    longest = max(longest, run)
                if longest <= keep:
                    best = level
                    break
        out.append(best)
    return out


def test_for_keep_firing_for_does_not_resolve_on_a_failing_window() -> None:
    # fail fail ok fail ok ok, for 2, keep 1 → – fail fail fail fail –
    assert fire([2, 2, 0, 2, 0, 0], 2, 1) == [0, 2, 2, 2, 2, 0]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([-1, 0, 1, 2]), max_size=14), st.integers(1, 4),
       st.integers(0, 3))
def test_firing_state_machine_matches_the_documented_rule(levels: list[int], for_: int,
                                                          keep: int) -> None:
    assert fire(levels, for_, keep) == _reference_fire(levels, for_, keep)


# ------------------------------------------------------------------------ engine regressions




def _utc(text: str) -> int:
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC).timestamp())


def test_constant_column_gives_shift_and_change_zero() -> None:
    rng = np.random.default_rng(1)
    base = frame(rng, 3000, 60, start=T0 - 70 * DAY, kind="constant")
    base["x"] = np.full(base["x"].size, 0.1 * 3)  # 0.30000000000000004: rounding noise
    cur = frame(rng, 3000, 28, kind="constant")
    cur["x"] = np.full(cur["x"].size, 0.1 * 3)
    for window in ("1d", "7d", "1mo"):
        program = compile_plan(plan_with({
            "s": "mean(x) shift > 2 sd", "c": "mean(x) change > 1%",
            "v": "std(x) change > 1%"}, window=window))
        results = program.run(cur, build_profile(program, base), as_of=day_end(cur))
        for check in results.checks:
            assert all(w.value == 0 for w in check.windows), (window, check.id)
            assert results.firing == []


def test_baseline_scored_against_itself_fires_nothing() -> None:
    rng = np.random.default_rng(2)
    data = frame(rng, 20000, 92, start=_utc("2026-01-01"))
    conditions = {"m": "mean(x) shift > 0.5 sd", "p": "psi(x) > 0.2", "k": "ks(x) > 0.2",
                  "c": "psi(c) > 0.2", "n": "count change > 60%"}
    for window in ("1d", "7d", "1mo"):
        program = compile_plan(plan_with(conditions, window=window))
        results = program.run(data, build_profile(program, data), as_of=day_end(data))
        assert results.firing == [], window
        assert all(w.status in ("ok", "partial") for c in results.checks for w in c.windows)


def _monitor_plan(extra_source: dict[str, Any] | None = None, when: str = "brier > 0.9",
                  **kw: Any) -> Plan:
    source = {"name": "s", "join_key": "id", "time": "known", "label": "y",
              **(extra_source or {})}
    return plan_with({"m": "mean(x) > 1e9"}, extra={"outcome_monitors": [
        {"id": "q", "when": when, "source": source, "label_delay": "1s",
         "min_coverage": 0.0, "min_labels": 1, "window": "7d", **kw}]})


def _scored(rng: np.random.Generator, n: int, days: int) -> tuple[dict[str, Any], dict[str, Any]]:
    data = frame(rng, n, days)
    data["id"] = np.array([f"r{i}" for i in range(n)], dtype=object)
    y = (rng.random(n) < data["p"]).astype(float)
    out = {"id": data["id"], "known": data["ts"], "y": y}
    return data, out


def test_missing_scores_do_not_poison_later_windows() -> None:
    rng = np.random.default_rng(3)
    data, out = _scored(rng, 3000, 28)
    data["p"][0] = np.nan  # one missing score, in some window
    program = compile_plan(_monitor_plan())
    results = program.run(data, data, outcomes={"s": out}, as_of=day_end(data) + 60)
    [check] = [c for c in results.checks if c.kind == "outcome"]
    assert all(w.value is not None and np.isfinite(w.value) for w in check.windows)
    assert results.outcomes is not None and results.outcomes["s"]["missing_score"] == 1
    ts = data["ts"].astype(np.int64)
    for w in check.windows:
        inside = (ts >= _utc(w.start[:19])) & (ts < _utc(w.end[:19])) & ~np.isnan(data["p"])
        ref = np.mean((data["p"][inside] - out["y"][inside]) ** 2)
        assert w.value == pytest.approx(ref)


def test_invalid_binary_labels_are_counted_not_used() -> None:
    rng = np.random.default_rng(4)
    data, out = _scored(rng, 2000, 14)
    out["y"][:3] = [2.0, -1.0, 0.5]
    program = compile_plan(_monitor_plan())
    results = program.run(data, data, outcomes={"s": out}, as_of=day_end(data) + 60)
    assert results.outcomes is not None and results.outcomes["s"]["invalid_label"] == 3
    [check] = [c for c in results.checks if c.kind == "outcome"]
    assert sum(w.labels or 0 for w in check.windows) == 2000 - 3


def test_known_at_prediction_plus_delay_sets_maturity() -> None:
    rng = np.random.default_rng(5)
    data, out = _scored(rng, 2000, 28)
    del out["known"]
    program = compile_plan(_monitor_plan({"time": None, "known_at": "prediction + 10d"}))
    as_of = T0 + 30 * DAY
    results = program.run(data, data, outcomes={"s": out}, as_of=as_of)
    [check] = [c for c in results.checks if c.kind == "outcome"]
    ts = data["ts"].astype(np.int64)
    for w in check.windows:
        inside = (ts >= _utc(w.start[:19])) & (ts < _utc(w.end[:19]))
        assert w.labels == int((inside & (ts + 10 * DAY <= as_of)).sum())


def test_bound_is_in_the_units_of_the_reported_value() -> None:
    rng = np.random.default_rng(6)
    base = frame(rng, 5000, 30, start=T0 - 40 * DAY)
    cur = frame(rng, 3000, 14, shift=0.3)
    program = compile_plan(plan_with({
        "q": "quantile(x, 0.5) change > 1000%", "s": "quantile(x, 0.5) shift > 100 sd",
        "raw": "quantile(x, 0.5) > 100", "p": "ks(x).pvalue < 1e-300"}))
    profile = build_profile(program, base)
    results = program.run(cur, profile, as_of=day_end(cur))
    by = {c.id: c for c in results.checks}
    sd = profile.columns["x"].std
    base_q = next(v.value for v in profile.values if v.stat == "quantile")
    for raw, s, q in zip(by["raw"].windows, by["s"].windows, by["q"].windows, strict=True):
        assert s.bound == pytest.approx(raw.bound / sd)
        assert q.bound == pytest.approx(raw.bound / abs(base_q))
    assert all(w.bound is None for w in by["p"].windows)  # a p-value's bound: absent


def test_min_samples_counts_present_values_of_the_column() -> None:
    rng = np.random.default_rng(7)
    base = frame(rng, 5000, 30, start=T0 - 40 * DAY)
    cur = frame(rng, 400, 14, missing=0.9)  # ~40 present values of x, ~400 rows per window
    program = compile_plan(plan_with({"m": "mean(x) shift > 100 sd",
                                      "r": "missing_rate(x) > 0.99"}, min_samples=100))
    results = program.run(cur, build_profile(program, base), as_of=day_end(cur))
    by = {c.id: [w.status for w in c.windows] for c in results.checks}
    assert by["m"] == ["insufficient_data", "insufficient_data"]
    assert by["r"] == ["ok", "ok"]  # its statistic reads every row


def test_partial_windows_at_both_ends_are_shown_not_judged() -> None:
    rng = np.random.default_rng(8)
    base = frame(rng, 5000, 30, start=T0 - 40 * DAY)
    cur = frame(rng, 4000, 17, start=T0 + 2 * DAY, shift=5.0)  # Wednesday to a Saturday
    program = compile_plan(plan_with({"m": "mean(x) shift > 1 sd"}))
    profile = build_profile(program, base)
    results = program.run(cur, profile)
    [check] = results.checks
    assert [w.partial for w in check.windows] == [True, False, True]
    assert [w.status for w in check.windows] == ["partial", "fail", "partial"]
    assert [w.firing for w in check.windows] == [None, "fail", None]
    assert all(w.value is not None for w in check.windows)
    assert [f.since for f in results.firing] == [check.windows[1].start]
    judged = program.run(cur, profile, judge_partial=True).checks[0]
    assert [w.status for w in judged.windows] == ["fail", "fail", "fail"]
    # --as-of applies to every check: as of the middle window's end, the last is not over.
    early = program.run(cur, profile, as_of=check.windows[1].end).checks[0]
    assert [w.status for w in early.windows] == ["partial", "fail", "partial"]


def test_a_partial_monitor_window_below_min_labels_shows_no_value() -> None:
    """A partial window is shown, not judged; but a value from fewer labels than `min_labels`
    is not shown at all, as for a whole window."""
    rng = np.random.default_rng(18)
    data, out = _scored(rng, 2000, 15)
    data["ts"] = data["ts"] + np.timedelta64(5 * DAY, "s")  # Saturday on: 2 days, 7, then 6
    out["known"] = data["ts"]
    program = compile_plan(_monitor_plan(min_labels=500))
    results = program.run(data, data, outcomes={"s": out}, as_of=day_end(data) + 60)
    [check] = [c for c in results.checks if c.kind == "outcome"]
    assert [w.partial for w in check.windows] == [True, False, True]
    assert [(w.labels or 0) >= 500 for w in check.windows] == [False, True, True]
    # The last window is not over: its labels are not all in (immature, no value).
    assert [w.status for w in check.windows] == ["partial", "ok", "immature"]
    # The first window's value, from too few labels, is not shown.
    assert [w.value is None for w in check.windows] == [True, False, True]
    assert [w.lower is None for w in check.windows] == [True, False, True]
    enough = compile_plan(_monitor_plan(min_labels=100)).run(
        data, data, outcomes={"s": out}, as_of=day_end(data) + 60)
    [check] = [c for c in enough.checks if c.kind == "outcome"]
    assert [w.value is None for w in check.windows] == [False, False, True]


def test_raw_and_corrected_pvalues_are_both_reported() -> None:
    rng = np.random.default_rng(9)
    base = frame(rng, 4000, 30, start=T0 - 40 * DAY)
    cur = frame(rng, 600, 14, shift=0.1)
    program = compile_plan(plan_with({"a": "ks(x).pvalue < 0.05", "b": "chi2(c).pvalue < 0.05"},
                                     correction="bonferroni"))
    results = program.run(cur, build_profile(program, base), as_of=day_end(cur))
    for check in results.checks:
        assert check.correction == "bonferroni"
        for w in check.windows:
            assert w.value == pytest.approx(min(1.0, 2 * w.raw_pvalue))


def test_month_windows_are_calendar_months() -> None:
    start = _utc("2026-01-01")
    s, e = windows(WindowSpec(1, 1, "mo"), start, _utc("2026-12-31T23:59:59"))
    assert [(b - a) // DAY for a, b in zip(s.tolist(), e.tolist(), strict=True)] == \
        [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    q, _ = windows(WindowSpec(3, 3, "mo"), start, _utc("2026-12-31T23:59:59"))
    assert [datetime.datetime.fromtimestamp(t, datetime.UTC).month for t in q.tolist()] == \
        [1, 4, 7, 10]


def test_timezone_moves_day_boundaries_across_a_dst_change() -> None:
    # New York, 2026-03-08: clocks go forward at 02:00; that local day has 23 hours.
    zone = "America/New_York"
    s, e = windows(WindowSpec(1, 1, "d"), _utc("2026-03-07T12:00"), _utc("2026-03-09T12:00"),
                   zone)
    assert [(b - a) // 3600 for a, b in zip(s.tolist(), e.tolist(), strict=True)] == [24, 23, 24]
    assert s[0] == _utc("2026-03-07T05:00")  # midnight EST
    assert s[2] == _utc("2026-03-09T04:00")  # midnight EDT
    # 04:30Z on the 8th is 23:30 local on the 7th: the 7th's bucket, not the 8th's.
    ids = bucket_ids(np.array([_utc("2026-03-08T04:30"), _utc("2026-03-08T05:30")]), DAY, zone)
    assert ids[1] - ids[0] == 1
    assert (bucket_ids(np.array([_utc("2026-03-08T04:30")]), DAY) - ids[0]).tolist() == [1]
    # Weeks start on Monday, local time.
    w, _ = windows(WindowSpec(7, 7, "d"), _utc("2026-03-07T12:00"), _utc("2026-03-09T12:00"),
                   zone)
    assert [datetime.datetime.fromtimestamp(t, datetime.UTC).isoformat() for t in w.tolist()] \
        == ["2026-03-02T05:00:00+00:00", "2026-03-09T04:00:00+00:00"]


def test_plan_timezone_groups_rows_by_local_day() -> None:
    rng = np.random.default_rng(10)
    base = frame(rng, 3000, 30, start=T0 - 40 * DAY)
    cur = frame(rng, 3000, 6, start=_utc("2026-03-05"))
    plan = plan_with({"m": "mean(x) shift > 100 sd"}, window="1d",
                     extra={"timezone": "America/New_York"})
    program = compile_plan(plan)
    results = program.run(cur, build_profile(program, base))
    starts = [w.start for w in results.checks[0].windows]
    assert "2026-03-08T05:00:00Z" in starts and "2026-03-09T04:00:00Z" in starts
    ts = cur["ts"].astype(np.int64)
    for w in results.checks[0].windows:
        assert w.n == int(((ts >= _utc(w.start[:19])) & (ts < _utc(w.end[:19]))).sum())


def test_a_plan_without_predictions_is_valid(tmp_path: Path) -> None:
    from planspec.check import check_plan

    data = plan_with({"m": "mean(x) shift > 2 sd"}).model_dump(mode="json", by_alias=True)
    del data["data"]["predictions"]
    plan = Plan.model_validate(data)
    assert [d.code for d in check_plan(plan) if d.severity == "error"] == []


def test_month_windows_end_to_end_through_the_command_line(tmp_path: Path) -> None:
    """`window: 1mo` through validate, baseline, check, render and report: each calendar month
    (28 to 31 days) is one window, the month the data stops in is partial, and nothing crashes."""
    import json

    import pyarrow.parquet as pq

    from . import datakit

    plan = datakit.write_plan(tmp_path, datakit.PLAN.replace("window: 1d", "window: 1mo"))
    assert datakit.run("validate", plan).code == 0
    # January to mid-April 2026: three whole months (31, 28 and 31 days) and a partial April.
    pq.write_table(datakit.table(n=3000, hours=100 * 24), tmp_path / "d.parquet")
    base = str(tmp_path / "b.json")
    assert datakit.run("baseline", plan, "--data", str(tmp_path / "d.parquet"),
                       "-o", base).code == 0
    res = str(tmp_path / "r.json")
    r = datakit.run("check", plan, "--baseline", base, "--data", str(tmp_path / "d.parquet"),
                    "--format", "json", "-o", res)
    assert r.code == 0, r.err
    check = json.loads(Path(res).read_text())["checks"][0]
    spans = [(w["start"][:10], w["end"][:10], w["status"]) for w in check["windows"]]
    assert spans[0][:2] == ("2026-01-01", "2026-02-01") and spans[0][2] == "partial"
    assert spans[1][:2] == ("2026-02-01", "2026-03-01") and spans[1][2] != "partial"
    assert spans[2][:2] == ("2026-03-01", "2026-04-01") and spans[2][2] != "partial"
    assert spans[-1][:2] == ("2026-04-01", "2026-05-01") and spans[-1][2] == "partial"
    runbook = datakit.run("render", plan)
    assert runbook.code == 0 and "1-month" in runbook.out, runbook.err
    report = datakit.run("report", res)
    assert report.code == 0, report.err
    assert "| 1mo | ◦▁▁◦ |" in report.out  # four months, the first and last partial
