"""Reading data for the engine: Parquet and CSV files (several, or globs) or in-memory frames,
narrowed to the columns a program reads and turned into numpy arrays.

Conventions (documented for users): timestamps without a zone are UTC (text times may mix zoned
and zoneless values); times lie from 1000-01-01 up to (not including) 9000-01-01; a value that is
null, NaN or ±inf is *missing* in every statistic; categorical and boolean values are compared as
text. What is read is checked before it is used: a path that is not a regular readable file, a
column named twice, a nested column, bytes that are not UTF-8 and a bucket grid past
:data:`BUCKET_BUDGET` are located :class:`DataError` s, never a crash.
"""

from __future__ import annotations

import datetime
import os
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
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


#: The times planspec reads, seconds since the epoch: from 1000-01-01 up to (not including)
#: 9000-01-01 UTC. A time outside is almost always a placeholder (0001-01-01, 9999-12-31), and
#: windows, label delays and heightened periods added to it would run past Python's last date.
EARLIEST = int(datetime.datetime(1000, 1, 1, tzinfo=datetime.UTC).timestamp())
LATEST = int(datetime.datetime(9000, 1, 1, tzinfo=datetime.UTC).timestamp())

#: The most cells a run's per-bucket histograms may hold: buckets × bins of the widest one.
#: 2**26 float64 cells are 512 MiB per histogram (a year of hourly buckets with 1,001 fine bins
#: is 8.8 million cells; timestamps spanning centuries would be billions).
BUCKET_BUDGET = 2 ** 26

UTF8_HINT = "save the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv")


def expand(patterns: Sequence[str]) -> list[str]:
    """Paths from file names and globs (:func:`planspec.sources.expand`), errors as
    :class:`DataError`."""
    try:
        return sources.expand(patterns)
    except SourceError as e:
        raise DataError(e.code, e.message, e.hint) from None


def check_source(path: str) -> None:
    """Raise a :class:`DataError` unless ``path`` names a regular file planspec may read: what
    it is otherwise (missing, a dangling link, a directory, a FIFO, a socket or device,
    unreadable) is said plainly. The one place that decides what a data path may be.

    >>> check_source("/")
    Traceback (most recent call last):
    ...
    planspec.data.DataError: /: is a directory, not a data file
    """
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        if os.path.islink(path):
            raise DataError("PS401", f"{path}: is a symbolic link to a file that does not "
                            f"exist ({os.readlink(path)})") from None
        raise DataError("PS401", f"{path}: no such file") from None
    except OSError as e:
        raise DataError("PS401", f"{path}: cannot reach it: {e.strerror or e}") from None
    if stat.S_ISDIR(mode):
        raise DataError("PS401", f"{path}: is a directory, not a data file",
                        f"pass the files inside it, e.g. `{os.path.join(path, '*.parquet')}`")
    if not stat.S_ISREG(mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket"
                if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or
                stat.S_ISBLK(mode) else "not a regular file")
        raise DataError("PS401", f"{path}: is {kind}, not a data file",
                        "write the data to a .parquet or .csv file first: planspec reads a "
                        "file's schema before its rows, so it cannot read a stream")
    if not os.access(path, os.R_OK):
        raise DataError("PS401", f"{path}: permission denied: the file is not readable",
                        "give the user running planspec read permission (chmod u+r or a+r)")


def _readable_file(path: str) -> str:
    """``path`` lower-cased, once it is a non-empty Parquet or CSV file planspec may read (a
    located error otherwise): the checks both file readers make first."""
    check_source(path)
    lower = path.lower()
    if not lower.endswith(PARQUET_SUFFIXES + CSV_SUFFIXES):
        raise DataError("PS401", f"{path}: planspec reads .parquet and .csv files",
                        "convert it, or pass a pyarrow table to the Python API")
    if os.path.getsize(path) == 0:
        raise DataError("PS405", f"{path}: the file is empty (0 bytes)")
    return lower


def _read_one(path: str, columns: Sequence[str]) -> pa.Table:
    import pyarrow.parquet as pq

    lower = _readable_file(path)
    try:
        if lower.endswith(PARQUET_SUFFIXES):
            try:
                schema = pq.read_schema(path)
            except pa.ArrowException as e:
                raise DataError("PS401", f"{path}: not a readable Parquet file: {_first_line(e)}",
                                "a Parquet file ends with a footer: a copy cut short, or a file "
                                "of another format renamed .parquet, has none") from None
            _require(path, schema.names, columns)
            return pq.read_table(path, columns=list(columns))
        return _read_csv(path, lower, columns)
    except DataError:
        raise
    except (pa.ArrowException, OSError) as e:
        raise DataError("PS401", f"{path}: cannot read it: {_first_line(e)}") from None
    except UnicodeDecodeError:
        raise DataError("PS401", f"{path}: a column name is not UTF-8 text", UTF8_HINT) from None


