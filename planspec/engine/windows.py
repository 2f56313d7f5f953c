"""Windows and statistics from sums: every window as a difference of cumulative sums over
buckets, every statistic computed for all windows at once.

Exact from sums: counts, rates, mean and std (per-bucket moments merged by Chan's formula, so no
large sums cancel), PSI and JS (decile edges are a subset of the fine edges), chi-squared and
new-category rates.
Binned, with a stated bound: KS, Wasserstein and quantiles use the fine histogram on baseline
quantiles; each window's result carries ``bound``, the most the value can be off.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special
from scipy import stats as sps

from planspec.compile import (
    StatKey,
    WindowSpec,
)
from planspec.engine import calendar
from planspec.engine.calendar import UTC
from planspec.engine.gather import Buckets, ColumnSums, div
from planspec.profile import (
    ColumnProfile,
    Profile,
)

PSI_FLOOR = 1e-4
#: A standard deviation within this share of the mean's size is rounding noise: zero.
RTOL = 1e-9


@dataclass
class Grid:
    """The windows of one :class:`WindowSpec` over the data: each window's bucket range
    ``[lo, hi)`` (local bucket indices, possibly outside the data), its start and end times, and
    whether it is complete (begins no earlier than the data's first period and ends by
    ``as_of``). Windows may differ in length (months, days across a daylight-saving change)."""

    spec: WindowSpec
    lo: np.ndarray
    hi: np.ndarray
    starts: np.ndarray  # window start, seconds since the epoch
    ends: np.ndarray
    complete: np.ndarray

    @classmethod
    def of(cls, spec: WindowSpec, b: Buckets, t_min: int, t_max: int, as_of: int | None = None,
           tz: str = UTC) -> Grid:
        starts, ends = calendar.windows(spec, t_min, t_max, tz)
        lo = calendar.bucket_ids(starts, b.size, tz) - b.first
        hi = calendar.bucket_ids(ends, b.size, tz) - b.first
        begin = calendar.period_start(t_min, b.size, tz)
        # Timestamps are whole seconds: data up to `as_of` covers [.., as_of + 1).
        horizon = (t_max if as_of is None else as_of) + 1
        complete = (starts >= begin) & (ends <= horizon)
        return cls(spec, lo, hi, starts, ends, complete)

    @property
    def durations(self) -> np.ndarray:
        """Each window's length in seconds."""
        return self.ends - self.starts

    def iso(self) -> tuple[list[str], list[str]]:
        """Each window's start and end as ISO 8601 UTC text, converted in one go."""
        def text(seconds: np.ndarray) -> list[str]:
            return [s + "Z" for s in np.datetime_as_string(seconds.astype("datetime64[s]"),
                                                           unit="s").tolist()]

        return text(self.starts), text(self.ends)

    def total(self, cum: np.ndarray) -> np.ndarray:
        """Window sums from cumulative bucket sums ``cum`` (leading axis buckets + 1)."""
        n = cum.shape[0] - 1
        return cum[np.clip(self.hi, 0, n)] - cum[np.clip(self.lo, 0, n)]

    def buckets(self, per_bucket: np.ndarray, empty: float) -> np.ndarray:
        """Each window's buckets side by side, as a (windows, longest window) array; buckets
        outside the data or past a shorter window's end read as ``empty``."""
        span = int((self.hi - self.lo).max()) if self.lo.size else 0
        offsets = np.arange(span)
        idx = self.lo[:, None] + offsets
        inside = (offsets < (self.hi - self.lo)[:, None]) & (idx >= 0) & \
            (idx < per_bucket.shape[0])
        padded = np.append(per_bucket, empty)  # index -1 reads `empty`
        return padded[np.where(inside, idx, -1)]

    def reduce(self, per_bucket: np.ndarray, fn: Callable[..., np.ndarray], empty: float
               ) -> np.ndarray:
        """A min or max over each window's buckets (windows may overlap or differ in length)."""
        if self.lo.size == 0:
            return np.zeros(0)
        return fn(self.buckets(per_bucket, empty), axis=1, initial=empty)

    def moments(self, n: np.ndarray, mean: np.ndarray, m2: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Count, mean and sum of squared deviations per window, merging the buckets' own
        (Chan et al.'s parallel formula): no cancellation between large sums."""
        bn = self.buckets(n, 0.0)
        bmean = self.buckets(mean, 0.0)
        total = bn.sum(axis=1)
        wmean = div((bn * bmean).sum(axis=1), total)
        spread = bn * (bmean - np.nan_to_num(wmean)[:, None]) ** 2
        return total, wmean, self.buckets(m2, 0.0).sum(axis=1) + spread.sum(axis=1)


# ------------------------------------------------------------------------------- statistics


@dataclass
class Values:
    """A statistic over a grid's windows: its value, and where it applies, a p-value and bound."""

    value: np.ndarray
    pvalue: np.ndarray | None = None
    bound: np.ndarray | None = None
    #: The values it is computed from, per window (present values of its column; rows for
    #: statistics over rows): what `min_samples` counts.
    n: np.ndarray | None = None


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
        share = div(w, n[:, None])
        fw = np.concatenate([np.zeros((w.shape[0], 1)), np.cumsum(share, axis=1)[:, :-1]], axis=1)
        fb = np.concatenate([[0.0], np.cumsum(base / m)[:-1]])
        inside = w - on_edge if on_edge is not None else w
        iw = div(inside, n[:, None])
        ib = np.zeros_like(fb) if col.fine_discrete else base / m
        return cls(fw, fb, iw, ib, n, m)

    def sup(self) -> np.ndarray:
        """Per bin, the most |F_w - F_b| can be inside it."""
        return np.maximum(self.fw + self.iw - self.fb, self.fb + self.ib - self.fw)

    def inf(self) -> np.ndarray:
        """Per bin, the least |F_w - F_b| can be inside it."""
        return np.maximum(np.maximum(self.fw - self.fb - self.ib, self.fb - self.fw - self.iw), 0)


def ks(fine: Fine, pvalue: bool = True) -> Values:
    """Two-sample KS on fine bins: D at the edges (exact there; exact everywhere on discrete
    data), the most D can exceed it inside a bin as the bound, and scipy's asymptotic two-sided
    p-value of that D (skipped when ``pvalue`` is false: replays of D alone need none)."""
    right = np.concatenate([fine.fw[:, 1:], np.ones((fine.fw.shape[0], 1))], axis=1)
    right_b = np.concatenate([fine.fb[1:], [1.0]])
    d_low = np.max(np.abs(right - right_b), axis=1)
    d_high = np.maximum(np.max(fine.sup(), axis=1), d_low)
    n, m = fine.n, fine.m
    empty = n == 0
    d_low[empty] = np.nan
    if not pvalue:
        return Values(d_low, None, d_high - d_low)
    big, small = np.maximum(n, m), np.minimum(n, m)
    en = np.round(div(big * small, big + small))
    with np.errstate(invalid="ignore"):
        p = np.clip(sps.kstwo.sf(np.nan_to_num(d_low), np.maximum(np.nan_to_num(en), 1)), 0, 1)
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
    p = div(w, n)
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
    """The statistic ``key`` for every window of grid ``g``, with the number of values it
    reads (present values of its column; rows for `count`, `missing_rate` and
    `new_category_rate`)."""
    v = _compute(key, g, rows, sums, profile)
    if key.stat in ("count", "missing_rate", "new_category_rate") or key.column is None:
        v.n = rows
    else:
        v.n = g.total(sums[key.column].present)
    return v


def _compute(key: StatKey, g: Grid, rows: np.ndarray, sums: dict[str, ColumnSums],
             profile: Profile) -> Values:
    stat = key.stat
    if stat == "count":
        return Values(rows.astype(np.float64))
    name = key.column or ""
    s, col = sums[name], profile.columns[name]
    n = g.total(s.present)
    if stat == "missing_rate":
        return Values(div(rows - n, rows))
    if stat in ("mean", "std"):
        assert s.n is not None and s.mean is not None and s.m2 is not None
        count, mean, m2 = g.moments(s.n, s.mean, s.m2)
        if stat == "mean":
            return Values(mean)
        std = np.sqrt(np.maximum(div(m2, count - 1), 0))
        return Values(np.where(std <= RTOL * np.abs(mean), 0.0, std))
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
        return Values(div(g.total(s.categories)[:, -1], rows))
    if stat == "out_of_range_rate":
        assert s.out_of_range is not None
        return Values(div(g.total(s.out_of_range), n))
    if stat in ("rate", "share"):
        assert key.predicate is not None
        return Values(div(g.total(s.predicates[key.predicate]), n))
    raise ValueError(f"no kernel for {stat}")  # pragma: no cover - the checker rejects these


def iso(t: int) -> str:
    return datetime.datetime.fromtimestamp(int(t), datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
