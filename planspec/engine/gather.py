"""Gathering: the only stage that touches rows. Each record batch's rows fall into global
buckets (:func:`~planspec.engine.calendar.bucket_ids`) and become :class:`Sums`: per bucket,
each column's sufficient statistics (counts, moments, extremes, histogram counts on the
baseline's edges, category and predicate counts). Sums from any batches, files, runs or
machines combine with :func:`merge`; windows read cumulative sums derived from them
(:func:`cumulate`) and never see a row.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from planspec.compile import CheckProgram, ColumnNeed, StatKey
from planspec.data import (
    Frame,
    RowGroup,
    category_codes,
    check_bucket_budget,
    numeric,
    release_arrow_memory,
    return_freed_memory,
    text_values,
    timestamps,
)
from planspec.engine.calendar import bucket_ids
from planspec.profile import ColumnProfile, Profile, predicate_mask

# ------------------------------------------------------------------------------------ buckets


@dataclass
class Buckets:
    """Rows of one batch in ``count`` consecutive global buckets of ``size`` seconds from
    bucket ``first``: ``index`` is each row's bucket, counted from ``first``."""

    size: int
    first: int  # global id of the first bucket
    index: np.ndarray  # local bucket of each row
    count: int

    @classmethod
    def of(cls, times: np.ndarray, size: int, tz: str = "UTC") -> Buckets:
        g = bucket_ids(times, size, tz)
        first = int(g.min())
        local = (g - first).astype(np.int64)
        return cls(size, first, local, int(local.max()) + 1)

    @classmethod
    def within(cls, times: np.ndarray, size: int, first: int, count: int, tz: str = "UTC"
               ) -> Buckets:
        """Rows placed on a given range of buckets (every row must fall inside it)."""
        return cls(size, first, bucket_ids(times, size, tz) - first, count)

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


def cumulative(per_bucket: np.ndarray) -> np.ndarray:
    """Cumulative sums over buckets with a leading zero row."""
    zero = np.zeros((1, *per_bucket.shape[1:]))
    return np.concatenate([zero, np.cumsum(per_bucket, axis=0)])


# ------------------------------------------------------------------------------------- sums

#: Families that merge by addition (counts and histogram counts), by field name.
ADDITIVE = ("present", "fine", "on_edge", "deciles", "categories", "out_of_range")


@dataclass
class BucketSums:
    """One column's sufficient statistics per bucket: row ``i`` of every array belongs to the
    bucket ``Sums.ids[i]``; a family the plan does not need is None.

    ``present`` counts non-missing values; ``mean`` and ``m2`` (sum of squared deviations from
    the bucket's mean) are the moments of those values; ``lo``/``hi`` their min and max (±inf
    where a bucket has none); ``fine``, ``on_edge`` and ``deciles`` histogram counts on the
    baseline's fine and decile edges (``on_edge``: values equal to their fine bin's right edge);
    ``categories`` counts per baseline category plus one column for unseen ones;
    ``out_of_range`` values outside the declared range; ``predicates`` rows satisfying each
    ``(op, value)`` predicate.
    """

    present: np.ndarray
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    fine: np.ndarray | None = None
    on_edge: np.ndarray | None = None
    deciles: np.ndarray | None = None
    categories: np.ndarray | None = None
    out_of_range: np.ndarray | None = None
    predicates: dict[tuple[str, object], np.ndarray] = field(default_factory=dict)

    def take(self, rows: np.ndarray) -> BucketSums:
        """The same sums for a subset of buckets (positions ``rows``)."""
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[rows]

        return BucketSums(self.present[rows], pick(self.mean), pick(self.m2), pick(self.lo),
                          pick(self.hi), pick(self.fine), pick(self.on_edge), pick(self.deciles),
                          pick(self.categories), pick(self.out_of_range),
                          {k: v[rows] for k, v in self.predicates.items()})


