"""Calibration: what each compared quantity does when nothing changed, by replaying the baseline.

A window of ``n`` rows drawn from the baseline (with replacement) is a multinomial draw from the
profile's stored counts: decile counts (PSI, JS), fine-histogram counts (KS, Wasserstein,
quantiles, mean and SD), category counts (PSI, JS, chi-squared), and binomial draws for shares
(missing values, out-of-range values, `rate`, `share`). Each replayed window's statistic comes
from the engine's own kernels (:mod:`planspec.engine.windows`) and the same `shift`/`change`
transform the judge applies, so a calibrated threshold is the same quantity the check computes.

The same draws, with an :class:`Effect` applied to the baseline's distribution (a mean shift, a
change of the top category's share, a relative change of a rate), serve the power analysis.

Limits, stated: replays treat the baseline as the population, so for windows that are a large
share of the baseline the baseline's own sampling error is left out; mean and SD are computed
from the fine histogram (1,000 quantile bins, values spread uniformly within a bin); min and max
from the occupied fine bins. With ``calibrate: consecutive`` the baseline's own complete windows
add the variation of the reference period itself (as NannyML does with reference chunks).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import stats as sps

from planspec.compile import CheckProgram, Leaf, Rule, StatKey
from planspec.engine.gather import cumulate
from planspec.engine.judge import compared
from planspec.engine.windows import (
    Fine,
    Grid,
    Values,
    chi2,
    compute,
    ks,
    psi_js,
    quantile,
    wasserstein,
)
from planspec.profile import Calibration, ColumnProfile, Profile, measure_text

#: Default replays per window size, and the default seed.
REPLAYS = 5000
SEED = 0
#: The ladder of window sizes, as multiples of the expected rows per window.
LADDER = tuple(2.0 ** k for k in range(-4, 5))
#: The smallest window size replayed.
MIN_ROWS = 10
#: A segment's baseline needs this many rows for its own calibration (else the whole's).
MIN_SEGMENT_ROWS = 200


@dataclass(frozen=True)
class Effect:
    """A change to the baseline's distribution to replay: none; a mean ``shift`` of ``size``
    baseline SDs (numeric columns); a ``share`` change of the most frequent category by ``size``
    (a fraction: 0.05 is 5 points); a relative ``rate`` change by ``size`` (0.5 is +50%) of
    the rate a statistic counts (missing, out-of-range, predicate hits, rows for `count`)."""

    kind: Literal["none", "shift", "share", "rate"] = "none"
    size: float = 0.0


NONE = Effect()


# ------------------------------------------------------------------------------ distributions


def _fine_model(col: ColumnProfile) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The baseline as atoms or uniform pieces on the fine bins: (probabilities per fine bin,
    representative values, within-bin variances)."""
    edges = np.asarray(col.fine_edges, dtype=np.float64)
    counts = np.asarray(col.fine_counts, dtype=np.float64)
    p = counts / counts.sum()
    if col.fine_discrete:  # bin j holds exactly the values equal to its right edge
        values = np.append(edges, edges[-1])
        return p, values, np.zeros_like(values)
    left = np.concatenate([[edges[0]], edges])
    right = np.append(edges, edges[-1])
    left[0] = edges[0]  # bin 0 holds the values equal to the minimum
    return p, (left + right) / 2, (right - left) ** 2 / 12


