"""The sums store: per-bucket sums kept on disk between runs, so a nightly run reads only the new
day and judges every window of the history.

Layout of a store directory (format version :data:`FORMAT`)::

    CURRENT                    the name of the current generation, replaced atomically
    gen-000007/manifest.json   plan and baseline fingerprints, the bucket grid (size, time zone,
                               origin), columns and their statistic families, files ingested
                               (content fingerprints), database watermarks, runs
    gen-000007/sums.parquet    one row per bucket, column and statistic family:
                               bucket (global id), column, family, values (list<double>)
    gen-000007/history.parquet judged windows appended by each run (what changed)
    gen-000007/segments.parquet segmented sums (alerts with `by`)
    gen-000007/judged.json     the last run's results and the key they hold under: the next
                               run judges only the windows it can change
                               (:mod:`planspec.engine.incremental`); optional, so a store
                               written before it was kept is read and judged whole once
    rows/<fingerprint>.parquet the narrow columns outcome joins read (key, time, score), one
                               file per ingested input, written once

A run writes a new generation beside the current one, fsyncs it, then points ``CURRENT`` at it
with an atomic rename: a run killed at any moment leaves the previous generation current and
whole. A lock file keeps two writers apart.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from planspec._io import write_atomic
from planspec.compile import EPOCH, CheckProgram, ColumnNeed
from planspec.data import DataError, Input
from planspec.engine.calendar import bucket_starts, local_days
from planspec.engine.gather import (
    BucketSums,
    Sums,
    column_needs,
    expected_families,
    families,
    from_families,
)
from planspec.profile import Profile, plan_fingerprint
from planspec.sources import SourceError, _Database

#: The store's format version; a store of a newer version is refused, never misread.
FORMAT = 1
ROWS = "rows"  # the family of per-bucket row counts (column "")
SEGMENTS = "segments.parquet"  # segmented sums: the sums table plus `by` and `value` columns
#: The last run's judged alerts, reused by the next run (see planspec.engine.incremental).
JUDGED = "judged.json"


def grid(program: CheckProgram) -> dict[str, Any]:
    """What decides where the store's buckets begin and end: their size, the plan's time zone,
    whether they are local calendar days in it, and the origin fixed-size buckets count from."""
    return {"bucket": program.bucket, "timezone": program.timezone,
            "local_days": local_days(program.timezone, program.bucket),
            "origin": _iso(EPOCH)}


def _iso(t: int) -> str:
    return datetime.datetime.fromtimestamp(int(t), datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Ingested:
    """One input merged into the store: its content fingerprint, name, rows and time span."""

    fingerprint: str
    where: str
    rows: int
    start: str
    end: str
    at: str


@dataclass
class Stored:
    """A store's content as one run sees it: what the manifest says, the sums, the history."""

    manifest: dict[str, Any]
    sums: Sums | None
    history: pa.Table | None
    #: column → family → first bucket whose sums include it (families added after the start).
    since: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Segmented sums as stored (`segments.parquet`; decoded by planspec.engine.segments).
    segments: pa.Table | None = None
    #: The last run's judgement (`judged.json`, decoded by planspec.engine.incremental), and
    #: its path; None in a store written before judgements were kept.
    judged: bytes | None = None
    judged_where: str = ""

    @property
    def fingerprints(self) -> dict[str, str]:
        """Content fingerprint → the name it was ingested under."""
        return {f["fingerprint"]: f["where"] for f in self.manifest.get("files", [])}


# ------------------------------------------------------------------------------ fingerprints


def fingerprint(item: Input) -> str:
    """The content fingerprint of an input: SHA-256 of a file's bytes, or of the Arrow IPC
    stream of an in-memory table or of a source's rows (a database or dataset directory is
    read once for this, a batch at a time: the same rows in the same layout give the same
    digest). ``since`` counts: the same file from another time on is other content."""
    h = hashlib.sha256()
    if item.since is not None:
        h.update(f"since {item.since.isoformat()}\n".encode())
    if item.path is not None:
        with open(item.path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    elif item.table is not None:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, item.table.schema) as w:
            w.write_table(item.table)
        h.update(memoryview(sink.getvalue()))
    elif item.source is not None:
        try:
            for batch in item.source.batches():
                sink = pa.BufferOutputStream()
                with pa.ipc.new_stream(sink, batch.schema) as w:
                    w.write_batch(batch)
                h.update(memoryview(sink.getvalue()))
        except SourceError as e:
            raise DataError(e.code, e.message, e.hint) from None
    return "sha256:" + h.hexdigest()


