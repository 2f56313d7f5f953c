"""The Dask engine: the gather stage run per partition on a Dask cluster. Each partition (a
Parquet row group, a CSV file, a fragment of a dataset directory, a partition of a
``dask.dataframe``) becomes one ``dask.delayed`` task that reads its rows on a worker and returns
their per-bucket :class:`~planspec.engine.gather.Sums`; the sums are tree-reduced on the workers
with the same :func:`~planspec.engine.gather.merge_all`, ``FAN_IN`` at a time, and only the
total comes back. Rows never cross the network, with one exception: when outcomes are given,
each task also returns the narrow columns outcome joins read (key, time, score), and the join
runs locally after the gather, as it does on the local engine.

Paths must be readable by the client (to split Parquet files by row group) and by the workers
alike: a shared file system or object store. Dask does the distribution; this module only
builds the task graph."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from planspec.compile import CheckProgram, ColumnNeed
from planspec.data import BATCH_ROWS, DataError, Input, inputs, read_batches
from planspec.engine.gather import Sums, column_needs, gather_batches, merge_all
from planspec.profile import Profile

#: Partial sums merged per reduction task: the tree has ⌈log_FAN_IN(partitions)⌉ levels.
FAN_IN = 8
#: Seconds to wait for a scheduler given by address before saying it cannot be reached.
CONNECT_TIMEOUT = 5.0

_INSTALL = "pip install planspec[dask]"


@dataclass(frozen=True)
class Part:
    """One partition of the input: a file, or some row groups of a Parquet file."""

    path: str
    row_groups: tuple[int, ...] | None = None

    @property
    def where(self) -> str:
        if self.row_groups is None:
            return self.path
        first, last = self.row_groups[0], self.row_groups[-1]
        return f"{self.path} (row groups {first}–{last})" if last > first else \
            f"{self.path} (row group {first})"


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


def partitions(data: Any, batch_rows: int = BATCH_ROWS) -> list[Part]:
    """The partitions of ``data`` (paths, globs or Parquet dataset directories): each Parquet
    file split into runs of row groups of about ``batch_rows`` rows, each other file whole.

    >>> partitions([])
    Traceback (most recent call last):
    ...
    planspec.data.DataError: no data files given
    """
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    paths = [data] if isinstance(data, (str, os.PathLike)) else list(data)
    files: list[str] = []
    dirs = [os.fspath(p) for p in paths if os.path.isdir(os.fspath(p))]
    rest = [p for p in paths if not os.path.isdir(os.fspath(p))]
    for d in dirs:  # a dataset directory: its fragments (hive partitions: dt=2026-11-28/…)
        found = sorted(f.path for f in ds.dataset(d, format="parquet", partitioning="hive",
                                                  exclude_invalid_files=True).get_fragments())
        if not found:
            raise DataError("PS401", f"{d}: no Parquet files in this directory")
        files += found
    files += [item.path for item in (inputs(rest) if rest else []) if item.path is not None]
    if not files:
        raise DataError("PS401", "no data files given")
    parts: list[Part] = []
    for path in files:
        if not path.lower().endswith((".parquet", ".pq")) or not os.path.isfile(path):
            parts.append(Part(path))  # read whole (its errors are reported by the worker)
            continue
        try:
            meta = pq.read_metadata(path)
        except (pa.ArrowInvalid, OSError):
            parts.append(Part(path))
            continue
        run: list[int] = []
        rows = 0
        for i in range(meta.num_row_groups):
            run.append(i)
            rows += meta.row_group(i).num_rows
            if rows >= batch_rows:
                parts.append(Part(path, tuple(run)))
                run, rows = [], 0
        if run or not parts or parts[-1].path != path:
            parts.append(Part(path, tuple(run) if run else None))
    return parts


def _read(part: Part, job: Job) -> Iterator[pa.RecordBatch]:
    if part.row_groups is None or len(part.row_groups) == 0:
        yield from read_batches(Input(part.path, path=part.path), job.columns, job.kinds,
                                job.batch_rows)
        return
    import pyarrow.parquet as pq

    handle = pq.ParquetFile(part.path, pre_buffer=False)
    missing = [c for c in job.columns if c not in handle.schema_arrow.names]
    if missing:  # the file's own reader words the error, as the local engine does
        yield from read_batches(Input(part.path, path=part.path), job.columns, job.kinds,
                                job.batch_rows)
        return
    for i in part.row_groups:
        yield from handle.read_row_group(i, columns=list(job.columns)).to_batches(
            max_chunksize=job.batch_rows)


def _gather_part(part: Part, job: Job) -> tuple[Sums | None, pa.Table | None]:
    """On a worker: one partition's sums, and its narrow columns when outcomes need them."""
    return gather_batches(job.needs, _read(part, job), job.timestamp, job.profile, job.bucket,
                          part.where, job.keep)


