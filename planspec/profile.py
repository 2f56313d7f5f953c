"""Baseline profiles: everything the checks need from the reference data, computed once.

A profile holds, per column the plan reads: moments, extremes, the baseline deciles and their counts
(PSI and JS bins), a fine histogram on baseline quantiles (KS, Wasserstein, quantiles), category
frequencies; and the baseline value of every statistic a `shift` or `change` compares with. It
records the rows, time span, fingerprints of the data and the plan, and a format version.

A profile is checked before it is used (:func:`load_profile`, :func:`check_profile`): its schema
and version, then every invariant the engine relies on (:func:`profile_problems`), and that every
column a check compares with the baseline has baseline values (:func:`baseline_gaps`).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import operator
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, ValidationError

from planspec import _segid
from planspec._expr import format_measure
from planspec.compile import CheckProgram, Leaf, Slice, StatKey
from planspec.data import DataError, Frame, check_source, load_frame
from planspec.model import RowAll, RowAny, RowFilter
from planspec.profile_check import at, baseline_gaps, damaged, json_path, profile_problems
from planspec.stats import STATS

FORMAT = "planspec-baseline"
VERSION = 1
#: Levels of the fine histogram: bins hold at most about 1/FINE_LEVELS of the baseline each.
FINE_LEVELS = 1000
DECILES = np.linspace(0.1, 0.9, 9)

OPS: dict[str, Callable[[Any, Any], Any]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "==": operator.eq,
    "!=": operator.ne}
PC_OPS = {">": pc.greater, ">=": pc.greater_equal, "<": pc.less, "<=": pc.less_equal,
          "==": pc.equal, "!=": pc.not_equal}


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ColumnProfile(_Model):
    """The baseline of one column."""

    kind: Literal["numeric", "categorical"]
    rows: int
    missing: int
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    decile_edges: list[float] = []
    decile_counts: list[int] = []
    fine_edges: list[float] = []
    fine_counts: list[int] = []
    #: The fine edges are the baseline's distinct values: every baseline value sits on an edge.
    fine_discrete: bool = False
    categories: list[str] = []
    category_counts: list[int] = []


class BaselineValue(_Model):
    """The baseline value of one statistic (what `shift` and `change` compare with)."""

    stat: str
    column: str | None = None
    q: float | None = None
    predicate: tuple[str, float | str | bool] | None = None
    value: float | None


class Calibration(_Model):
    """The no-drift distribution of one compared quantity (a measure, e.g. `psi(x)` or
    `mean(x) shift`) for windows of one length: its quantiles at a ladder of window sizes (rows
    per window), from ``replays`` seeded multinomial replays of the baseline per size, and
    optionally from the baseline's own consecutive windows."""

    measure: str
    window_seconds: int
    method: Literal["subsamples", "consecutive"] = "subsamples"
    seed: int
    replays: int
    #: The rows a window of this length is expected to hold (the ladder's middle): the alert's
    #: `window_rows` hint when it has one, else the baseline's rows per window length.
    expected_rows: int
    window_rows: int | None = None
    levels: list[float]
    sizes: list[int]
    #: quantiles[i][j]: the level-j quantile for windows of sizes[i] rows.
    quantiles: list[list[float | None]]
    #: From the baseline's own complete windows (method `consecutive`): how many, and per level
    #: their mean ± z·SD (a normal approximation: a baseline holds few windows).
    windows: int | None = None
    consecutive: list[float | None] | None = None

    def threshold(self, level: float, rows: np.ndarray) -> np.ndarray:
        """The calibrated threshold at ``level`` for windows of ``rows`` rows: interpolated
        between the ladder's sizes (log-log where both quantiles are positive, else linear in
        log rows), the nearest size beyond its ends; with `consecutive`, the stricter of that and
        the baseline windows' own level."""
        j = min(range(len(self.levels)), key=lambda k: abs(self.levels[k] - level))
        q = np.asarray([np.nan if r[j] is None else r[j] for r in self.quantiles], dtype=float)
        logn = np.log(np.asarray(self.sizes, dtype=float))
        x = np.log(np.clip(np.asarray(rows, dtype=float), self.sizes[0], self.sizes[-1]))
        positive = bool((q > 0).all())
        out = np.exp(np.interp(x, logn, np.log(q))) if positive else np.interp(x, logn, q)
        own = self.consecutive[j] if self.consecutive is not None else None
        if own is not None:
            c = float(own)
            out = np.maximum(out, c) if level >= 0.5 else np.minimum(out, c)
        return np.asarray(out, dtype=np.float64)