# ------------------------------------------------------------------------- live sources


def is_live(item: Input) -> bool:
    """Whether ``item`` is a database table or query: rows keep arriving in it, so it is read
    on from a watermark rather than fingerprinted (hashing its content would read it all, and
    every new row would change the digest)."""
    return isinstance(item.source, _Database)


def resume_at(stored: Stored, item: Input, program: CheckProgram) -> datetime.datetime | None:
    """Where a live source is read on from: the start of the bucket held back from its last
    read (:func:`hold_back`); for a source the store has not read, its start when the store
    already reads other live sources (it is another feed beside them), else the end of the
    store's last bucket (a history ingested from files, going live: rows before it are
    already in the store); at least the run's own ``since``."""
    marks = stored.manifest.get("sources", {})
    mark = marks.get(item.where)
    if mark is not None:
        t: int | None = int(mark["from"])
    elif stored.sums is not None and not marks:
        t = int(bucket_starts(stored.sums.ids[-1:] + 1, stored.sums.size, program.timezone)[0])
    else:
        t = None
    since = None if t is None else datetime.datetime.fromtimestamp(t, datetime.UTC)
    if item.since is not None and (since is None or item.since > since):
        since = item.since
    return since


def live_input(item: Input, since: datetime.datetime | None) -> Input:
    """``item`` reading only rows at or after ``since`` (pushed down into the database's
    ``WHERE``)."""
    assert item.source is not None
    return replace(item, source=replace(item.source, since=since), since=since)


def live_fingerprint(item: Input) -> str:
    """What names one read of a live source: its URI and where the read began."""
    since = item.since.isoformat() if item.since is not None else "the start"
    return "live:" + hashlib.sha256(f"{item.where}\n{since}".encode()).hexdigest()


def hold_back(sums: Sums, tz: str) -> tuple[Sums | None, Sums, int]:
    """A live read's sums split into what the store keeps (every bucket before its last) and
    its last bucket, which more rows may still reach: judged in this run, not stored, and read
    again from its start (returned) next time, so it is never counted twice."""
    last = sums.ids.size - 1
    start = int(bucket_starts(sums.ids[last:], sums.size, tz)[0])
    tail = sums.take(np.array([last]))
    tail.t_min = max(tail.t_min, start)
    if last == 0:
        return None, tail, start
    kept = sums.take(np.arange(last))
    kept.t_max = min(kept.t_max, start - 1)
    return kept, tail, start


def split_rows(path: Path, timestamp: str, before: int, where: str) -> pa.Table | None:
    """Rewrite the rows file at ``path`` with only its rows before ``before`` (removed when
    none are) and return the others: the held-back bucket's narrow rows, joined in this run
    only."""

    from planspec.data import timestamps

    if not path.exists():
        return None
    table = _read_parquet(path)
    early = timestamps(table, timestamp, where) < before
    tmp = path.with_name(f".{path.name}.split-{os.getpid()}")
    if early.any():
        _write_parquet(table.filter(pa.array(early)), tmp)
        os.replace(tmp, path)
    else:
        path.unlink()
    return table.filter(pa.array(~early))


# ---------------------------------------------------------------------------------- reading


def _current(root: Path) -> Path | None:
    head = root / "CURRENT"
    if not head.exists():
        return None
    name = head.read_text(encoding="utf-8").strip()
    gen = root / name
    if not name.startswith("gen-") or not gen.is_dir():
        raise DataError("PS431", f"{head}: names `{name}`, which is not a generation of the "
                        "store", "the store is damaged; restore it from a backup")
    return gen


