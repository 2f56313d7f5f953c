"""The engine: per-bucket sufficient statistics in one pass over the data, every window as a
difference of cumulative sums over buckets, every statistic computed for all windows at once.

Exact from sums: counts, rates, mean and std (per-bucket moments merged by Chan's formula, so no
large sums cancel), PSI and JS (decile edges are a subset of the fine edges), chi-squared and
new-category rates.
Binned, with a stated bound: KS, Wasserstein and quantiles use the fine histogram on baseline
quantiles; each window's result carries ``bound``, the most the value can be off.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import special
from scipy import stats as sps

from planspec.compile import (
    EPOCH,
    CheckProgram,
    ColumnNeed,
    Leaf,
    MonitorRule,
    Node,
    Rule,
    StatKey,
    WindowSpec,
)
from planspec.data import DataError, Frame, category_codes, load_frame
from planspec.outcomes import (
    effective_n,
    join,
    known_at,
    load_outcome_inputs,
    metric,
    metric_sums,
)
from planspec.profile import (
    ColumnProfile,
    Profile,
    build_profile,
    check_profile,
    predicate_mask,
)
from planspec.results import (
    FIRING,
    STATUS_RANK,
    Action,
    CheckResult,
    Escalated,
    Firing,
    PlaybookInfo,
    Results,
    RiskInfo,
    TermValue,
    WindowInfo,
    WindowResult,
)

Progress = Callable[[str], None]
PSI_FLOOR = 1e-4
LEVELS = {"ok": 0, "warn": 1, "fail": 2}


# ------------------------------------------------------------------------------------ buckets


@dataclass
class Buckets:
    """Rows grouped into fixed buckets of ``size`` seconds, aligned on the epoch Monday."""

    size: int
    first: int  # global index of the first bucket
    index: np.ndarray  # local bucket of each row
    count: int

    @classmethod
    def of(cls, times: np.ndarray, size: int) -> Buckets:
        g = (times - EPOCH) // size
        first = int(g.min())
        local = (g - first).astype(np.int64)
        return cls(size, first, local, int(local.max()) + 1)

    def sum(self, weights: np.ndarray | None = None, mask: np.ndarray | None = None) -> np.ndarray:
        """Per-bucket sums of ``weights`` (counts when None) over the rows in ``mask``."""
        if mask is not None:  # a 0/1 weight avoids copying the index of the selected rows
            weights = mask if weights is None else np.where(mask, weights, 0.0)
        return np.bincount(self.index, weights=weights, minlength=self.count).astype(np.float64)

    def histogram(self, bins: np.ndarray, nbins: int, mask: np.ndarray | None = None) -> np.ndarray:
        """Counts per (bucket, bin) as a (buckets, nbins) array."""
        idx = self.index if mask is None else self.index[mask]
        flat = np.bincount(idx * nbins + bins, minlength=self.count * nbins)
        return flat.reshape(self.count, nbins).astype(np.float64)

    def extreme(self, x: np.ndarray, mask: np.ndarray, fn: np.ufunc, empty: float) -> np.ndarray:
        """Per-bucket min or max of ``x[mask]`` (``empty`` where a bucket has none)."""
        out = np.full(self.count, empty)
        fn.at(out, self.index[mask], x[mask])
        return out


@dataclass
class Grid:
    """The windows of one :class:`WindowSpec` over the data: bucket ranges and times."""

    spec: WindowSpec
    start: np.ndarray  # local bucket index of each window's first bucket (may be < 0)
    span: int  # buckets per window
    starts: np.ndarray  # window start, seconds since the epoch
    complete: np.ndarray

    @classmethod
    def of(cls, spec: WindowSpec, b: Buckets, t_min: int, t_max: int) -> Grid:
        step, length = spec.step, spec.length
        first = (t_min - EPOCH) // step * step + EPOCH
        starts = np.arange(first, t_max + 1, step, dtype=np.int64)
        local = (starts - EPOCH) // b.size - b.first
        complete = (starts >= t_min) & (starts + length <= t_max + 1)
        return cls(spec, local, length // b.size, starts, complete)

    def iso(self) -> tuple[list[str], list[str]]:
        """Each window's start and end as ISO 8601 UTC text, converted in one go."""
        def text(seconds: np.ndarray) -> list[str]:
            return [s + "Z" for s in np.datetime_as_string(seconds.astype("datetime64[s]"),
                                                           unit="s").tolist()]

        return text(self.starts), text(self.starts + self.spec.length)

    def total(self, cum: np.ndarray) -> np.ndarray:
        """Window sums from cumulative bucket sums ``cum`` (leading axis buckets + 1)."""
        n = cum.shape[0] - 1
        lo = np.clip(self.start, 0, n)
        hi = np.clip(self.start + self.span, 0, n)
        return cum[hi] - cum[lo]

    def buckets(self, per_bucket: np.ndarray, empty: float) -> np.ndarray:
        """Each window's buckets side by side, as a (windows, buckets per window) view;
        buckets outside the data read as ``empty``."""
        pad = np.full(self.span, empty)
        padded = np.concatenate([pad, per_bucket, pad])
        return sliding_window_view(padded, self.span)[self.start + self.span]

    def reduce(self, per_bucket: np.ndarray, fn: Callable[..., np.ndarray], empty: float
               ) -> np.ndarray:
        """A min or max over each window's buckets (windows may overlap)."""
        return fn(self.buckets(per_bucket, empty), axis=1)

    def moments(self, n: np.ndarray, mean: np.ndarray, m2: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Count, mean and sum of squared deviations per window, merging the buckets' own
        (Chan et al.'s parallel formula): no cancellation between large sums."""
        bn = self.buckets(n, 0.0)
        bmean = self.buckets(mean, 0.0)
        total = bn.sum(axis=1)
        wmean = _div((bn * bmean).sum(axis=1), total)
        spread = bn * (bmean - np.nan_to_num(wmean)[:, None]) ** 2
        return total, wmean, self.buckets(m2, 0.0).sum(axis=1) + spread.sum(axis=1)


def cumulative(per_bucket: np.ndarray) -> np.ndarray:
    """Cumulative sums over buckets with a leading zero row."""
    zero = np.zeros((1, *per_bucket.shape[1:]))
    return np.concatenate([zero, np.cumsum(per_bucket, axis=0)])


# ------------------------------------------------------------------------------ column sums


@dataclass
class ColumnSums:
    """Cumulative per-bucket sufficient statistics of one column."""

    present: np.ndarray
    n: np.ndarray | None = None  # per bucket: count, mean, sum of squared deviations
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None
    lo: np.ndarray | None = None  # per-bucket min (not cumulative)
    hi: np.ndarray | None = None
    fine: np.ndarray | None = None
    on_edge: np.ndarray | None = None  # fine-bin values equal to the bin's right edge
    deciles: np.ndarray | None = None
    categories: np.ndarray | None = None  # columns: known categories…, unseen
    out_of_range: np.ndarray | None = None
    predicates: dict[tuple[str, object], np.ndarray] = field(default_factory=dict)


def gather(program: CheckProgram, frame: Frame, profile: Profile, b: Buckets) -> dict[str,
                                                                                     ColumnSums]:
    """One pass over each column the program reads: its per-bucket sums, accumulated. Columns
    are independent and numpy releases the GIL in its kernels, so they run on every core."""
    names = list(program.columns)
    workers = min(len(names), os.cpu_count() or 1)
    if workers <= 1:
        return {name: _gather_column(program.columns[name], frame, profile, b) for name in names}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        sums = pool.map(lambda n: _gather_column(program.columns[n], frame, profile, b), names)
        return dict(zip(names, sums, strict=True))


def _gather_column(need: ColumnNeed, frame: Frame, profile: Profile, b: Buckets) -> ColumnSums:
    """The per-bucket sums one column's statistics need."""
    name = need.name
    col = profile.columns[name]
    if need.kind == "numeric":
        x = frame.numbers[name]
        ok = ~np.isnan(x)
        count = b.sum(mask=ok)
        sums = ColumnSums(present=cumulative(count))
        if need.moments:
            mean = _div(b.sum(x, ok), count)
            dev = x[ok] - mean[b.index[ok]]
            sums.n, sums.mean = count, np.nan_to_num(mean)
            sums.m2 = np.bincount(b.index[ok], weights=dev * dev, minlength=b.count)
        if need.extremes:
            sums.lo = b.extreme(x, ok, np.minimum, np.inf)
            sums.hi = b.extreme(x, ok, np.maximum, -np.inf)
        if need.deciles and not need.fine:  # PSI/JS only: bin on the 9 decile edges
            dec = np.asarray(col.decile_edges)
            bins = np.searchsorted(dec, x[ok], side="left")
            sums.deciles = cumulative(b.histogram(bins, dec.size + 1, ok))
        if need.fine:
            edges = np.asarray(col.fine_edges)
            bins = np.searchsorted(edges, x[ok], side="left")
            fine = b.histogram(bins, edges.size + 1, ok)
            sums.fine = cumulative(fine)
            if col.fine_discrete:
                on = x[ok] == edges[np.minimum(bins, edges.size - 1)]
                rows_ok = np.flatnonzero(ok)
                mask = np.zeros_like(ok)
                mask[rows_ok[on]] = True
                sums.on_edge = cumulative(b.histogram(bins[on], edges.size + 1, mask))
            if need.deciles:
                sums.deciles = cumulative(_decile_counts(fine, col))
        if need.out_of_range is not None:
            lo, hi = need.out_of_range
            with np.errstate(invalid="ignore"):
                sums.out_of_range = cumulative(b.sum(mask=ok & ((x < lo) | (x > hi))))
    else:
        codes = category_codes(frame.texts[name], col.categories)
        ok = codes >= 0
        sums = ColumnSums(present=cumulative(b.sum(mask=ok)))
        if need.categories:
            sums.categories = cumulative(b.histogram(codes[ok], len(col.categories) + 1, ok))
    for pred in need.predicates:
        op, value = pred
        sums.predicates[pred] = cumulative(b.sum(mask=predicate_mask(frame, name, op, value)))
    return sums


def _decile_counts(fine: np.ndarray, col: ColumnProfile) -> np.ndarray:
    """Decile-bin counts from fine-bin counts: each decile edge is also a fine edge."""
    fine_edges = np.asarray(col.fine_edges)
    at = np.searchsorted(fine_edges, np.asarray(col.decile_edges), side="left")
    cum = np.cumsum(fine, axis=1)
    upto = cum[:, at]  # count of values <= each decile edge
    total = cum[:, -1:]
    bounds = np.concatenate([np.zeros_like(total), upto, total], axis=1)
    return np.diff(bounds, axis=1)


# ------------------------------------------------------------------------------- statistics


@dataclass
class Values:
    """A statistic over a grid's windows: its value, and where it applies, a p-value and bound."""

    value: np.ndarray
    pvalue: np.ndarray | None = None
    bound: np.ndarray | None = None


def _div(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(b) > 0, a / np.where(np.asarray(b) > 0, b, 1), np.nan)


@dataclass
class Fine:
    """A window's fine histogram against the baseline's, as CDFs at the bin edges.

    ``fw[:, j]`` and ``fb[j]`` are F at the left edge of bin j (F(-inf) = 0 for bin 0);
    ``iw[:, j]`` and ``ib[j]`` bound the mass strictly inside bin j (below its right edge), so
    on ``[left_j, right_j)`` F_w lies in ``[fw, fw + iw]`` and F_b in ``[fb, fb + ib]``.
    """

    fw: np.ndarray
    fb: np.ndarray
    iw: np.ndarray
    ib: np.ndarray
    n: np.ndarray
    m: float

    @classmethod
    def of(cls, w: np.ndarray, on_edge: np.ndarray | None, col: ColumnProfile) -> Fine:
        base = np.asarray(col.fine_counts, dtype=np.float64)
        n = w.sum(axis=1)
        m = float(base.sum())
        share = _div(w, n[:, None])
        fw = np.concatenate([np.zeros((w.shape[0], 1)), np.cumsum(share, axis=1)[:, :-1]], axis=1)
        fb = np.concatenate([[0.0], np.cumsum(base / m)[:-1]])
        inside = w - on_edge if on_edge is not None else w
        iw = _div(inside, n[:, None])
        ib = np.zeros_like(fb) if col.fine_discrete else base / m
        return cls(fw, fb, iw, ib, n, m)

    def sup(self) -> np.ndarray:
        """Per bin, the most |F_w - F_b| can be inside it."""
        return np.maximum(self.fw + self.iw - self.fb, self.fb + self.ib - self.fw)

    def inf(self) -> np.ndarray:
        """Per bin, the least |F_w - F_b| can be inside it."""
        return np.maximum(np.maximum(self.fw - self.fb - self.ib, self.fb - self.fw - self.iw), 0)


def ks(fine: Fine) -> Values:
    """Two-sample KS on fine bins: D at the edges (exact there; exact everywhere on discrete
    data), the most D can exceed it inside a bin as the bound, and scipy's asymptotic two-sided
    p-value of that D."""
    right = np.concatenate([fine.fw[:, 1:], np.ones((fine.fw.shape[0], 1))], axis=1)
    right_b = np.concatenate([fine.fb[1:], [1.0]])
    d_low = np.max(np.abs(right - right_b), axis=1)
    d_high = np.maximum(np.max(fine.sup(), axis=1), d_low)
    n, m = fine.n, fine.m
    big, small = np.maximum(n, m), np.minimum(n, m)
    en = np.round(_div(big * small, big + small))
    with np.errstate(invalid="ignore"):
        p = np.clip(sps.kstwo.sf(d_low, np.maximum(np.nan_to_num(en), 1)), 0, 1)
    empty = n == 0
    d_low[empty] = np.nan
    p[empty] = np.nan
    return Values(d_low, p, d_high - d_low)


def wasserstein(fine: Fine, lo: np.ndarray, hi: np.ndarray, col: ColumnProfile) -> Values:
    """W1 between window and baseline on fine bins, in baseline SDs: the midpoint of its lower
    and upper bounds, with half their gap as the bound (zero on discrete data)."""
    edges = np.asarray(col.fine_edges)
    width = np.diff(edges)
    upper = (fine.sup()[:, 1:-1] * width).sum(axis=1)
    lower = (fine.inf()[:, 1:-1] * width).sum(axis=1)
    # Below the baseline's min F_b = 0 and F_w is the window's mass below it; above its max
    # F_b = 1 and 1 - F_w is the window's mass above it. Spread over the window's own range.
    below = np.where(lo < edges[0], (edges[0] - lo) * fine.iw[:, 0], 0.0)
    above = np.where(hi > edges[-1], (hi - edges[-1]) * fine.iw[:, -1], 0.0)
    upper = upper + below + above
    # Those outer regions also have a floor: all the outer mass sits at the far end at worst,
    # at the edge at best, so only the upper bound grows.
    std = col.std or 0.0
    mid, half = (upper + lower) / 2, (upper - lower) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(std > 0, mid / (std or 1), np.where(mid > 0, np.inf, 0.0))
        bound = np.where(std > 0, half / (std or 1), np.where(half > 0, np.inf, 0.0))
    empty = fine.n == 0
    value[empty] = np.nan
    return Values(value, None, bound)


def quantile(w: np.ndarray, on_edge: np.ndarray | None, lo: np.ndarray, hi: np.ndarray,
             q: float, col: ColumnProfile) -> Values:
    """numpy's default (linear) quantile: each of its two order statistics is located in a fine
    bin (exactly, when it is a value on the bin's edge); the value is the middle of the range
    the interpolation can take and the bound half its width."""
    edges = np.asarray(col.fine_edges)
    n = w.sum(axis=1)
    cum = np.cumsum(w, axis=1)
    h = (n - 1) * q
    rows = np.arange(w.shape[0])
    left = np.concatenate([[-np.inf], edges])
    right = np.concatenate([edges, [np.inf]])
    inside = w - on_edge if on_edge is not None else w

    def locate(rank: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        j = np.minimum(np.argmax(cum > rank[:, None], axis=1), w.shape[1] - 1)
        before = cum[rows, j] - w[rows, j]
        exact = (rank - before) >= inside[rows, j]
        low = np.where(exact, right[j], np.maximum(left[j], lo))
        high = np.where(exact, right[j], np.minimum(right[j], hi))
        return np.minimum(low, high), high

    f = np.floor(h)
    t = h - f
    lf, hf = locate(f)
    lc, hc = locate(np.ceil(h))
    with np.errstate(invalid="ignore"):  # empty windows: inf - inf, reported as no value
        low = (1 - t) * lf + t * lc
        high = (1 - t) * hf + t * hc
        value = (low + high) / 2
        bound = (high - low) / 2
    value[n == 0] = np.nan
    return Values(value, None, bound)


def psi_js(w: np.ndarray, base: np.ndarray, stat: str) -> Values:
    """PSI (proportions floored at 1e-4) or the base-2 Jensen–Shannon distance on shared bins."""
    n = w.sum(axis=1, keepdims=True)
    p = _div(w, n)
    b = base / base.sum()
    if stat == "psi":
        pf, bf = np.maximum(p, PSI_FLOOR), np.maximum(b, PSI_FLOOR)
        value = np.sum((pf - bf) * np.log(pf / bf), axis=1)
    else:
        m = (p + b) / 2
        value = np.sqrt(np.maximum(
            (special.rel_entr(p, m).sum(axis=1) + special.rel_entr(b, m).sum(axis=1)) / 2, 0)
            / np.log(2))
    value[n[:, 0] == 0] = np.nan
    return Values(value)


def chi2(w: np.ndarray, base: np.ndarray) -> Values:
    """Chi-squared homogeneity test of baseline vs window counts (no continuity correction);
    categories empty in both are left out, as scipy requires."""
    nb, nw = base.sum(), w.sum(axis=1, keepdims=True)
    total = nb + nw
    colsum = base + w
    used = colsum > 0
    eb = nb * colsum / total
    ew = nw * colsum / total
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(used, (base - eb) ** 2 / eb + (w - ew) ** 2 / ew, 0.0)
    stat = terms.sum(axis=1)
    dof = used.sum(axis=1) - 1
    p = np.where(dof > 0, sps.chi2.sf(stat, np.maximum(dof, 1)), 1.0)
    empty = nw[:, 0] == 0
    stat[empty] = np.nan
    p[empty] = np.nan
    return Values(stat, p)


def compute(key: StatKey, g: Grid, rows: np.ndarray, sums: dict[str, ColumnSums],
            profile: Profile) -> Values:
    """The statistic ``key`` for every window of grid ``g``."""
    stat = key.stat
    if stat == "count":
        return Values(rows.astype(np.float64))
    name = key.column or ""
    s, col = sums[name], profile.columns[name]
    n = g.total(s.present)
    if stat == "missing_rate":
        return Values(_div(rows - n, rows))
    if stat in ("mean", "std"):
        assert s.n is not None and s.mean is not None and s.m2 is not None
        count, mean, m2 = g.moments(s.n, s.mean, s.m2)
        if stat == "mean":
            return Values(mean)
        return Values(np.sqrt(np.maximum(_div(m2, count - 1), 0)))
    if stat in ("min", "max", "quantile", "ks", "wasserstein"):
        assert s.lo is not None and s.hi is not None and s.fine is not None
        lo = g.reduce(s.lo, np.min, np.inf)
        hi = g.reduce(s.hi, np.max, -np.inf)
        if stat in ("min", "max"):
            return Values(np.where(n > 0, lo if stat == "min" else hi, np.nan))
        w = g.total(s.fine)
        on = g.total(s.on_edge) if s.on_edge is not None else None
        if stat == "quantile":
            return quantile(w, on, lo, hi, key.q or 0.0, col)
        fine = Fine.of(w, on, col)
        return ks(fine) if stat == "ks" else wasserstein(fine, lo, hi, col)
    if stat in ("psi", "js"):
        if col.kind == "numeric":
            assert s.deciles is not None
            return psi_js(g.total(s.deciles), np.asarray(col.decile_counts, float), stat)
        assert s.categories is not None
        base = np.asarray([*col.category_counts, 0], dtype=np.float64)
        return psi_js(g.total(s.categories), base, stat)
    if stat == "chi2":
        assert s.categories is not None
        base = np.asarray([*col.category_counts, 0], dtype=np.float64)
        return chi2(g.total(s.categories), base)
    if stat == "new_category_rate":
        assert s.categories is not None
        return Values(_div(g.total(s.categories)[:, -1], rows))
    if stat == "out_of_range_rate":
        assert s.out_of_range is not None
        return Values(_div(g.total(s.out_of_range), n))
    if stat in ("rate", "share"):
        assert key.predicate is not None
        return Values(_div(g.total(s.predicates[key.predicate]), n))
    raise ValueError(f"no kernel for {stat}")  # pragma: no cover - the checker rejects these


# ------------------------------------------------------------------------------- judgement


def compared(leaf: Leaf, v: Values, profile: Profile) -> np.ndarray:
    """The quantity a leaf compares: the statistic or p-value, then `shift`/`change` and
    direction."""
    m = leaf.measure
    x = v.pvalue if m.part == "pvalue" and v.pvalue is not None else v.value
    if m.transform != "value":
        base = profile.value(leaf.key)
        if base is None:
            return np.full_like(x, np.nan)
        if m.transform == "shift":
            sd = profile.columns[leaf.key.column or ""].std or 0.0
            scale = sd
        else:
            scale = abs(base)
        diff = x - base
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(scale > 0, diff / (scale or 1.0),
                         np.where(diff == 0, 0.0, np.sign(diff) * np.inf))
        if m.direction == "both":
            x = np.abs(x)
        elif m.direction == "down":
            x = -x
    return np.asarray(x, dtype=np.float64)


def _holds(leaf: Leaf, x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if leaf.threshold is not None:
            t = leaf.threshold.amount
            out = {">": x > t, ">=": x >= t, "<": x < t, "<=": x <= t}[leaf.op or ">"]
        else:
            assert leaf.low is not None and leaf.high is not None
            inside = (x >= leaf.low.amount) & (x <= leaf.high.amount)
            out = ~inside if leaf.negated else inside
    return np.asarray(out & ~np.isnan(x))


def evaluate(node: Node, values: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(holds, unknown) per window: unknown where a needed value could not be computed."""
    if node.leaf is not None:
        x = values[id(node.leaf)]
        return _holds(node.leaf, x), np.isnan(x)
    parts = [evaluate(c, values) for c in node.children]
    holds = np.stack([p[0] for p in parts])
    unknown = np.stack([p[1] for p in parts])
    if node.op == "all":
        decided_false = (~holds & ~unknown).any(axis=0)
        return np.asarray(holds.all(axis=0)), np.asarray(unknown.any(axis=0) & ~decided_false)
    return np.asarray(holds.any(axis=0)), np.asarray(unknown.any(axis=0) & ~holds.any(axis=0))


def adjust(p: np.ndarray, method: str) -> np.ndarray:
    """Adjust a (tests, windows) array of p-values within each window (NaN: no test)."""
    if method == "none" or p.size == 0:
        return p
    valid = ~np.isnan(p)
    m = valid.sum(axis=0)
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    filled = np.where(valid, p, np.inf)
    order = np.argsort(filled, axis=0)
    ranked = np.take_along_axis(filled, order, axis=0)
    rank = np.arange(1, p.shape[0] + 1)[:, None]
    scaled = ranked * m / rank
    scaled = np.minimum.accumulate(scaled[::-1], axis=0)[::-1]
    out = np.empty_like(p)
    np.put_along_axis(out, order, np.minimum(scaled, 1.0), axis=0)
    return np.where(valid, out, np.nan)


def fire(levels: list[int], for_: int, keep: int) -> list[int]:
    """The firing level (0 none, 1 warn, 2 fail) after each window, given each window's level
    (-1 insufficient data: it neither extends nor breaks a streak, and is not clean).

    An alert fires at a level after ``for_`` consecutive windows at or above it, and resolves
    after more than ``keep`` consecutive windows below the level it fires at.

    >>> fire([2, 2, 0, 0, 0], for_=2, keep=1)
    [0, 2, 2, 0, 0]
    """
    out: list[int] = []
    state = clean = warn_run = fail_run = 0
    for lvl in levels:
        if lvl >= 0:
            fail_run = fail_run + 1 if lvl >= 2 else 0
            warn_run = warn_run + 1 if lvl >= 1 else 0
            target = 2 if fail_run >= for_ else 1 if warn_run >= for_ else 0
            if target >= state:
                state, clean = target, 0
            else:
                clean += 1
                if clean > keep:
                    state, clean = target, 0
        out.append(state)
    return out


def _iso(t: int) -> str:
    return datetime.datetime.fromtimestamp(int(t), datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _as_of(as_of: Any, times: np.ndarray) -> int:
    if as_of is None:
        return int(times.max())
    if isinstance(as_of, (int, np.integer)):
        return int(as_of)
    if isinstance(as_of, str):
        try:
            as_of = datetime.datetime.fromisoformat(as_of.replace("Z", "+00:00"))
        except ValueError:
            raise DataError("PS404", f"--as-of `{as_of}` is not a time",
                            "write it as ISO 8601, e.g. 2026-11-29T00:00:00Z") from None
    if isinstance(as_of, datetime.date) and not isinstance(as_of, datetime.datetime):
        as_of = datetime.datetime(as_of.year, as_of.month, as_of.day)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=datetime.UTC)
    return int(as_of.timestamp())


def run_program(program: CheckProgram, data: Any, baseline: Any,
                progress: Progress | None = None, outcomes: Any = None,
                as_of: Any = None) -> Results:
    """Run ``program`` on ``data`` against ``baseline`` (a :class:`Profile` or baseline data),
    with ``outcomes`` by source name for the outcome monitors, looking from ``as_of``."""
    say = progress or (lambda _msg: None)
    if isinstance(baseline, Profile):
        profile = baseline
    else:
        say("profiling the baseline")
        profile = build_profile(program, baseline)
    check_profile(program, profile)
    say("reading data")
    kinds: dict[str, str] = {name: need.kind for name, need in program.columns.items()}
    given = load_outcome_inputs(outcomes, program.monitors)
    for m in program.monitors:
        kinds.setdefault(m.prediction, "numeric")
        if m.source.name in given:  # the key is needed only to join outcomes
            kinds.setdefault(m.join_key, "categorical")
            for col in m.scored_columns:
                kinds.setdefault(col, "numeric")
    frame = load_frame(data, program.timestamp, kinds, "data")
    now = _as_of(as_of, frame.times)
    b = Buckets.of(frame.times, program.bucket)
    say(f"gathering {frame.rows:,} rows into {b.count:,} buckets")
    sums = gather(program, frame, profile, b)
    rows_cum = cumulative(b.sum())
    t_min, t_max = int(frame.times.min()), int(frame.times.max())
    specs = {*program.windows, *(m.window for m in program.monitors)}
    grids = {spec: Grid.of(spec, b, t_min, t_max) for spec in specs}
    rows = {spec: g.total(rows_cum) for spec, g in grids.items()}
    say(f"computing {len(program.stats)} statistics over {len(grids)} window grids")
    computed = {key: compute(key, grids[key.window], rows[key.window], sums, profile)
                for key in program.stats}
    leaf_values: dict[int, np.ndarray] = {}
    pvalue_keys: dict[WindowSpec, list[StatKey]] = {}
    for rule in program.rules:
        for node in (rule.fail, rule.warn):
            for leaf in node.leaves() if node else []:
                if leaf.measure.part == "pvalue":
                    pvalue_keys.setdefault(leaf.key.window, [])
                    if leaf.key not in pvalue_keys[leaf.key.window]:
                        pvalue_keys[leaf.key.window].append(leaf.key)
    adjusted: dict[StatKey, np.ndarray] = {}
    for keys in pvalue_keys.values():
        p = np.stack([computed[k].pvalue for k in keys])  # type: ignore[misc]
        adj = adjust(p, program.correction)
        adjusted.update({k: adj[i] for i, k in enumerate(keys)})
    checks = [_judge(rule, grids[rule.window], rows[rule.window], computed, adjusted, profile,
                     leaf_values) for rule in program.rules]
    sources: dict[str, dict[str, int]] = {}
    for m in program.monitors:
        say(f"joining outcomes for {m.id}")
        checks.append(_judge_monitor(m, grids[m.window], frame, b, given.get(m.source.name),
                                     now, sources))
    _stand_ins(checks)
    _annotate_risks(program, checks)
    results = _results(program, profile, frame, grids, rows, checks)
    return results.model_copy(update={"as_of": _iso(now), "outcomes": sources or None,
                                      "actions": _actions(program, results.firing, checks)})


def _annotate_risks(program: CheckProgram, checks: list[CheckResult]) -> None:
    """Mark firing windows that start after a drift risk's date with the risks that could
    explain them: those naming the alert in `caught_by` or its column in `affects`."""
    risks = [(r, program.risk_dates[r.id]) for r in program.plan.drift_risks
             if r.id in program.risk_dates]
    for c in checks:
        base = c.id.split("@")[0]
        related = [(r.id, when) for r, when in risks
                   if base in r.caught_by or (c.column is not None and c.column in r.affects)]
        if not related:
            continue
        for i, w in enumerate(c.windows):
            if w.firing is None:
                continue
            start = int(datetime.datetime.fromisoformat(w.start.replace("Z", "+00:00"))
                        .timestamp())
            names = [rid for rid, when in related if start >= when]
            if names:
                c.windows[i] = w.model_copy(update={"risks": names})


def _playbook_info(p: Any) -> PlaybookInfo:
    return PlaybookInfo(id=p.id, title=p.title, kind=p.kind, owner=p.owner,
                        response_time=str(p.response_time), notify=list(p.notify),
                        steps=list(p.steps))


def _actions(program: CheckProgram, firing: list[Firing], checks: list[CheckResult]
             ) -> list[Action]:
    """For each alert firing now, its playbook and the escalations its plan declares: an
    escalation applies when one of its `if_firing` alerts fires too (or it names none) and none
    of its `unless_firing` alerts do."""
    plan = program.plan
    books = {p.id: p for p in plan.playbooks}
    risks = {r.id: r for r in plan.drift_risks}
    firing_ids = {f.id.split("@")[0] for f in firing}
    by_id = {c.id: c for c in checks}
    out = []
    for f in firing:
        book = books.get(f.playbook or "")
        escalations = []
        for e in book.escalate if book else ():
            if (not e.if_firing or firing_ids & set(e.if_firing)) and \
                    not firing_ids & set(e.unless_firing) and e.to in books:
                escalations.append(Escalated(playbook=_playbook_info(books[e.to]), why=e.why))
        latest = by_id[f.id].windows[-1] if by_id[f.id].windows else None
        named = latest.risks if latest and latest.risks else []
        info = [RiskInfo(id=r.id, title=r.title, kind=r.kind,
                         date=_iso(program.risk_dates[r.id])[:10])
                for r in (risks[n] for n in named)]
        out.append(Action(alert=f.id, level=f.level, since=f.since,
                          playbook=_playbook_info(book) if book else None,
                          escalations=escalations, risks=info))
    return out


def _judge_monitor(m: MonitorRule, g: Grid, frame: Frame, b: Buckets, outcomes: Any, now: int,
                   sources: dict[str, dict[str, int]]) -> CheckResult:
    """An outcome monitor over its windows: immature until labels are in, then its metrics."""
    score = frame.numbers[m.prediction]
    if outcomes is None:  # nothing to join: every window is immature, no metric to compute
        preds = g.total(cumulative(b.sum(mask=~np.isnan(score))))
        return _no_outcomes(m, g, preds)
    joined = join(m, frame.texts[m.join_key], frame.times, outcomes, now, frame.numbers)
    sources[m.source.name] = joined.counts
    sums = metric_sums(m, score, joined, b, cumulative)
    preds, labels = g.total(sums.predictions), g.total(sums.labels)
    coverage = _div(labels, preds)
    length = g.spec.length
    mature = ((g.starts + length + m.label_delay) <= now) & (np.nan_to_num(coverage) >=
                                                            m.min_coverage) & (preds > 0)
    values: dict[int, np.ndarray] = {}
    bounds: dict[int, np.ndarray | None] = {}
    for leaf in m.metrics:
        x, bound = metric(leaf.measure.stat, leaf.key.within, sums, g.total)
        values[id(leaf)], bounds[id(leaf)] = x, bound
    fail, unknown = evaluate(m.fail, values)
    warn = evaluate(m.warn, values)[0] if m.warn is not None else np.zeros_like(fail)
    status = np.where(fail, "fail", np.where(warn, "warn", "ok")).astype(object)
    status[(labels < m.min_labels) | (unknown & ~fail & ~warn)] = "insufficient_data"
    status[~mature] = "immature"
    firing = fire([LEVELS.get(s, -1) for s in status], m.for_, m.keep_firing_for)
    ess = effective_n(g.total(sums.w), g.total(sums.w2))
    known = known_at(m, g.starts, length, frame.times, joined, preds)
    head = m.fail.leaves()[0]
    starts, ends = g.iso()
    shown = ~np.isin(status, ("immature", "insufficient_data"))
    head_bound = bounds[id(head)]
    shown_values = _nums(np.where(shown, values[id(head)], np.nan))
    shown_bounds = _nums(np.where(shown, head_bound, np.nan)) if head_bound is not None \
        else [None] * len(status)
    cover, ess_list = _nums(coverage), _nums(ess)
    known_iso = [None if k is None else _iso(k) for k in known]
    windows = [WindowResult(
        start=starts[i], end=ends[i], n=int(preds[i]), value=shown_values[i],
        bound=shown_bounds[i],
        status=status[i], firing=FIRING[firing[i]], labels=int(labels[i]), coverage=cover[i],
        effective_n=ess_list[i], known_at=known_iso[i])
        for i in range(len(status))]
    first = next((w for w in windows if w.status == "fail"), None)
    return _monitor_result(m, g, windows).model_copy(update={
        "first_fail": first.start if first else None,
        "first_fail_known_at": first.known_at if first else None})


def _no_outcomes(m: MonitorRule, g: Grid, preds: np.ndarray) -> CheckResult:
    """A monitor given no outcomes: its windows, all immature, with no labels."""
    starts, ends = g.iso()
    windows = [WindowResult(start=s, end=e, n=int(n), value=None, status="immature",
                            labels=0, coverage=0.0 if n else None)
               for s, e, n in zip(starts, ends, preds.tolist(), strict=True)]
    return _monitor_result(m, g, windows)


def _monitor_result(m: MonitorRule, g: Grid, windows: list[WindowResult]) -> CheckResult:
    """A monitor's result: what it is and where it came from, with its windows."""
    head = m.fail.leaves()[0]
    return CheckResult(
        id=m.id, kind="outcome", column=m.prediction, statistic=head.measure.stat,
        when=m.when_text, warn=m.warn_text, source=m.source_text, playbook=m.playbook,
        severity=m.severity, window=_duration(g.spec.length), windows=windows,
        label_delay=_duration(m.label_delay) if m.label_delay else "0s",
        stand_ins=list(m.stand_ins) or None)


def _stand_ins(checks: list[CheckResult]) -> None:
    """For monitor windows that cannot be scored yet (immature, or too few labels), the worst
    status of each stand-in alert over the same period."""
    by_id = {c.id: c for c in checks}
    for c in checks:
        if c.kind != "outcome" or not c.stand_ins:
            continue
        for i, w in enumerate(c.windows):
            if w.status not in ("immature", "insufficient_data"):
                continue
            seen = {}
            for sid in c.stand_ins:
                other = by_id.get(sid)
                overlapping = [x.status for x in other.windows
                               if x.start < w.end and x.end > w.start] if other else []
                if overlapping:
                    seen[sid] = max(overlapping, key=STATUS_RANK.__getitem__)
            c.windows[i] = w.model_copy(update={"stand_ins": seen or None})


def _judge(rule: Rule, g: Grid, rows: np.ndarray, computed: dict[StatKey, Values],
           adjusted: dict[StatKey, np.ndarray], profile: Profile,
           leaf_values: dict[int, np.ndarray]) -> CheckResult:
    leaves = rule.fail.leaves() + (rule.warn.leaves() if rule.warn else [])
    for leaf in leaves:
        v = computed[leaf.key]
        if leaf.measure.part == "pvalue" and leaf.key in adjusted:
            v = Values(v.value, adjusted[leaf.key], v.bound)
        leaf_values[id(leaf)] = compared(leaf, v, profile)
    fail, fail_unknown = evaluate(rule.fail, leaf_values)
    if rule.warn is not None:
        warn, _ = evaluate(rule.warn, leaf_values)
    else:
        warn = np.zeros_like(fail)
    short = rows < rule.min_samples
    status = np.where(fail, "fail", np.where(warn, "warn", "ok")).astype(object)
    status[short | (fail_unknown & ~fail & ~warn)] = "insufficient_data"
    keep = np.ones(len(status), dtype=bool)
    if rule.active is not None:  # heightened monitoring counts only inside its period
        keep = (g.starts >= rule.active[0]) & (g.starts < rule.active[1])
    levels = [LEVELS.get(s, -1) for s in status[keep]]
    firing = np.zeros(len(status), dtype=np.int64)
    firing[keep] = fire(levels, rule.for_, rule.keep_firing_for)
    head = rule.fail.leaves()[0]
    # Results are built from whole columns converted once (this runs for every window, so it
    # stays out of per-value Python work), and constructed without re-validation.
    idx = np.flatnonzero(keep)
    starts, ends = g.iso()
    def bounds(leaf: Leaf) -> list[float | None]:
        b = computed[leaf.key].bound
        return _nums(b[idx]) if b is not None else [None] * idx.size

    shown = [(leaf.text, _nums(leaf_values[id(leaf)][idx]), bounds(leaf))
             for leaf in rule.fail.leaves()]
    levels_text = [FIRING[f] for f in firing[idx].tolist()]
    n = rows[idx].astype(np.int64).tolist()
    compound = len(shown) > 1
    windows = []
    for j, i in enumerate(idx.tolist()):
        terms = [TermValue.model_construct(text=text, value=vals[j], bound=bounds[j])
                 for text, vals, bounds in shown] if compound else None
        windows.append(WindowResult.model_construct(
            start=starts[i], end=ends[i], n=n[j], value=shown[0][1][j], bound=shown[0][2][j],
            status=status[i], firing=levels_text[j], terms=terms))
    return CheckResult(
        id=rule.id, kind=rule.kind, column=head.key.column, statistic=_statistic(head),
        when=rule.when_text, warn=rule.warn_text, source=rule.source, playbook=rule.playbook,
        severity=rule.severity, window=_duration(g.spec.length),
        every=_duration(g.spec.step) if g.spec.sliding else None, windows=windows,
        risk=rule.risk, tighten=rule.tighten,
        active_from=_iso(rule.active[0]) if rule.active else None,
        active_to=_iso(rule.active[1]) if rule.active else None)


def _nums(x: np.ndarray) -> list[float | None]:
    """Floats as a list with NaN as None (for results)."""
    return [None if v != v else v for v in x.tolist()]  # NaN is the only value != itself


def _statistic(leaf: Leaf) -> str:
    m = leaf.measure
    name = m.stat + ("_pvalue" if m.part == "pvalue" else "")
    return name + {"value": "", "shift": "_shift", "change": "_change"}[m.transform]


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _results(program: CheckProgram, profile: Profile, frame: Frame, grids: dict[WindowSpec, Grid],
             rows: dict[WindowSpec, np.ndarray], checks: list[CheckResult]) -> Results:
    from planspec import __version__

    default = min(grids, key=lambda s: (s != _default_spec(program), s))
    g = grids[default]
    starts, ends = g.iso()
    firing = []
    for c in checks:
        last = c.windows[-1] if c.windows else None
        if last is None or last.firing is None:
            continue
        since = last.start
        for w in reversed(c.windows):
            if w.firing is None:
                break
            since = w.start
        firing.append(Firing(id=c.id, kind=c.kind, level=last.firing, since=since,
                             playbook=c.playbook, severity=c.severity))
    if frame.rows == 0:  # pragma: no cover - load_frame rejects empty data
        raise DataError("PS405", "no rows")
    return Results(
        plan=program.plan.plan, planspec_version=__version__,
        baseline={"fingerprint": profile.data_fingerprint, "plan_fingerprint":
                  profile.plan_fingerprint, "rows": profile.rows,
                  "start": profile.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "end": profile.end.strftime("%Y-%m-%dT%H:%M:%SZ")},
        data={"rows": frame.rows, "start": _iso(int(frame.times.min())),
              "end": _iso(int(frame.times.max()))},
        windows=[WindowInfo(start=s, end=e, rows=int(r), complete=bool(c))
                 for s, e, r, c in zip(starts, ends, rows[default], g.complete, strict=True)],
        checks=checks, firing=firing)


def _default_spec(program: CheckProgram) -> WindowSpec:
    d = program.plan.defaults
    return WindowSpec(d.window.seconds, d.every.seconds if d.every else d.window.seconds)