class Profile(_Model):
    """A baseline profile (see the module docstring); serializes to ``baseline.json``."""

    format: Literal["planspec-baseline"] = "planspec-baseline"
    version: int = VERSION
    plan: str
    plan_fingerprint: str
    data_fingerprint: str
    rows: int
    start: datetime.datetime
    end: datetime.datetime
    span_seconds: int
    columns: dict[str, ColumnProfile]
    values: list[BaselineValue]
    #: Per segment column, per value: the profile of that segment's rows, binned on the whole
    #: baseline's edges and categories (so a segment's window sums compare with it).
    segments: dict[str, dict[str, Profile]] = {}
    #: Null distributions for calibrated thresholds (absent in profiles of plans without them).
    calibration: list[Calibration] = []

    def calibrated(self, measure: str, window_seconds: int,
                   window_rows: int | None = None) -> Calibration:
        """The calibration of ``measure`` for windows of ``window_seconds`` (with the alert's
        ``window_rows`` hint); PS406 if absent."""
        for c in self.calibration:
            if (c.measure, c.window_seconds, c.window_rows) == (measure, window_seconds,
                                                                window_rows):
                return c
        raise DataError("PS406", f"the baseline has no calibration for `{measure}` over windows "
                        f"of {window_seconds}s", "rebuild it with `planspec baseline` for this "
                        "plan (it replays the baseline for calibrated thresholds)")

    def value(self, key: StatKey) -> float | None:
        """The baseline value of the statistic ``key`` (None when it has none)."""
        if key.stat == "count":
            return self.rows * key.window.seconds / self.span_seconds
        for v in self.values:
            pred = tuple(v.predicate) if v.predicate is not None else None
            if (v.stat, v.column, v.q, pred) == (key.stat, key.column, key.q, key.predicate):
                return v.value
        raise DataError("PS406", f"the baseline has no value for `{key.stat}` of "
                        f"`{key.column}`", "rebuild it with `planspec baseline` for this plan")


def plan_fingerprint(program: CheckProgram) -> str:
    """A digest of the plan's content (not its formatting)."""
    text = program.plan.model_dump_json(by_alias=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _data_fingerprint(frame: Frame) -> str:
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(frame.times).tobytes())
    for name in sorted(frame.numbers):
        h.update(name.encode())
        h.update(np.ascontiguousarray(frame.numbers[name]).tobytes())
    for name in sorted(frame.texts):
        h.update(name.encode())
        # A canonical layout, so the same values give the same digest whatever produced them.
        text = frame.texts[name].cast(pa.large_string())
        canon = pc.fill_null(text, "\x00null").combine_chunks()
        h.update(pc.is_null(text).combine_chunks().to_numpy(zero_copy_only=False).tobytes())
        for buf in canon.buffers()[1:]:
            if buf is not None:
                h.update(memoryview(buf))
    return "sha256:" + h.hexdigest()


def sorted_quantiles(s: np.ndarray, qs: np.ndarray) -> np.ndarray:
    """``np.quantile(s, qs)`` (its default, linear method) for an already sorted ``s``, to the
    bit: the same virtual index and the same two-sided interpolation numpy uses.

    >>> s = np.sort(np.random.default_rng(0).normal(size=101))
    >>> q = np.linspace(0, 1, 17)
    >>> bool((sorted_quantiles(s, q) == np.quantile(s, q)).all())
    True
    """
    n = s.size
    virtual = (n - 1) * qs
    lo = np.floor(virtual)
    hi = lo + 1
    top = virtual >= n - 1
    lo_i = np.where(top, n - 1, lo).astype(np.intp)
    hi_i = np.where(top, n - 1, hi).astype(np.intp)
    a, b = s[lo_i], s[hi_i]
    t = virtual - lo
    diff = b - a
    out = a + diff * t
    return np.where(t >= 0.5, b - diff * (1 - t), out)