def read_manifest(root: Path) -> tuple[Path | None, dict[str, Any] | None]:
    """The current generation's folder and manifest (None, None for a new store)."""
    gen = _current(root)
    if gen is None:
        if root.exists() and not root.is_dir():
            raise DataError("PS431", f"{root}: not a directory")
        return None, None
    path = gen / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError("PS431", f"{path}: cannot read the store's manifest: {e}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        version = manifest.get("format") if isinstance(manifest, dict) else None
        raise DataError("PS431", f"{path}: store format {version!r}; this planspec reads "
                        f"format {FORMAT}", "use the planspec version that wrote it")
    return gen, manifest


def _read_sums(gen: Path, manifest: Mapping[str, Any], needs: Mapping[str, ColumnNeed],
               profile: Profile) -> tuple[Sums | None, dict[str, list[str]]]:
    """The stored sums of the columns in ``needs``, and the families each lacks."""

    if not manifest.get("buckets"):
        return None, {}
    try:
        table = _read_parquet(gen / "sums.parquet")
    except (OSError, pa.ArrowInvalid) as e:
        raise DataError("PS431", f"{gen / 'sums.parquet'}: cannot read it: {e}") from None
    groups: dict[str, dict[str, np.ndarray]] = {}
    ids: np.ndarray | None = None
    for (column, family), buckets, values in grouped(table, ("column", "family")):
        groups.setdefault(column, {})[family] = values
        if column == "" and family == ROWS:
            ids = buckets
    if ids is None:
        raise DataError("PS431", f"{gen / 'sums.parquet'}: no row counts")
    k = ids.size
    missing: dict[str, list[str]] = {}
    columns: dict[str, BucketSums] = {}
    for name, need in needs.items():
        c, lacking = from_families(need, profile.columns.get(name), k, groups.get(name, {}))
        columns[name] = c
        if lacking:
            missing[name] = lacking
    sums = Sums(int(manifest["bucket"]), ids, groups[""][ROWS][:, 0],
                int(manifest["t_min"]), int(manifest["t_max"]), columns)
    return sums, missing


def grouped(table: pa.Table, keys: tuple[str, ...]
            ) -> Iterator[tuple[tuple[str, ...], np.ndarray, np.ndarray]]:
    """The rows of a sums table grouped by its text columns ``keys`` (e.g. column and family):
    each group's key, its buckets, and its values as one (rows, width) array, decoded
    column-wise (no Python object per value)."""
    key = pc.binary_join_element_wise(*(table.column(k) for k in keys), "\x00")
    encoded = pc.dictionary_encode(key).combine_chunks()
    names = encoded.dictionary.to_pylist()
    codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False))
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    values = table.column("values").combine_chunks()
    buckets = np.asarray(table.column("bucket").to_numpy(), dtype=np.int64)
    for i, name in enumerate(names):
        rows = order[bounds[i]:bounds[i + 1]]
        flat = np.asarray(pc.list_flatten(values.take(pa.array(rows))).to_numpy(
            zero_copy_only=False), dtype=np.float64)
        yield tuple(name.split("\x00")), buckets[rows], flat.reshape(rows.size,
                                                                     flat.size // rows.size)


def open_store(root: str | Path, program: CheckProgram, profile: Profile,
               where_plan: str = "the plan", where_baseline: str = "the baseline",
               where_timezone: str | None = None) -> Stored:
    """The store at ``root`` as this run sees it (empty when it does not exist yet). A store
    made for another plan, baseline, bucket size, time zone or timestamp is refused (PS430),
    located at the plan's file (``where_plan``; ``where_timezone``: where it sets its zone); a
    plan that only adds checks is accepted, and the new families' first complete bucket is
    recorded."""

    root = Path(root)
    gen, manifest = read_manifest(root)
    if gen is None or manifest is None:
        return Stored({"format": FORMAT, "files": [], "runs": 0, "since": {}}, None, None)
    mpath = gen / "manifest.json"

    def refuse(what: str, hint: str) -> DataError:
        return DataError("PS430", f"{mpath}: this store was made {what}", hint)

    if manifest.get("plan") != program.plan.plan:
        raise refuse(f"for the plan `{manifest.get('plan')}`, not `{program.plan.plan}` "
                     f"({where_plan})", "use a new --store directory for another plan")
    if manifest.get("baseline_fingerprint") != profile.data_fingerprint:
        raise refuse(f"against the baseline {manifest.get('baseline_fingerprint')}, not "
                     f"{profile.data_fingerprint} ({where_baseline})",
                     "the bins come from the baseline: start a new store for a new baseline")
    if manifest.get("bucket") != program.bucket or manifest.get("timestamp") != program.timestamp:
        raise refuse(f"with {manifest.get('bucket')}-second buckets on "
                     f"`{manifest.get('timestamp')}`; {where_plan} needs {program.bucket}-second "
                     f"buckets on `{program.timestamp}`",
                     "window lengths that change the bucket size need a new store")
    zone = manifest.get("timezone")
    if zone is None and grid(program)["local_days"]:  # written before zones were recorded
        raise refuse(f"without a record of its time zone; {where_timezone or where_plan} puts "
                     f"its days in `{program.timezone}`",
                     "local days cannot be checked against an unknown zone: start a new store")
    if zone is not None and zone != program.timezone:
        raise refuse(f"in the time zone `{zone}`; {where_timezone or where_plan} sets "
                     f"`timezone: {program.timezone}`",
                     f"its buckets and judged windows begin at midnight in `{zone}` and cannot "
                     f"be re-cut: keep `timezone: {zone}`, or start a new --store directory")
    old_grid = manifest.get("grid")
    if old_grid is not None and old_grid != grid(program):
        raise refuse(f"on the bucket grid {old_grid}; {where_plan} needs {grid(program)}",
                     "a store's buckets are fixed when it is made: start a new store")
    needs = column_needs(program)
    stored_cols: dict[str, Any] = manifest.get("columns", {})
    for name, need in needs.items():
        old = stored_cols.get(name)
        if old is not None and old["kind"] != need.kind:
            raise refuse(f"with `{name}` as {old['kind']}; {where_plan} declares it "
                         f"{need.kind}", "a column that changes type needs a new store")
    sums, missing = _read_sums(gen, manifest, needs, profile)
    since = {c: dict(f) for c, f in manifest.get("since", {}).items() if c in needs}
    if sums is not None:
        after = int(sums.ids.max()) + 1  # the first bucket gathered whole from now on
        for column, lacking in missing.items():
            for family in lacking:
                since.setdefault(column, {})[family] = after
    history = None
    hpath = gen / "history.parquet"
    if hpath.exists():
        try:
            history = _read_parquet(hpath)
        except (OSError, pa.ArrowInvalid) as e:
            raise DataError("PS431", f"{hpath}: cannot read it: {e}") from None
    segments = None
    spath = gen / SEGMENTS
    if spath.exists():
        try:
            segments = _read_parquet(spath)
        except (OSError, pa.ArrowInvalid) as e:
            raise DataError("PS431", f"{spath}: cannot read it: {e}") from None
    jpath = gen / JUDGED
    judged = None
    if jpath.exists():
        try:
            judged = jpath.read_bytes()
        except OSError as e:
            raise DataError("PS431", f"{jpath}: cannot read it: {e}") from None
    return Stored(manifest, sums, history, since, segments, judged, str(jpath))


# ---------------------------------------------------------------------------------- writing


@contextlib.contextmanager
def locked(root: str | Path) -> Iterator[None]:
    """Hold the store's lock: one writer at a time (a second run waits)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _sums_table(sums: Sums, needs: Mapping[str, ColumnNeed]) -> pa.Table:
    parts: list[pa.Table] = []

    def add(column: str, family: str, values: np.ndarray) -> None:
        k, width = values.shape
        flat = pa.array(np.ascontiguousarray(values, dtype=np.float64).ravel())
        offsets = pa.array(np.arange(k + 1, dtype=np.int32) * width)
        parts.append(pa.table({
            "bucket": pa.array(sums.ids, pa.int64()),
            "column": pa.array([column] * k, pa.string()),
            "family": pa.array([family] * k, pa.string()),
            "values": pa.ListArray.from_arrays(offsets, flat)}))

    add("", ROWS, sums.rows[:, None])
    for name, c in sums.columns.items():
        for family, values in families(needs[name], c).items():
            add(name, family, values)
    return pa.concat_tables(parts)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_parquet(path: Path, columns: list[str] | None = None) -> pa.Table:
    """A whole Parquet file, without ``pq.read_table``'s import of ``pyarrow.dataset`` (about
    0.2 s of a nightly run that reads three small files)."""
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).read(columns=columns)


def _write_parquet(table: pa.Table, path: Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path)
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def commit(root: str | Path, program: CheckProgram, profile: Profile, stored: Stored,
           sums: Sums | None, ingested: list[Ingested], history: pa.Table | None,
           rows_files: list[str], segments: pa.Table | None = None,
           extra: Mapping[str, bytes] | None = None) -> Path:
    """Write ``sums`` (None: no buckets yet, only a live source's held-back one), ``history``,
    the segmented sums and ``extra`` files (name → content: the run's judgement) as the store's
    next generation and make it current atomically; the previous generation is removed only
    after the switch. Returns the new generation's folder."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    number = int(stored.manifest.get("generation", 0)) + 1
    name = f"gen-{number:06d}"
    tmp = root / f".{name}.tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    needs = column_needs(program)
    if sums is not None:
        _write_parquet(_sums_table(sums, needs), tmp / "sums.parquet")
    if history is not None:
        _write_parquet(history, tmp / "history.parquet")
    if segments is not None:
        _write_parquet(segments, tmp / SEGMENTS)
    for file, content in (extra or {}).items():
        with open(tmp / file, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
    manifest = {
        "format": FORMAT, "generation": number, "plan": program.plan.plan,
        "plan_fingerprint": plan_fingerprint(program),
        "baseline_fingerprint": profile.data_fingerprint, "bucket": program.bucket,
        "timezone": program.timezone, "grid": grid(program), "timestamp": program.timestamp,
        "columns": {n: {"kind": need.kind,
                        "families": list(expected_families(need, profile.columns.get(n)))}
                    for n, need in needs.items()},
        "buckets": 0 if sums is None else int(sums.ids.size),
        "first_bucket": None if sums is None else _iso(int(bucket_starts(
            sums.ids[:1], sums.size, program.timezone)[0])),
        "rows": 0 if sums is None else sums.total,
        "t_min": None if sums is None else sums.t_min,
        "t_max": None if sums is None else sums.t_max,
        "files": [*stored.manifest.get("files", []), *(vars(i) for i in ingested)],
        "sources": stored.manifest.get("sources", {}),
        "rows_files": rows_files,
        "runs": int(stored.manifest.get("runs", 0)) + 1,
        "since": stored.since,
        "written": _iso(int(datetime.datetime.now(datetime.UTC).timestamp())),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    with open(tmp / "manifest.json", "rb+") as f:
        os.fsync(f.fileno())
    _fsync_dir(tmp)
    final = root / name
    if final.exists():  # left by a run killed after the rename, before CURRENT moved
        shutil.rmtree(final)
    os.rename(tmp, final)
    _fsync_dir(root)
    write_atomic(root / "CURRENT", name + "\n")
    _fsync_dir(root)
    _tidy(root, name, set(rows_files))
    return final


def _tidy(root: Path, current: str, rows_files: set[str]) -> None:
    """Remove generations, temporary folders and row files the current generation does not
    use (left by earlier runs, or by runs that were killed)."""
    for entry in root.iterdir():
        if entry.name in (current, "CURRENT", ".lock", ROWS_DIR):
            continue
        if entry.name.startswith(("gen-", ".gen-")) or entry.name.startswith(".CURRENT."):
            shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink()
    rows = root / ROWS_DIR
    if rows.is_dir():
        for entry in rows.iterdir():
            if entry.name not in rows_files:
                entry.unlink()


ROWS_DIR = "rows"


def rows_file_name(fp: str) -> str:
    """The file holding an input's narrow columns, named by its content fingerprint."""
    return fp.split(":", 1)[-1][:32] + ".parquet"


class RowsWriter:
    """Writes an input's narrow columns to a rows file batch by batch (through a temporary
    name, renamed when complete), so they never all sit in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        self.writer: Any = None

    def write(self, batch: pa.RecordBatch) -> None:
        import pyarrow.parquet as pq

        if self.writer is None:
            self.writer = pq.ParquetWriter(self.tmp, batch.schema)
        self.writer.write_batch(batch)

    def __enter__(self) -> RowsWriter:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        if self.writer is None:
            return
        self.writer.close()
        if kind is None:
            with open(self.tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(self.tmp, self.path)
        else:
            with contextlib.suppress(OSError):
                self.tmp.unlink()


def read_rows(root: Path, names: list[str], columns: list[str]) -> pa.Table | None:
    """The narrow columns of every ingested input (for outcome joins)."""

    tables = []
    for name in names:
        path = root / ROWS_DIR / name
        try:
            tables.append(_read_parquet(path, columns))
        except (OSError, pa.ArrowInvalid, KeyError) as e:
            raise DataError("PS431", f"{path}: cannot read the scored rows outcome joins "
                            f"need: {e}", "the store is damaged or older than this plan's "
                            "outcome monitors") from None
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="permissive")


# ---------------------------------------------------------------------------------- history


HISTORY_SCHEMA = pa.schema([
    ("run", pa.int64()), ("as_of", pa.string()), ("check", pa.string()),
    ("start", pa.string()), ("end", pa.string()), ("n", pa.int64()),
    ("value", pa.float64()), ("status", pa.string()), ("firing", pa.string()),
    ("since", pa.string())])


def judged_windows(results: Any, run: int) -> pa.Table:
    """Every judged window of ``results`` as history rows, with the start of the firing streak
    each firing window belongs to (``since``)."""
    cols: dict[str, list[Any]] = {f.name: [] for f in HISTORY_SCHEMA}
    for c in results.checks:
        since: str | None = None
        for w in c.windows:
            since = (since or w.start) if w.firing is not None else None
            for name, value in (("run", run), ("as_of", results.as_of), ("check", c.id),
                                ("start", w.start), ("end", w.end), ("n", w.n),
                                ("value", w.value), ("status", w.status),
                                ("firing", w.firing), ("since", since)):
                cols[name].append(value)
    return pa.table(cols, schema=HISTORY_SCHEMA)


def append_history(old: pa.Table | None, new: pa.Table) -> tuple[pa.Table, int]:
    """``old`` plus the windows of ``new`` whose judgement is new or changed since the last
    time each was recorded; and how many were appended."""
    if old is None or old.num_rows == 0:
        return new, new.num_rows
    fields = ["n", "value", "status", "firing", "since"]

    def keys(t: pa.Table) -> list[tuple[Any, ...]]:
        return list(zip(*(t.column(c).to_pylist() for c in ["check", "start", "end", *fields]),
                        strict=True))

    latest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in keys(old):  # rows are in run order: the last one of a window wins
        latest[row[:3]] = row[3:]
    changed = [i for i, row in enumerate(keys(new)) if latest.get(row[:3]) != row[3:]]
    added = new.take(pa.array(changed, pa.int64())) if changed else new.slice(0, 0)
    return pa.concat_tables([old.cast(HISTORY_SCHEMA), added]), len(changed)


# ------------------------------------------------------------------------------------- info


def store_info(root: str | Path) -> dict[str, Any]:
    """A summary of the store at ``root``: buckets, time span, rows, files ingested, runs,
    columns and their families, and what fires in the latest recorded run."""

    root = Path(root)
    if not root.is_dir():
        raise DataError("PS431", f"{root}: no such store")
    gen, manifest = read_manifest(root)
    if gen is None or manifest is None:
        raise DataError("PS431", f"{root}: not a planspec store (no CURRENT)",
                        "a store is made by `planspec check … --store DIR`")
    info = {k: manifest.get(k) for k in ("format", "generation", "plan", "plan_fingerprint",
                                         "baseline_fingerprint", "bucket", "timezone", "timestamp",
                                         "buckets", "rows", "runs", "written")}
    zone = manifest.get("timezone") or "UTC"
    info["start"] = _iso(int(manifest["t_min"])) if manifest.get("buckets") else None
    info["end"] = _iso(int(manifest["t_max"])) if manifest.get("buckets") else None
    info["first_bucket"] = manifest.get("first_bucket")
    info["columns"] = manifest.get("columns", {})
    info["since"] = {c: {f: _iso(int(bucket_starts(np.array([b]), int(manifest["bucket"]),
                                                   zone)[0]))
                         for f, b in fams.items()} for c, fams in manifest.get("since",
                                                                               {}).items()}
    info["files"] = manifest.get("files", [])
    info["history_rows"] = 0
    info["firing"] = []
    hpath = gen / "history.parquet"
    if hpath.exists():
        history = _read_parquet(hpath)
        info["history_rows"] = history.num_rows
        info["firing"] = _firing_now(history)
    return info


def _firing_now(history: pa.Table) -> list[dict[str, Any]]:
    """The alerts firing in their latest window, as the history last recorded them."""
    rows = history.to_pylist()
    latest: dict[str, dict[str, Any]] = {}
    for r in rows:
        prev = latest.get(r["check"])
        if prev is None or (r["start"], r["run"]) >= (prev["start"], prev["run"]):
            latest[r["check"]] = r
    return [{"id": r["check"], "level": r["firing"], "since": r["since"], "window": r["start"]}
            for r in latest.values() if r["firing"]]