@dataclass
class Sums:
    """Per-bucket sums of a set of rows: the product of gathering and the input of windows.

    ``ids`` are the global buckets (of ``size`` seconds) that hold rows, sorted; ``rows`` counts
    the rows in each; ``t_min``/``t_max`` are the earliest and latest times seen; ``columns``
    holds each column's :class:`BucketSums`. Nothing here says where the rows came from, so
    sums of files, record batches, database chunks or earlier runs are all alike to
    :func:`merge`.
    """

    size: int
    ids: np.ndarray
    rows: np.ndarray
    t_min: int
    t_max: int
    columns: dict[str, BucketSums]

    @property
    def total(self) -> int:
        return int(self.rows.sum())

    @property
    def nbytes(self) -> int:
        """The memory the sums' arrays take."""
        total = self.ids.nbytes + self.rows.nbytes
        for c in self.columns.values():
            arrays = [c.present, c.mean, c.m2, c.lo, c.hi, c.fine, c.on_edge, c.deciles,
                      c.categories, c.out_of_range, *c.predicates.values()]
            total += sum(a.nbytes for a in arrays if a is not None)
        return total

    def take(self, rows: np.ndarray) -> Sums:
        """The sums of a subset of buckets (positions ``rows``; times are kept as they are)."""
        return Sums(self.size, self.ids[rows], self.rows[rows], self.t_min, self.t_max,
                    {n: c.take(rows) for n, c in self.columns.items()})


def merge(a: Sums, b: Sums) -> Sums:
    """The sums of the rows of ``a`` and ``b`` together: counts and histograms add, moments
    merge by Chan et al.'s formula, extremes by min and max. Associative and commutative
    (exactly for counts; moments to rounding).

    >>> one = Sums(86400, np.array([3]), np.array([2.0]), 10, 20,
    ...            {"x": BucketSums(np.array([2.0]), np.array([1.0]), np.array([2.0]))})
    >>> two = Sums(86400, np.array([3, 4]), np.array([1.0, 1.0]), 5, 30,
    ...            {"x": BucketSums(np.array([1.0, 1.0]), np.array([4.0, 0.0]),
    ...                             np.array([0.0, 0.0]))})
    >>> both = merge(one, two)
    >>> both.ids.tolist(), both.rows.tolist(), (both.t_min, both.t_max)
    ([3, 4], [3.0, 1.0], (5, 30))
    >>> both.columns["x"].mean.tolist(), both.columns["x"].m2.tolist()  # values 0, 2 | 4 | 0
    ([2.0, 0.0], [8.0, 0.0])
    """
    return merge_all([a, b])


def merge_all(parts: Sequence[Sums]) -> Sums:
    """:func:`merge` of any number of sums in one pass."""
    if not parts:
        raise ValueError("nothing to merge")
    if len(parts) == 1:
        return parts[0]
    size = parts[0].size
    names = parts[0].columns.keys()
    for p in parts:
        if p.size != size or p.columns.keys() != names:
            raise ValueError("sums of different bucket sizes or columns do not merge")
    ids = np.unique(np.concatenate([p.ids for p in parts]))
    at = [np.searchsorted(ids, p.ids) for p in parts]
    rows = np.zeros(ids.size)
    for p, i in zip(parts, at, strict=True):
        rows[i] += p.rows
    columns = {name: _merge_columns([p.columns[name] for p in parts], at, ids.size)
               for name in names}
    return Sums(size, ids, rows, min(p.t_min for p in parts), max(p.t_max for p in parts),
                columns)


def _merge_columns(parts: list[BucketSums], at: list[np.ndarray], k: int) -> BucketSums:
    head = parts[0]

    def add(get: str) -> np.ndarray | None:
        first = getattr(head, get)
        if first is None:
            return None
        out = np.zeros((k, *first.shape[1:]))
        for p, i in zip(parts, at, strict=True):
            out[i] += getattr(p, get)  # ids are unique within a part: no repeated index
        return out

    def extreme(get: str, fn: np.ufunc, empty: float) -> np.ndarray | None:
        if getattr(head, get) is None:
            return None
        out = np.full(k, empty)
        for p, i in zip(parts, at, strict=True):
            out[i] = fn(out[i], getattr(p, get))
        return out

    merged = BucketSums(**{name: add(name) for name in ADDITIVE})  # type: ignore[arg-type]
    merged.lo = extreme("lo", np.minimum, np.inf)
    merged.hi = extreme("hi", np.maximum, -np.inf)
    merged.predicates = {}
    for pred in head.predicates:
        out = np.zeros(k)
        for p, i in zip(parts, at, strict=True):
            out[i] += p.predicates[pred]
        merged.predicates[pred] = out
    if head.mean is not None:
        # Chan et al.: n = Σ n_i, mean = Σ n_i·mean_i / n, M2 = Σ M2_i + Σ n_i·(mean_i − mean)²
        n = merged.present
        weighted = np.zeros(k)
        for p, i in zip(parts, at, strict=True):
            weighted[i] += p.present * p.mean
        mean = np.nan_to_num(div(weighted, n))
        m2 = np.zeros(k)
        for p, i in zip(parts, at, strict=True):
            m2[i] += p.m2 + p.present * (p.mean - mean[i]) ** 2
        merged.mean, merged.m2 = mean, m2
    return merged


