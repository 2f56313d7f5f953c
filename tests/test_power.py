"""`planspec power`: false alarms agree with an independent replay (the engine on windows of
rows resampled from the baseline) within their stated Monte-Carlo error, firings follow the
state machine, the minimum detectable effect matches a hand computation, and the worked example
lists every alert."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from planspec.calibrate import calibrate_profile, expected_rows
from planspec.cli import main
from planspec.compile import compile_plan
from planspec.demo import BASELINE_START, _listings, _table
from planspec.format import format_yaml
from planspec.load import load_plan
from planspec.power import analyze_power, format_power, power_json
from planspec.profile import build_profile

from .test_calibrate import DAY, plan_of, windows

ROOT = Path(__file__).resolve().parent.parent

NOISY = {
    "js_noisy": "js(neighborhood) > 0.14",
    "pair": "js(neighborhood) > 0.1 and chi2(neighborhood).pvalue < 0.2",
    "psi_price": "psi(listing_price) > 0.04",
    "ks_gate": "ks(sqft).pvalue < 0.3",
    "price_mean": "mean(listing_price) shift > 0.08 sd",
    "missing": "missing_rate(sqft) > 3%",
    "fee": "share(broker_fee == true) change > 15%",
    "calibrated": "psi(neighborhood) > calibrated(5%)",
}


@pytest.fixture(scope="module")
def baseline() -> pa.Table:
    return _table(_listings(np.random.default_rng(21), 100_000, BASELINE_START, events=False)[0])


def test_false_alarms_agree_with_an_independent_replay(baseline: pa.Table) -> None:
    plan = plan_of([{"id": k, "when": v} for k, v in NOISY.items()])
    plan = plan.model_copy(update={"defaults": plan.defaults.model_copy(
        update={"correction": "bh"})})
    program = compile_plan(plan)
    profile = calibrate_profile(program, build_profile(program, baseline), replays=4000)
    table = {r.id: r for r in analyze_power(program, profile, seed=2, replays=3000,
                                            mde_replays=60)}
    n = expected_rows(profile, DAY)
    count = 2000
    cols = tuple(program.columns)
    results = program.run(windows(baseline, n, count, seed=9, columns=cols), profile)
    for check in results.checks:
        seen = float(np.mean([w.status == "fail" for w in check.windows]))
        est = table[check.id]
        assert est.false_alarm is not None and est.false_alarm_se is not None
        replay_se = math.sqrt(max(seen * (1 - seen), 1 / count) / count)
        gap = abs(est.false_alarm - seen)
        assert gap <= 3 * math.hypot(est.false_alarm_se, replay_se), (check.id, est, seen)
    # the plan is noisy on purpose: most alerts cry wolf measurably
    assert sum(r.false_alarm is not None and r.false_alarm > 0.02 for r in table.values()) >= 6
    assert table["calibrated"].false_alarm == pytest.approx(0.05, abs=0.015)


def test_firings_follow_the_state_machine(baseline: pa.Table) -> None:
    program = compile_plan(plan_of([{"id": "a", "when": NOISY["js_noisy"]},
                                    {"id": "b", "when": NOISY["js_noisy"], "for": 2,
                                     "keep_firing_for": 1}]))
    profile = build_profile(program, baseline)
    one, two = analyze_power(program, profile, seed=1, replays=3000, mde_replays=40)
    p, days = one.false_alarm or 0.0, 90
    # for 1, keep 0 on independent windows: runs of failing windows start p + (L-1) p (1-p)
    runs = p + (days - 1) * p * (1 - p)
    assert one.firings_90d == pytest.approx(runs, abs=3 * (one.firings_90d_se or 0) + 0.05 * runs)
    assert two.firings_90d is not None and two.firings_90d < one.firings_90d


def test_minimum_detectable_mean_shift_matches_the_normal_approximation(
        baseline: pa.Table) -> None:
    program = compile_plan(plan_of([{"id": "m", "when": "mean(listing_price) shift > 0.5 sd"}]))
    profile = build_profile(program, baseline)
    (row,) = analyze_power(program, profile, seed=0, replays=500, mde_replays=400)
    n = expected_rows(profile, DAY) * (1 - profile.columns["listing_price"].missing / 1e5)
    want = 0.5 + 0.8416 / math.sqrt(n)  # the window mean's SD is 1/sqrt(n) baseline SDs
    assert (row.effect, row.mde_unit) == ("mean shift", "sd")
    assert row.mde == pytest.approx(want, abs=0.03)
    assert row.false_alarm == 0.0


def test_worked_example_lists_every_alert_with_both_figures(tmp_path: Path) -> None:
    plan = ROOT / "plans" / "rental_inspector.yaml"
    program = compile_plan(load_plan(plan).plan)
    base = _table(_listings(np.random.default_rng(3), 40_000, BASELINE_START, events=False)[0])
    profile = build_profile(program, base)
    table = analyze_power(program, profile, replays=300, mde_replays=60)
    ids = [r.id for r in program.rules if r.risk is None] + [m.id for m in program.monitors]
    assert [r.id for r in table] == ids
    for r in table:
        if r.kind != "outcome":
            assert r.false_alarm is not None and r.firings_90d is not None
        assert r.mde is not None or r.note, r
        # the MDE's standard error is the firing rate's at the MDE: a share, whatever the unit
        assert r.mde_se is None or 0 <= r.mde_se < 0.1, r
    assert any(r.kind == "outcome" and r.mde_se is not None for r in table)
    text = format_power(table)
    assert all(i in text for i in ids)
    md = format_power(table, "markdown")
    assert md.startswith("| alert |") and md.count("\n") == len(ids) + 2
    assert [d["id"] for d in power_json(table)] == ids
    # and on the command line, from a stored profile
    pq.write_table(base, tmp_path / "b.parquet")
    out = io.StringIO()
    assert main(["baseline", str(plan), "--data", str(tmp_path / "b.parquet"), "-o",
                 str(tmp_path / "b.json")], out) == 0
    out = io.StringIO()
    assert main(["power", str(plan), "--baseline", str(tmp_path / "b.json"), "--replays", "100",
                 "--format", "json"], out) == 0
    assert [d["id"] for d in json.loads(out.getvalue())] == ids


def test_power_refuses_a_baseline_of_another_plan(tmp_path: Path, baseline: pa.Table,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(format_yaml(plan_of([{"id": "a", "when": "psi(neighborhood) > 0.1"}])))
    pq.write_table(baseline.slice(0, 5000), tmp_path / "b.parquet")
    assert main(["baseline", str(other), "--data", str(tmp_path / "b.parquet"), "-o",
                 str(tmp_path / "b.json")], io.StringIO()) == 0
    plan = ROOT / "plans" / "rental_inspector.yaml"
    assert main(["power", str(plan), "--baseline", str(tmp_path / "b.json")],
                io.StringIO()) == 2
    assert "PS406" in capsys.readouterr().err


def test_validate_with_a_baseline_warns_at_the_condition(tmp_path: Path, baseline: pa.Table
                                                        ) -> None:
    noisy = tmp_path / "noisy.yaml"
    noisy.write_text(format_yaml(plan_of([
        {"id": "wolf", "when": "js(neighborhood) > 0.1"},
        {"id": "blind", "when": "mean(listing_price) shift > 3 sd"},
        {"id": "fine", "when": "mean(listing_price) shift > 0.5 sd"},
        {"id": "quiet", "when": "js(neighborhood) > calibrated(1%)"}])))
    pq.write_table(baseline, tmp_path / "b.parquet")
    out = io.StringIO()
    assert main(["validate", str(noisy), "--baseline", str(tmp_path / "b.parquet"),
                 "--format", "json"], out) == 0  # warnings leave a plan valid
    found = json.loads(out.getvalue())
    codes = sorted((d["code"], d["line"]) for d in found if d["code"].startswith("PS36"))
    text = noisy.read_text().splitlines()
    assert [c for c, _ in codes] == ["PS362", "PS363"]
    wolf_line = next(i for i, t in enumerate(text, 1) if "js(neighborhood) > 0.1" in t)
    blind_line = next(i for i, t in enumerate(text, 1) if "shift > 3 sd" in t)
    assert codes == [("PS362", wolf_line), ("PS363", blind_line)]
    hints = {d["code"]: d["hint"] for d in found}
    assert hints["PS362"].startswith("`js(neighborhood) > 0.")
    assert "catches a 1-SD mean shift" in hints["PS363"]
    out = io.StringIO()
    assert main(["explain", "PS362"], out) == 0 and "cries wolf" in out.getvalue()


def test_render_with_a_baseline_adds_the_figures(tmp_path: Path, baseline: pa.Table) -> None:
    plan = tmp_path / "p.yaml"
    plan.write_text(format_yaml(plan_of([
        {"id": "wolf", "when": "js(neighborhood) > 0.1"},
        {"id": "shift", "when": "mean(listing_price) shift > 0.5 sd"}])))
    pq.write_table(baseline, tmp_path / "b.parquet")
    out = io.StringIO()
    assert main(["render", str(plan), "--baseline", str(tmp_path / "b.parquet"),
                 "--replays", "300"], out) == 0
    text = out.getvalue()
    assert text.count("| false alarms per window (no drift) |") == 2
    assert "mean shift)" in text and "| false firings per 90 days |" in text
    out = io.StringIO()
    assert main(["render", str(plan)], out) == 0
    assert "false alarms per window" not in out.getvalue()


# ------------------------------------------------ the correction in the MDE, and ECE's MDE


def _tests_plan(correction: str, alerts: dict[str, str]) -> Any:
    plan = plan_of([{"id": k, "when": v} for k, v in alerts.items()])
    return compile_plan(plan.model_copy(update={"defaults": plan.defaults.model_copy(
        update={"correction": correction})}))


def test_mde_accounts_for_the_correction(baseline: pa.Table) -> None:
    """Under Bonferroni over m tests, `p < t` holds after correction exactly when the raw p is
    below t/m: the corrected MDE is the uncorrected MDE of `p < t/m` (a hand computation);
    BH lies between no correction and Bonferroni."""
    others = {"c": "chi2(neighborhood).pvalue < 0.5", "l": "ks(listing_price).pvalue < 0.5"}
    mde: dict[str, float] = {}
    profile = None
    for correction in ("none", "bh", "bonferroni"):
        program = _tests_plan(correction, {"k": "ks(sqft).pvalue < 0.01", **others})
        profile = profile or build_profile(program, baseline)
        row = next(r for r in analyze_power(program, profile, seed=4, replays=200,
                                            mde_replays=300) if r.id == "k")
        assert row.mde is not None and row.effect == "mean shift"
        mde[correction] = row.mde
    alone = _tests_plan("none", {"k": f"ks(sqft).pvalue < {0.01 / 3}"})
    (row,) = analyze_power(alone, build_profile(alone, baseline), seed=4, replays=200,
                           mde_replays=300)
    assert row.mde is not None
    assert mde["bonferroni"] == pytest.approx(row.mde, abs=0.02)
    assert mde["none"] < mde["bonferroni"] - 0.02
    assert mde["none"] - 0.02 <= mde["bh"] <= mde["bonferroni"] + 0.02


def _ece_plan(when: str = "ece > 0.15") -> Any:
    plan = plan_of([{"id": "s", "when": "mean(p_within_10pct) shift > 3 sd"}]).model_dump(
        by_alias=True, exclude_none=True)
    plan["data"]["key"] = "listing_id"
    plan["data"]["predictions"]["p_within_10pct"]["flag"] = "below"
    plan["outcome_monitors"] = [{
        "id": "cal", "when": when, "window": "28d", "label_delay": "30d",
        "min_coverage": "1%", "min_labels": 200,
        "source": {"name": "registry", "join_key": "listing_id", "time": "t",
                   "label": "out_of_line"}}]
    from planspec.model import Plan

    return compile_plan(Plan.model_validate(plan))


def _ece(p: np.ndarray, y: np.ndarray) -> float:
    """ECE written out: ten equal-width bins, |mean p - mean y| weighted by the bin's share."""
    out = 0.0
    for b in range(10):
        m = (p >= b / 10) & (p < (b + 1) / 10) if b < 9 else (p >= 0.9)
        if m.any():
            out += m.mean() * abs(p[m].mean() - y[m].mean())
    return out