def _numeric_probs(col: ColumnProfile, target: np.ndarray, shift: float
                   ) -> tuple[np.ndarray, np.ndarray | None]:
    """Probabilities of the (shifted) baseline in the right-closed bins on ``target`` edges,
    and for discrete data the share of each bin's mass sitting on its right edge."""
    edges = np.asarray(col.fine_edges, dtype=np.float64)
    counts = np.asarray(col.fine_counts, dtype=np.float64)
    m = counts.sum()
    k = target.size + 1
    if col.fine_discrete:
        # Values stay on the baseline's lattice (integers stay integers): each value's mass
        # moves to the two lattice points around value + shift, in proportion, so the mean
        # moves by exactly ``shift`` inside the range; beyond it, mass sits at value + shift.
        moved = edges + shift
        j = np.clip(np.searchsorted(edges, moved, side="right") - 1, 0, edges.size - 1)
        inside = (moved >= edges[0]) & (moved <= edges[-1])
        upper = np.minimum(j + 1, edges.size - 1)
        gap = edges[upper] - edges[j]
        frac = np.where(inside & (gap > 0), (moved - edges[j]) / np.where(gap > 0, gap, 1), 0.0)
        atoms = np.concatenate([np.where(inside, edges[j], moved), edges[upper]])
        mass = np.concatenate([counts[:edges.size] * (1 - frac), counts[:edges.size] * frac])
        bins = np.searchsorted(target, atoms, side="left")
        probs = np.bincount(bins, weights=mass, minlength=k) / m
        on = np.minimum(bins, target.size - 1)
        exact = (bins < target.size) & (target[on] == atoms)
        on_edge = np.bincount(bins, weights=mass * exact, minlength=k) / m
        return probs, on_edge
    cum = np.cumsum(counts[:edges.size]) / m  # F at each fine edge (an atom at the minimum)
    f = np.interp(target - shift, edges, cum, left=0.0, right=1.0)
    probs = np.diff(np.concatenate([[0.0], f, [1.0]]))
    return np.maximum(probs, 0.0), None


