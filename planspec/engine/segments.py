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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from planspec import _segid
from planspec.compile import (
    CheckProgram,
    ColumnNeed,
    MonitorRule,
    Rule,
    Slice,
    StatKey,
    WindowSpec,
)
from planspec.data import Frame, RowGroup, numeric, text_values
from planspec.engine import store as st
from planspec.engine.evidence import explain_rule
from planspec.engine.gather import (
    Buckets,
    BucketSums,
    ColumnSums,
    Sums,
    cumulate,
    cumulative,
    from_families,
    gather_table,
    merge_all,
)
from planspec.engine.judge import judge_monitor, judge_rule
from planspec.engine.windows import Grid, Values, compute
from planspec.outcomes import LEVEL
from planspec.profile import Profile, slice_codes
from planspec.results import CheckResult, SegmentSummary
from planspec.thresholds import rule_thresholds


def segment_needs(program: CheckProgram) -> dict[str, dict[str, ColumnNeed]]:
    """Per slice, the columns its rules' statistics read."""
    out: dict[str, dict[str, ColumnNeed]] = {}
    for rule in program.rules:
        if rule.by is None:
            continue
        cols = out.setdefault(rule.by, {})
        for leaf in rule.fail.leaves() + (rule.warn.leaves() if rule.warn else []):
            if leaf.key.column is not None:
                cols[leaf.key.column] = program.columns[leaf.key.column]
    return out


@dataclass
class SliceSplit:
    """The segments of one slice as a :class:`~planspec.engine.gather.Split` of the gather:
    each row's slot is its segment code × the batch's buckets + its bucket (rows the filter
    drops fill one slot after the segments', left out), so every kernel sums every segment
    of the batch at once; each batch's sums, taken apart per segment, go to ``parts``."""

    needs: Mapping[str, ColumnNeed]
    slice: Slice
    kinds: Mapping[str, str]
    parts: list[dict[str, Sums]] = field(default_factory=list)
    _names: list[str] = field(default_factory=list)
    _rows: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _t: tuple[int, int] = (0, 0)

    def layout(self, read: Callable[[Sequence[str]], pa.Table], times: np.ndarray,
               b: Buckets, where: str) -> Buckets | None:
        table = read(list(self.slice.columns))

        def column(name: str) -> np.ndarray | pa.ChunkedArray:
            return numeric(table, name, where) if self.kinds[name] == "numeric" else \
                text_values(table, name, where)

        names, codes = slice_codes(self.slice, column, times.size)
        kept = codes >= 0
        if not kept.any():
            return None
        nb = b.count
        slots = np.where(kept, codes, len(names)) * nb + b.index
        self._names, self._t = names, (int(times[kept].min()), int(times[kept].max()))
        lay = Buckets(b.size, b.first, slots, (len(names) + 1) * nb)
        self._rows = lay.sum()
        return lay

    def add(self, b: Buckets, layout: Buckets, columns: dict[str, BucketSums]) -> None:
        nb, out = b.count, {}
        for k, name in enumerate(self._names):
            keep = np.flatnonzero(self._rows[k * nb:(k + 1) * nb] > 0)
            if keep.size:
                pos = k * nb + keep
                out[name] = Sums(b.size, b.first + keep, self._rows[pos], *self._t,
                                 {c: s.take(pos) for c, s in columns.items()})
        self.parts.append(out)
        if len(self.parts) >= 16:  # bound the pending parts, as the gather does
            self.parts[:] = [merge_segments(self.parts)]


def gather_segmented(needs: Mapping[str, ColumnNeed], table: pa.Table, timestamp: str,
                     profile: Profile, size: int, sl: Slice, kinds: Mapping[str, str],
                     where: str = "data", tz: str = "UTC") -> dict[str, Sums]:
    """The sums of one table per segment of the slice ``sl``, in one pass: the rows its
    filter drops are left out, the buckets' index is combined with each row's segment code,
    and each segment's buckets are then taken apart."""
    split = SliceSplit(needs, sl, kinds)
    gather_table({}, table, timestamp, profile, size, where, tz=tz, splits=[split])
    return merge_segments(split.parts)


