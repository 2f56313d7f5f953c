"""Checking a baseline profile before it is used: the invariants the engine relies on, the
columns a check compares with the baseline but that have no baseline values, and where in the
JSON text a problem is (a JSON path, and its line and column).

Each check is a generator that yields what is wrong; :mod:`planspec.profile` raises the first.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from planspec.compile import CheckProgram, Leaf
from planspec.data import DataError
from planspec.outcomes import AUC_BINS, ECE_BINS

if TYPE_CHECKING:
    from planspec.profile import ColumnProfile, Profile

JsonPath = tuple[str | int, ...]


def json_path(path: JsonPath) -> str:
    """A path into a JSON document as text: `columns.sqft.decile_counts[3]`.

    >>> json_path(("columns", "price (USD)", "fine_edges", 0))
    'columns["price (USD)"].fine_edges[0]'
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part)}]"
    return out


_WS = re.compile(r"[ \t\n\r]*")


def _skip(text: str, i: int) -> int:
    """The index of the first character at or after ``i`` that is not JSON whitespace."""
    m = _WS.match(text, i)
    return m.end() if m else i


def json_position(text: str, path: JsonPath) -> tuple[int, int] | None:
    """The 1-based line and column where the value at ``path`` starts in the JSON ``text``
    (None when the text does not hold it). Keys and skipped values are read by the JSON decoder
    itself, so this is one linear scan, run only to locate an error.

    >>> json_position('{"a": 1,\\n "b": [10, 20]}', ("b", 1))
    (2, 12)
    """
    decode = json.JSONDecoder().raw_decode

    def value_end(i: int) -> int:  # just past the value starting at i, and its whitespace
        return _skip(text, decode(text, i)[1])

    try:
        i = _skip(text, 0)
        for part in path:
            if isinstance(part, str) and text[i] == "{":
                i = _skip(text, i + 1)
                while True:
                    key, i = decode(text, i)
                    i = _skip(text, i)
                    if not isinstance(key, str) or text[i] != ":":
                        return None
                    i = _skip(text, i + 1)
                    if key == part:
                        break
                    i = value_end(i)
                    if text[i] != ",":
                        return None
                    i = _skip(text, i + 1)
            elif isinstance(part, int) and text[i] == "[":
                i = _skip(text, i + 1)
                for _ in range(part):
                    i = value_end(i)
                    if text[i] != ",":
                        return None
                    i = _skip(text, i + 1)
                if text[i] == "]":
                    return None
            else:
                return None
    except (IndexError, ValueError):
        return None
    return text.count("\n", 0, i) + 1, i - (text.rfind("\n", 0, i) + 1) + 1


def at(where: str, text: str | None, path: JsonPath) -> str:
    """``where`` with the line and column of ``path`` in ``text`` (or of its nearest parent)."""
    for depth in range(len(path), -1, -1):
        pos = json_position(text, path[:depth]) if text is not None else None
        if pos is not None:
            return f"{where}:{pos[0]}:{pos[1]}"
    return where


def damaged(where: str, text: str | None, path: JsonPath, problem: str) -> DataError:
    return DataError("PS440", f"{at(where, text, path)}: inconsistent profile: "
                     f"`{json_path(path)}` {problem}",
                     "rebuild it with `planspec baseline` (a profile edited by hand must keep "
                     "its counts, edges and moments consistent)")


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def _increasing(edges: list[float]) -> int | None:
    """The index of the first edge that is not finite or not above the one before."""
    for i, e in enumerate(edges):
        if not math.isfinite(e) or (i and e <= edges[i - 1]):
            return i
    return None


