"""Reading data for the engine: Parquet and CSV files (several, or globs) or in-memory frames,
narrowed to the columns a program reads and turned into numpy arrays.

Conventions (documented for users): timestamps without a zone are UTC; a value that is null, NaN
or ±inf is *missing* in every statistic; categorical and boolean values are compared as text.
"""

from __future__ import annotations

import datetime
import glob
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from planspec.diagnostics import did_you_mean


class DataError(Exception):
    """A problem with input data, located by file and column; the CLI exits 2 on it."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def __reduce__(self) -> tuple[type[DataError], tuple[str, str, str | None]]:
        # Raised on a Dask worker, it is pickled back to the client whole.
        return type(self), (self.code, self.message, self.hint)


def expand(patterns: Sequence[str]) -> list[str]:
    """Paths from file names and globs, in order, each once. A pattern matching nothing is an
    error (a typo must not silently read less data)."""
    out: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            found = sorted(glob.glob(pattern, recursive=True))
            if not found:
                raise DataError("PS401", f"no file matches `{pattern}`")
            out += found
        else:
            out.append(pattern)
    return list(dict.fromkeys(out))


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
    return table.select(list(columns)) if columns else table


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


# ------------------------------------------------------------------- reading in record batches

#: Rows per record batch when files are read as a stream (about one Parquet row group).
BATCH_ROWS = 1 << 20
#: Bytes per CSV block (a block becomes one record batch).
CSV_BLOCK = 64 << 20


@dataclass(frozen=True)
class Input:
    """One unit of input data, read as a stream of Arrow record batches: a file (``path``) or
    an in-memory table (``table``). ``where`` names it in messages."""

    where: str
    path: str | None = None
    table: pa.Table | None = None


def inputs(data: Any, where: str = "data") -> list[Input]:
    """The units of ``data``: each file of a list of paths and globs, or one in-memory table
    (a pyarrow table, pandas or polars frame, or dict of arrays)."""
    if isinstance(data, (str, os.PathLike)) or (
            isinstance(data, (list, tuple)) and all(isinstance(p, (str, os.PathLike))
                                                    for p in data)):
        paths = [os.fspath(data)] if isinstance(data, (str, os.PathLike)) else \
            [os.fspath(p) for p in data]
        files = expand(paths)
        if not files:
            raise DataError("PS401", "no data files given")
        return [Input(f, path=f) for f in files]
    return [Input(where, table=to_table(data, [], where))]


def read_batches(item: Input, columns: Sequence[str], kinds: Mapping[str, str] | None = None,
                 batch_rows: int = BATCH_ROWS) -> Iterator[pa.RecordBatch]:
    """The named columns of ``item`` as record batches of at most ``batch_rows`` rows (CSV:
    one block each), so memory holds one batch, never the file. CSV columns the program reads
    as numbers are parsed as float64 and categories as text in every block (a block's own type
    inference could disagree with the next block's)."""
    if item.table is not None:
        _require(item.where, item.table.column_names, columns)
        yield from item.table.select(list(columns)).to_batches(max_chunksize=batch_rows)
        return
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    path = item.path or ""
    if not os.path.isfile(path):
        raise DataError("PS401", f"{path}: no such file")
    lower = path.lower()
    try:
        if lower.endswith((".parquet", ".pq")):
            # Row group by row group: `iter_batches` pre-buffers ahead and held 4× one row
            # group at 10M rows; one `read_row_group` at a time holds 1.7× (bench/NOTES.md).
            handle = pq.ParquetFile(path, pre_buffer=False)
            _require(path, handle.schema_arrow.names, columns)
            for i in range(handle.metadata.num_row_groups):
                group = handle.read_row_group(i, columns=list(columns))
                yield from group.to_batches(max_chunksize=batch_rows)
                del group
            return
        if lower.endswith((".csv", ".csv.gz", ".tsv")):
            opts = pcsv.ParseOptions(delimiter="\t" if lower.endswith(".tsv") else ",")
            read = pcsv.ReadOptions(block_size=CSV_BLOCK)
            header = pcsv.open_csv(path, read_options=read, parse_options=opts)
            _require(path, header.schema.names, columns)
            types = {c: pa.float64() if k == "numeric" else pa.string()
                     for c, k in (kinds or {}).items()}
            convert = pcsv.ConvertOptions(include_columns=list(columns), column_types=types)
            yield from pcsv.open_csv(path, read_options=read, parse_options=opts,
                                     convert_options=convert)
            return
    except DataError:
        raise
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if "conversion error" in first:  # a value that does not parse as the declared type
            raise DataError("PS403", f"{path}: {first}") from None
        raise DataError("PS401", f"{path}: cannot read it: {first}") from None
    raise DataError("PS401", f"{path}: planspec reads .parquet and .csv files",
                    "convert it, or pass a pyarrow table to the Python API")


def frame_of(table: pa.Table | pa.RecordBatch, timestamp: str, kinds: Mapping[str, str],
             where: str) -> Frame:
    """The numpy arrays of one table or record batch, converted as the statistics read them."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    times = timestamps(table, timestamp, where)
    numbers = {c: numeric(table, c, where) for c, k in kinds.items() if k == "numeric"}
    texts = {c: text_values(table, c) for c, k in kinds.items() if k == "categorical"}
    return Frame(where, times, numbers, texts)


def load_frame(data: Any, timestamp: str, kinds: Mapping[str, str], where: str) -> Frame:
    """Read ``data`` (files or an in-memory table) into one :class:`Frame` (the in-memory
    path: every row at once)."""
    columns = [timestamp, *kinds]
    items = inputs(data, where)
    if items[0].path is not None:
        paths = [i.where for i in items]
        where = ", ".join(paths) if len(paths) <= 3 else f"{paths[0]} and {len(paths) - 1} more"
    batches = [b for item in items for b in read_batches(item, columns, kinds)]
    try:
        table = pa.Table.from_batches(batches) if batches else pa.table({})
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        tables = [pa.Table.from_batches([b]) for b in batches]
        try:
            table = pa.concat_tables(tables, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise DataError("PS403", f"the files disagree on column types: {e}") from None
    if table.num_rows == 0:
        raise DataError("PS405", f"{where}: no rows")
    return frame_of(table, timestamp, kinds, where)


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
