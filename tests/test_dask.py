"""The Dask engine on a real LocalCluster of two worker processes (one for the module): the demo
split into several files (several row groups each), a hive-partitioned dataset directory, a
DuckDB table cut into time ranges, a real PostgreSQL table and a dask DataFrame give the local
engine's windows (counts and histograms exactly, moments to 1e-12 relative), outcomes included;
``--since`` reads only the row groups that can hold rows from then on; ``--store`` merges sums
gathered on the cluster; errors raised on a worker come back located; a scheduler that does
not answer and a missing dask are PS412 (exit 2, no traceback)."""

from __future__ import annotations

import datetime
import io
import json
import pickle
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from planspec.cli import main
from planspec.compile import CheckProgram, compile_plan
from planspec.data import DataError, Input, inputs
from planspec.demo import write_demo_data
from planspec.engine.distributed import _merge, connect, gather_task, job_for, partitions
from planspec.engine.gather import merge_all
from planspec.engine.run import run_program
from planspec.load import load_plan
from planspec.profile import build_profile
from planspec.sources import open_source
from tests import pg

from .test_sums import assert_close

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent
PLAN = str(ROOT / "plans" / "rental_inspector.yaml")
ROWS_PER_GROUP = 400  # small row groups, so each file is several partitions
PART_ROWS = 1000  # rows per partition in the runs: a few tasks each (a loaded machine)
SINCE = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def started() -> Iterator[Any]:
    """The module's one cluster, started as `--engine dask` without an address starts it (a
    LocalCluster of two worker processes) and closed by it afterwards: its client."""
    with connect(None) as client:
        yield client
    with pytest.raises(ValueError):  # the client and the cluster it started are closed again
        distributed.default_client()
    assert client.status == "closed" and client.cluster.status.name == "closed"


@pytest.fixture(scope="module")
def cluster(started: Any) -> str:
    """The scheduler's address of the module's cluster."""
    return str(started.scheduler.address)


def _program() -> CheckProgram:
    parsed = load_plan(PLAN)
    assert parsed.plan is not None
    return compile_plan(parsed.plan, parsed.source_map)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("dask-demo")
    paths = write_demo_data(d, rows=3000, seed=5)
    program = _program()
    profile = build_profile(program, str(paths["baseline"]))
    (d / "baseline.json").write_text(profile.model_dump_json())
    scored = pq.read_table(paths["scored"])
    files = []
    for i in range(4):  # four files, interleaved rows: every file spans the whole year
        path = d / "split" / f"part-{i}.parquet"
        path.parent.mkdir(exist_ok=True)
        pq.write_table(scored.take(np.arange(i, scored.num_rows, 4)), path,
                       row_group_size=ROWS_PER_GROUP)
        files.append(str(path))
    pq.write_table(scored.sort_by("scored_at"), d / "sorted.parquet",
                   row_group_size=ROWS_PER_GROUP)  # row groups that each span some weeks
    outcomes = {"inspector_audits": str(paths["inspector_audits"]),
                "lease_registry": str(paths["lease_registry"])}
    return {"dir": d, "program": program, "profile": profile, "files": files,
            "scored": str(paths["scored"]), "dataset": str(paths["scored_dataset"]),
            "duckdb": f"duckdb:{paths['duckdb']}?table=scored", "outcomes": outcomes,
            "table": scored, "sorted": str(d / "sorted.parquet")}


def windows(results: Any) -> dict[str, Any]:
    data = json.loads(results.model_dump_json())
    return {k: data[k] for k in ("windows", "checks", "firing", "data", "as_of", "outcomes")}


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


def _tasks(demo: dict[str, Any], data: Any, part_rows: int = ROWS_PER_GROUP) -> list[Any]:
    columns = job_for(demo["program"], demo["profile"], {}).columns
    return [t for item in inputs(data) for t in partitions(item, columns, part_rows)]


def _rows(demo: dict[str, Any], tasks: list[Any]) -> int:
    job = pickle.loads(pickle.dumps(job_for(demo["program"], demo["profile"], {})))
    sums = [gather_task(pickle.loads(pickle.dumps(t)), job)[0].sums for t in tasks]
    return sum(s.total for s in sums if s is not None)


def test_partitions_are_row_groups_dataset_fragments_and_time_ranges(
        demo: dict[str, Any]) -> None:
    groups = pq.read_metadata(demo["files"][0]).num_row_groups
    parts = _tasks(demo, demo["files"])
    assert groups > 1 and len(parts) == 4 * groups
    assert parts[1].where == f"{demo['files'][0]} (row group 1)"
    coarse = _tasks(demo, demo["files"], 2 * ROWS_PER_GROUP)
    assert len(coarse) < len(parts) and "row groups 0–1" in coarse[0].where
    # The dataset's partition column (month=…/) is filled in on the worker.
    fragments = _tasks(demo, demo["dataset"])
    assert len({t.fragment.path for t in fragments}) == 12
    assert "month" in fragments[0].schema.names
    # A DuckDB table: time ranges of about part_rows rows, every row in exactly one.
    ranges = _tasks(demo, demo["duckdb"], PART_ROWS)
    assert len(ranges) == 3 and "scored_at" in ranges[1].where
    for tasks in (parts, coarse, fragments, ranges):
        assert _rows(demo, tasks) == demo["table"].num_rows


