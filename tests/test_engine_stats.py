"""Every statistic against scipy, numpy or a hand computation on the raw rows of each window.

Data shapes come from Hypothesis: sizes, missing values, ties, integer and constant columns,
categories never seen in the baseline, tumbling and sliding windows. Comparing each window with a
computation on its own raw rows also shows that windows summed from buckets equal windows computed
from rows. Where a statistic is binned (KS, Wasserstein, quantiles) the reference must lie within
the stated bound.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from planspec.profile import build_profile

from .enginekit import compile_plan, day_end, frame, plan_with, window_rows

INPUTS = {
    "mean": "mean(x) > 1e9", "std": "std(x) > 1e9", "min": "min(x) > 1e9", "max": "max(x) > 1e9",
    "q90": "quantile(x, 0.9) > 1e9", "q10": "quantile(x, 0.1) > 1e9",
    "missing": "missing_rate(x) > 100%", "oor": "out_of_range_rate(x) > 100%",
    "psi": "psi(x) > 1e9", "js": "js(x) > 1", "ks": "ks(x) > 1", "ks_p": "ks(x).pvalue < 0",
    "wass": "wasserstein(x) > 1e9", "psi_c": "psi(c) > 1e9", "js_c": "js(c) > 1",
    "chi2": "chi2(c) > 1e9", "chi2_p": "chi2(c).pvalue < 0", "new": "new_category_rate(c) > 100%",
    "share": 'share(c == "k1") > 100%', "share_x": "share(x >= 0.5) > 100%",
    "count": "count > 1e12", "shift": "mean(x) shift > 1e9 sd", "change": "std(x) change > 1e9%",
}
OUTPUTS = {"rate": "rate(p < 0.5) > 100%"}

shapes = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32 - 1),
    "n_base": st.integers(2, 3000),
    "n_cur": st.integers(1, 4000),
    "kind": st.sampled_from(["normal", "integers", "constant", "ties"]),
    "missing": st.sampled_from([0.0, 0.05, 0.5]),
    "shift": st.sampled_from([0.0, 0.3, 2.0]),
    "unseen": st.sampled_from([0.0, 0.1]),
    "grid": st.sampled_from([("7d", None), ("7d", "1d"), ("1d", None), ("14d", "7d")]),
})


def _present(x: np.ndarray) -> np.ndarray:
    return x[~np.isnan(x)]


def _psi(b: np.ndarray, w: np.ndarray) -> float:
    pb, pw = np.maximum(b / b.sum(), 1e-4), np.maximum(w / w.sum(), 1e-4)
    return float(np.sum((pw - pb) * np.log(pw / pb)))


def _decile_bins(base: np.ndarray, x: np.ndarray) -> np.ndarray:
    edges = np.unique(np.quantile(base, np.linspace(0.1, 0.9, 9)))
    return np.bincount(np.searchsorted(edges, x, side="left"), minlength=edges.size + 1)


def _cat_counts(base: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cats = sorted({v for v in base if v is not None})
    index = {c: i for i, c in enumerate(cats)}
    def count(a: np.ndarray) -> np.ndarray:
        codes = [index.get(v, len(cats)) for v in a if v is not None]
        return np.bincount(np.asarray(codes, dtype=int), minlength=len(cats) + 1).astype(float)
    return count(base), count(x)


def reference(name: str, base: dict[str, np.ndarray], win: dict[str, np.ndarray]) -> float | None:
    xb, xw = _present(base["x"]), _present(win["x"])
    rows = win["x"].size
    cw = np.array([v for v in win["c"] if v is not None], dtype=object)
    if name == "count":
        return float(rows)
    if name == "missing":
        return float(np.isnan(win["x"]).mean()) if rows else None
    if name == "rate":
        return float((win["p"] < 0.5).mean()) if rows else None
    if name in ("psi_c", "js_c", "chi2", "chi2_p", "new", "share"):
        if name == "new":
            known = {v for v in base["c"] if v is not None}
            return float(np.mean([v is not None and v not in known for v in win["c"]])) \
                if rows else None
        if cw.size == 0:
            return None
        if name == "share":
            return float(np.mean(cw == "k1"))
        b, w = _cat_counts(base["c"], cw)
        if name == "psi_c":
            return _psi(b, w)
        if name == "js_c":
            return float(jensenshannon(w / w.sum(), b / b.sum(), base=2))
        used = (b + w) > 0
        if used.sum() < 2:
            return 0.0 if name == "chi2" else 1.0
        res = sps.chi2_contingency(np.stack([b[used], w[used]]), correction=False)
        return float(res.statistic if name == "chi2" else res.pvalue)
    if xw.size == 0:
        return None
    if name == "mean":
        return float(xw.mean())
    if name == "std":
        return float(xw.std(ddof=1)) if xw.size > 1 else None
    if name == "min":
        return float(xw.min())
    if name == "max":
        return float(xw.max())
    if name == "oor":
        return float(((xw < -1) | (xw > 1)).mean())
    if name == "share_x":
        return float((xw >= 0.5).mean())
    if name == "psi":
        return _psi(_decile_bins(xb, xb).astype(float), _decile_bins(xb, xw).astype(float))
    if name == "js":
        b, w = _decile_bins(xb, xb), _decile_bins(xb, xw)
        return float(jensenshannon(w / w.sum(), b / b.sum(), base=2))
    if name == "shift":
        sd = xb.std(ddof=1)
        diff = xw.mean() - xb.mean()
        return abs(diff / sd) if sd > 0 else (0.0 if diff == 0 else np.inf)
    if name == "change":
        if xw.size < 2:
            return None
        return abs(xw.std(ddof=1) - xb.std(ddof=1)) / abs(xb.std(ddof=1)) \
            if xb.std(ddof=1) > 0 else None
    return None


BINNED = {"q90": 0.9, "q10": 0.1}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes)
def test_every_statistic_matches_its_reference_in_every_window(shape: dict[str, object]) -> None:
    rng = np.random.default_rng(shape["seed"])  # type: ignore[arg-type]
    kind = str(shape["kind"])
    base = frame(rng, int(shape["n_base"]), 60, start=0 + 1_700_000_000, kind=kind)  # type: ignore[call-overload]
    cur = frame(rng, int(shape["n_cur"]), 35, kind=kind, missing=float(shape["missing"]),  # type: ignore[call-overload]
                shift=float(shape["shift"]), unseen=float(shape["unseen"]))  # type: ignore[arg-type]
    window, every = shape["grid"]  # type: ignore[misc]
    plan = plan_with(INPUTS, OUTPUTS, window=window, every=every)
    program = compile_plan(plan)
    profile = build_profile(program, base)
    results = program.run(cur, profile)
    xb = _present(base["x"])
    for check in results.checks:
        for w in check.windows:
            win = window_rows(cur, w.start, w.end)
            assert w.n == win["x"].size
            name = check.id
            if name in BINNED:
                xw = _present(win["x"])
                if xw.size == 0:
                    assert w.value is None
                    continue
                exact = float(np.quantile(xw, BINNED[name]))
                assert abs(w.value - exact) <= w.bound + 1e-9 * max(1, abs(exact))
            elif name in ("ks", "ks_p", "wass"):
                xw = _present(win["x"])
                if xw.size == 0:
                    assert w.value is None
                    continue
                if name == "wass":
                    sd = xb.std(ddof=1)
                    exact_w = sps.wasserstein_distance(xw, xb)
                    if sd == 0:
                        assert (w.value == 0) == (exact_w == 0)
                        continue
                    assert abs(w.value - exact_w / sd) <= w.bound + 1e-9
                    continue
                ref = sps.ks_2samp(xw, xb, method="asymp")
                if name == "ks":
                    assert w.value - 1e-12 <= ref.statistic <= w.value + w.bound + 1e-12
                elif w.bound == 0:  # D exact: the p-value must be scipy's
                    assert w.value == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-12)
            else:
                ref = reference(name, base, win)
                if ref is None:
                    assert w.value is None or name in ("change",), (name, w)
                else:
                    assert w.value is not None, (name, w)
                    assert w.value == pytest.approx(ref, rel=1e-9, abs=1e-12), (name, w.start)


def test_discrete_columns_within_the_baseline_support_are_exact() -> None:
    # Values the baseline has also seen sit on fine-bin edges, so nothing is binned away.
    rng = np.random.default_rng(7)
    base = frame(rng, 2000, 60, start=1_700_000_000, kind="integers")
    cur = frame(rng, 3000, 28, kind="integers")
    program = compile_plan(plan_with({"ks": "ks(x) > 1", "wass": "wasserstein(x) > 1e9",
                                      "q": "quantile(x, 0.5) > 1e9"}))
    results = program.run(cur, build_profile(program, base))
    for check in results.checks:
        assert all(w.bound == 0 for w in check.windows), check.id


def test_constant_baseline_column_shift_is_infinite_or_zero() -> None:
    rng = np.random.default_rng(3)
    base = frame(rng, 500, 30, start=1_700_000_000, kind="constant")
    same = frame(rng, 500, 14, kind="constant")
    moved = frame(rng, 500, 14, kind="constant", shift=1.0)
    program = compile_plan(plan_with({"shift": "mean(x) shift > 2 sd"}))
    profile = build_profile(program, base)
    assert [w.value for w in program.run(same, profile).checks[0].windows] == [0.0, 0.0]
    moved_windows = program.run(moved, profile, as_of=day_end(moved)).checks[0].windows
    assert all(w.value == np.inf and w.status == "fail" for w in moved_windows)


def test_infinities_count_as_missing() -> None:
    rng = np.random.default_rng(5)
    base = frame(rng, 500, 30, start=1_700_000_000)
    cur = frame(rng, 700, 7)
    cur["x"][:100] = np.inf
    cur["x"][100:150] = -np.inf
    program = compile_plan(plan_with({"m": "missing_rate(x) > 100%", "mean": "mean(x) > 1e9"}))
    results = program.run(cur, build_profile(program, base))
    missing, mean = results.checks
    assert missing.windows[0].value == pytest.approx(150 / 700)
    assert np.isfinite(mean.windows[0].value)


def test_two_alerts_on_one_statistic_compute_it_once() -> None:
    program = compile_plan(plan_with({"a": "mean(x) shift > 2 sd", "b": "mean(x) change > 10%",
                                      "c": "ks(x) > 0.1 and ks(x).pvalue < 0.01"}))
    keys = [(k.stat, k.column) for k in program.stats]
    assert keys.count(("mean", "x")) == 1
    assert keys.count(("ks", "x")) == 1
