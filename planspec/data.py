"""Reading data for the engine: Parquet and CSV files (several, or globs) or in-memory frames,
narrowed to the columns a program reads and turned into numpy arrays.

Conventions (documented for users): timestamps without a zone are UTC; a value that is null, NaN
or ±inf is *missing* in every statistic; categorical and boolean values are compared as text.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from planspec import sources
from planspec.diagnostics import did_you_mean
from planspec.sources import Source, SourceError, is_uri, open_source


class DataError(Exception):
    """A problem with input data, located by file and column; the CLI exits 2 on it."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


def expand(patterns: Sequence[str]) -> list[str]:
    """Paths from file names and globs (:func:`planspec.sources.expand`), errors as
    :class:`DataError`."""
    try:
        return sources.expand(patterns)
    except SourceError as e:
        raise DataError(e.code, e.message, e.hint) from None


def _read_one(path: str, columns: Sequence[str]) -> pa.Table:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if not os.path.isfile(path):
        raise DataError("PS401", f"{path}: no such file")
    lower = path.lower()
    try:
        if lower.endswith((".parquet", ".pq")):
            schema = pq.read_schema(path)
            _require(path, schema.names, columns)
            return pq.read_table(path, columns=list(columns))
        if lower.endswith((".csv", ".csv.gz", ".tsv")):
            opts = pcsv.ParseOptions(delimiter="\t" if lower.endswith(".tsv") else ",")
            table = pcsv.read_csv(path, parse_options=opts)
            _require(path, table.column_names, columns)
            return table.select(list(columns))
    except DataError:
        raise
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError("PS401", f"{path}: cannot read it: {first}") from None
    raise DataError("PS401", f"{path}: planspec reads .parquet and .csv files",
                    "convert it, or pass a pyarrow table to the Python API")


def _require(where: str, names: Sequence[str], columns: Sequence[str]) -> None:
    for col in columns:
        if col not in names:
            raise DataError("PS402", f"{where}: no column `{col}`",
                            did_you_mean(col, names) or f"the file has: {', '.join(names[:12])}")


