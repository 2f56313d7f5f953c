"""The Dask engine on a real LocalCluster of worker processes: the demo split into several files
(several row groups each), a hive-partitioned dataset directory and a dask DataFrame give the
local engine's windows (counts and histograms exactly, moments to 1e-12 relative), outcomes
included; sums pickle whole; errors raised on a worker come back whole; a scheduler that does
not answer, a missing dask and in-memory data are PS412 (exit 2, no traceback)."""

from __future__ import annotations

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
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from planspec.cli import main
from planspec.compile import CheckProgram, compile_plan
from planspec.data import DataError
from planspec.demo import write_demo_data
from planspec.engine.distributed import Job, Part, _gather_part, local_cluster, partitions
from planspec.engine.gather import column_needs, merge_all
from planspec.engine.run import run_program
from planspec.load import load_plan
from planspec.profile import build_profile

from .test_sums import assert_close

distributed = pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parent.parent
PLAN = str(ROOT / "plans" / "rental_inspector.yaml")
ROWS_PER_GROUP = 400  # small row groups, so each file is several partitions


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """One LocalCluster of two worker processes for the module: its scheduler's address."""
    with local_cluster() as c:  # what `--engine dask` starts without an address
        yield c.scheduler_address


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
    month = pc.strftime(scored.column("scored_at"), "%Y-%m")
    pq.write_to_dataset(scored.append_column("month", month), d / "scored_ds",
                        partition_cols=["month"])
    outcomes = {"inspector_audits": str(paths["inspector_audits"]),
                "lease_registry": str(paths["lease_registry"])}
    return {"dir": d, "program": program, "profile": profile, "files": files,
            "scored": str(paths["scored"]), "dataset": str(d / "scored_ds"),
            "outcomes": outcomes}


def windows(results: Any) -> dict[str, Any]:
    data = json.loads(results.model_dump_json())
    return {k: data[k] for k in ("windows", "checks", "firing", "data", "as_of", "outcomes")}


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


def test_partitions_are_row_groups_and_dataset_fragments(demo: dict[str, Any]) -> None:
    parts = partitions(demo["files"], batch_rows=ROWS_PER_GROUP)
    groups = pq.read_metadata(demo["files"][0]).num_row_groups
    assert groups > 1 and len(parts) == 4 * groups
    assert parts[0] == Part(demo["files"][0], (0,)) and parts[1].row_groups == (1,)
    # Coarser partitions hold several row groups; every row group is in exactly one.
    coarse = partitions(demo["files"], batch_rows=3 * ROWS_PER_GROUP)
    assert sorted((p.path, g) for p in coarse for g in p.row_groups or ()) == \
        sorted((p.path, g) for p in parts for g in p.row_groups or ())
    fragments = {p.path for p in partitions(demo["dataset"])}
    assert len(fragments) == 12 and all("month=" in f for f in fragments)


def test_partition_sums_pickle_and_merge_to_the_whole(demo: dict[str, Any]) -> None:
    program, profile = demo["program"], demo["profile"]
    needs = column_needs(program)
    columns = (program.timestamp, *needs)
    job = Job(needs, columns, {n: v.kind for n, v in needs.items()}, program.timestamp,
              profile, program.bucket, (), 1 << 20)
    job = pickle.loads(pickle.dumps(job))  # what a worker receives
    sums = [_gather_part(p, job)[0] for p in partitions(demo["files"], ROWS_PER_GROUP)]
    back = [pickle.loads(pickle.dumps(s)) for s in sums]
    assert all(s is not None for s in back)
    merged = merge_all([s for s in back if s is not None])
    whole = _gather_part(Part(demo["scored"]), job)[0]
    assert whole is not None and merged.total == whole.total
    assert np.array_equal(merged.ids, whole.ids)


@pytest.mark.parametrize("source", ["files", "dataset"])
def test_dask_equals_the_local_engine(source: str, demo: dict[str, Any], cluster: str) -> None:
    program, profile = demo["program"], demo["profile"]
    local = run_program(program, demo["scored"], profile, outcomes=demo["outcomes"])
    on_dask = run_program(program, demo[source], profile, outcomes=demo["outcomes"],
                          engine="dask", scheduler=cluster, batch_rows=ROWS_PER_GROUP)
    assert on_dask.outcomes and on_dask.data == local.data
    assert_close(windows(on_dask), windows(local))


def test_a_dask_dataframe_equals_the_local_engine(demo: dict[str, Any], cluster: str) -> None:
    dd = pytest.importorskip("dask.dataframe")
    program, profile = demo["program"], demo["profile"]
    frame = dd.read_parquet(demo["files"])
    local = run_program(program, demo["scored"], profile)
    assert_close(windows(run_program(program, frame, profile, engine="dask",
                                     scheduler=cluster)), windows(local))


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
    local = json.loads((tmp_path / "local.json").read_text())
    on_dask = json.loads((tmp_path / "dask.json").read_text())
    assert_close({k: on_dask[k] for k in ("windows", "checks", "firing")},
                 {k: local[k] for k in ("windows", "checks", "firing")})


def test_without_an_address_a_local_cluster_runs_and_closes(demo: dict[str, Any]) -> None:
    program, profile = demo["program"], demo["profile"]
    first = demo["files"][:1]
    on_dask = run_program(program, first, profile, engine="dask")
    assert_close(windows(on_dask), windows(run_program(program, first, profile)))
    with pytest.raises(ValueError):  # the client and cluster it started are closed again
        distributed.default_client()


def test_an_error_on_a_worker_comes_back_located(demo: dict[str, Any], cluster: str,
                                                 tmp_path: Path) -> None:
    bad = tmp_path / "nosqft.parquet"
    pq.write_table(pq.read_table(demo["files"][0]).drop_columns(["sqft"]), bad)
    with pytest.raises(DataError) as e:
        run_program(demo["program"], [demo["files"][1], str(bad)], demo["profile"],
                    engine="dask", scheduler=cluster)
    assert e.value.code == "PS402" and str(bad) in e.value.message


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


def test_in_memory_data_and_usage_errors(demo: dict[str, Any],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    table = pq.read_table(demo["files"][0])
    with pytest.raises(DataError) as e:
        run_program(demo["program"], table, demo["profile"], engine="dask")
    assert e.value.code == "PS412" and "Table" in e.value.message
    # The local engine takes the same table.
    assert run_program(demo["program"], table, demo["profile"]).data["rows"] == table.num_rows
    d = demo["dir"]
    base = ("check", PLAN, "--baseline", str(d / "baseline.json"), "--data", demo["files"][0])
    assert run(*base, "--scheduler", "tcp://127.0.0.1:1")[0] == 2
    assert "--scheduler needs --engine dask" in capsys.readouterr().err
    assert run(*base, "--engine", "dask", "--store", str(d / "sums"))[0] == 2
    assert "--store runs on the local engine" in capsys.readouterr().err


def test_an_empty_dataset_directory(tmp_path: Path, demo: dict[str, Any]) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError) as e:
        partitions([str(tmp_path / "empty")])
    assert e.value.code == "PS401"