def test_since_reads_only_the_row_groups_that_can_hold_rows(demo: dict[str, Any]) -> None:
    times = demo["table"].column("scored_at").to_pylist()
    later = sum(t >= SINCE for t in times)
    for data in (demo["sorted"], demo["dataset"], demo["duckdb"]):
        every = _tasks(demo, open_source(data))
        since = _tasks(demo, open_source(data, since=SINCE))
        assert len(since) < len(every), data
        assert _rows(demo, since) == later, data
    # A file that ends before `since` is not read at all.
    assert _tasks(demo, open_source(demo["sorted"], since=datetime.datetime(2030, 1, 1))) == []


def test_partition_sums_merge_to_the_whole(demo: dict[str, Any]) -> None:
    job = job_for(demo["program"], demo["profile"], {})
    parts = [gather_task(t, job)[0] for t in _tasks(demo, demo["files"])]
    merged = merge_all([p.sums for p in parts if p.sums is not None])
    whole = gather_task(_tasks(demo, demo["scored"], 1 << 20)[0], job)[0]
    assert whole.sums is not None and merged.total == whole.sums.total
    assert np.array_equal(merged.ids, whole.sums.ids)
    # the worked example's segmented alert: its per-segment sums merge to the whole's too
    assert demo["program"].slices and whole.segments
    segments = _merge(*parts).segments
    for key, values in whole.segments.items():
        assert sorted(segments[key]) == sorted(values)
        for value, s in values.items():
            assert segments[key][value].total == s.total
            assert np.array_equal(segments[key][value].ids, s.ids)


@pytest.fixture(scope="module")
def reference(demo: dict[str, Any]) -> Any:
    """The local engine's results on the demo, outcomes included."""
    return run_program(demo["program"], demo["scored"], demo["profile"],
                       outcomes=demo["outcomes"])


@pytest.mark.parametrize("source", ["files", "dataset", "duckdb"])
def test_dask_equals_the_local_engine(source: str, demo: dict[str, Any], cluster: str,
                                      reference: Any) -> None:
    program, profile = demo["program"], demo["profile"]
    on_dask = run_program(program, demo[source], profile, outcomes=demo["outcomes"],
                          engine="dask", scheduler=cluster, batch_rows=PART_ROWS)
    assert on_dask.outcomes and on_dask.data == reference.data
    assert_close(windows(on_dask), windows(reference))


def test_since_on_dask_equals_since_locally(demo: dict[str, Any], cluster: str) -> None:
    program, profile = demo["program"], demo["profile"]
    local = run_program(program, open_source(demo["scored"], since=SINCE), profile)
    on_dask = run_program(program, open_source(demo["dataset"], since=SINCE), profile,
                          engine="dask", scheduler=cluster, batch_rows=PART_ROWS)
    assert local.data["start"] >= "2026-06-01"
    assert_close(windows(on_dask), windows(local))
    with pytest.raises(DataError) as e:  # nothing after `since`: the local engine's error
        run_program(program, open_source(demo["files"], since=datetime.datetime(2030, 1, 1)),
                    profile, engine="dask", scheduler=cluster)
    assert e.value.code == "PS405" and "since 2030-01-01" in e.value.message


def test_postgres_on_dask_equals_the_local_engine(demo: dict[str, Any], cluster: str) -> None:
    if pg.find_bin() is None:
        pytest.skip("NO POSTGRESQL SERVER: initdb/pg_ctl not found; `apt-get install "
                    "postgresql` (as .ci/run does) to run the PostgreSQL tests")
    program, profile = demo["program"], demo["profile"]
    with pg.running_postgres() as server:
        pg.load_tables(server, {"scored": demo["table"]})
        # The workers started before this test: the password travels in the URI (masked).
        uri = f"{server.admin_uri()}?table=scored"
        ranges = _tasks(demo, uri, PART_ROWS)
        assert len(ranges) == 3 and _rows(demo, ranges) == demo["table"].num_rows
        on_dask = run_program(program, open_source(uri, since=SINCE), profile, engine="dask",
                              scheduler=cluster, batch_rows=PART_ROWS)
    local = run_program(program, open_source(demo["scored"], since=SINCE), profile)
    assert_close(windows(on_dask), windows(local))


def test_a_dask_dataframe_equals_the_local_engine(demo: dict[str, Any], cluster: str) -> None:
    dd = pytest.importorskip("dask.dataframe")
    program, profile = demo["program"], demo["profile"]
    frame = dd.read_parquet(demo["files"])
    local = run_program(program, demo["scored"], profile)
    assert_close(windows(run_program(program, frame, profile, engine="dask",
                                     scheduler=cluster)), windows(local))


