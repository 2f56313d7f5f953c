"""Segments: an alert with `by: COLUMN` is judged once per value of that column.

Gathering stays one pass over the rows: each row's segment code and its bucket make one
combined index (``code × buckets + bucket``), so every kernel of :mod:`~planspec.engine.gather`
sums all segments at once (no pass per segment). The result is, per segment value, ordinary
:class:`~planspec.engine.gather.Sums` keyed by global bucket: they merge like all other sums.

Judging reads them on the run's window grids: each segment against its own baseline profile
(binned on the whole baseline's edges), with `min_samples` counted in the segment's rows. The
plan's multiple-testing correction covers, per window, every p-value test of the run: the
unsegmented alerts' and every tested segment's together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from planspec.compile import CheckProgram, ColumnNeed, Rule, StatKey
from planspec.data import text_values, timestamps
from planspec.engine import store as st
from planspec.engine.gather import Buckets, Sums, _gather_column, from_families, merge_all
from planspec.profile import Profile, segment_codes


def segment_needs(program: CheckProgram) -> dict[str, dict[str, ColumnNeed]]:
    """Per segment column, the columns its rules' statistics read."""
    out: dict[str, dict[str, ColumnNeed]] = {}
    for rule in program.rules:
        if rule.by is None:
            continue
        cols = out.setdefault(rule.by, {})
        for leaf in rule.fail.leaves() + (rule.warn.leaves() if rule.warn else []):
            if leaf.key.column is not None:
                cols[leaf.key.column] = program.columns[leaf.key.column]
    return out


def gather_segmented(needs: Mapping[str, ColumnNeed], table: pa.Table, timestamp: str,
                     profile: Profile, size: int, by: str, where: str = "data"
                     ) -> dict[str, Sums]:
    """The sums of one table per value of ``by``, in one pass: the buckets' index is combined
    with each row's segment code, and each segment's buckets are then taken apart."""
    times = timestamps(table, timestamp, where)
    b = Buckets.of(times, size)
    names, codes = segment_codes(text_values(table, by))
    nb = b.count
    sb = Buckets(size, b.first, codes * nb + b.index, len(names) * nb)
    rows = sb.sum()
    columns = {name: _gather_column(needs[name], table, times, where, profile, sb)
               for name in needs}
    t_min, t_max = int(times.min()), int(times.max())
    out = {}
    for k, name in enumerate(names):
        keep = np.flatnonzero(rows[k * nb:(k + 1) * nb] > 0)
        if keep.size:
            pos = k * nb + keep
            out[name] = Sums(size, b.first + keep, rows[pos], t_min, t_max,
                             {c: s.take(pos) for c, s in columns.items()})
    return out


def merge_segments(parts: list[dict[str, Sums]]) -> dict[str, Sums]:
    """Segment sums merged per segment value (associative and commutative, as :func:`merge`)."""
    names = sorted({n for p in parts for n in p})
    return {n: merge_all([p[n] for p in parts if n in p]) for n in names}


@dataclass
class SegmentGather:
    """Collects the segmented sums of a stream of tables (hand :meth:`add` each batch)."""

    program: CheckProgram
    profile: Profile
    needs: dict[str, dict[str, ColumnNeed]] = field(init=False)
    parts: dict[str, list[dict[str, Sums]]] = field(init=False)

    def __post_init__(self) -> None:
        self.needs = segment_needs(self.program)
        self.parts = {by: [] for by in self.needs}

    def add(self, table: pa.Table | pa.RecordBatch, where: str = "data") -> None:
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        for by, needs in self.needs.items():
            self.parts[by].append(gather_segmented(needs, table, self.program.timestamp,
                                                   self.profile, self.program.bucket, by, where))
            if len(self.parts[by]) >= 16:  # bound the pending parts, as the gather does
                self.parts[by] = [merge_segments(self.parts[by])]

    def result(self) -> dict[str, dict[str, Sums]]:
        return {by: merge_segments(p) for by, p in self.parts.items()}


