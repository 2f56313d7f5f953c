"""Confidence intervals on outcome metrics: Wilson (on the effective sample size), Hanley–McNeil
and normal intervals equal a hand computation on the joined rows, Wilson covers by simulation,
and conditions can read a bound (`precision.upper < 0.65`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from planspec._expr import ExprError, format_condition, parse_condition
from planspec.compile import compile_plan
from planspec.english import describe
from planspec.outcomes import hanley_mcneil, wilson

from .enginekit import DAY, T0, plan_with
from .test_outcomes import METRICS, _seconds, dataset, monitors

Z = float(sps.norm.ppf(0.975))


def wilson_by_hand(p: float, n: float) -> tuple[float, float]:
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return max(centre - half, 0.0), min(centre + half, 1.0)


def test_wilson_equals_the_hand_formula_on_random_data() -> None:
    rng = np.random.default_rng(0)
    n = rng.integers(1, 500, 200).astype(float)
    p = rng.integers(0, 501, 200) % (n + 1) / n
    lo, hi = wilson(p, n)
    for i in range(200):
        assert (lo[i], hi[i]) == pytest.approx(wilson_by_hand(p[i], n[i]), abs=1e-12)
    assert np.isnan(wilson(np.array([0.5]), np.array([0.0]))[0]).all()


@pytest.mark.parametrize(("p", "n"), [(0.75, 40), (0.3, 200), (0.05, 100)])
def test_wilson_covers_by_simulation(p: float, n: int) -> None:
    rng = np.random.default_rng(1)
    hits = rng.binomial(n, p, 20000) / n
    lo, hi = wilson(hits, np.full(hits.size, float(n)))
    coverage = float(np.mean((lo <= p) & (p <= hi)))
    assert 0.925 <= coverage <= 0.975, coverage


def test_hanley_mcneil_equals_its_formula() -> None:
    a, n1, n0 = 0.8, 50.0, 70.0
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    se = math.sqrt((a * (1 - a) + (n1 - 1) * (q1 - a * a) + (n0 - 1) * (q2 - a * a)) / (n1 * n0))
    lo, hi = hanley_mcneil(np.array([a]), np.array([n1]), np.array([n0]))
    assert (lo[0], hi[0]) == pytest.approx((a - Z * se, a + Z * se))


def by_hand(metric: str, p: np.ndarray, y: np.ndarray, v: np.ndarray, w: np.ndarray
            ) -> tuple[float, float] | None:
    """The documented interval of each metric, computed directly from the joined rows."""
    def ess(x: np.ndarray) -> float:
        return float(x.sum() ** 2 / (x * x).sum()) if x.size and x.sum() > 0 else 0.0

    flagged, pos = p >= 0.5, y > 0.5
    sets = {"precision": (flagged & pos, flagged), "recall": (flagged & pos, pos),
            "accuracy": (flagged == pos, np.ones_like(pos)), "fpr": (flagged & ~pos, ~pos),
            "share_within(10%)": (np.abs(p - v) <= 0.1 * np.abs(v), np.ones_like(pos))}
    if metric in sets:
        hit, den = sets[metric]
        if w[den].sum() == 0:
            return None
        return wilson_by_hand(w[hit & den].sum() / w[den].sum(), ess(w[den]))
    if metric == "f1":
        tp, fp, fn = flagged & pos, flagged & ~pos, ~flagged & pos
        den = 2 * w[tp].sum() + w[fp].sum() + w[fn].sum()
        if den == 0:
            return None
        ww = np.concatenate([w[tp], w[tp], w[fp], w[fn]])
        return wilson_by_hand(2 * w[tp].sum() / den, ess(ww))

    def mean_ci(loss: np.ndarray, ww: np.ndarray) -> tuple[float, float] | None:
        n = ess(ww)
        if n <= 1:
            return None
        m = np.average(loss, weights=ww)
        var = np.average((loss - m) ** 2, weights=ww) * n / (n - 1)
        return m - Z * math.sqrt(var / n), m + Z * math.sqrt(var / n)

    if metric == "brier":
        return mean_ci((p - y) ** 2, w)
    if metric == "mae":
        return mean_ci(np.abs(p - v), w)
    if metric == "rmse":
        ci = mean_ci((p - v) ** 2, w)
        return None if ci is None else (math.sqrt(max(ci[0], 0)), math.sqrt(max(ci[1], 0)))
    if metric == "mape":
        nz = v != 0
        return mean_ci(np.abs(p - v)[nz] / np.abs(v[nz]), w[nz])
    if metric == "auc":
        return None  # the AUC value is binned: checked through hanley_mcneil above
    if metric == "ece":
        bins = np.clip((p * 10).astype(int), 0, 9)
        var = 0.0
        for b in range(10):
            m = bins == b
            if w[m].sum() > 0:
                share = np.average(y[m], weights=w[m])
                var += (w[m].sum() / w.sum()) ** 2 * share * (1 - share) / ess(w[m])
        return (-Z * math.sqrt(var), Z * math.sqrt(var))  # offsets around the value
    raise AssertionError(metric)


@pytest.mark.parametrize("weights", [False, True])
def test_intervals_equal_a_hand_computation_on_joined_rows(weights: bool) -> None:
    rng = np.random.default_rng(7 + weights)
    scored, outcomes = dataset(rng, 1500, 0.4, ties=False)
    program = compile_plan(plan_with({"m": "mean(x) > 1e9"},
                                     extra={"outcome_monitors": monitors(weights)}), check=False)
    results = program.run(scored, scored, outcomes={"cls": outcomes, "reg": outcomes},
                          as_of=T0 + 60 * DAY)
    by_id = {k: i for i, k in enumerate(outcomes["id"])}
    ts = scored["ts"].astype(np.int64)
    checked = 0
    for check in results.checks:
        if check.kind != "outcome":
            continue
        metric = METRICS[int(check.id[1:])]
        for win in check.windows:
            if win.value is None:
                assert win.lower is None and win.upper is None
                continue
            lo, hi = _seconds(win.start), _seconds(win.end)
            rows = [r for r in np.flatnonzero((ts >= lo) & (ts < hi)) if scored["id"][r] in by_id]
            idx = [by_id[k] for k in scored["id"][rows]]
            p, y, v = scored["p"][rows], outcomes["y"][idx], outcomes["v"][idx]
            w = outcomes["w"][idx] if weights else np.ones(len(idx))
            want = by_hand(metric, p, y, v, w)
            assert win.lower is not None and win.upper is not None
            assert win.lower <= win.value <= win.upper or metric == "rmse"
            if want is None:
                continue
            if metric == "ece":
                want = (max(win.value + want[0], 0), min(win.value + want[1], 1))
            assert (win.lower, win.upper) == pytest.approx(want, rel=1e-9, abs=1e-12), metric
            checked += 1
    assert checked >= 30


def run_monitor(when: str, seed: int = 3) -> Any:
    rng = np.random.default_rng(seed)
    scored, outcomes = dataset(rng, 800, 0.5, ties=False)
    mon = monitors(False)[0] | {"when": when}
    program = compile_plan(plan_with({"m": "mean(x) > 1e9"}, extra={"outcome_monitors": [mon]}),
                           check=False)
    results = program.run(scored, scored, outcomes={"cls": outcomes}, as_of=T0 + 60 * DAY)
    return next(c for c in results.checks if c.kind == "outcome")


def test_a_condition_reads_the_bound() -> None:
    check = run_monitor("precision.upper < 0.65")
    scored = [w for w in check.windows if w.upper is not None]
    assert scored
    for w in scored:
        assert (w.status == "fail") == (w.upper < 0.65)
        assert w.lower <= w.value <= w.upper
    lower = run_monitor("precision.lower > 0.5")
    assert [w.status == "fail" for w in lower.windows if w.lower is not None] == [
        w.lower > 0.5 for w in lower.windows if w.lower is not None]


def test_bounds_in_the_language() -> None:
    cond, _ = parse_condition("precision.upper < 0.65")
    assert format_condition(cond) == "precision.upper < 0.65"
    assert describe(cond) == ("the upper bound of the 95% confidence interval of the precision "
                              "is below 0.65")
    assert format_condition(parse_condition("share_within(10%).lower < 0.5")[0]) == \
        "share_within(10%).lower < 0.5"
    for text, hint in (("recall.uper < 0.5", "did you mean `upper`?"),
                       ("psi(x).upper > 1", None)):
        with pytest.raises(ExprError) as e:
            parse_condition(text)
        assert e.value.code == "PS107"
        if hint:
            assert e.value.hint == hint
