"""Calibrated thresholds of a segmented alert: each segment replayed from its own baseline rows
(checked against binomial quantiles computed by hand from the segment's missing share), a small
segment falling back to the whole baseline's calibration, and the engine judging each segment
with its own thresholds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from planspec.calibrate import MIN_SEGMENT_ROWS, calibrate_profile
from planspec.profile import build_profile, load_profile

from .enginekit import DAY, T0, compile_plan, frame, plan_with

RATES = {"k0": 0.02, "k1": 0.20, "k2": 0.08}


def _data(seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    base = frame(rng, 12000, 28, start=T0 - 35 * DAY, categories=3)
    cur = frame(rng, 6000, 14, categories=3)
    base["c"][:150] = "tiny"  # a segment too small for its own calibration
    for d in (base, cur):
        for value, rate in RATES.items():
            rows = d["c"] == value
            d["x"][rows & (rng.random(d["x"].size) < rate)] = np.nan
    cur["x"][(cur["c"] == "k0") & (rng.random(cur["x"].size) < 0.05)] = np.nan  # k0: 2% → 7%
    return base, cur


def _program(by: Any = "c") -> Any:
    plan = plan_with({"m": "missing_rate(x) > calibrated(1%)"}, min_samples=50)
    data = plan.model_dump(by_alias=True, mode="json", exclude_none=True)
    data["input_alerts"][0]["by"] = by
    return compile_plan(type(plan).model_validate(data))


def test_each_segment_is_calibrated_on_its_own_baseline_rows() -> None:
    base, _ = _data(3)
    program = _program()
    profile = calibrate_profile(program, build_profile(program, base), replays=4000)
    assert load_profile(profile.model_dump_json(), "b.json") == profile
    segments = profile.segments["c"]
    whole = profile.calibration[0]
    for value in RATES:
        seg = segments[value]
        (cal,) = seg.calibration
        col = seg.columns["x"]
        share = col.missing / col.rows  # the segment's own missing share in the baseline
        assert cal.expected_rows == round(seg.rows * 7 / 28)
        assert cal.levels == [pytest.approx(0.99)]
        for size, (q,) in zip(cal.sizes, cal.quantiles, strict=True):
            # the 99% quantile of the missing count in `size` rows at the segment's share, up
            # to the replays' sampling error (within its 98% and 99.7% quantiles)
            lo, hi = sps.binom.ppf([0.98, 0.997], size, share)
            assert q is not None and lo - 0.02 <= q * size <= hi + 0.02, (value, size)
        assert cal != whole
    # Too small a baseline: the whole baseline's calibration stands in.
    assert segments["tiny"].rows < MIN_SEGMENT_ROWS
    assert segments["tiny"].calibration == profile.calibration


def test_segments_are_judged_with_their_own_thresholds() -> None:
    base, cur = _data(4)
    cur["c"][:40] = "tiny"  # too few rows to judge, but reported: whose calibration it has
    program = _program()
    profile = calibrate_profile(program, build_profile(program, base), replays=4000)
    results = program.run(cur, profile)
    by_id = {c.id: c for c in results.checks}
    for value in RATES:
        cal = profile.segments["c"][value].calibration[0]
        check = by_id[f"m[c={value}]"]
        for w in check.windows:
            assert w.threshold == pytest.approx(float(cal.threshold(0.99, np.array([w.n]))[0]))
    fails = {c.id for c in results.checks if any(w.status == "fail" for w in c.windows)}
    # k0's missing share rose from 2% to 7%: above its own threshold (about 3.5%) although far
    # below k1's usual 20%, which the whole baseline's calibration would have let through.
    assert fails == {"m[c=k0]"}
    # The results say whose calibration each segment was judged with.
    assert {c.id: c.segment_calibration for c in results.checks} == {
        "m[c=k0]": "segment", "m[c=k1]": "segment", "m[c=k2]": "segment",
        "m[c=tiny]": "overall"}
    whole_limit = float(profile.calibration[0].threshold(0.99, np.array([1000]))[0])
    assert whole_limit > 0.07


def test_run_program_calibrates_segments_from_raw_baseline_rows() -> None:
    """Given rows instead of a profile, the run calibrates each segment too (it used to find
    no calibration for a segment and stop with PS406)."""
    base, cur = _data(5)
    results = _program(["c"]).run(cur, base)
    assert {c.id for c in results.checks} >= {"m[c=k0]", "m[c=k1]", "m[c=k2]"}
    assert all(w.threshold is not None for c in results.checks for w in c.windows if w.n)