def extend(s: Sums, whole: Sums) -> Sums:
    """``s`` laid on the same first and last bucket as ``whole`` (empty buckets added), so a
    segment's cumulative view lines up with the run's window grids."""
    ends = np.array([whole.ids[0], whole.ids[-1]])
    missing = np.setdiff1d(ends, s.ids)
    if not missing.size:
        return s
    empty = Sums(s.size, missing, np.zeros(missing.size), s.t_min, s.t_max,
                 {n: c.take(np.zeros(0, dtype=np.int64)) for n, c in s.columns.items()})
    for n, c in empty.columns.items():  # zero-row buckets: counts 0, extremes empty
        src = s.columns[n]
        for f in ("present", "mean", "m2", "fine", "on_edge", "deciles", "categories",
                  "out_of_range"):
            a = getattr(src, f)
            if a is not None:
                setattr(c, f, np.zeros((missing.size, *a.shape[1:])))
        if src.lo is not None:
            c.lo, c.hi = np.full(missing.size, np.inf), np.full(missing.size, -np.inf)
        c.predicates = {k: np.zeros(missing.size) for k in src.predicates}
    return merge_all([s, empty])


@dataclass
class Segment:
    """One segment of one segment column: its value, rows in the run and baseline profile
    (None: the baseline never saw it and the plan does not judge such segments)."""

    by: str
    value: str
    rows: int
    profile: Profile | None
    seen: bool


def chosen(program: CheckProgram, profile: Profile, by: str, sums: dict[str, Sums]
           ) -> tuple[list[Segment], int]:
    """The segments judged for ``by`` (at most ``max_segments``, the largest by rows; ties by
    value) and how many were left out."""
    ranked = sorted(sums, key=lambda v: (-sums[v].total, v))
    keep = ranked[:program.max_segments]
    known = profile.segments.get(by, {})
    out = []
    for v in keep:
        own = known.get(v)
        fallback = profile if program.unseen_segments == "overall" else None
        out.append(Segment(by, v, sums[v].total, own if own is not None else fallback,
                           own is not None))
    return out, len(ranked) - len(keep)


def segment_keys(rules: list[Rule]) -> list[StatKey]:
    """The statistics the segmented rules read, once each."""
    keys: dict[StatKey, None] = {}
    for r in rules:
        for leaf in r.fail.leaves() + (r.warn.leaves() if r.warn else []):
            keys[leaf.key] = None
    return list(keys)



# ------------------------------------------------------------------------- in the sums store


def segments_table(segments: Mapping[str, Mapping[str, Sums]],
                   needs: Mapping[str, Mapping[str, ColumnNeed]]) -> pa.Table | None:
    """Segmented sums as the store's sums table with two more columns, `by` and `value`."""
    parts = []
    for by, values in segments.items():
        for value, sums in values.items():
            t = st._sums_table(sums, needs[by])
            parts.append(t.append_column("by", pa.array([by] * t.num_rows, pa.string()))
                         .append_column("value", pa.array([value] * t.num_rows, pa.string())))
    return pa.concat_tables(parts) if parts else None


def segments_from_table(table: pa.Table, needs: Mapping[str, Mapping[str, ColumnNeed]],
                        profile: Profile, size: int, t_min: int, t_max: int
                        ) -> dict[str, dict[str, Sums]]:
    """The inverse of :func:`segments_table` for the segment columns in ``needs`` (families
    a plan added since are read as zero counts)."""
    out: dict[str, dict[str, Sums]] = {by: {} for by in needs}
    by_col, val_col = table.column("by").to_pylist(), table.column("value").to_pylist()
    columns, fams = table.column("column").to_pylist(), table.column("family").to_pylist()
    buckets = np.asarray(table.column("bucket").to_numpy(), dtype=np.int64)
    values = table.column("values").to_pylist()
    groups: dict[tuple[str, str], dict[tuple[str, str], list[int]]] = {}
    for i, (by, value, col, fam) in enumerate(zip(by_col, val_col, columns, fams,
                                                  strict=True)):
        if by in needs:
            groups.setdefault((by, value), {}).setdefault((col, fam), []).append(i)
    for (by, value), fam_rows in groups.items():
        rows_at = fam_rows.get(("", st.ROWS))
        if rows_at is None:
            continue
        ids = buckets[rows_at]
        per: dict[str, dict[str, np.ndarray]] = {}
        for (col, fam), at in fam_rows.items():
            per.setdefault(col, {})[fam] = np.array([values[i] for i in at], dtype=np.float64)
        sums_cols = {name: from_families(need, profile.columns.get(name), ids.size,
                                         per.get(name, {}))[0]
                     for name, need in needs[by].items()}
        out[by][value] = Sums(size, ids, per[""][st.ROWS][:, 0], t_min, t_max, sums_cols)
    return out