# ----------------------------------------------------------------------------- gathering


def column_needs(program: CheckProgram) -> dict[str, ColumnNeed]:
    """Every column to gather: the program's, and each monitor's prediction (its windows
    count predictions)."""
    needs = dict(program.columns)
    for m in program.monitors:
        needs.setdefault(m.prediction, ColumnNeed(m.prediction, "numeric"))
    return needs


class Split(Protocol):
    """Finer sums of a batch's rows gathered in the same pass as its :class:`Sums` (the
    segments of a `by`): each row's place on a layout of its own over the batch's buckets,
    and the sums of the columns in ``needs`` on that layout, handed back per batch."""

    needs: Mapping[str, ColumnNeed]

    def layout(self, read: Callable[[Sequence[str]], pa.Table], times: np.ndarray,
               b: Buckets, where: str) -> Buckets | None:
        """Each row's slot (from the columns it reads with ``read``); None: no row is kept."""

    def add(self, b: Buckets, layout: Buckets, columns: dict[str, BucketSums]) -> None:
        """The batch's sums of every column in ``needs`` on ``layout``."""


def gather_table(needs: Mapping[str, ColumnNeed], table: pa.Table | pa.RecordBatch | RowGroup,
                 timestamp: str, profile: Profile, size: int, where: str = "data",
                 pool: ThreadPoolExecutor | None = None, bins: int = 1, tz: str = "UTC",
                 splits: Sequence[Split] = ()) -> Sums:
    """The sums of one table, record batch or Parquet row group. Each column is converted and
    reduced by its own task (numpy releases the GIL, so they run on every core) and its working
    arrays are freed before the next, so memory holds the batch plus a few columns' arrays; a
    :class:`~planspec.data.RowGroup` is read a column at a time, so not even the batch is held
    whole. Each of ``splits`` gets its sums from the same tasks: a column is read and
    converted once for the batch's sums and every split's."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    read: Callable[[Sequence[str]], pa.Table] = (
        table.read if isinstance(table, RowGroup) else table.select)
    times = timestamps(read([timestamp]), timestamp, where)
    # Before any per-bucket array: a batch spanning centuries would allocate GiBs.
    check_bucket_budget(int(times.min()), int(times.max()), size, bins, where)
    b = Buckets.of(times, size, tz)
    rows = b.sum()
    keep = np.flatnonzero(rows > 0)
    active = [(sp, lay) for sp in splits
              if (lay := sp.layout(read, times, b, where)) is not None]
    names = list(dict.fromkeys([*needs, *(n for sp, _ in active for n in sp.needs)]))

    def one(name: str) -> tuple[BucketSums | None, list[BucketSums | None]]:
        column = read([name])
        own = needs.get(name)
        # The split layouts gathered with the batch's (their need is the batch's), or alone.
        shared = [lay if name in sp.needs and sp.needs[name] == own else None
                  for sp, lay in active]
        got = _gather_column(own, column, times, where, profile, b,
                             *(lay for lay in shared if lay is not None)) \
            if own is not None else [None]
        it = iter(got[1:])
        out = [next(it) if lay is not None else
               (_gather_column(sp.needs[name], column, times, where, profile, alone)[0]
                if name in sp.needs else None)
               for (sp, alone), lay in zip(active, shared, strict=True)]
        del column
        release_arrow_memory()  # the column's Arrow buffers, before the next is decoded
        return (got[0].take(keep) if got[0] is not None else None), out

    if pool is not None:
        done = dict(zip(names, pool.map(one, names), strict=True))
    elif (os.cpu_count() or 1) <= 1 or len(names) <= 1:
        done = {name: one(name) for name in names}
    else:
        with _pool() as fresh:
            done = dict(zip(names, fresh.map(one, names), strict=True))
    for i, (sp, lay) in enumerate(active):
        sp.add(b, lay, {n: c for n, (_, per) in done.items() if (c := per[i]) is not None})
    columns = {n: main for n, (main, _) in done.items() if main is not None}
    return Sums(size, b.first + keep, rows[keep], int(times.min()), int(times.max()), columns)


def gather_batches(needs: Mapping[str, ColumnNeed], batches: Iterable[pa.RecordBatch | RowGroup],
                   timestamp: str, profile: Profile, size: int, where: str = "data",
                   keep: Sequence[str] = (),
                   sink: Callable[[pa.RecordBatch], None] | None = None, bins: int = 1,
                   tz: str = "UTC",
                   on_batch: Callable[[pa.RecordBatch | RowGroup], None] | None = None,
                   splits: Sequence[Split] = (),
                   ) -> tuple[Sums | None, pa.Table | None]:
    """The merged sums of a stream of record batches or row groups (None when it has no rows),
    and, when ``keep`` names columns, those columns of every row (narrow: what outcome joins
    need), handed to ``sink`` batch by batch when one is given (then None is returned for
    them). ``splits`` gather finer sums (segments) in the same pass (:func:`gather_table`);
    ``on_batch`` sees each batch too."""
    parts: list[Sums] = []
    kept: list[pa.RecordBatch] = []
    return_freed_memory()
    with _pool() as pool:  # one set of threads for the stream: each new thread's malloc
        for batch in batches:  # arena kept its freed memory (RSS grew with every batch)
            if batch.num_rows == 0:
                continue
            parts.append(gather_table(needs, batch, timestamp, profile, size, where, pool, bins,
                                      tz, splits))
            if on_batch is not None:
                on_batch(batch)
            if keep:
                narrow = batch.read(list(keep)).combine_chunks().to_batches() \
                    if isinstance(batch, RowGroup) else [batch.select(list(keep))]
                for one in narrow:
                    if sink is not None:
                        sink(one)
                    else:
                        kept.append(one)
                del narrow
            del batch  # before the next is read: two batches alive doubled the peak
            if len(parts) >= 16:  # bound the pending parts: merge them into one
                parts = [merge_all(parts)]
    sums = merge_all(parts) if parts else None
    narrow_table = None
    if keep and kept:
        try:
            narrow_table = pa.Table.from_batches(kept)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            narrow_table = pa.concat_tables([pa.Table.from_batches([k]) for k in kept],
                                            promote_options="permissive")
    return sums, narrow_table


def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, 8)))


def _gather_column(need: ColumnNeed, table: pa.Table, times: np.ndarray, where: str,
                   profile: Profile, b: Buckets, *more: Buckets) -> list[BucketSums]:
    """The per-bucket sums one column's statistics need, on the bucket layout ``b`` and on
    each of ``more`` (e.g. segments × buckets over the same rows): the column is converted,
    and its bins, masks and codes found, once for all of them."""
    name = need.name
    col = profile.columns.get(name)
    layouts = (b, *more)
    if need.kind == "numeric":
        x = numeric(table, name, where)
        del table  # the Arrow column: float64 values from here on
        frame = Frame(where, times, {name: x}, {})
        masks = {pred: predicate_mask(frame, name, *pred) for pred in need.predicates}
        # The present values, taken once and shared by every family and layout (each family
        # took its own copies: the largest part of the gather's working memory).
        ok = ~np.isnan(x)
        whole = bool(ok.all())
        xo = x if whole else x[ok]
        del x, frame
        dec = bins = on = outside = None
        if col is not None and need.deciles and not need.fine:  # PSI/JS only: 9 decile edges
            dec = np.searchsorted(np.asarray(col.decile_edges), xo, side="left")
        if col is not None and need.fine:
            edges = np.asarray(col.fine_edges)
            bins = np.searchsorted(edges, xo, side="left")
            if col.fine_discrete:
                on = xo == edges[np.minimum(bins, edges.size - 1)]
        if need.out_of_range is not None:
            lo, hi = need.out_of_range
            outside = (xo < lo) | (xo > hi)
        out = []
        for lay in layouts:
            io = lay.index if whole else lay.index[ok]
            count = np.bincount(io, minlength=lay.count).astype(np.float64)
            sums = BucketSums(present=count, predicates={
                pred: lay.sum(mask=m) for pred, m in masks.items()})
            if need.moments:
                mean = div(np.bincount(io, weights=xo, minlength=lay.count), count)
                dev = xo - mean[io]
                np.multiply(dev, dev, out=dev)
                sums.mean = np.nan_to_num(mean)
                sums.m2 = np.bincount(io, weights=dev, minlength=lay.count)
                del dev
            if need.extremes:
                sums.lo, sums.hi = np.full(lay.count, np.inf), np.full(lay.count, -np.inf)
                np.minimum.at(sums.lo, io, xo)
                np.maximum.at(sums.hi, io, xo)
            if col is not None and dec is not None:
                sums.deciles = _histogram(io, dec, len(col.decile_edges) + 1, lay.count)
            if col is not None and bins is not None:
                nbins = len(col.fine_edges) + 1
                sums.fine = _histogram(io, bins, nbins, lay.count)
                if on is not None:
                    sums.on_edge = _histogram(io[on], bins[on], nbins, lay.count)
                if need.deciles:
                    sums.deciles = _decile_counts(sums.fine, col)
            if outside is not None:
                sums.out_of_range = np.bincount(io, weights=outside,
                                                minlength=lay.count).astype(np.float64)
            out.append(sums)
        return out
    text = text_values(table, name, where)
    frame = Frame(where, times, {}, {name: text})
    masks = {pred: predicate_mask(frame, name, *pred) for pred in need.predicates}
    if need.categories and col is not None:
        codes = category_codes(text, col.categories)
        ok = codes >= 0
        known = codes[ok]
        out = [BucketSums(present=lay.sum(mask=ok),
                          categories=lay.histogram(known, len(col.categories) + 1, ok))
               for lay in layouts]
    else:  # only counts of present values: no need to encode (free text has many values)
        valid = pc.is_valid(text)
        ok = np.asarray(valid.to_numpy(zero_copy_only=False) if isinstance(
            valid, pa.Array) else valid.combine_chunks().to_numpy(zero_copy_only=False),
            dtype=bool)
        out = [BucketSums(present=lay.sum(mask=ok)) for lay in layouts]
    for sums, lay in zip(out, layouts, strict=True):
        sums.predicates = {pred: lay.sum(mask=m) for pred, m in masks.items()}
    return out


def _histogram(index: np.ndarray, bins: np.ndarray, nbins: int, count: int) -> np.ndarray:
    """Counts per (bucket, bin) as a (count, nbins) array, from each value's bucket and bin."""
    key = index * nbins
    key += bins
    return np.bincount(key, minlength=count * nbins).reshape(count, nbins).astype(np.float64)