def read_files(paths: Sequence[str], columns: Sequence[str]) -> pa.Table:
    """Read and concatenate the named columns of every file (types unified across files)."""
    files = expand(paths)
    if not files:
        raise DataError("PS401", "no data files given")
    tables = [_read_one(p, columns) for p in files]
    try:
        return pa.concat_tables(tables, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise DataError("PS403", f"the files disagree on column types: {e}") from None


def read_source(data: Any, columns: Sequence[str], time_column: str | None = None
                ) -> tuple[pa.Table, str, Source | None]:
    """The named columns of a source (a :class:`~planspec.sources.Source`, a database URI, a
    dataset directory, or files and globs) as one table, with a name for it in messages (any
    password masked) and the source it was read from (None for plain files).

    Plain files are read by :func:`read_files`; other sources by concatenating their Arrow
    record batches (types unified across batches). A :class:`SourceError` becomes a
    :class:`DataError` with the same code.
    """
    many = isinstance(data, (list, tuple)) and any(is_uri(d) for d in data)
    if not (isinstance(data, Source) or is_uri(data) or many):
        paths = [os.fspath(data)] if isinstance(data, (str, os.PathLike)) else \
            [os.fspath(p) for p in data]
        where = ", ".join(paths) if len(paths) <= 3 else f"{paths[0]} and {len(paths) - 1} more"
        return read_files(paths, columns), where, None
    try:
        source = open_source(data).narrow(columns, time_column)
        tables = [pa.Table.from_batches([b]) for b in source.batches()]
    except SourceError as e:
        raise DataError(e.code, e.message, e.hint) from None
    if not tables:
        return pa.table({c: pa.array([], pa.null()) for c in columns}), source.where, source
    try:
        return pa.concat_tables(tables, promote_options="permissive"), source.where, source
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise DataError("PS403", f"{source.where}: the files disagree on column types: "
                        f"{e}") from None


def to_table(data: Any, columns: Sequence[str], where: str = "data") -> pa.Table:
    """A pyarrow table from a pyarrow table, a pandas or polars frame, or a dict of arrays."""
    if isinstance(data, pa.Table):
        table = data
    elif isinstance(data, dict):
        try:
            table = pa.table({k: pa.array(np.asarray(v)) if not isinstance(v, (pa.Array,
                              pa.ChunkedArray)) else v for k, v in data.items()})
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as e:
            raise DataError("PS403", f"{where}: cannot read the arrays: {e}") from None
    elif hasattr(data, "to_arrow"):  # polars
        table = data.to_arrow()
    elif type(data).__module__.startswith("pandas"):
        table = pa.Table.from_pandas(data, preserve_index=False)
    else:
        raise DataError("PS403", f"{where}: expected a pyarrow table, a pandas or polars frame, "
                        f"or a dict of arrays, not {type(data).__name__}")
    _require(where, table.column_names, columns)
    return table.select(list(columns))


def timestamps(table: pa.Table, column: str, where: str) -> np.ndarray:
    """The timestamp column as int64 seconds since the epoch, UTC."""
    col = table.column(column)
    if len(col) == 0:
        raise DataError("PS405", f"{where}: no rows")
    t = col.type
    try:
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            col = pc.cast(col, pa.timestamp("us", tz="UTC"))
        elif pa.types.is_date(t):
            col = pc.cast(col, pa.timestamp("s"))
        elif not pa.types.is_timestamp(col.type):
            raise DataError("PS404", f"{where}: `{column}` holds {t}, not times",
                            "use ISO 8601 text or a timestamp type")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        bad = _first_bad_timestamp(table.column(column))
        raise DataError("PS404", f"{where}: `{column}` has a value that is not a time: {bad}",
                        "write times as ISO 8601, e.g. 2026-03-02T14:05:00Z") from None
    nulls = col.null_count
    if nulls:
        row = int(np.flatnonzero(np.asarray(pc.is_null(col).to_numpy(zero_copy_only=False)))[0])
        raise DataError("PS404", f"{where}: {nulls} rows have no `{column}` (first at row "
                        f"{row + 1})", "every row needs a time to fall in a window")
    seconds = pc.cast(pc.cast(col, pa.timestamp("s", tz=None), safe=False), pa.int64())
    return np.asarray(seconds.to_numpy(), dtype=np.int64)


def _first_bad_timestamp(col: pa.ChunkedArray) -> str:
    for i, v in enumerate(col.to_pylist()):
        if v is None:
            continue
        try:
            pc.cast(pa.array([v]), pa.timestamp("us", tz="UTC"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return f"{v!r} (row {i + 1})"
    return "(unknown)"


def numeric(table: pa.Table, column: str, where: str) -> np.ndarray:
    """A numeric column as float64, missing (null, NaN, ±inf) as NaN."""
    col = table.column(column)
    t = col.type
    if pa.types.is_boolean(t):
        col = pc.cast(col, pa.int8())
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            col = pc.cast(col, pa.float64())
        except pa.ArrowInvalid:
            bad = next((v for v in col.to_pylist() if v is not None and not _is_float(v)), "?")
            raise DataError("PS403", f"{where}: `{column}` is declared numeric but holds "
                            f"{bad!r}") from None
    elif not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
              or pa.types.is_null(t)):
        raise DataError("PS403", f"{where}: `{column}` is declared numeric but holds {t}")
    x = np.array(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    x[~np.isfinite(x)] = np.nan
    return x


def _is_float(v: str) -> bool:
    try:
        float(v)
    except ValueError:
        return False
    return True


def text_values(table: pa.Table, column: str) -> pa.ChunkedArray:
    """A categorical column as text (booleans as `true`/`false`)."""
    col = table.column(column)
    if pa.types.is_boolean(col.type):
        return pc.if_else(col, "true", "false")
    if pa.types.is_dictionary(col.type):
        col = pc.cast(col, col.type.value_type)
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        col = pc.cast(col, pa.string())
    return col


def category_codes(values: pa.ChunkedArray, categories: Sequence[str]) -> np.ndarray:
    """Codes of each value: its index in ``categories``; len(categories) for a value never seen
    there; -1 for missing."""
    lookup = {c: i for i, c in enumerate(categories)}
    unseen = len(categories)
    encoded = pc.dictionary_encode(values).combine_chunks()
    dictionary = encoded.dictionary.to_pylist()
    lut = np.array([lookup.get(v, unseen) for v in dictionary] + [-1], dtype=np.int64)
    idx = encoded.indices.fill_null(len(dictionary))
    return np.asarray(lut[np.asarray(idx.to_numpy(zero_copy_only=False))], dtype=np.int64)


@dataclass
class Frame:
    """The columns a program reads, as numpy arrays: times, numbers and raw categories."""

    where: str
    times: np.ndarray
    numbers: dict[str, np.ndarray]
    texts: dict[str, pa.ChunkedArray]

    @property
    def rows(self) -> int:
        return int(self.times.shape[0])


def load_frame(data: Any, timestamp: str, kinds: Mapping[str, str], where: str) -> Frame:
    """Read ``data`` (files, a source URI or :class:`~planspec.sources.Source`, or an in-memory
    table) into a :class:`Frame`; a source's ``since`` keeps only the rows from then on."""
    columns = [timestamp, *kinds]
    source: Source | None = None
    if isinstance(data, (str, os.PathLike, Source)) or (
            isinstance(data, (list, tuple)) and all(isinstance(p, (str, os.PathLike))
                                                    for p in data)):
        table, where, source = read_source(data, columns, timestamp)
    else:
        table = to_table(data, columns, where)
    if table.num_rows == 0:
        since = f" since {source.since.isoformat()}" if source and source.since else ""
        raise DataError("PS405", f"{where}: no rows{since}")
    times = timestamps(table, timestamp, where)
    if source is not None and source.since is not None:
        # The source filtered what it could (typed times); this settles text times too.
        keep = times >= int(source.since.timestamp())
        if not keep.all():
            table, times = table.filter(pa.array(keep)), times[keep]
        if not times.size:
            raise DataError("PS405", f"{where}: no rows since {source.since.isoformat()}")
    numbers = {c: numeric(table, c, where) for c, k in kinds.items() if k == "numeric"}
    texts = {c: text_values(table, c) for c, k in kinds.items() if k == "categorical"}
    return Frame(where, times, numbers, texts)


def read_events(path: str, risks: Sequence[str]) -> dict[str, datetime.date]:
    """Dates of drift risks from a JSON list (`[{"risk": …, "date": "2026-07-01"}]`) or a CSV
    with `risk` and `date` columns."""
    import json
    from pathlib import Path

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError("PS401", f"{path}: {getattr(e, 'strerror', None) or e}") from None
    if path.lower().endswith(".json"):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError("PS409", f"{path}: not JSON ({e.msg} at line {e.lineno})") from None
    else:
        lines = [ln.split(",") for ln in text.splitlines() if ln.strip()]
        header = [h.strip() for h in lines[0]] if lines else []
        rows = [dict(zip(header, (v.strip() for v in ln), strict=False)) for ln in lines[1:]]
    if not isinstance(rows, list):
        raise DataError("PS409", f"{path}: expected a list of {{risk, date}} records")
    out: dict[str, datetime.date] = {}
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or "risk" not in row or "date" not in row:
            raise DataError("PS409", f"{path}: record {n} needs `risk` and `date`")
        risk = str(row["risk"])
        if risk not in risks:
            raise DataError("PS409", f"{path}: record {n} names no drift risk of the plan: "
                            f"`{risk}`", did_you_mean(risk, risks))
        try:
            out[risk] = datetime.date.fromisoformat(str(row["date"])[:10])
        except ValueError:
            raise DataError("PS409", f"{path}: record {n} has no date: {row['date']!r}",
                            "write dates as YYYY-MM-DD") from None
    return out