def test_ece_mde_agrees_with_an_independent_simulation(baseline: pa.Table) -> None:
    program = _ece_plan()
    profile = build_profile(program, baseline)
    (_, row) = analyze_power(program, profile, seed=3, replays=2000)
    assert row.id == "cal" and row.mde_unit == "points" and row.rows == 200
    assert row.mde is not None and row.false_alarm is not None
    assert row.effect is not None and "calibration gap" in row.effect
    # independently: scores resampled from the baseline's rows (not its histogram), labels from
    # an overconfident model, ECE computed bin by bin
    rng = np.random.default_rng(99)
    scores = baseline.column("p_within_10pct").to_numpy()
    reps = 1500

    def rate(gap: float) -> float:
        hits = 0
        for _ in range(reps):
            p = 1 - rng.choice(scores, 200)  # flag below: the positive class is 1 - score
            truth = p + np.sign(0.5 - p) * np.minimum(gap, np.abs(0.5 - p))
            hits += _ece(p, (rng.random(200) < truth).astype(float)) > 0.15
        return hits / reps

    se = math.sqrt(0.8 * 0.2 / reps) + math.sqrt(0.8 * 0.2 / 2000)
    assert rate(row.mde / 100) == pytest.approx(0.8, abs=3 * se)
    assert rate(max(row.mde / 100 - 0.04, 0)) < 0.8  # and it is the least such gap
    fa = rate(0.0)
    assert abs(fa - row.false_alarm) <= 3 * math.hypot(row.false_alarm_se or 0,
                                                       math.sqrt(max(fa * (1 - fa), 1 / reps)
                                                                 / reps))


def test_ece_below_a_threshold_has_no_mde(baseline: pa.Table) -> None:
    program = _ece_plan("ece < 0.01")
    (_, row) = analyze_power(program, build_profile(program, baseline), replays=300)
    assert row.mde is None and "not a drop" in row.note and row.false_alarm is not None