def merge_segments(parts: list[dict[str, Sums]]) -> dict[str, Sums]:
    """Segment sums merged per segment value (associative and commutative, as :func:`merge`)."""
    names = sorted({n for p in parts for n in p})
    return {n: merge_all([p[n] for p in parts if n in p]) for n in names}


#: Segmented sums: per slice key, per segment value.
Segments = dict[str, dict[str, Sums]]


def merge_slices(parts: Sequence[Segments], slices: Iterable[str] | None = None) -> Segments:
    """Segmented sums merged slice by slice, for every slice in ``slices`` (None: every slice
    some part holds)."""
    keys = sorted({k for p in parts for k in p}) if slices is None else slices
    return {k: merge_segments([p.get(k, {}) for p in parts]) for k in keys}


@dataclass
class SegmentGather:
    """Collects the segmented sums of a stream of tables: hand :meth:`splits` to the gather
    (or :meth:`add` each batch), then take :meth:`result`."""

    program: CheckProgram
    profile: Profile
    needs: dict[str, dict[str, ColumnNeed]] = field(init=False)
    _splits: dict[str, SliceSplit] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.needs = segment_needs(self.program)

    def splits(self) -> list[SliceSplit]:
        """One split per slice, for :func:`~planspec.engine.gather.gather_batches` (the
        segments gathered in the same pass as the batch's sums); :meth:`result` merges them."""
        if not self.needs:
            return []
        kinds = {n: c.kind for n, c in self.program.columns.items()}
        if not self._splits:
            self._splits = {key: SliceSplit(needs, self.program.slices[key], kinds)
                            for key, needs in self.needs.items()}
        return list(self._splits.values())

    def add(self, table: pa.Table | pa.RecordBatch | RowGroup, where: str = "data") -> None:
        """The segments of one more batch, gathered on their own (without the batch's sums)."""
        gather_table({}, table, self.program.timestamp, self.profile, self.program.bucket,
                     where, tz=self.program.timezone, splits=self.splits())

    def result(self) -> Segments:
        return {by: merge_segments(self._splits[by].parts if by in self._splits else [])
                for by in self.needs}


def _zeroed(s: Sums, ids: np.ndarray) -> Sums:
    """Zero-row buckets ``ids`` with the families of ``s``: counts 0, extremes empty."""
    empty = Sums(s.size, ids, np.zeros(ids.size), s.t_min, s.t_max,
                 {n: c.take(np.zeros(0, dtype=np.int64)) for n, c in s.columns.items()})
    for n, c in empty.columns.items():
        src = s.columns[n]
        for f in ("present", "mean", "m2", "fine", "on_edge", "deciles", "categories",
                  "out_of_range"):
            a = getattr(src, f)
            if a is not None:
                setattr(c, f, np.zeros((ids.size, *a.shape[1:])))
        if src.lo is not None:
            c.lo, c.hi = np.full(ids.size, np.inf), np.full(ids.size, -np.inf)
        c.predicates = {k: np.zeros(ids.size) for k in src.predicates}
    return empty


def extend(s: Sums, whole: Sums) -> Sums:
    """``s`` laid on the same first and last bucket as ``whole`` (empty buckets added), so a
    segment's cumulative view lines up with the run's window grids."""
    ends = np.array([whole.ids[0], whole.ids[-1]])
    missing = np.setdiff1d(ends, s.ids)
    if not missing.size:
        return s
    return merge_all([s, _zeroed(s, missing)])


def empty_like(whole: Sums, needs: Mapping[str, ColumnNeed]) -> Sums:
    """Sums of no rows with ``whole``'s families of the columns in ``needs``."""
    part = Sums(whole.size, whole.ids, whole.rows, whole.t_min, whole.t_max,
                {n: whole.columns[n] for n in needs})
    return _zeroed(part, np.unique(np.array([whole.ids[0], whole.ids[-1]])))


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


# ----------------------------------------------------------------------------------- judging


@dataclass
class Judged:
    """One segment's rows per window, computed statistics and adjusted p-values."""

    segment: Segment
    rows: dict[WindowSpec, np.ndarray]
    columns: dict[str, ColumnSums]
    computed: dict[StatKey, Values]
    adjusted: dict[StatKey, np.ndarray] = field(default_factory=dict)


