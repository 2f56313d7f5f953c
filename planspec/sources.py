"""Where rows come from: files, Parquet dataset directories, DuckDB and PostgreSQL.

A source URI resolves to a :class:`Source` that yields Arrow record batches holding only the
columns a run reads and, where the store can filter, only the rows since a time:

- ``scored.parquet``, ``daily/*.parquet``, ``a.csv b.csv``: files and globs (Parquet, CSV);
- ``scored_ds/``: a Parquet dataset directory, hive-partitioned or not (``dt=2026-11-28/…``);
- ``duckdb:demo.duckdb?table=scored`` or ``duckdb:demo.duckdb?query=SELECT …``;
- ``postgresql://user@host:5432/db?table=scored`` (or ``?query=…``, and any libpq setting such
  as ``sslmode`` or ``connect_timeout``). ``?query=`` takes the rest of the URI, so write it last.

Credentials never come from a plan: libpq reads ``PGPASSWORD`` or a ``~/.pgpass`` file (or the one
``PGPASSFILE`` names). A URI given on the command line may carry a password; it is masked as
``***`` in every message this module makes (:func:`mask`) and scrubbed from the drivers' errors.

The databases do what they do well: ``SELECT`` names only the columns read, and a ``WHERE time >=``
from ``since`` skips old rows in the database. Rows arrive as Arrow record batches: DuckDB's Arrow
reader, and PostgreSQL through ADBC (libpq's binary protocol decoded to Arrow in C++).
"""

from __future__ import annotations

import datetime
import glob
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import pyarrow as pa
import pyarrow.compute as pc

from planspec.diagnostics import did_you_mean, mask_passwords

#: Rows per record batch asked of the databases.
BATCH_ROWS = 1 << 17
#: Seconds libpq waits for a server that does not answer (unless the URI or PGCONNECT_TIMEOUT says).
CONNECT_TIMEOUT = 5
SCHEMES = ("duckdb:", "postgresql://", "postgres://")