def _decile_counts(fine: np.ndarray, col: ColumnProfile) -> np.ndarray:
    """Decile-bin counts from fine-bin counts: each decile edge is also a fine edge."""
    fine_edges = np.asarray(col.fine_edges)
    at = np.searchsorted(fine_edges, np.asarray(col.decile_edges), side="left")
    cum = np.cumsum(fine, axis=1)
    upto = cum[:, at]  # count of values <= each decile edge
    total = cum[:, -1:]
    bounds = np.concatenate([np.zeros_like(total), upto, total], axis=1)
    return np.diff(bounds, axis=1)


# ---------------------------------------------------------------- cumulative sums for windows


@dataclass
class ColumnSums:
    """One column's sums as windows read them, over consecutive buckets: cumulative (with a
    leading zero row) for counts and histograms, per bucket for moments and extremes."""

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


@dataclass
class Cumulated:
    """Sums laid out on every bucket from the first to the last that holds rows: the bucket
    layout (``buckets``, no rows), cumulative row counts and each column's :class:`ColumnSums`."""

    buckets: Buckets
    rows: np.ndarray
    columns: dict[str, ColumnSums]


def cumulate(s: Sums) -> Cumulated:
    """The cumulative view of ``s`` that windows read (derived, never stored)."""
    first = int(s.ids[0])
    count = int(s.ids[-1]) - first + 1
    at = s.ids - first

    def dense(a: np.ndarray, empty: float = 0.0) -> np.ndarray:
        out = np.full((count, *a.shape[1:]), empty)
        out[at] = a
        return out

    def cum(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else cumulative(dense(a))

    columns = {}
    for name, c in s.columns.items():
        out = ColumnSums(present=cumulative(dense(c.present)))
        if c.mean is not None and c.m2 is not None:
            out.n, out.mean, out.m2 = dense(c.present), dense(c.mean), dense(c.m2)
        if c.lo is not None and c.hi is not None:
            out.lo, out.hi = dense(c.lo, np.inf), dense(c.hi, -np.inf)
        out.fine, out.on_edge, out.deciles = cum(c.fine), cum(c.on_edge), cum(c.deciles)
        out.categories, out.out_of_range = cum(c.categories), cum(c.out_of_range)
        out.predicates = {k: cumulative(dense(v)) for k, v in c.predicates.items()}
        columns[name] = out
    layout = Buckets(s.size, first, np.zeros(0, dtype=np.int64), count)
    return Cumulated(layout, cumulative(dense(s.rows)), columns)


# ------------------------------------------------------------------- families (for storage)


def families(need: ColumnNeed, c: BucketSums) -> dict[str, np.ndarray]:
    """A column's sums by statistic family, each a (buckets, width) array, named with what
    defines them (a range, a predicate) so a changed plan never reads another family's sums."""
    out = {"present": c.present[:, None]}
    if c.mean is not None and c.m2 is not None:
        out["moments"] = np.stack([c.mean, c.m2], axis=1)
    if c.lo is not None and c.hi is not None:
        out["extremes"] = np.stack([c.lo, c.hi], axis=1)
    for name in ("fine", "on_edge", "deciles", "categories"):
        value = getattr(c, name)
        if value is not None:
            out[name] = value
    if c.out_of_range is not None and need.out_of_range is not None:
        out[f"out_of_range {list(need.out_of_range)}"] = c.out_of_range[:, None]
    for pred, value in c.predicates.items():
        out[predicate_family(pred)] = value[:, None]
    return out


def stat_families(key: StatKey, need: ColumnNeed) -> list[str]:
    """The families a statistic reads (besides row counts)."""
    stat = key.stat
    if stat in ("mean", "std"):
        return ["present", "moments"]
    if stat in ("min", "max", "quantile", "ks", "wasserstein"):
        return ["present", "extremes", "fine", "on_edge"]
    if stat in ("psi", "js"):
        return ["present", "deciles" if need.kind == "numeric" else "categories"]
    if stat in ("chi2", "new_category_rate"):
        return ["present", "categories"]
    if stat == "out_of_range_rate" and need.out_of_range is not None:
        return ["present", f"out_of_range {list(need.out_of_range)}"]
    if key.predicate is not None:
        return ["present", predicate_family(key.predicate)]
    return ["present"]


def predicate_family(pred: tuple[str, object]) -> str:
    """The family name of a predicate count, e.g. ``predicate >= 0.5``."""
    return f"predicate {pred[0]} {json.dumps(pred[1])}"


def expected_families(need: ColumnNeed, col: ColumnProfile | None) -> dict[str, int]:
    """The families a column's need gathers, with each one's width."""
    out = {"present": 1}
    if need.kind == "numeric":
        if need.moments:
            out["moments"] = 2
        if need.extremes:
            out["extremes"] = 2
        if col is not None and need.fine:
            out["fine"] = len(col.fine_edges) + 1
            if col.fine_discrete:
                out["on_edge"] = len(col.fine_edges) + 1
        if col is not None and need.deciles:
            out["deciles"] = len(col.decile_edges) + 1
        if need.out_of_range is not None:
            out[f"out_of_range {list(need.out_of_range)}"] = 1
    elif col is not None and need.categories:
        out["categories"] = len(col.categories) + 1
    for pred in need.predicates:
        out[predicate_family(pred)] = 1
    return out


def from_families(need: ColumnNeed, col: ColumnProfile | None, k: int,
                  fams: Mapping[str, np.ndarray]) -> tuple[BucketSums, list[str]]:
    """The inverse of :func:`families` for what ``need`` asks for over ``k`` buckets, and the
    families missing from ``fams`` (read as zero counts: those buckets have no history)."""
    missing: list[str] = []

    def get(name: str, width: int, empty: float = 0.0) -> np.ndarray:
        if name in fams:
            return np.asarray(fams[name], dtype=np.float64).reshape(k, width)
        missing.append(name)
        return np.full((k, width), empty)

    widths = expected_families(need, col)
    c = BucketSums(present=get("present", 1)[:, 0])
    if "moments" in widths:
        m = get("moments", 2)
        c.mean, c.m2 = m[:, 0].copy(), m[:, 1].copy()
    if "extremes" in widths:
        e = get("extremes", 2, np.nan)
        c.lo, c.hi = np.nan_to_num(e[:, 0], nan=np.inf), np.nan_to_num(e[:, 1], nan=-np.inf)
    for name in ("fine", "on_edge", "deciles", "categories"):
        if name in widths:
            setattr(c, name, get(name, widths[name]))
    if need.out_of_range is not None:
        c.out_of_range = get(f"out_of_range {list(need.out_of_range)}", 1)[:, 0]
    for pred in need.predicates:
        c.predicates[pred] = get(predicate_family(pred), 1)[:, 0]
    return c, missing


def div(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.asarray(b) > 0, a / np.where(np.asarray(b) > 0, b, 1), np.nan)