def _counts_problems(path: JsonPath, edges_name: str, edges: list[float], counts_name: str,
                     counts: list[int], present: int) -> Iterator[tuple[JsonPath, str]]:
    """Edges finite and increasing; one more count than edges, none negative, summing to the
    present values."""
    if present and not edges:
        yield (*path, edges_name), f"is empty, but the column has {present:,} present values"
    bad = _increasing(edges)
    if bad is not None:
        yield (*path, edges_name, bad), ("is not finite" if not math.isfinite(edges[bad]) else
                                         f"is not above the edge before it ({edges[bad - 1]})")
    if edges and len(counts) != len(edges) + 1:
        yield (*path, counts_name), (f"has {len(counts)} counts for {len(edges)} edges "
                                     f"(expected {len(edges) + 1})")
    neg = next((i for i, c in enumerate(counts) if c < 0), None)
    if neg is not None:
        yield (*path, counts_name, neg), f"is negative ({counts[neg]})"
    elif counts and sum(counts) != present:
        yield (*path, counts_name), (f"sums to {sum(counts):,}, but the column has "
                                     f"{present:,} present values (rows - missing)")
    elif not edges and counts:
        yield (*path, counts_name), "holds counts but there are no edges"


def _utc(t: datetime.datetime) -> datetime.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=datetime.UTC)


def profile_problems(profile: Profile) -> Iterator[tuple[JsonPath, str]]:
    """Every invariant of ``profile`` the engine relies on that it breaks, as (JSON path, what
    is wrong): rows at least 1; a positive span covering start to end; per column, the same rows,
    missing within them, finite moments (SD not negative, min ≤ max); decile and fine edges finite
    and increasing, with one more count than edges, counts not negative and summing to the
    present values, every decile edge a fine edge; categories unique, one count each; baseline
    values finite, of profiled columns.

    >>> from planspec.profile import Profile
    >>> bad = Profile(plan="p", plan_fingerprint="", data_fingerprint="", rows=0,
    ...               start=datetime.datetime(2026, 1, 1), end=datetime.datetime(2026, 1, 1),
    ...               span_seconds=86400, columns={}, values=[])
    >>> next(profile_problems(bad))
    (('rows',), 'must be at least 1 (a baseline of no rows compares with nothing)')
    """
    if profile.rows < 1:
        yield ("rows",), "must be at least 1 (a baseline of no rows compares with nothing)"
    if profile.span_seconds <= 0:
        yield ("span_seconds",), f"must be positive, not {profile.span_seconds}"
    start, end = _utc(profile.start), _utc(profile.end)
    if end < start:
        yield ("end",), f"is before `start` ({profile.start.isoformat()})"
    elif profile.span_seconds > 0 and (end - start).total_seconds() > profile.span_seconds:
        yield ("span_seconds",), (f"({profile.span_seconds:,} s) is shorter than `start` to "
                                  f"`end` ({int((end - start).total_seconds()):,} s)")
    for name, col in profile.columns.items():
        yield from _column_problems(("columns", name), col, profile.rows)
    for i, v in enumerate(profile.values):
        if v.column is not None and v.column not in profile.columns:
            yield ("values", i, "column"), f"names no profiled column (`{v.column}`)"
        if v.value is not None and not math.isfinite(v.value):
            yield ("values", i, "value"), f"is not a finite number ({v.value})"


def _column_problems(path: JsonPath, col: ColumnProfile, rows: int
                     ) -> Iterator[tuple[JsonPath, str]]:
    if col.rows != rows:
        yield (*path, "rows"), f"is {col.rows:,}, but the profile has {rows:,} rows"
    if not 0 <= col.missing <= col.rows:
        yield (*path, "missing"), f"is {col.missing:,}: it must lie in 0..rows ({col.rows:,})"
        return
    present = col.rows - col.missing
    if col.kind == "categorical":
        if len(col.categories) != len(col.category_counts):
            yield (*path, "category_counts"), (f"has {len(col.category_counts)} counts for "
                                               f"{len(col.categories)} categories")
        seen: set[str] = set()
        for i, c in enumerate(col.categories):
            if c in seen:
                yield (*path, "categories", i), f"repeats the category {c!r}"
            seen.add(c)
        neg = next((i for i, c in enumerate(col.category_counts) if c < 0), None)
        if neg is not None:
            yield (*path, "category_counts", neg), f"is negative ({col.category_counts[neg]})"
        elif sum(col.category_counts) != present:
            yield (*path, "category_counts"), (f"sums to {sum(col.category_counts):,}, but the "
                                               f"column has {present:,} present values")
        return
    moments = {"mean": col.mean, "std": col.std, "min": col.min, "max": col.max}
    for key, x in moments.items():
        if present and not _finite(x):
            yield (*path, key), f"must be a finite number for {present:,} present values, not {x}"
        elif not present and x is not None:
            yield (*path, key), "must be null: the column has no present values"
    if present and _finite(col.std) and (col.std or 0.0) < 0:
        yield (*path, "std"), f"is negative ({col.std})"
    if present and _finite(col.min) and _finite(col.max) and (col.min or 0.0) > (col.max or 0.0):
        yield (*path, "min"), f"({col.min}) is above `max` ({col.max})"
    yield from _counts_problems(path, "decile_edges", col.decile_edges, "decile_counts",
                                col.decile_counts, present)
    yield from _counts_problems(path, "fine_edges", col.fine_edges, "fine_counts",
                                col.fine_counts, present)
    fine = set(col.fine_edges)
    missing_edge = next((i for i, e in enumerate(col.decile_edges) if e not in fine), None)
    if col.fine_edges and missing_edge is not None:
        yield (*path, "decile_edges", missing_edge), "is not one of the fine edges"


