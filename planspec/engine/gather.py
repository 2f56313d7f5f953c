"""Gathering: the only stage that touches rows. Rows fall into fixed buckets and each column's
per-bucket sufficient statistics (counts, moments, histogram counts on the baseline's edges,
category and predicate counts) are summed in one vectorized pass."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from planspec.compile import (
    CheckProgram,
    ColumnNeed,
)
from planspec.data import Frame, category_codes
from planspec.engine.calendar import bucket_ids
from planspec.profile import (
    ColumnProfile,
    Profile,
    predicate_mask,
)

# ------------------------------------------------------------------------------------ buckets


@dataclass
class Buckets:
    """Rows grouped into fixed buckets of ``size`` seconds, aligned on the epoch Monday."""

    size: int
    first: int  # global index of the first bucket
    index: np.ndarray  # local bucket of each row
    count: int

    @classmethod
    def of(cls, times: np.ndarray, size: int, tz: str = "UTC") -> Buckets:
        g = bucket_ids(times, size, tz)
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
            mean = div(b.sum(x, ok), count)
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


def div(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(b) > 0, a / np.where(np.asarray(b) > 0, b, 1), np.nan)
