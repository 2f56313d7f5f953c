"""The Dask engine: the gather stage run per partition on a Dask cluster. The client splits each
input of the source layer (:mod:`planspec.sources`) into partitions and each partition becomes one
``dask.delayed`` task that reads its rows on a worker and returns their per-bucket
:class:`~planspec.engine.gather.Sums`; the sums are tree-reduced on the workers with the same
:func:`~planspec.engine.gather.merge_all`, ``FAN_IN`` at a time, and only the total comes back.

Partitions:

- a Parquet file (a path or a glob): runs of its row groups of about ``part_rows`` rows;
- a Parquet dataset directory (hive-partitioned or not): runs of the row groups of each of its
  files, the partition columns (``dt=2026-11-28/``) filled in as the local engine does;
- a CSV file: the whole file;
- a DuckDB or PostgreSQL table or query: time-range queries (``WHERE ts >= a AND ts < b``) of
  about ``part_rows`` rows each, cut between the time column's minimum and maximum (one query
  when the time column is text); each worker opens its own connection (the database file must be
  at the same path on the workers; PostgreSQL credentials come from the workers' environment or
  ``~/.pgpass``, or from the URI, which then travels in the task graph);
- a ``dask.dataframe.DataFrame`` (Python API): its partitions.

With ``since``, Parquet row groups whose statistics say they end before it are never read, the
databases get the ``WHERE`` pushed down, and rows before it are dropped on the workers.

Rows never cross the network, with one exception: when outcomes are joined (or a store keeps
them), each task also returns the narrow columns outcome joins read (key, time, score), and the
join runs on the client, as on the local engine. Paths must be readable by the client (to split
Parquet files by their footers) and by the workers alike: a shared file system. Dask does the
distribution; this module only builds the task graph."""

from __future__ import annotations

import datetime
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from planspec.compile import CheckProgram, ColumnNeed
from planspec.data import (
    BATCH_ROWS,
    PARQUET_SUFFIXES,
    DataError,
    Input,
    _since_rows,
    inputs,
    read_batches,
)
from planspec.engine.gather import Sums, column_needs, gather_batches, merge_all
from planspec.profile import Profile
from planspec.profile_check import histogram_bins
from planspec.sources import Dataset, SourceError, _Database, _quote

#: Partial sums merged per reduction task: the tree has ⌈log_FAN_IN(partitions)⌉ levels.
FAN_IN = 8
#: Seconds to wait for a scheduler given by address before saying it cannot be reached.
CONNECT_TIMEOUT = 5.0

_INSTALL = "pip install planspec[dask]"


@dataclass(frozen=True)
class Task:
    """One partition, read on a worker: Parquet row groups (``fragment``, a pyarrow
    ``ParquetFileFragment`` narrowed to some row groups, with the dataset's ``schema`` for its
    partition columns), or an input read whole by the local engine's reader (``item``: a CSV
    file, or one time range of a database)."""

    where: str
    fragment: Any = None
    schema: pa.Schema | None = None
    item: Input | None = None
    since: datetime.datetime | None = None


@dataclass(frozen=True)
class Job:
    """What every partition task needs besides its partition (sent to each worker once)."""

    needs: Mapping[str, ColumnNeed]
    columns: tuple[str, ...]
    kinds: Mapping[str, str]
    timestamp: str
    profile: Profile
    bucket: int
    keep: tuple[str, ...]
    batch_rows: int
    bins: int
    tz: str
    #: The plan, when it has segmented alerts or filters: each task gathers their sums too.
    segmented: CheckProgram | None = None


@dataclass
class Part:
    """What a task or a merge of tasks returns: the sums, and the segmented sums (per slice,
    per segment value; empty without segments)."""

    sums: Sums | None
    segments: dict[str, dict[str, Sums]]


# ------------------------------------------------------------------------ partitions (client)


def partitions(item: Input, columns: Sequence[str], part_rows: int = BATCH_ROWS) -> list[Task]:
    """The partitions of one input of :func:`planspec.data.inputs` (``columns[0]`` is the time
    column). What cannot be split (a CSV file, a file or source the client cannot open) is one
    task, whose worker then reports its error as the local engine would."""
    if item.table is not None:
        raise DataError("PS412", "the Dask engine reads files, globs, Parquet dataset "
                        "directories and databases its workers can reach, not an in-memory "
                        "table", "pass the table to the local engine, or write it to Parquet "
                        "on a shared file system")
    whole = [Task(item.where, item=item, since=item.since)]
    if item.path is not None:
        if not item.path.lower().endswith(PARQUET_SUFFIXES) or not os.path.isfile(item.path):
            return whole
        found = _parquet_tasks(item, item.path, columns, part_rows, dataset=False)
        return whole if found is None else found
    if isinstance(item.source, Dataset):
        found = _parquet_tasks(item, item.source.uri, columns, part_rows, dataset=True)
        return whole if found is None else found
    if isinstance(item.source, _Database):
        return _database_tasks(item, item.source, columns[0], part_rows)
    return whole