def _first_line(e: BaseException) -> str:
    text = (getattr(e, "strerror", None) or str(e)).strip()
    return text.splitlines()[0] if text else type(e).__name__


def _read_csv(path: str, lower: str, columns: Sequence[str]) -> pa.Table:
    """A CSV/TSV file: ragged rows located by line, values longer than a parse block read
    whole (the block grows), bytes that are not UTF-8 located by line."""
    import pyarrow.csv as pcsv

    ragged: list[Any] = []

    def invalid(row: Any) -> str:
        ragged.append(row)
        return "error"

    parse = pcsv.ParseOptions(delimiter="\t" if lower.endswith(".tsv") else ",",
                              invalid_row_handler=invalid)
    block, threads = 1 << 20, True
    while True:
        try:
            read = pcsv.ReadOptions(block_size=block, use_threads=threads)
            table = pcsv.read_csv(path, read_options=read,
                                  parse_options=parse)
            break
        except pa.ArrowInvalid as e:
            if ragged and ragged[0].number is None and threads:
                ragged.clear()  # read again in one thread: then rows have line numbers
                threads = False
                continue
            if ragged:
                row = ragged[0]
                line = f":{row.number}" if row.number is not None else ""
                raise DataError("PS401", f"{path}{line}: a row has {row.actual_columns} fields "
                                f"where the header has {row.expected_columns}: "
                                f"{_show(row.text)}", "quote values that contain the delimiter, "
                                "and give every row as many fields as the header") from None
            if "straddl" in str(e) and block < (1 << 30):  # a value longer than a block
                block <<= 4
                continue
            raise
    try:
        names = table.column_names
    except UnicodeDecodeError:
        raise DataError("PS401", f"{path}:1: the header is not UTF-8 text", UTF8_HINT) from None
    _require(path, names, columns)
    return table.select(list(columns))


def _require(where: str, names: Sequence[str], columns: Sequence[str]) -> None:
    for col in columns:
        if col not in names:
            raise DataError("PS402", f"{where}: no column `{col}`",
                            did_you_mean(col, names) or
                            f"the file has: {', '.join(n[:40] for n in names[:12])}")
        if (copies := list(names).count(col)) > 1:
            raise DataError("PS443", f"{where}: {copies} columns are named `{col}`",
                            "rename or drop the copies: planspec cannot tell which one to read")


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
        names = [str(c) for c in data.columns]
        _require(where, names, columns)
        try:
            table = pa.Table.from_pandas(data[list(columns)] if columns else data,
                                         preserve_index=False)
        except (pa.ArrowException, ValueError, TypeError) as e:
            raise DataError("PS403", f"{where}: cannot read the frame: {_first_line(e)}") from None
    else:
        raise DataError("PS403", f"{where}: expected a pyarrow table, a pandas or polars frame, "
                        f"or a dict of arrays, not {type(data).__name__}")
    _require(where, table.column_names, columns)
    return table.select(list(columns)) if columns else table


#: A text time that carries its zone: `Z` or an offset after the time of day.
_ZONED = r"[T ]\d{2}:\d{2}.*([Zz]|[+-]\d{2}(:?\d{2})?)$"