#: Statistics whose value (even with no `shift` or `change`) reads the baseline's values: its
#: deciles, fine histogram or categories.
READS_BASELINE = frozenset({"psi", "js", "ks", "wasserstein", "chi2", "quantile",
                            "new_category_rate"})


def _reads_baseline_values(leaf: Leaf) -> bool:
    """Whether the leaf needs the column's present baseline values (a missing rate's baseline
    is defined without them)."""
    if leaf.measure.stat in READS_BASELINE:
        return True
    return leaf.measure.transform != "value" and leaf.measure.stat != "missing_rate"


def baseline_gaps(program: CheckProgram, columns: dict[str, ColumnProfile], where: str
                  ) -> Iterator[DataError]:
    """A PS441 error for each column with no present baseline values that a check compares with
    the baseline (a distribution, a quantile, new categories, a `shift` or `change`). Other
    checks of the column (its missing rate, rates and shares, absolute thresholds on its
    mean…) need no baseline values and keep working; the column is an error only for these."""
    readers: dict[str, list[tuple[str, Leaf]]] = {}
    for rule in program.rules:
        for node in (rule.fail, rule.warn):
            for leaf in node.leaves() if node is not None else []:
                name = leaf.key.column
                if name is None or name not in columns or not _reads_baseline_values(leaf):
                    continue
                ids = readers.setdefault(name, [])
                if rule.id.split("@")[0] not in (i for i, _ in ids):
                    ids.append((rule.id.split("@")[0], leaf))
    for name, ids in readers.items():
        col = columns[name]
        if col.rows - col.missing > 0:
            continue
        first = ids[0][1]
        at = (f" ({first.span.file}:{first.span.line}:{first.span.col})"
              if first.span is not None else "")
        checks = ", ".join(f"`{i}`" for i, _ in ids)
        verb = "compares" if len(ids) == 1 else "compare"
        yield DataError(
            "PS441", f"{where}: `{name}` has no values (all {col.rows:,} baseline rows "
            f"are missing), but {checks}{at} {verb} with its baseline values",
            f"profile a baseline period where `{name}` is recorded, or drop those checks "
            f"(its missing rate needs no baseline values)")


def histogram_bins(program: CheckProgram, profile: Profile) -> int:
    """The widest per-bucket array a run of ``program`` allocates (bins of the widest
    histogram, at least 1): what :func:`~planspec.data.check_bucket_budget` multiplies the
    buckets by."""
    widest = 1
    for name, need in program.columns.items():
        col = profile.columns.get(name)
        if col is None:
            continue
        if need.fine:
            widest = max(widest, len(col.fine_edges) + 1)
        elif need.deciles:
            widest = max(widest, len(col.decile_edges) + 1)
        if need.categories:
            widest = max(widest, len(col.categories) + 1)
    for m in program.monitors:
        stats = {leaf.measure.stat for leaf in m.metrics}
        widest = max(widest, 3 * ECE_BINS, 2 * AUC_BINS if "auc" in stats else 0)
    return widest