def _multinomial(rng: np.random.Generator, n: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.maximum(p, 0.0)
    total = p.sum()
    return rng.multinomial(n.astype(np.int64), p / total if total > 0 else p).astype(np.float64)


def _shift_of(col: ColumnProfile, effect: Effect) -> float:
    return effect.size * (col.std or 0.0) if effect.kind == "shift" else 0.0


def _rate(p: float, effect: Effect) -> float:
    """A rate under ``effect``: relative change, or (from zero) the change in points."""
    if effect.kind != "rate":
        return p
    return float(np.clip(p * (1 + effect.size) if p > 0 else effect.size, 0.0, 1.0))


@dataclass
class Draw:
    """One column in replayed windows: rows, present values and, for numeric columns, the
    fine-histogram counts (and those on a bin's right edge) with each window's range; for
    categorical columns the category counts (the last column: unseen)."""

    rows: np.ndarray
    present: np.ndarray
    effect: Effect
    fine: np.ndarray | None = None
    on_edge: np.ndarray | None = None
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    categories: np.ndarray | None = None


def draw(profile: Profile, column: str, rows: np.ndarray, rng: np.random.Generator,
         effect: Effect = NONE) -> Draw:
    """Replayed windows of ``rows`` rows each of one column, drawn from the baseline changed by
    ``effect``: every statistic of the column in a window reads the same draw."""
    col = profile.columns[column]
    miss = col.missing / col.rows if col.rows else 0.0
    present = rng.binomial(rows.astype(np.int64), 1 - miss).astype(np.float64)
    out = Draw(rows, present, effect)
    if col.kind == "categorical":
        counts = np.asarray([*col.category_counts, 0], dtype=np.float64)
        p = counts / counts.sum()
        if effect.kind == "share" and p.size > 1:
            top = min(p[0] + effect.size, 1.0)
            rest = p[1:] * ((1 - top) / (1 - p[0])) if p[0] < 1 else p[1:] * 0
            p = np.concatenate([[top], rest])
        out.categories = _multinomial(rng, present, p)
        return out
    if not col.fine_edges:  # a column with no values in the baseline
        return out
    edges = np.asarray(col.fine_edges, dtype=np.float64)
    probs, on_share = _numeric_probs(col, edges, _shift_of(col, effect))
    if on_share is not None:  # discrete: draw on-edge and inside mass separately
        inside = np.maximum(probs - on_share, 0.0)
        both = _multinomial(rng, present, np.concatenate([on_share, inside]))
        out.on_edge = both[:, :probs.size]
        out.fine = out.on_edge + both[:, probs.size:]
    else:
        out.fine = _multinomial(rng, present, probs)
    left = np.concatenate([[edges[0]], edges])
    right = np.append(edges, edges[-1])
    occupied = out.fine > 0
    first = np.argmax(occupied, axis=1)
    last = out.fine.shape[1] - 1 - np.argmax(occupied[:, ::-1], axis=1)
    out.lo, out.hi = left[first], right[last]
    return out


def statistic(profile: Profile, key: StatKey, d: Draw, rng: np.random.Generator,
              pvalues: float = 1.0, band: tuple[float, float] | None = None) -> Values:
    """The statistic ``key`` of a column's replayed windows ``d``, by the engine's kernels.

    Shares of rows (missing, out of range, predicate hits) are binomial draws at the baseline's
    share (under the draw's effect); KS p-values are costly (scipy's exact distribution), so
    ``pvalues`` is the share of windows, those with the largest D, whose p-value is computed
    (the others read 1; 0: none). With ``band``, exact p-values are computed only where the
    asymptotic (Kolmogorov) p-value lies inside it; elsewhere the asymptotic value stands in
    (for decisions about thresholds well outside the band).
    """
    stat, effect = key.stat, d.effect
    col = profile.columns[key.column or ""]
    rows, present = d.rows, d.present
    if stat == "missing_rate":
        miss = col.missing / col.rows if col.rows else 0.0
        if effect.kind == "rate":
            return Values(rng.binomial(rows.astype(np.int64), _rate(miss, effect))
                          / np.maximum(rows, 1))
        return Values((rows - present) / np.maximum(rows, 1))
    if stat in ("out_of_range_rate", "rate", "share"):
        hit = _rate(profile.value(key) or 0.0, effect)
        hits = rng.binomial(present.astype(np.int64), hit)
        with np.errstate(invalid="ignore", divide="ignore"):
            return Values(np.where(present > 0, hits / np.maximum(present, 1), np.nan))
    if d.categories is not None:
        w = d.categories
        counts = np.asarray([*col.category_counts, 0], dtype=np.float64)
        if stat in ("psi", "js"):
            return psi_js(w, counts, stat)
        if stat == "chi2":
            return chi2(w, counts)
        if stat == "new_category_rate":
            return Values(w[:, -1] / np.maximum(rows, 1))
        raise ValueError(f"cannot replay {stat}")  # pragma: no cover - the checker rejects it
    if d.fine is None or d.lo is None or d.hi is None:
        return Values(np.full(rows.size, np.nan))
    w, on_edge = d.fine, d.on_edge
    if stat in ("psi", "js"):  # decile edges are fine edges: sum fine bins, as gather does
        fine_edges = np.asarray(col.fine_edges)
        at = np.searchsorted(fine_edges, np.asarray(col.decile_edges), side="left")
        cum = np.cumsum(w, axis=1)
        bounds = np.concatenate([np.zeros((w.shape[0], 1)), cum[:, at], cum[:, -1:]], axis=1)
        return psi_js(np.diff(bounds, axis=1), np.asarray(col.decile_counts, dtype=np.float64),
                      stat)
    if stat in ("mean", "std", "min", "max"):
        # The draw is already shifted, binned on the fine edges: the bins' own values apply,
        # except that mass shifted past the baseline's range sits about half a shift beyond it.
        _, values, spread = _fine_model(col)
        shift = _shift_of(col, effect)
        if shift > 0:
            values[-1] = values[-1] + shift / 2
        elif shift < 0:
            values[0] = values[0] + shift / 2
        n = w.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (w @ values) / n
            if stat == "mean":
                return Values(mean)
            if stat == "std":
                m2 = w @ (values ** 2) - n * mean ** 2 + w @ spread
                return Values(np.sqrt(np.maximum(m2 / (n - 1), 0)))
        occupied = w > 0
        first = np.argmax(occupied, axis=1)
        last = w.shape[1] - 1 - np.argmax(occupied[:, ::-1], axis=1)
        return Values(np.where(n > 0, values[first] if stat == "min" else values[last], np.nan))
    if stat == "quantile":
        return quantile(w, on_edge, d.lo, d.hi, key.q or 0.0, col)
    fine = Fine.of(w, on_edge, col)
    if stat != "ks":
        return wasserstein(fine, d.lo, d.hi, col)
    ks_d = ks(fine, pvalue=False)
    if pvalues <= 0:
        return ks_d
    r = rows.size
    if band is not None:
        en = np.round(fine.n * fine.m / np.maximum(fine.n + fine.m, 1))
        rough = sps.kstwobign.sf(np.nan_to_num(ks_d.value) * np.sqrt(en))
        top = np.flatnonzero((rough >= band[0]) & (rough <= band[1]))
        p = np.where(np.isnan(ks_d.value), np.nan, rough)
    else:
        order = np.argsort(-np.nan_to_num(ks_d.value, nan=-1.0), kind="stable")
        top = order[:min(r, int(np.ceil(pvalues * r)))]
        p = np.where(np.isnan(ks_d.value), np.nan, 1.0)
    if top.size == 0:
        return Values(ks_d.value, p, ks_d.bound)
    part = ks(Fine(fine.fw[top], fine.fb, fine.iw[top], fine.ib, fine.n[top], fine.m))
    p[top] = part.pvalue if part.pvalue is not None else np.nan
    return Values(ks_d.value, p, ks_d.bound)


def simulate(profile: Profile, key: StatKey, rows: np.ndarray, rng: np.random.Generator,
             effect: Effect = NONE, pvalues: float = 1.0) -> Values:
    """The statistic ``key`` in replayed windows of ``rows`` rows each (one per entry), drawn
    from the baseline changed by ``effect`` (see :func:`draw` and :func:`statistic`; tests hold
    it to the engine run on rows resampled from the baseline). `count` is Poisson around the
    baseline's rows per window (changed by a `rate` effect)."""
    if key.stat == "count":
        base = profile.value(key) or 0.0
        return Values(rng.poisson(base * (1 + effect.size) if effect.kind == "rate" else base,
                                  size=rows.size).astype(np.float64))
    return statistic(profile, key, draw(profile, key.column or "", rows, rng, effect), rng,
                     pvalues)


def replay(profile: Profile, leaf: Leaf, rows: np.ndarray, rng: np.random.Generator,
           effect: Effect = NONE, tail: float = 1.0) -> np.ndarray:
    """The quantity ``leaf`` compares (p-value, `shift`, `change`, direction applied) in
    replayed windows of ``rows`` rows each. ``tail``: the share of replays whose KS p-value
    must be exact (the rest are above every small quantile; see :func:`simulate`)."""
    pvalues = tail if leaf.measure.part == "pvalue" else 0.0
    return compared(leaf, simulate(profile, leaf.key, rows, rng, effect, pvalues), profile)


# -------------------------------------------------------------------------------- calibration


def expected_rows(profile: Profile, window_seconds: int, hint: int | None = None) -> int:
    """The rows a window is expected to hold: the hint, else the baseline's rows per window
    length (at least 1)."""
    if hint is not None:
        return hint
    return max(1, round(profile.rows * window_seconds / profile.span_seconds))


def ladder(expected: int) -> list[int]:
    """The window sizes replayed around ``expected`` rows (distinct, at least MIN_ROWS).

    >>> ladder(1000)
    [62, 125, 250, 500, 1000, 2000, 4000, 8000, 16000]
    """
    return sorted({max(MIN_ROWS, int(expected * f)) for f in LADDER})


def _rng(seed: int, *parts: object) -> np.random.Generator:
    """A generator per calibrated quantity, so results do not depend on the plan's order."""
    tag = zlib.crc32("\x1f".join(map(str, parts)).encode())
    return np.random.default_rng([seed, tag])


Wanted = dict[tuple[str, int, int | None], tuple[Leaf, Rule, set[float]]]


def calibrated_leaves(program: CheckProgram, by: str | None = None) -> Wanted:
    """Every calibrated quantity of the program (of its rules judged on the slice ``by``; None:
    of every rule), by (measure text, window length, window_rows hint): a leaf that computes
    it, the first rule using it, and the quantile levels its conditions need."""
    out: Wanted = {}
    for rule in program.rules:
        if by is not None and rule.by != by:
            continue
        for leaf in rule.fail.leaves() + (rule.warn.leaves() if rule.warn else []):
            if leaf.level is None:
                continue
            key = (measure_text(leaf), rule.window.seconds, rule.window_rows)
            out.setdefault(key, (leaf, rule, set()))[2].add(round(leaf.level, 12))
    return out


def calibrate_profile(program: CheckProgram, profile: Profile, data: Any = None,
                      seed: int = SEED, replays: int = REPLAYS) -> Profile:
    """``profile`` with the no-drift quantiles of every calibrated threshold of ``program``
    (deterministic for ``seed``). Alerts with ``calibrate: consecutive`` also replay the
    baseline's own windows, which needs the baseline ``data``.

    A segmented alert's segments are calibrated on their own baseline rows (each segment's
    profile replayed, for windows of the segment's own expected rows), so a quiet segment and
    a noisy one get their own thresholds. A segment whose baseline holds fewer than
    ``MIN_SEGMENT_ROWS`` rows is too small to stand for its population: it keeps the whole
    baseline's calibration. Segments are calibrated by subsamples only (the `consecutive` part
    needs each segment's own baseline windows, which the profile does not keep)."""
    wanted = calibrated_leaves(program)
    consecutive: dict[tuple[str, int, int | None], np.ndarray] = {}
    if any(rule.calibrate == "consecutive" for _, rule, _ in wanted.values()) and data is not None:
        consecutive = _baseline_windows(program, profile, data, wanted)
    out = _calibrations(profile, wanted, seed, replays, consecutive)
    segments = dict(profile.segments)
    for key, named in profile.segments.items():
        own = calibrated_leaves(program, key)
        if not own:
            continue
        segments[key] = {
            name: seg.model_copy(update={"calibration": out if seg.rows < MIN_SEGMENT_ROWS else
                                         _calibrations(seg, own, seed, replays, {},
                                                       share=seg.rows / max(profile.rows, 1),
                                                       tag=(key, name))})
            for name, seg in named.items()}
    return profile.model_copy(update={"calibration": out, "segments": segments})


def _calibrations(profile: Profile, wanted: Wanted, seed: int, replays: int,
                  consecutive: dict[tuple[str, int, int | None], np.ndarray],
                  share: float = 1.0, tag: tuple[str, ...] = ()) -> list[Calibration]:
    """The calibrations of ``wanted`` replayed from ``profile`` (a segment's: ``share`` of the
    whole baseline's rows scales a `window_rows` hint, ``tag`` seeds its own replays)."""
    out: list[Calibration] = []
    for (text, length, hint), (leaf, rule, levels) in sorted(
            wanted.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0)):
        levels_list = sorted(levels)
        expected = expected_rows(profile, length, None if hint is None else
                                 max(1, round(hint * share)))
        sizes = ladder(expected)
        rng = _rng(seed, text, length, hint, *tag)
        # A p-value's lower tail is the smallest p-values, of the largest statistics: those
        # within five times the level are computed exactly.
        low = max(levels_list) < 0.5
        tail = min(1.0, 5 * max(levels_list) + 0.01) if low else 1.0
        quantiles: list[list[float | None]] = []
        for n in sizes:
            x = replay(profile, leaf, np.full(replays, n), rng, tail=tail)
            x = x[~np.isnan(x)]
            quantiles.append([float(np.quantile(x, q)) if x.size else None
                              for q in levels_list])
        cal = Calibration(measure=text, window_seconds=length, seed=seed, replays=replays,
                          expected_rows=expected, window_rows=hint, levels=levels_list,
                          sizes=sizes,
                          quantiles=quantiles)
        own = consecutive.get((text, length, hint))
        if rule.calibrate == "consecutive" and own is not None:
            z = [float(sps.norm.ppf(q)) for q in levels_list]
            mean, sd = float(own.mean()), float(own.std(ddof=1)) if own.size > 1 else 0.0
            cal = cal.model_copy(update={
                "method": "consecutive", "windows": int(own.size),
                "consecutive": [mean + zq * sd if own.size >= 3 else None for zq in z]})
        out.append(cal)
    return out


def _baseline_windows(program: CheckProgram, profile: Profile, data: Any,
                      wanted: Wanted) -> dict[tuple[str, int, int | None], np.ndarray]:
    """The compared quantity over the baseline's own complete windows with enough rows."""
    from planspec.engine.run import gather_data  # the run drives this stage: import it late

    gathered = gather_data(program, profile, data, False, lambda _msg: None)
    view = cumulate(gathered.sums)
    b, sums, rows_cum = view.buckets, view.columns, view.rows
    t_min, t_max = gathered.sums.t_min, gathered.sums.t_max
    out: dict[tuple[str, int, int | None], np.ndarray] = {}
    for key, (leaf, rule, _) in wanted.items():
        if rule.calibrate != "consecutive":
            continue
        g = Grid.of(rule.window, b, t_min, t_max, None, program.timezone)
        rows = g.total(rows_cum)
        x = compared(leaf, compute(leaf.key, g, rows, sums, profile), profile)
        keep = g.complete & (rows >= max(rule.min_samples, 1)) & ~np.isnan(x)
        out[key] = x[keep]
    return out