def _gather_frame(frame: Any, where: str, job: Job) -> tuple[Sums | None, pa.Table | None]:
    """On a worker: the sums of one pandas partition of a ``dask.dataframe``."""
    missing = [c for c in job.columns if c not in frame.columns]
    if missing:
        raise DataError("PS402", f"{where}: no column `{missing[0]}`")
    table = pa.Table.from_pandas(frame[list(job.columns)], preserve_index=False)
    return gather_batches(job.needs, table.to_batches(max_chunksize=job.batch_rows),
                          job.timestamp, job.profile, job.bucket, where, job.keep)


def _merge(*parts: Sums | None) -> Sums | None:
    """A reduction task: the merge of its children's sums (None: no rows)."""
    present = [p for p in parts if p is not None]
    return merge_all(present) if present else None


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


def gather_dask(program: CheckProgram, profile: Profile, data: Any, narrow: Mapping[str, str],
                say: Any, scheduler: Any = None, batch_rows: int = BATCH_ROWS
                ) -> tuple[Sums, pa.Table | None]:
    """The merged sums of ``data`` gathered on a Dask cluster, and the narrow columns
    ``narrow`` names (for outcome joins; empty: none). ``data`` is paths, globs, Parquet
    dataset directories or a ``dask.dataframe.DataFrame``."""
    from dask.delayed import delayed

    needs = column_needs(program)
    columns = tuple(dict.fromkeys([program.timestamp, *needs, *narrow]))
    keep = (program.timestamp, *narrow) if narrow else ()
    job = Job(needs, columns, {n: need.kind for n, need in needs.items()} | dict(narrow),
              program.timestamp, profile, program.bucket, keep, batch_rows)
    if _is_dask_frame(data):
        frames = data.to_delayed()
        where = [f"partition {i}" for i in range(len(frames))]
    elif isinstance(data, (str, os.PathLike)) or (
            isinstance(data, (list, tuple)) and all(isinstance(p, (str, os.PathLike))
                                                    for p in data)):
        parts = partitions(data, batch_rows)
        where = [p.where for p in parts]
    else:
        raise DataError("PS412", f"the Dask engine reads files, globs, Parquet dataset "
                        f"directories or a dask DataFrame, not {type(data).__name__}",
                        "pass an in-memory table to the local engine")
    with connect(scheduler) as client:
        job_d = delayed(job, pure=True)  # one key: sent to each worker once
        if _is_dask_frame(data):
            tasks = [delayed(_gather_frame, nout=2, pure=True)(f, w, job_d)
                     for f, w in zip(frames, where, strict=True)]
        else:
            tasks = [delayed(_gather_part, nout=2, pure=True)(p, job_d) for p in parts]
        workers = len(client.scheduler_info().get("workers", {}))
        say(f"gathering {len(tasks):,} partitions on {workers} Dask workers")
        level = [t[0] for t in tasks]
        while len(level) > 1:  # a tree of merges on the workers, FAN_IN children each
            level = [delayed(_merge, pure=True)(*level[i:i + FAN_IN])
                     for i in range(0, len(level), FAN_IN)]
        narrow_d = delayed(_concat, pure=True)(*[t[1] for t in tasks]) if keep else None
        total, rows = client.compute([level[0], narrow_d], sync=True)
    if total is None:
        raise DataError("PS405", f"{_where(where)}: no rows")
    return total, rows


def _where(where: Sequence[str]) -> str:
    return ", ".join(where[:3]) + (f" and {len(where) - 3} more" if len(where) > 3 else "")