def fine_edges(s: np.ndarray) -> np.ndarray:
    """Fine-bin edges on the sorted baseline ``s``: its distinct values when there are few,
    else its quantiles at 1/FINE_LEVELS steps, always with the decile edges, min and max."""
    distinct = s[np.concatenate([[True], s[1:] != s[:-1]])]
    if distinct.size <= FINE_LEVELS + 1:
        levels = distinct
    else:
        levels = sorted_quantiles(s, np.linspace(0, 1, FINE_LEVELS + 1))
    return np.unique(np.concatenate([levels, decile_edges(s)]))


def decile_edges(s: np.ndarray) -> np.ndarray:
    """Interior PSI/JS bin edges on the sorted baseline ``s``: its deciles, duplicates merged."""
    return np.unique(sorted_quantiles(s, DECILES))


def _counts(s: np.ndarray, edges: np.ndarray) -> list[int]:
    """Counts of sorted ``s`` in right-closed bins (-inf, e0], (e0, e1], …, (e_last, inf)."""
    upto = np.searchsorted(s, edges, side="right")
    return [int(c) for c in np.diff(np.concatenate([[0], upto, [s.size]]))]


def _numeric_profile(x: np.ndarray, rows: int) -> ColumnProfile:
    s = np.sort(x[~np.isnan(x)])  # sorted once: quantiles, distinct values and counts from it
    n = int(s.size)
    if n == 0:
        return ColumnProfile(kind="numeric", rows=rows, missing=rows)
    dec = decile_edges(s)
    fine = fine_edges(s)
    on_edges = np.searchsorted(s, fine, side="right") - np.searchsorted(s, fine, side="left")
    return ColumnProfile(
        kind="numeric", rows=rows, missing=rows - n, mean=float(s.mean()),
        std=float(s.std(ddof=1)) if n > 1 else 0.0, min=float(s[0]), max=float(s[-1]),
        decile_edges=[float(e) for e in dec], decile_counts=_counts(s, dec),
        fine_edges=[float(e) for e in fine], fine_counts=_counts(s, fine),
        fine_discrete=bool(on_edges.sum() == n))


def _categorical_profile(values: pa.ChunkedArray, rows: int) -> ColumnProfile:
    counts = pc.value_counts(values.drop_null()).to_pylist() if len(values) else []
    pairs = sorted(((int(c["counts"]), str(c["values"])) for c in counts),
                   key=lambda p: (-p[0], p[1]))
    return ColumnProfile(kind="categorical", rows=rows, missing=int(values.null_count),
                         categories=[v for _, v in pairs], category_counts=[c for c, _ in pairs])