def _parquet_tasks(item: Input, where: str, columns: Sequence[str], part_rows: int,
                   dataset: bool) -> list[Task] | None:
    """Runs of row groups of about ``part_rows`` rows, leaving out those whose statistics end
    before ``since`` (none when all do; None: it cannot be split here, so a worker reads it
    whole and reports what is wrong, as the local engine would)."""
    import pyarrow.dataset as ds

    try:
        data = ds.dataset(where, format="parquet",
                          partitioning="hive" if dataset else None,
                          exclude_invalid_files=dataset)
        schema = data.schema
        if not data.files or any(c not in schema.names for c in columns):
            return None
        expr = None
        if item.since is not None:
            t = schema.field(columns[0]).type
            if pa.types.is_timestamp(t):
                bound = item.since if t.tz else item.since.replace(tzinfo=None)
                expr = ds.field(columns[0]) >= pa.scalar(bound, t)
        tasks: list[Task] = []
        for fragment in data.get_fragments():
            run: list[int] = []
            rows = 0
            for group in fragment.split_by_row_group(filter=expr, schema=schema):
                info = group.row_groups[0]
                run.append(info.id)
                rows += info.num_rows
                if rows >= part_rows:
                    tasks.append(_fragment_task(fragment, run, schema if dataset else None,
                                                item))
                    run, rows = [], 0
            if run:
                tasks.append(_fragment_task(fragment, run, schema if dataset else None, item))
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError):
        return None
    return tasks


def _fragment_task(fragment: Any, groups: list[int], schema: pa.Schema | None,
                   item: Input) -> Task:
    first, last = groups[0], groups[-1]
    span = f"row groups {first}–{last}" if last > first else f"row group {first}"
    return Task(f"{fragment.path} ({span})", fragment=fragment.subset(row_group_ids=groups),
                schema=schema, since=item.since)


def _database_tasks(item: Input, source: _Database, time: str, part_rows: int) -> list[Task]:
    """Time-range queries of about ``part_rows`` rows each, between the time column's minimum
    (or ``since``) and maximum; the last range also takes rows without a time, so the worker
    that reads them reports them as the local engine does. One query when the range cannot be
    cut (the time column is text, or there are few rows) or the bounds query fails (the worker
    running it then reports why)."""
    whole = [Task(item.where, item=item, since=item.since)]
    col = _quote(time)
    bounds = replace(source, table=None, since=None, columns=None, time_column=None,
                     query=f"SELECT min({col}) AS lo, max({col}) AS hi, count(*) AS n "
                     f"FROM {source.relation()}")
    try:
        batch = next(iter(bounds.batches()))
    except (SourceError, StopIteration):
        return whole
    kind = batch.schema.field("lo").type
    lo, hi, n = (batch.column(i)[0].as_py() for i in range(3))
    if lo is None or not n or not (pa.types.is_timestamp(kind) or pa.types.is_date(kind)):
        return whole
    cuts = _cuts(lo, hi, math.ceil(_after(lo, hi, n, item.since) / part_rows), item.since)
    if not cuts:
        return whole
    tasks = []
    for i in range(len(cuts) + 1):
        conds = ([f"{col} >= {_literal(kind, cuts[i - 1])}"] if i else []) + \
                ([f"{col} < {_literal(kind, cuts[i])}"] if i < len(cuts) else [])
        where = " AND ".join(conds)
        if i == len(cuts):
            where = f"({where}) OR {col} IS NULL"
        part = replace(source, table=None,
                       query=f"SELECT * FROM {source.relation()} WHERE {where}")
        tasks.append(Task(f"{item.where} ({where})", item=replace(item, source=part),
                          since=item.since))
    return tasks


def _after(lo: Any, hi: Any, n: int, since: datetime.datetime | None) -> float:
    """About how many of ``n`` rows between ``lo`` and ``hi`` are at or after ``since``
    (spread evenly: it only sets how many ranges to cut)."""
    if since is None or hi <= lo:
        return n
    if isinstance(lo, datetime.datetime):
        start, end = _micros(lo), _micros(hi)
        at = _micros(since if lo.tzinfo else since.astimezone(datetime.UTC).replace(tzinfo=None))
    else:
        start, end, at = lo.toordinal(), hi.toordinal(), since.date().toordinal()
    return n * min(max((end - at) / (end - start), 0.0), 1.0)