def _json(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    return {k: data[k] for k in ("windows", "checks", "firing")}


def test_cli_engine_dask_writes_the_local_results(demo: dict[str, Any], cluster: str,
                                                  tmp_path: Path) -> None:
    d = demo["dir"]
    common = ("check", PLAN, "--baseline", str(d / "baseline.json"), "--format", "json",
              "--fail-on", "fail", "--outcomes",
              *[f"{k}={v}" for k, v in demo["outcomes"].items()])
    code_local, _ = run(*common, "--data", demo["scored"], "-o", str(tmp_path / "local.json"))
    code_dask, _ = run(*common, "--data", *demo["files"], "--engine", "dask", "--scheduler",
                       cluster, "-o", str(tmp_path / "dask.json"))
    assert code_dask == code_local
    assert_close(_json(tmp_path / "dask.json"), _json(tmp_path / "local.json"))


def test_a_store_merges_sums_gathered_on_dask(demo: dict[str, Any], cluster: str,
                                              reference: Any, tmp_path: Path) -> None:
    d = demo["dir"]
    store = tmp_path / "sums"
    for files in (demo["files"][:2], demo["files"][2:]):  # two nights
        code, _ = run("check", PLAN, "--baseline", str(d / "baseline.json"), "--format", "json",
                      "--fail-on", "never", "--outcomes",
                      *[f"{k}={v}" for k, v in demo["outcomes"].items()], "--store", str(store),
                      "--data", *files, "--engine", "dask", "--scheduler", cluster,
                      "-o", str(tmp_path / "dask.json"))
        assert code == 0
    whole = windows(reference)
    assert_close(_json(tmp_path / "dask.json"), {k: whole[k] for k in ("windows", "checks",
                                                                         "firing")})
    # The narrow rows the outcome joins read are in the store, as the local engine writes them.
    rows = [pq.read_table(p) for p in sorted(store.glob("rows/*.parquet"))]
    assert len(rows) == 4 and sum(t.num_rows for t in rows) == demo["table"].num_rows


def test_without_an_address_a_local_cluster_runs(demo: dict[str, Any], started: Any) -> None:
    assert isinstance(started.cluster, distributed.LocalCluster)
    workers = started.scheduler_info()["workers"].values()
    assert len(workers) == 2 and all(w["nthreads"] == 1 for w in workers)
    program, profile = demo["program"], demo["profile"]
    first = demo["files"][:1]
    on_dask = run_program(program, first, profile, engine="dask", scheduler=started)
    assert_close(windows(on_dask), windows(run_program(program, first, profile)))


def test_an_error_on_a_worker_comes_back_located(demo: dict[str, Any], cluster: str,
                                                 tmp_path: Path) -> None:
    bad = tmp_path / "nosqft.parquet"
    pq.write_table(pq.read_table(demo["files"][0]).drop_columns(["sqft"]), bad)
    with pytest.raises(DataError) as e:
        run_program(demo["program"], [demo["files"][1], str(bad)], demo["profile"],
                    engine="dask", scheduler=cluster)
    assert e.value.code == "PS402" and str(bad) in e.value.message
    missing = f"duckdb:{demo['dir'] / 'demo.duckdb'}?table=scord"  # the bounds query fails
    with pytest.raises(DataError) as e:
        run_program(demo["program"], missing, demo["profile"], engine="dask",
                    scheduler=cluster)
    assert e.value.code == "PS411" and "no table `scord`" in e.value.message


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_scheduler_is_ps412_within_seconds(
        demo: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    d = demo["dir"]
    out = d / "keep.json"
    out.write_text("previous\n")
    start = time.monotonic()
    code, _ = run("check", PLAN, "--baseline", str(d / "baseline.json"), "--data",
                  demo["files"][0], "--engine", "dask", "--scheduler",
                  f"tcp://127.0.0.1:{_free_port()}", "-o", str(out))
    took = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error[PS412]: cannot reach the Dask scheduler"), err
    assert "Traceback" not in err and out.read_text() == "previous\n"
    assert took < 20  # CONNECT_TIMEOUT is 5 s; the rest is a loaded machine's slack


def test_without_dask_the_engine_says_how_to_install_it(
        demo: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    d = demo["dir"]
    code, _ = run("check", PLAN, "--baseline", str(d / "baseline.json"), "--data",
                  demo["files"][0], "--engine", "dask")
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error[PS412]:") and "pip install planspec[dask]" in err
    assert "Traceback" not in err


def test_in_memory_data_and_usage_errors(demo: dict[str, Any],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    table = pq.read_table(demo["files"][0])
    with pytest.raises(DataError) as e:
        run_program(demo["program"], table, demo["profile"], engine="dask")
    assert e.value.code == "PS412" and "in-memory table" in e.value.message
    with pytest.raises(DataError):
        partitions(Input("t", table=pa.table({"x": [1]})), ["x"])
    # The local engine takes the same table.
    assert run_program(demo["program"], table, demo["profile"]).data["rows"] == table.num_rows
    d = demo["dir"]
    base = ("check", PLAN, "--baseline", str(d / "baseline.json"), "--data", demo["files"][0])
    assert run(*base, "--scheduler", "tcp://127.0.0.1:1")[0] == 2
    assert "--scheduler needs --engine dask" in capsys.readouterr().err