def predicate_mask(frame: Frame, column: str, op: str, value: object) -> np.ndarray:
    """Rows whose value satisfies the predicate (missing values never do)."""
    if column in frame.numbers:
        x = frame.numbers[column]
        v = float(value) if isinstance(value, (int, float)) else np.nan
        with np.errstate(invalid="ignore"):
            return np.asarray(OPS[op](x, v) & ~np.isnan(x))
    text = frame.texts[column]
    target = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if not isinstance(value, (str, bool)):
        target = f"{value:g}" if isinstance(value, float) else str(value)
    result = PC_OPS[op](text, pa.scalar(target))
    return np.asarray(result.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _baseline_value(key: StatKey, frame: Frame, col: ColumnProfile | None) -> float | None:
    stat = key.stat
    if col is None:
        return None
    present = col.rows - col.missing
    if stat in ("mean", "std", "min", "max"):
        return getattr(col, stat)
    if stat == "quantile":
        x = frame.numbers[key.column or ""]
        x = x[~np.isnan(x)]
        return float(np.quantile(x, key.q or 0.0)) if x.size else None
    if stat == "missing_rate":
        return col.missing / col.rows if col.rows else None
    if stat == "new_category_rate":
        return 0.0
    if stat == "out_of_range_rate":
        return None  # needs the range: filled by build_profile
    if stat in ("rate", "share") and key.predicate is not None:
        op, value = key.predicate
        hits = int(predicate_mask(frame, key.column or "", op, value).sum())
        return hits / present if present else None
    return None


def _values(program: CheckProgram, frame: Frame, columns: dict[str, ColumnProfile]
            ) -> list[BaselineValue]:
    """The baseline value of every statistic a `shift` or `change` compares with."""
    values: list[BaselineValue] = []
    seen: set[tuple[object, ...]] = set()
    for key in program.stats:
        if key.stat == "count" or key.baseline_key() in seen:
            continue
        seen.add(key.baseline_key())
        col = columns.get(key.column or "")
        value = _baseline_value(key, frame, col)
        if key.stat == "out_of_range_rate" and col is not None:
            lo, hi = program.columns[key.column or ""].out_of_range or (-np.inf, np.inf)
            x = frame.numbers[key.column or ""]
            x = x[~np.isnan(x)]
            value = float(((x < lo) | (x > hi)).mean()) if x.size else None
        values.append(BaselineValue(stat=key.stat, column=key.column, q=key.q,
                                    predicate=key.predicate, value=value))
    return values


def build_profile(program: CheckProgram, data: Any, where: str = "baseline") -> Profile:
    """Profile baseline ``data`` (files, or a table/frame/dict) for ``program``.

    Raises :class:`~planspec.data.DataError` for unusable data.
    """
    kinds = {name: need.kind for name, need in program.columns.items()}
    frame = load_frame(data, program.timestamp, kinds, where)
    rows = frame.rows
    columns: dict[str, ColumnProfile] = {}
    for name, need in program.columns.items():
        if need.kind == "numeric":
            columns[name] = _numeric_profile(frame.numbers[name], rows)
        else:
            columns[name] = _categorical_profile(frame.texts[name], rows)
    values = _values(program, frame, columns)
    for gap in baseline_gaps(program, columns, frame.where):
        raise gap
    t0, t1 = int(frame.times.min()), int(frame.times.max())
    day = 86400
    span = (t1 // day + 1 - t0 // day) * day  # whole UTC days covered
    utc = datetime.UTC
    whole = Profile(plan=program.plan.plan, plan_fingerprint=plan_fingerprint(program),
                    data_fingerprint=_data_fingerprint(frame), rows=rows,
                    start=datetime.datetime.fromtimestamp(t0, utc),
                    end=datetime.datetime.fromtimestamp(t1, utc), span_seconds=span,
                    columns=columns, values=values)
    if not program.segment_columns:
        return whole
    return whole.model_copy(update={"segments": _segment_profiles(program, frame, whole)})


Profile.model_rebuild()

#: The segment of rows whose segment column is missing.
MISSING_SEGMENT = _segid.MISSING


def segment_codes(values: pa.ChunkedArray | pa.Array) -> tuple[list[str], np.ndarray]:
    """The distinct values of a segment column, as segment names write them (quoted where a
    bare value would be ambiguous; missing last, as ``(missing)``, when any value is), and
    each row's code into them.

    >>> segment_codes(pa.array(["b", "a, c", None, "b"]))
    (['b', '"a, c"', '(missing)'], array([0, 1, 2, 0]))
    """
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()
    names = [_segid.quote(str(v)) for v in encoded.dictionary.to_pylist()]
    idx = np.asarray(encoded.indices.fill_null(len(names)).to_numpy(zero_copy_only=False),
                     dtype=np.int64)
    if encoded.indices.null_count:
        names.append(MISSING_SEGMENT)
    return names, idx


#: A column's values as the row filter and segments read them: float64 (NaN missing) for a
#: numeric column, text for a categorical one.
Column = Callable[[str], "np.ndarray | pa.ChunkedArray | pa.Array"]


def _as_text(v: bool | float | str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else f"{v:g}"


def row_mask(f: RowFilter, column: Column, rows: int) -> np.ndarray:
    """The rows a `where` filter keeps. A missing value satisfies no comparison and no
    `in [...]` (only `is missing`), as in SQL.

    >>> from planspec._expr import parse_filter
    >>> data = {"s": pa.array(["a", "b", None]), "x": np.array([1.0, np.nan, 3.0])}
    >>> row_mask(parse_filter('s in ["a", "b"] and x > 0 or s is missing')[0],
    ...          data.__getitem__, 3).tolist()
    [True, False, True]
    """
    if isinstance(f, (RowAll, RowAny)):
        parts = [row_mask(t, column, rows) for t in f.terms]
        return np.logical_and.reduce(parts) if isinstance(f, RowAll) else \
            np.logical_or.reduce(parts)
    x = column(f.column)
    if isinstance(x, np.ndarray):
        missing = np.isnan(x)
        if f.op in ("is missing", "is not missing"):
            return missing if f.op == "is missing" else ~missing
        values = np.asarray([float(v) for v in f.values], dtype=np.float64)
        with np.errstate(invalid="ignore"):
            if f.op in ("in", "not in"):
                hit = np.isin(x, values)
                return hit if f.op == "in" else ~hit & ~missing
            return np.asarray(OPS[f.op](x, values[0]) & ~missing)
    present = np.asarray(pc.is_valid(x).to_numpy(zero_copy_only=False), dtype=bool) \
        if len(x) else np.zeros(0, dtype=bool)
    if f.op in ("is missing", "is not missing"):
        return ~present if f.op == "is missing" else present
    texts = [_as_text(v) for v in f.values]
    if f.op in ("in", "not in"):
        hit = pc.is_in(x, value_set=pa.array(texts, pa.string()))
        out = np.asarray(pc.fill_null(hit, False).to_numpy(zero_copy_only=False), dtype=bool)
        return out if f.op == "in" else ~out & present
    result = PC_OPS[f.op](x, pa.scalar(texts[0]))
    return np.asarray(pc.fill_null(result, False).to_numpy(zero_copy_only=False), dtype=bool)


def slice_codes(sl: Slice, column: Column, rows: int) -> tuple[list[str], np.ndarray]:
    """The segments of a slice present in some rows (each a value, or values joined by ``, ``
    for several `by` columns, quoted as :mod:`planspec._segid` says) and each row's code into
    them; -1 for a row its filter drops.

    >>> from planspec.compile import slice_of
    >>> data = {"a": pa.array(["x", "y", "x"]), "b": pa.array(["1", "1", None])}
    >>> slice_codes(slice_of(("a", "b"), None), data.__getitem__, 3)
    (['x, 1', 'x, (missing)', 'y, 1'], array([0, 2, 1]))
    """
    code = np.zeros(rows, dtype=np.int64)
    names: list[str] = [""]
    for col in sl.by:  # mixed radix over the columns' codes, then the combinations present
        these, c = segment_codes(column(col))
        code = code * len(these) + c
        names = [f"{n}, {m}" if n else m for n in names for m in these]
    if sl.where is not None:
        code = np.where(row_mask(sl.where, column, rows), code, -1)
    kept = code >= 0
    if len(names) > max(rows, 1 << 16):  # many combinations: sort the codes present
        used, inverse = np.unique(code[kept], return_inverse=True)
        out = np.full(rows, -1, dtype=np.int64)
        out[kept] = inverse
        return [names[int(k)] for k in used], out
    # Few enough combinations to count: which are present, in one pass rather than a sort
    present = np.bincount(code[kept] if sl.where is not None else code,
                          minlength=len(names)) > 0
    if present.all():
        return names, code
    lut = np.cumsum(present) - 1
    return ([names[int(k)] for k in np.flatnonzero(present)],
            np.where(kept, lut[np.where(kept, code, 0)], -1))


def _on_edges(x: np.ndarray, rows: int, base: ColumnProfile) -> ColumnProfile:
    """A numeric column's profile on ``base``'s bins (a segment of the baseline)."""
    s = np.sort(x[~np.isnan(x)])
    n = int(s.size)
    if n == 0:
        return base.model_copy(update={"rows": rows, "missing": rows, "mean": None, "std": None,
                                       "min": None, "max": None,
                                       "decile_counts": [0] * len(base.decile_counts),
                                       "fine_counts": [0] * len(base.fine_counts)})
    return base.model_copy(update={
        "rows": rows, "missing": rows - n, "mean": float(s.mean()),
        "std": float(s.std(ddof=1)) if n > 1 else 0.0, "min": float(s[0]), "max": float(s[-1]),
        "decile_counts": _counts(s, np.asarray(base.decile_edges)),
        "fine_counts": _counts(s, np.asarray(base.fine_edges))})


def _categories_on(values: pa.ChunkedArray, rows: int, base: ColumnProfile) -> ColumnProfile:
    """A categorical column's profile on ``base``'s categories (a segment of the baseline)."""
    own = _categorical_profile(values, rows)
    counts = dict(zip(own.categories, own.category_counts, strict=True))
    return base.model_copy(update={"rows": rows, "missing": own.missing, "category_counts":
                                   [counts.get(c, 0) for c in base.categories]})


def _segment_profiles(program: CheckProgram, frame: Frame, whole: Profile
                      ) -> dict[str, dict[str, Profile]]:
    """Per slice, per segment, the profile of that segment's baseline rows."""
    out: dict[str, dict[str, Profile]] = {}

    def column(name: str) -> np.ndarray | pa.ChunkedArray:
        return frame.numbers[name] if name in frame.numbers else frame.texts[name]

    for key in program.segment_columns:
        names, codes = slice_codes(program.slices[key], column, frame.rows)
        out[key] = {}
        for k, name in enumerate(names):
            mask = codes == k
            keep = pa.array(mask)
            part = Frame(frame.where, frame.times[mask],
                         {c: x[mask] for c, x in frame.numbers.items()},
                         {c: t.filter(keep) for c, t in frame.texts.items()})
            rows = part.rows
            columns = {c: _on_edges(part.numbers[c], rows, col) if col.kind == "numeric"
                       else _categories_on(part.texts[c], rows, col)
                       for c, col in whole.columns.items()}
            out[key][name] = whole.model_copy(update={
                "rows": rows, "columns": columns, "values": _values(program, part, columns)})
    return out


def read_profile(path: str) -> Profile:
    """Read and check the profile in the file ``path`` (see :func:`load_profile`); a path that
    is not a readable regular file is a PS401 that says what it is (a FIFO would block)."""
    from pathlib import Path

    check_source(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError("PS407", f"{path}: cannot read it: {getattr(e, 'strerror', None) or e}"
                        ) from None
    return load_profile(text, path)


def load_profile(text: str, where: str) -> Profile:
    """Read a profile from JSON text, checked before it is used: a clear PS407 if it is not one
    this version reads (not JSON, another format or version, a field of the wrong type), a PS440
    naming the field, with its line and column, if it breaks an invariant
    (:func:`~planspec.profile_check.profile_problems`)."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError("PS407", f"{where}:{e.lineno}:{e.colno}: not JSON ({e.msg})") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise DataError("PS407", f"{where}: not a planspec baseline profile",
                        "build one with `planspec baseline PLAN --data FILE -o baseline.json`")
    if raw.get("version") != VERSION:
        raise DataError("PS407", f"{at(where, text, ('version',))}: profile format version "
                        f"{raw.get('version')}; this planspec reads version {VERSION}",
                        "rebuild it with `planspec baseline`")
    try:
        profile = Profile.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        loc = tuple(p for p in first["loc"] if isinstance(p, (str, int)))
        raise DataError("PS407", f"{at(where, text, loc)}: damaged profile: "
                        f"`{json_path(loc)}`: {first['msg']}",
                        "rebuild it with `planspec baseline`") from None
    for path, what in profile_problems(profile):
        raise damaged(where, text, path, what)
    return profile


def check_profile(program: CheckProgram, profile: Profile, where: str = "baseline") -> None:
    """The profile is consistent (:func:`profile_problems`), was built for this plan, holds
    every column the checks read, and has baseline values where a check compares with them."""
    for path, what in profile_problems(profile):
        raise damaged(where, None, path, what)
    if profile.plan != program.plan.plan:
        raise DataError("PS406", f"{where} was built for the plan `{profile.plan}`, not "
                        f"`{program.plan.plan}`", "rebuild it with `planspec baseline`")
    for name, need in program.columns.items():
        col = profile.columns.get(name)
        if col is None or col.kind != need.kind:
            raise DataError("PS406", f"{where} has no profile of `{name}`: it was built for "
                            "another version of the plan", "rebuild it with `planspec baseline`")
    for key in program.stats:  # what `shift` and `change` compare with must be there
        if STATS[key.stat].relative:
            profile.value(key)
    for gap in baseline_gaps(program, profile.columns, where):
        raise gap
    for rule in program.rules:  # and the null distributions of calibrated thresholds
        for leaf in rule.fail.leaves() + (rule.warn.leaves() if rule.warn else []):
            if leaf.calibrated is not None:
                profile.calibrated(measure_text(leaf), rule.window.seconds, rule.window_rows)
    for by in program.segment_columns:
        if by not in profile.segments:
            raise DataError("PS406", f"{where} has no per-segment profiles by `{by}`: it was "
                            "built for another version of the plan",
                            "rebuild it with `planspec baseline`")


def measure_text(leaf: Leaf) -> str:
    """The key a calibration is stored under: the measure's canonical text."""
    return format_measure(leaf.measure)