class SourceError(Exception):
    """A source that cannot be read: a stable PS4xx code, a message with any password masked,
    and a hint. :mod:`planspec.data` turns it into a ``DataError``."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


def mask(text: str) -> str:
    """``text`` with the password of every URI in it replaced by ``***``.

    >>> mask("postgresql://ana:s3cret@db.example:5432/ml?table=scored")
    'postgresql://ana:***@db.example:5432/ml?table=scored'
    >>> mask("duckdb:demo.duckdb?table=scored")
    'duckdb:demo.duckdb?table=scored'
    """
    return mask_passwords(text)


def is_uri(spec: object) -> bool:
    """Whether ``spec`` names a source that is not a list of files: a database URI or a
    dataset directory."""
    return isinstance(spec, (str, os.PathLike)) and (
        os.fspath(spec).startswith(SCHEMES) or os.path.isdir(spec))


@dataclass(frozen=True, repr=False)
class Source:
    """Rows from somewhere, narrowed to ``columns`` and (where the store can filter) to rows whose
    ``time_column`` is at or after ``since``; subclasses say how rows arrive."""

    uri: str
    columns: tuple[str, ...] | None = None
    time_column: str | None = None
    since: datetime.datetime | None = None

    @property
    def where(self) -> str:
        """The source for messages: its URI with any password masked."""
        return mask(self.uri)

    def __repr__(self) -> str:
        """The class and the masked URI: a repr reaches logs, tracebacks and Dask's task
        graph, where a password must not (the fields themselves keep it for connecting)."""
        return f"{type(self).__name__}({self.where!r})"

    def narrow(self, columns: Sequence[str], time_column: str | None = None) -> Source:
        """This source reading only ``columns`` (and filtering on ``time_column``)."""
        return replace(self, columns=tuple(dict.fromkeys(columns)),
                       time_column=time_column or self.time_column)

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The rows, as Arrow record batches (types may differ between files)."""
        raise NotImplementedError  # pragma: no cover - every subclass defines it

    def _require(self, names: Sequence[str]) -> None:
        for col in self.columns or ():
            if col not in names:
                raise SourceError("PS402", f"{self.where}: no column `{col}`",
                                  did_you_mean(col, names) or f"it has: {', '.join(names[:12])}")

    def _since_filter(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Rows at or after ``since`` where the time column is typed; text times are filtered
        after they are parsed (:mod:`planspec.data`)."""
        if self.since is None or self.time_column is None:
            return batch
        col = batch.column(self.time_column)
        if pa.types.is_timestamp(col.type):
            bound = self.since if col.type.tz else self.since.replace(tzinfo=None)
            return batch.filter(pc.greater_equal(col, pa.scalar(bound, col.type)))
        return batch


# ----------------------------------------------------------------------------------- files


@dataclass(frozen=True, repr=False)
class Files(Source):
    """Parquet and CSV files, read file by file (Parquet by record batch)."""

    paths: tuple[str, ...] = ()

    def batches(self) -> Iterator[pa.RecordBatch]:
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq

        for path in self.paths:
            if not os.path.isfile(path):
                raise SourceError("PS401", f"{path}: no such file")
            lower = path.lower()
            try:
                if lower.endswith((".parquet", ".pq")):
                    f = pq.ParquetFile(path)
                    self._require(f.schema_arrow.names)
                    cols = list(self.columns) if self.columns is not None else None
                    for b in f.iter_batches(batch_size=BATCH_ROWS, columns=cols):
                        yield self._since_filter(b)
                elif lower.endswith((".csv", ".csv.gz", ".tsv")):
                    opts = pcsv.ParseOptions(delimiter="\t" if lower.endswith(".tsv") else ",")
                    table = pcsv.read_csv(path, parse_options=opts)
                    self._require(table.column_names)
                    if self.columns is not None:
                        table = table.select(list(self.columns))
                    for b in table.to_batches():
                        yield self._since_filter(b)
                else:
                    raise SourceError("PS401", f"{path}: planspec reads .parquet and .csv files",
                                      "convert it, or pass a pyarrow table to the Python API")
            except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as e:
                raise SourceError("PS401", f"{path}: cannot read it: {_first_line(e)}") from None


def expand(patterns: Sequence[str]) -> list[str]:
    """Paths from file names and globs, in order, each once; a glob matching nothing is an error
    (a typo must not silently read less data)."""
    out: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            found = sorted(glob.glob(pattern, recursive=True))
            if not found:
                raise SourceError("PS401", f"no file matches `{pattern}`")
            out += found
        else:
            out.append(pattern)
    return list(dict.fromkeys(out))


# --------------------------------------------------------------------------------- datasets


@dataclass(frozen=True, repr=False)
class Dataset(Source):
    """A Parquet dataset directory read with ``pyarrow.dataset``: hive partitions
    (``dt=2026-11-28/``) become columns, and ``since`` prunes row groups by their statistics."""

    def batches(self) -> Iterator[pa.RecordBatch]:
        import pyarrow.dataset as ds

        try:
            data = ds.dataset(self.uri, format="parquet", partitioning="hive",
                              exclude_invalid_files=True)
        except (pa.ArrowInvalid, OSError) as e:
            raise SourceError("PS401", f"{self.where}: cannot read the dataset: "
                              f"{_first_line(e)}") from None
        if not data.files:
            raise SourceError("PS401", f"{self.where}: the dataset directory holds no Parquet "
                              "files", "point at a folder of .parquet files (any depth)")
        self._require(data.schema.names)
        expr = None
        if self.since is not None and self.time_column is not None:
            t = data.schema.field(self.time_column).type
            if pa.types.is_timestamp(t):
                bound = self.since if t.tz else self.since.replace(tzinfo=None)
                expr = ds.field(self.time_column) >= pa.scalar(bound, t)
        cols = list(self.columns) if self.columns is not None else None
        try:
            yield from data.to_batches(columns=cols, filter=expr, batch_size=BATCH_ROWS)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as e:
            raise SourceError("PS401", f"{self.where}: cannot read it: {_first_line(e)}") from None


# -------------------------------------------------------------------------------- databases


@dataclass(frozen=True, repr=False)
class _Database(Source):
    """A table or query of a SQL database, read with column and time-range pushdown."""

    table: str | None = None
    query: str | None = None
    _secret: str | None = field(default=None, repr=False, compare=False)

    def relation(self) -> str:
        """The ``FROM`` clause: a quoted (schema-qualified) table, or the query as a subquery."""
        if self.query is not None:
            return f"({self.query}) AS planspec_source"
        return ".".join(_quote(part) for part in (self.table or "").split("."))

    def select(self, schema: pa.Schema) -> str:
        """The pushed-down query: only the columns read, only the rows since ``since``."""
        cols = ", ".join(_quote(c) for c in self.columns) if self.columns else "*"
        sql = f"SELECT {cols} FROM {self.relation()}"
        if self.since is not None and self.time_column is not None:
            t = schema.field(self.time_column).type
            if pa.types.is_timestamp(t) and t.tz:
                since = self.since.astimezone(datetime.UTC).isoformat()
                sql += f" WHERE {_quote(self.time_column)} >= TIMESTAMPTZ '{since}'"
            elif pa.types.is_timestamp(t):  # no zone: UTC by planspec's convention
                since = self.since.astimezone(datetime.UTC).replace(tzinfo=None).isoformat()
                sql += f" WHERE {_quote(self.time_column)} >= TIMESTAMP '{since}'"
            elif pa.types.is_date(t):
                sql += f" WHERE {_quote(self.time_column)} >= DATE '{self.since.date()}'"
        return sql

    def scrub(self, text: str) -> str:
        """A driver's message with URIs masked and the password (if any) removed."""
        text = mask(text)
        for secret in {self._secret, unquote(self._secret)} if self._secret else ():
            text = text.replace(secret, "***")
        return text

    def _what(self) -> str:
        return f"table `{self.table}`" if self.table is not None else "the query"

    def _missing(self, e: Exception, tables: list[str]) -> SourceError:
        if self.table is not None:
            return SourceError("PS411", f"{self.where}: no table `{self.table}`",
                               did_you_mean(self.table, tables)
                               or (f"the tables are: {', '.join(tables[:12])}" if tables
                                   else "the database has no tables"))
        return SourceError("PS411", f"{self.where}: the query failed: {self.scrub(str(e))}")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _split_uri(uri: str, start: int) -> tuple[str, dict[str, str], str | None]:
    """The part before ``?``, its settings, and the ``query=`` (the rest of the URI, verbatim
    after percent-decoding)."""
    head, sep, tail = uri[start:].partition("?")
    query = None
    at = 0 if tail.startswith("query=") else tail.find("&query=") + 1
    if at > 0 or tail.startswith("query="):
        query = unquote(tail[at + len("query="):])
        tail = tail[:max(at - 1, 0)]
    params = dict(parse_qsl(tail, keep_blank_values=True)) if sep else {}
    return head, params, query


def _table_or_query(where: str, params: dict[str, str], query: str | None) -> str | None:
    table = params.pop("table", None)
    if (table is None) == (query is None):
        raise SourceError("PS401", f"{where}: name a table or a query, not "
                          f"{'both' if table else 'neither'}",
                          "end the URI with ?table=NAME or ?query=SELECT …")
    if query is not None and not query.strip():
        raise SourceError("PS401", f"{where}: the query is empty")
    return table


@dataclass(frozen=True, repr=False)
class DuckDB(_Database):
    """A table or query of a DuckDB database file, opened read-only."""

    path: str = ""

    @classmethod
    def parse(cls, uri: str, since: datetime.datetime | None = None) -> DuckDB:
        """``duckdb:PATH?table=T`` or ``duckdb:PATH?query=SQL``."""
        path, params, query = _split_uri(uri, len("duckdb:"))
        table = _table_or_query(uri, params, query)
        if params:
            raise SourceError("PS401", f"{uri}: unknown setting `{next(iter(params))}`",
                              "a DuckDB URI takes ?table= or ?query=")
        return cls(uri=uri, since=since, table=table, query=query, path=path)

    def batches(self) -> Iterator[pa.RecordBatch]:
        import duckdb

        if not os.path.isfile(self.path):
            raise SourceError("PS401", f"{self.where}: no DuckDB file `{self.path}`",
                              "make one with `planspec demo-data`, or check the path")
        try:
            con = duckdb.connect(self.path, read_only=True)
        except duckdb.Error as e:
            raise SourceError("PS401", f"{self.where}: cannot open it as a DuckDB database: "
                              f"{_first_line(e)}") from None
        try:
            try:
                schema = _duckdb_reader(con, f"SELECT * FROM {self.relation()} LIMIT 0").schema
            except duckdb.CatalogException as e:
                raise self._missing(e, _duckdb_tables(con)) from None
            except duckdb.Error as e:
                raise SourceError("PS411", f"{self.where}: {self._what()} failed: "
                                  f"{_first_line(e)}") from None
            self._require(schema.names)
            try:
                yield from _duckdb_reader(con, self.select(schema))
            except duckdb.Error as e:
                raise SourceError("PS411", f"{self.where}: {self._what()} failed: "
                                  f"{_first_line(e)}") from None
        finally:
            con.close()


def _duckdb_reader(con: Any, sql: str) -> pa.RecordBatchReader:
    """DuckDB's Arrow stream of a query (``to_arrow_reader`` from DuckDB 1.4 on)."""
    rel = con.sql(sql)
    read = getattr(rel, "to_arrow_reader", None) or rel.fetch_arrow_reader
    return read(BATCH_ROWS)


def _duckdb_tables(con: Any) -> list[str]:
    return sorted(r[0] for r in con.execute(
        "SELECT table_name FROM information_schema.tables").fetchall())


@dataclass(frozen=True, repr=False)
class Postgres(_Database):
    """A table or query of a PostgreSQL database, read through ADBC (libpq's binary protocol
    decoded straight into Arrow)."""

    conninfo: str = ""

    @classmethod
    def parse(cls, uri: str, since: datetime.datetime | None = None) -> Postgres:
        """``postgresql://user@host:port/db?table=T`` (or ``?query=SQL``); other settings pass
        to libpq; ``connect_timeout`` defaults to :data:`CONNECT_TIMEOUT` seconds."""
        head, params, query = _split_uri(uri, 0)
        where = mask(uri)
        table = _table_or_query(where, params, query)
        parts = urlsplit(head)
        if "connect_timeout" not in params and "PGCONNECT_TIMEOUT" not in os.environ:
            params["connect_timeout"] = str(CONNECT_TIMEOUT)
        conninfo = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(params), ""))
        secret = parts.password or None
        return cls(uri=uri, since=since, table=table, query=query, conninfo=conninfo,
                   _secret=secret)

    def batches(self) -> Iterator[pa.RecordBatch]:
        try:
            import adbc_driver_manager
            from adbc_driver_postgresql import dbapi
        except ImportError:
            raise SourceError("PS410", f"{self.where}: reading PostgreSQL needs its driver",
                              "pip install planspec[postgres]") from None
        try:
            con = dbapi.connect(self.conninfo)
        except adbc_driver_manager.Error as e:
            raise SourceError("PS410", f"{self.where}: cannot connect: "
                              f"{self.scrub(_pg_message(e))}",
                              "is the server up, and is the password in PGPASSWORD or "
                              "~/.pgpass?") from None
        try:
            cur = con.cursor()
            try:
                cur.execute(f"SELECT * FROM {self.relation()} LIMIT 0")
                schema = cur.fetch_arrow_table().schema
            except adbc_driver_manager.Error as e:
                con.rollback()
                if self.table is not None and "does not exist" in str(e):
                    cur.execute("SELECT table_schema || '.' || table_name, table_name FROM "
                                "information_schema.tables WHERE table_schema NOT IN "
                                "('pg_catalog', 'information_schema')")
                    rows = cur.fetchall()
                    names = [r[1] if r[0].startswith("public.") else r[0] for r in rows]
                    raise self._missing(e, sorted(names)) from None
                raise SourceError("PS411", f"{self.where}: {self._what()} failed: "
                                  f"{self.scrub(_pg_message(e))}") from None
            self._require(schema.names)
            try:
                cur.execute(self.select(schema))
                yield from cur.fetch_record_batch()
            except adbc_driver_manager.Error as e:
                raise SourceError("PS411", f"{self.where}: {self._what()} failed: "
                                  f"{self.scrub(_pg_message(e))}") from None
        finally:
            con.close()