@dataclass
class BySegments:
    """The segmented rules of one segment column and their judged segments."""

    slice: Slice
    rules: list[Rule]
    judged: list[Judged]
    dropped: int

    @property
    def by(self) -> str | None:
        """The `by` columns, comma-separated (None for a filter alone)."""
        return ",".join(self.slice.by) or None


def segment_values(program: CheckProgram, segments: Mapping[str, Mapping[str, Sums]],
                   whole: Sums, profile: Profile, grids: Mapping[WindowSpec, Grid]
                   ) -> list[BySegments]:
    """Each chosen segment's statistics on the run's window grids (those of the whole data,
    so every segment's windows line up with the unsegmented alerts')."""
    out = []
    for key in program.segment_columns:
        sl = program.slices[key]
        rules = [r for r in program.rules if r.by == key]
        keys = segment_keys(rules)
        sums = dict(segments.get(key, {}))
        if not sl.by and "" not in sums:  # a filter that kept no rows: judged on none
            sums[""] = empty_like(whole, segment_needs(program).get(key, {}))
        picked, dropped = chosen(program, profile, key, sums)
        judged = []
        for seg in picked:
            view = cumulate(extend(sums[seg.value], whole))
            rows = {spec: g.total(view.rows) for spec, g in grids.items()}
            prof = seg.profile if seg.profile is not None else profile
            judged.append(Judged(seg, rows, view.columns, {
                k: compute(k, grids[k.window], rows[k.window], view.columns, prof)
                for k in keys}))
        out.append(BySegments(sl, rules, judged, dropped))
    return out


def segment_pvalues(segs: list[BySegments]) -> dict[WindowSpec, list[tuple[Judged, StatKey]]]:
    """Every tested segment's p-value statistics, by window grid: the plan's correction counts
    them with the unsegmented tests of the same windows."""
    out: dict[WindowSpec, list[tuple[Judged, StatKey]]] = {}
    for group in segs:
        keys = [leaf.key for r in group.rules for n in (r.fail, r.warn) if n
                for leaf in n.leaves() if leaf.measure.part == "pvalue"]
        for j in group.judged:
            if j.segment.profile is None:
                continue  # not tested: no baseline to test against
            for k in dict.fromkeys(keys):
                out.setdefault(k.window, []).append((j, k))
    return out


def judge_segments(segs: list[BySegments], grids: Mapping[WindowSpec, Grid],
                   leaf_values: dict[int, np.ndarray], whole: Profile,
                   judge_partial: bool = False, correction: str = "none") -> list[CheckResult]:
    """One result per segmented rule and segment, id ``alert[column=value]``, explained from
    the segment's own sums and baseline."""
    out = []
    for group in segs:
        for rule in group.rules:
            calibrated = any(leaf.level is not None for n in (rule.fail, rule.warn) if n
                             for leaf in n.leaves())
            for j in group.judged:
                seg = j.segment
                prof = seg.profile or whole
                g = grids[rule.window]
                c = judge_rule(rule, g, j.rows[rule.window], j.computed, j.adjusted, prof,
                               leaf_values, judge_partial, correction)
                if seg.profile is None:  # never seen in the baseline: reported, not judged
                    c = c.model_copy(update={"windows": [w if w.status == "partial" else
                                                         w.model_copy(update={
                                                             "status": "insufficient_data",
                                                             "firing": None})
                                                         for w in c.windows]})
                c = explain_rule(rule, c, g, j.rows[rule.window], j.columns, prof, j.computed)
                update: dict[str, Any] = {"segment_baseline": "segment" if seg.seen else (
                    "overall" if seg.profile is not None else "none")}
                if calibrated and seg.profile is not None:
                    own = prof is not whole and prof.calibration != whole.calibration
                    update["segment_calibration"] = "segment" if own else "overall"
                if group.slice.by:  # else a filter alone: the alert's own result
                    update |= {"id": _segid.check_id(rule.id, group.slice.by, seg.value),
                               "by": group.by, "segment": seg.value}
                out.append(c.model_copy(update=update))
    return out