def _cuts(lo: Any, hi: Any, k: int, since: datetime.datetime | None) -> list[Any]:
    """``k - 1`` times (or dates) cutting ``[max(lo, since), hi]`` into ``k`` equal ranges."""
    if k < 2:
        return []
    if isinstance(lo, datetime.datetime):
        zone = lo.tzinfo
        start, end = _micros(lo), _micros(hi)
        if since is not None:
            start = max(start, _micros(since if zone else
                                       since.astimezone(datetime.UTC).replace(tzinfo=None)))
        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC if zone else None)
        points = sorted({start + (end - start) * i // k for i in range(1, k)} - {start})
        return [epoch + datetime.timedelta(microseconds=p) for p in points]
    first, last = lo.toordinal(), hi.toordinal()
    if since is not None:
        first = max(first, since.date().toordinal())
    days = sorted({first + (last - first) * i // k for i in range(1, k)} - {first})
    return [datetime.date.fromordinal(d) for d in days]


def _micros(t: datetime.datetime) -> int:
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC if t.tzinfo else None)
    return (t - epoch) // datetime.timedelta(microseconds=1)


def _literal(kind: pa.DataType, t: Any) -> str:
    if pa.types.is_date(kind):
        return f"DATE '{t.isoformat()}'"
    if kind.tz:
        return f"TIMESTAMPTZ '{t.astimezone(datetime.UTC).isoformat()}'"
    return f"TIMESTAMP '{t.isoformat()}'"


# --------------------------------------------------------------------------- tasks (workers)


def _batches(task: Task, job: Job) -> Iterator[pa.RecordBatch]:
    if task.item is not None:
        yield from read_batches(task.item, job.columns, job.kinds, job.batch_rows)
        return
    try:
        for batch in task.fragment.to_batches(schema=task.schema, columns=list(job.columns),
                                              batch_size=job.batch_rows):
            yield _since_rows(batch, job.timestamp, task.since, task.where)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError("PS401", f"{task.where}: cannot read it: {first}") from None


def _gather(job: Job, batches: Iterable[pa.RecordBatch], where: str
            ) -> tuple[Part, pa.Table | None]:
    from planspec.engine.segments import SegmentGather

    seg = SegmentGather(job.segmented, job.profile) if job.segmented is not None else None
    sums, rows = gather_batches(job.needs, batches, job.timestamp, job.profile, job.bucket,
                                where, job.keep, bins=job.bins, tz=job.tz,
                                splits=seg.splits() if seg is not None else ())
    return Part(sums, seg.result() if seg is not None else {}), rows


def gather_task(task: Task, job: Job) -> tuple[Part, pa.Table | None]:
    """On a worker: one partition's sums (and segmented sums), and its narrow columns when
    ``job.keep`` names them."""
    return _gather(job, _batches(task, job), task.where)


def _gather_frame(frame: Any, where: str, job: Job) -> tuple[Part, pa.Table | None]:
    """On a worker: the sums of one pandas partition of a ``dask.dataframe``."""
    missing = [c for c in job.columns if c not in frame.columns]
    if missing:
        raise DataError("PS402", f"{where}: no column `{missing[0]}`")
    table = pa.Table.from_pandas(frame[list(job.columns)], preserve_index=False)
    return _gather(job, table.to_batches(max_chunksize=job.batch_rows), where)


def _merge(*parts: Part) -> Part:
    """A reduction task: the merge of its children's sums (None: no rows) and segments."""
    from planspec.engine.segments import merge_slices

    present = [p.sums for p in parts if p.sums is not None]
    return Part(merge_all(present) if present else None,
                merge_slices([p.segments for p in parts]))


def _concat(*tables: pa.Table | None) -> pa.Table | None:
    present = [t for t in tables if t is not None]
    if not present:
        return None
    try:
        return pa.concat_tables(present, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise DataError("PS403", f"the files disagree on column types: {e}") from None


def _is_dask_frame(data: Any) -> bool:
    return type(data).__module__.startswith("dask") and hasattr(data, "to_delayed")


# ------------------------------------------------------------------------------- the cluster


def local_cluster(workers: int = 2) -> Any:
    """A ``distributed.LocalCluster`` of ``workers`` processes (one thread each) on this
    machine, quiet: no dashboard, its HTTP server on a free loopback port (never 8787, which
    another cluster may hold), only errors logged."""
    from distributed import LocalCluster

    return LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR)


@contextmanager
def connect(scheduler: Any = None) -> Iterator[Any]:
    """A ``distributed.Client``: to ``scheduler`` (an address, or a Client used as it is), or
    to a ``LocalCluster`` of two worker processes started here and closed afterwards."""
    try:
        from distributed import Client
    except ImportError:
        raise DataError("PS412", "the Dask engine needs dask and distributed, which are not "
                        "installed", _INSTALL) from None
    if scheduler is not None and not isinstance(scheduler, str):
        yield scheduler  # the caller's client: theirs to close
        return
    if scheduler is None:
        with local_cluster() as cluster, \
                Client(cluster) as client:  # type: ignore[no-untyped-call]
            yield client
        return
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError, ValueError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError("PS412", f"cannot reach the Dask scheduler at {scheduler}: {first}",
                        "start one with `dask scheduler` and pass the address it prints "
                        "(tcp://HOST:8786), or leave --scheduler out for a local cluster"
                        ) from None
    with client:
        yield client


# ------------------------------------------------------------------------------------ gather


def job_for(program: CheckProgram, profile: Profile, narrow: Mapping[str, str],
            batch_rows: int = BATCH_ROWS) -> Job:
    """The job of a run: what its tasks read and how they reduce it."""
    needs = column_needs(program)
    by = [c for s in program.slices.values() for c in s.columns]
    columns = tuple(dict.fromkeys([program.timestamp, *needs, *narrow, *by]))
    keep = (program.timestamp, *narrow) if narrow else ()
    kinds = {n: c.kind for n, c in program.columns.items() if n in by}
    return Job(needs, columns, kinds | {n: need.kind for n, need in needs.items()} | dict(narrow),
               program.timestamp, profile, program.bucket, keep, batch_rows,
               histogram_bins(program, profile), program.timezone,
               program if program.slices else None)


def gather_groups(job: Job, groups: Sequence[Sequence[Task]], say: Callable[[str], None],
                  scheduler: Any = None) -> list[tuple[Part, pa.Table | None]]:
    """Each group's merged sums (None: no rows) and narrow columns, gathered on the cluster at
    ``scheduler``: one task per partition, a tree of merges per group on the workers."""
    from dask.delayed import delayed

    with connect(scheduler) as client:
        job_d = delayed(job, pure=True)  # one key: sent to each worker once
        wanted = []
        count = 0
        for tasks in groups:
            parts = [delayed(gather_task, nout=2, pure=True)(t, job_d) for t in tasks]
            count += len(parts)
            wanted.append((_tree([p[0] for p in parts]),
                           delayed(_concat, pure=True)(*[p[1] for p in parts])
                           if job.keep else None))
        workers = len(client.scheduler_info().get("workers", {}))
        say(f"gathering {count:,} partitions on {workers} Dask workers")
        return [tuple(r) for r in client.compute(wanted, sync=True)]


def _tree(level: list[Any]) -> Any:
    from dask.delayed import delayed

    if not level:
        return delayed(_merge, pure=True)()
    while len(level) > 1:  # a tree of merges on the workers, FAN_IN children each
        level = [delayed(_merge, pure=True)(*level[i:i + FAN_IN])
                 for i in range(0, len(level), FAN_IN)]
    return level[0]


def gather_dask(program: CheckProgram, profile: Profile, data: Any, keep_narrow: bool,
                say: Callable[[str], None], scheduler: Any = None,
                batch_rows: int = BATCH_ROWS) -> Any:
    """The :class:`~planspec.engine.run.Gathered` sums of ``data`` (what the local engine's
    ``gather_data`` takes, or a ``dask.dataframe.DataFrame``) gathered on a Dask cluster;
    partitions hold about ``batch_rows`` rows."""
    from planspec.engine.run import Gathered, _where, narrow_columns

    job = job_for(program, profile, narrow_columns(program) if keep_narrow else {}, batch_rows)
    if _is_dask_frame(data):
        from dask.delayed import delayed

        frames = data.to_delayed()
        with connect(scheduler) as client:
            job_d = delayed(job, pure=True)
            parts = [delayed(_gather_frame, nout=2, pure=True)(f, f"partition {i}", job_d)
                     for i, f in enumerate(frames)]
            say(f"gathering {len(parts):,} partitions of a dask DataFrame")
            total, rows = client.compute(
                [_tree([p[0] for p in parts]),
                 delayed(_concat, pure=True)(*[p[1] for p in parts]) if job.keep else None],
                sync=True)
        since = None
    else:
        items = inputs(data, "data")
        tasks = [t for item in items for t in partitions(item, job.columns, batch_rows)]
        [(total, rows)] = gather_groups(job, [tasks], say, scheduler)
        found = {i.since for i in items if i.since is not None}
        since = min(found) if found else None
    if total.sums is None:
        raise DataError("PS405", f"{_where(data)}: no rows"
                        + (f" since {since.isoformat()}" if since else ""))
    return Gathered(total.sums, rows, segments=total.segments)