def _pg_message(e: Exception) -> str:
    """The useful line of an ADBC/libpq error, without the driver's status prefixes."""
    text = str(e)
    text = re.sub(r"^(\w+: )?\[libpq\] ", "", text.strip())
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith(("DETAIL",
                                                                                   "HINT"))]
    return (lines[0] if lines else type(e).__name__)[:300]


def _first_line(e: Exception) -> str:
    text = str(e).strip()
    return mask(text.splitlines()[0]) if text else type(e).__name__


# ------------------------------------------------------------------------------ resolution


def open_source(spec: Any, since: datetime.datetime | None = None) -> Source:
    """The :class:`Source` a spec names: a URI, a directory, files and globs, or a Source (its
    ``since`` replaced when one is given). ``since`` without a zone is UTC.

    >>> open_source("duckdb:demo.duckdb?table=scored").table
    'scored'
    >>> open_source("postgresql://ana:s3cret@db/ml?table=scored").where
    'postgresql://ana:***@db/ml?table=scored'
    """
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=datetime.UTC)
    if isinstance(spec, Source):
        return replace(spec, since=since) if since is not None else spec
    specs = [os.fspath(spec)] if isinstance(spec, (str, os.PathLike)) else \
        [os.fspath(s) for s in spec]
    if not specs:
        raise SourceError("PS401", "no data given")
    if len(specs) == 1 and is_uri(specs[0]):
        one = specs[0]
        if one.startswith("duckdb:"):
            return DuckDB.parse(one, since)
        if one.startswith(("postgresql://", "postgres://")):
            return Postgres.parse(one, since)
        return Dataset(uri=one, since=since)
    if any(is_uri(s) for s in specs):
        raise SourceError("PS401", "give one database or dataset directory, or files: "
                          f"not {', '.join(mask(s) for s in specs[:3])}",
                          "a dataset directory already reads every file under it")
    paths = expand(specs)
    where = ", ".join(paths) if len(paths) <= 3 else f"{paths[0]} and {len(paths) - 1} more"
    return Files(uri=where, since=since, paths=tuple(paths))