def segment_summary(segs: list[BySegments]) -> list[SegmentSummary]:
    """Per segmented rule: segments tested, unseen in the baseline, and left out by the cap."""
    return [SegmentSummary(alert=r.id, by=g.by, tested=sum(j.segment.profile is not None
                                                           for j in g.judged),
                           unseen=[j.segment.value for j in g.judged if not j.segment.seen],
                           dropped=g.dropped)
            for g in segs if g.by is not None for r in g.rules]


def segment_level(correction: str, k: int) -> float:
    """The confidence level of each of ``k`` segments' metric intervals: 95%, or with a
    correction (`bonferroni` or `bh`: intervals have no p-values to rank, so both take
    Bonferroni's) 1 − 5%/k, so that all k cover together with 95% probability.

    >>> segment_level("none", 20), segment_level("bh", 20), segment_level("bonferroni", 1)
    (0.95, 0.9975, 0.95)
    """
    return LEVEL if correction == "none" or k <= 1 else 1 - (1 - LEVEL) / k


def judge_monitor_segments(m: MonitorRule, sl: Slice, g: Grid, frame: Frame | None,
                           b: Buckets | None, outcomes: Any, now: int,
                           sources: dict[str, dict[str, int]], judge_partial: bool,
                           max_segments: int, tz: str, predictions: np.ndarray
                           ) -> tuple[list[CheckResult], SegmentSummary | None]:
    """An outcome monitor judged per segment of its slice, from the scored rows' narrow
    columns (the segments with the most scored rows first, at most ``max_segments``), and
    how it was split (None for a filter alone). Without outcomes or scored rows there is
    nothing to split: the monitor's one immature result."""
    if frame is None or b is None or outcomes is None:
        return [judge_monitor(m, g, None, None, None, now, sources, predictions,
                              judge_partial)], None

    def column(name: str) -> np.ndarray | pa.ChunkedArray:
        return frame.numbers[name] if name in frame.numbers else frame.texts[name]

    names, codes = slice_codes(sl, column, frame.rows)
    counts = np.bincount(codes[codes >= 0], minlength=len(names))
    order = sorted(range(len(names)), key=lambda k: (-counts[k], names[k]))[:max_segments]
    if not sl.by and not order:  # a filter that kept no scored rows
        names, order = [""], [0]
    # One 95% interval per segment would let one of twenty segments cross its bound by chance
    # in a window; under a correction each is widened to Bonferroni's simultaneous level.
    level = segment_level(m.correction, len(order))
    out = []
    for k in order:
        mask = codes == k
        keep = pa.array(mask)
        part = Frame(frame.where, frame.times[mask],
                     {c: x[mask] for c, x in frame.numbers.items()},
                     {c: t.filter(keep) for c, t in frame.texts.items()})
        pb = Buckets.within(part.times, b.size, b.first, b.count, tz)
        preds = cumulative(pb.sum(mask=~np.isnan(part.numbers[m.prediction])))
        c = judge_monitor(m, g, part, pb, outcomes, now, sources, preds, judge_partial, level)
        c = c.model_copy(update={"thresholds": rule_thresholds(m.fail, m.warn),
                                 "interval_level": level if level != LEVEL else None})
        if sl.by:
            c = c.model_copy(update={"id": _segid.check_id(m.id, sl.by, names[k]),
                                     "by": ",".join(sl.by),
                                     "segment": names[k]})
        out.append(c)
    summary = SegmentSummary(alert=m.id, by=",".join(sl.by), tested=len(order), unseen=[],
                             dropped=len(names) - len(order)) if sl.by else None
    return out, summary


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
    groups: dict[tuple[str, str], dict[str, dict[str, np.ndarray]]] = {}
    at: dict[tuple[str, str], np.ndarray] = {}
    for (by, value, col, fam), buckets, values in st.grouped(table, ("by", "value", "column",
                                                                     "family")):
        if by in needs:
            groups.setdefault((by, value), {}).setdefault(col, {})[fam] = values
            if (col, fam) == ("", st.ROWS):
                at[(by, value)] = buckets
    for (by, value), per in groups.items():
        ids = at.get((by, value))
        if ids is None:
            continue
        sums_cols = {name: from_families(need, profile.columns.get(name), ids.size,
                                         per.get(name, {}))[0]
                     for name, need in needs[by].items()}
        out[by][value] = Sums(size, ids, per[""][st.ROWS][:, 0], t_min, t_max, sums_cols)
    return out