def _text_times(col: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """ISO 8601 text as UTC timestamps (no zone: UTC; zoned and zoneless values may mix).
    Raises ArrowInvalid when a value is not a time."""
    for unit in ("us", "ns"):  # microseconds for every year; nanoseconds for finer text
        zoned_t, naive_t = pa.timestamp(unit, tz="UTC"), pa.timestamp(unit)
        for target in (zoned_t, naive_t):
            try:
                return pc.cast(pc.cast(col, target), naive_t)
            except pa.ArrowInvalid:
                pass
        zoned = pc.match_substring_regex(col, _ZONED)
        none = pa.scalar(None, col.type)
        try:
            with_zone = pc.cast(pc.cast(pc.if_else(zoned, col, none), zoned_t), naive_t)
            without = pc.cast(pc.if_else(zoned, none, col), naive_t)
        except pa.ArrowInvalid:
            continue
        return pc.coalesce(with_zone, without)
    raise pa.ArrowInvalid("not every value is a time")


def first_failing(col: pa.ChunkedArray | pa.Array, convert: Callable[[Any], object]) -> int:
    """The index of the first value ``convert`` fails on (``convert`` raises on an array with
    such a value), found by bisection: whole-array conversions, never a Python loop per value.
    -1 when ``convert`` accepts each value alone.

    >>> first_failing(pa.array(["1", "2", "x", "y"]), lambda a: pc.cast(a, pa.int64()))
    2
    """
    def fails(start: int, length: int) -> bool:
        try:
            convert(col.slice(start, length))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return True
        return False

    lo, hi = 0, len(col)  # the first failing value lies in [lo, hi)
    if not fails(lo, hi):
        return -1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fails(lo, mid - lo):
            hi = mid
        else:
            lo = mid
    return lo


def _show(value: object, width: int = 60) -> str:
    """A value for a message: its repr, cut to ``width`` characters (data can hold megabytes).

    >>> _show("x" * 1000, 12)
    "'xxxxxxxxxx…"
    """
    text = repr(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def timestamps(table: pa.Table, column: str, where: str) -> np.ndarray:
    """The timestamp column as int64 seconds since the epoch, UTC.

    >>> t = pa.table({"t": ["2026-03-02T14:05:00Z", "2026-03-02T15:05:00", "2026-03-02"]})
    >>> (timestamps(t, "t", "data") - timestamps(t, "t", "data")[2]).tolist()
    [50700, 54300, 0]
    """
    col = table.column(column)
    if len(col) == 0:
        raise DataError("PS405", f"{where}: no rows")
    t = col.type
    try:
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            col = _text_times(col)
        elif pa.types.is_date(t):
            col = pc.cast(col, pa.timestamp("s"))
        elif not pa.types.is_timestamp(col.type):
            raise DataError("PS404", f"{where}: `{column}` holds {t}, not times",
                            "use ISO 8601 text or a timestamp type")
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raw = table.column(column)
        row = first_failing(raw, _text_times)
        bad = f"{_show(raw[row].as_py())} (row {row + 1})" if row >= 0 else "(unknown)"
        raise DataError("PS404", f"{where}: `{column}` has a value that is not a time: {bad}",
                        "write times as ISO 8601, e.g. 2026-03-02T14:05:00Z") from None
    nulls = col.null_count
    if nulls:
        row = int(np.flatnonzero(np.asarray(pc.is_null(col).to_numpy(zero_copy_only=False)))[0])
        rows = "1 row has" if nulls == 1 else f"{nulls:,} rows have"
        raise DataError("PS404", f"{where}: {rows} no `{column}` (first at row {row + 1})",
                        "every row needs a time to fall in a window")
    per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[col.type.unit]
    ticks = pc.cast(pc.cast(col, pa.timestamp(col.type.unit)), pa.int64())
    x = np.asarray(ticks.to_numpy(), dtype=np.int64) // per_second  # floor, before 1970 too
    outside = (x < EARLIEST) | (x >= LATEST)
    if outside.any():
        row = int(np.argmax(outside))
        raise DataError("PS404", f"{where}: `{column}` has a time outside the years 1000–8999: "
                        f"{_day(int(x[row]))} (row {row + 1})",
                        "a time like 0001-01-01 or 9999-12-31 is usually a placeholder for "
                        "`unknown` or `never`: drop or fix those rows")
    return x


def _day(t: int) -> str:
    """A time as ISO 8601 text, for messages (any int64 seconds; numpy's calendar is wider)."""
    return str(np.datetime64(int(t), "s")).replace("T00:00:00", "")


def check_bucket_budget(t_min: int, t_max: int, bucket_seconds: int, bins: int = 1,
                        where: str = "data") -> int:
    """The number of buckets from ``t_min`` to ``t_max`` (seconds), or a PS442
    :class:`DataError` when buckets × ``bins`` (the widest per-bucket histogram) would pass
    :data:`BUCKET_BUDGET`; the error says which later start would fit.

    >>> check_bucket_budget(0, 366 * 86400 - 1, 3600, bins=1001)
    8784
    >>> try:
    ...     check_bucket_budget(EARLIEST, LATEST - 86400, 86400, bins=1001)
    ... except DataError as e:
    ...     print(e.code, e.message[:74])
    PS442 data: the times run from 1000-01-01 to 8999-12-31: 2,921,940 buckets of 1d
    """
    size = max(int(bucket_seconds), 1)
    wide = max(int(bins), 1)
    buckets = (int(t_max) - int(t_min)) // size + 1
    if buckets * wide <= BUCKET_BUDGET:
        return buckets
    fits = BUCKET_BUDGET // wide
    start = (int(t_max) // size - fits + 1) * size  # the earliest bucket start that fits
    start = (start + 86399) // 86400 * 86400  # as a whole day
    raise DataError(
        "PS442", f"{where}: the times run from {_day(t_min)} to {_day(t_max)}: {buckets:,} "
        f"buckets of {_duration(size)} × {wide:,} bins are {buckets * wide:,} cells, past "
        f"planspec's budget of {BUCKET_BUDGET:,}",
        f"check a later period: rows from {_day(start)} on fit (`--since {_day(start)}`, or "
        "filter the data); or use longer windows, whose common divisor sets the bucket; a time "
        "like 0001-01-01 is usually a placeholder")


def _duration(seconds: int) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


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
            row = first_failing(col, lambda a: pc.cast(a, pa.float64()))
            bad = f"{_show(col[row].as_py())} (row {row + 1})" if row >= 0 else "text"
            raise DataError("PS403", f"{where}: `{column}` is declared numeric but holds "
                            f"{bad}") from None
    elif not (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
              or pa.types.is_null(t)):
        raise DataError("PS403", f"{where}: `{column}` is declared numeric but holds {t}")
    x = np.array(pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    x[~np.isfinite(x)] = np.nan
    return x


def text_values(table: pa.Table, column: str, where: str = "data") -> pa.ChunkedArray:
    """A categorical column as text (booleans as `true`/`false`); nested values and bytes that
    are not UTF-8 are located errors (PS403)."""
    col = table.column(column)
    if pa.types.is_boolean(col.type):
        return pc.if_else(col, "true", "false")
    if pa.types.is_dictionary(col.type):
        col = pc.cast(col, col.type.value_type)
    t = col.type
    if pa.types.is_nested(t):
        raise DataError("PS403", f"{where}: `{column}` holds {t}: nested values cannot be "
                        "compared as categories", "flatten it into plain columns first")
    if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        try:
            col = pc.cast(col, pa.string())
        except pa.ArrowInvalid:
            row = first_failing(col, lambda a: pc.cast(a, pa.string()))
            raise DataError("PS403", f"{where}: `{column}` holds bytes that are not UTF-8 text "
                            f"(row {row + 1}: {_show(col[row].as_py())})",
                            UTF8_HINT) from None
        except pa.ArrowNotImplementedError:
            raise DataError("PS403", f"{where}: `{column}` holds {t}, which cannot be read "
                            "as categories") from None
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
    """One unit of input data, read as a stream of Arrow record batches: a file (``path``), a
    source that is not plain files (``source``: a dataset directory or a database) or an
    in-memory table (``table``). ``where`` names it in messages; ``since`` keeps only rows from
    then on."""

    where: str
    path: str | None = None
    table: pa.Table | None = None
    source: Source | None = None
    since: datetime.datetime | None = None


def inputs(data: Any, where: str = "data") -> list[Input]:
    """The units of ``data``: each file of a list of paths and globs (or of a files
    :class:`~planspec.sources.Source`), one dataset directory or database (a URI or a
    :class:`~planspec.sources.Source`), or one in-memory table (a pyarrow table, pandas or polars
    frame, or dict of arrays)."""
    many = isinstance(data, (list, tuple)) and any(is_uri(d) for d in data)
    if isinstance(data, Source) or is_uri(data) or many:
        try:
            source = open_source(data)
        except SourceError as e:
            raise DataError(e.code, e.message, e.hint) from None
        if isinstance(source, sources.Files):  # plain files stream file by file
            return [Input(f, path=f, since=source.since) for f in source.paths]
        return [Input(source.where, source=source, since=source.since)]
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
    inference could disagree with the next block's). The first column is the time: with a
    ``since``, rows before it are dropped (text times once parsed, as :func:`load_frame`).
    Files are checked first (:func:`check_source`); a source's batches come as it sends them."""
    if item.table is not None:
        _require(item.where, item.table.column_names, columns)
        yield from item.table.select(list(columns)).to_batches(max_chunksize=batch_rows)
        return
    if item.source is not None:
        source = item.source.narrow(columns, columns[0])
        try:
            for batch in source.batches():
                yield _since_rows(batch, columns[0], item.since, item.where)
        except SourceError as e:
            raise DataError(e.code, e.message, e.hint) from None
        return
    for batch in _file_batches(item.path or "", columns, kinds, batch_rows):
        yield _since_rows(batch, columns[0], item.since, item.where)


def _since_rows(batch: pa.RecordBatch, time_column: str, since: datetime.datetime | None,
                where: str) -> pa.RecordBatch:
    """The rows of ``batch`` at or after ``since`` (all of them when it is None)."""
    if since is None or batch.num_rows == 0:
        return batch
    times = timestamps(pa.Table.from_batches([batch]), time_column, where)
    keep = times >= int(since.timestamp())
    return batch if keep.all() else batch.filter(pa.array(keep))


def _file_batches(path: str, columns: Sequence[str], kinds: Mapping[str, str] | None,
                  batch_rows: int) -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    lower = _readable_file(path)
    try:
        if lower.endswith(PARQUET_SUFFIXES):
            # Row group by row group: `iter_batches` pre-buffers ahead and held 4× one row
            # group at 10M rows; one `read_row_group` at a time holds 1.7× (bench/NOTES.md).
            try:
                handle = pq.ParquetFile(path, pre_buffer=False)
            except pa.ArrowException as e:
                raise DataError("PS401", f"{path}: not a readable Parquet file: {_first_line(e)}",
                                "a Parquet file ends with a footer: a copy cut short, or a file "
                                "of another format renamed .parquet, has none") from None
            _require(path, handle.schema_arrow.names, columns)
            for i in range(handle.metadata.num_row_groups):
                group = handle.read_row_group(i, columns=list(columns))
                yield from group.to_batches(max_chunksize=batch_rows)
                del group
            return
        opts = pcsv.ParseOptions(delimiter="\t" if lower.endswith(".tsv") else ",")
        read = pcsv.ReadOptions(block_size=CSV_BLOCK)
        try:
            header = pcsv.open_csv(path, read_options=read, parse_options=opts)
            _require(path, header.schema.names, columns)
            types = {c: pa.float64() if k == "numeric" else pa.string()
                     for c, k in (kinds or {}).items()}
            convert = pcsv.ConvertOptions(include_columns=list(columns), column_types=types)
            yield from pcsv.open_csv(path, read_options=read, parse_options=opts,
                                     convert_options=convert)
        except (pa.ArrowInvalid, UnicodeDecodeError):
            # Read whole, the file's own error is located (a ragged row, bytes that are not
            # UTF-8, a value that is not a number): raise that one.
            whole = _read_csv(path, lower, columns)
            for c, k in (kinds or {}).items():
                (numeric if k == "numeric" else text_values)(whole, c, path)
            raise
    except DataError:
        raise
    except (pa.ArrowException, OSError) as e:
        first = _first_line(e)
        if "conversion error" in first:  # a value that does not parse as the declared type
            raise DataError("PS403", f"{path}: {first}") from None
        raise DataError("PS401", f"{path}: cannot read it: {first}") from None
    except UnicodeDecodeError:
        raise DataError("PS401", f"{path}: a column name is not UTF-8 text", UTF8_HINT) from None


def frame_of(table: pa.Table | pa.RecordBatch, timestamp: str, kinds: Mapping[str, str],
             where: str) -> Frame:
    """The numpy arrays of one table or record batch, converted as the statistics read them."""
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    times = timestamps(table, timestamp, where)
    numbers = {c: numeric(table, c, where) for c, k in kinds.items() if k == "numeric"}
    texts = {c: text_values(table, c, where) for c, k in kinds.items() if k == "categorical"}
    return Frame(where, times, numbers, texts)


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
    texts = {c: text_values(table, c, where) for c, k in kinds.items() if k == "categorical"}
    return Frame(where, times, numbers, texts)


def read_events(path: str, risks: Sequence[str]) -> dict[str, datetime.date]:
    """Dates of drift risks from a JSON list (`[{"risk": …, "date": "2026-07-01"}]`) or a CSV
    with `risk` and `date` columns."""
    import json
    from pathlib import Path

    check_source(path)  # a FIFO would block the read below
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
            day = datetime.date.fromisoformat(str(row["date"])[:10])
        except ValueError:
            raise DataError("PS409", f"{path}: record {n} has no date: {_show(row['date'])}",
                            "write dates as YYYY-MM-DD") from None
        if not 1000 <= day.year < 9000:
            raise DataError("PS409", f"{path}: record {n} has a date outside the years "
                            f"1000–8999: {day.isoformat()}", "give the day the risk happened, "
                            "or leave the risk out of the events file if it has not") from None
        out[risk] = day
    return out
