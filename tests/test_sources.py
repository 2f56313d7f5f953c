"""Sources: files, Parquet dataset directories, DuckDB and a real PostgreSQL server give the same
results as the Parquet run; pushdown reads only the columns and rows a run needs; bad sources
exit 2 with their code; a password never appears in any output or results file."""

from __future__ import annotations

import datetime
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from planspec.data import DataError, load_frame
from planspec.load import parse_text
from planspec.sources import (
    Dataset,
    DuckDB,
    Files,
    Postgres,
    SourceError,
    mask,
    open_source,
)
from tests import pg, test_check_cli

ROOT = Path(__file__).resolve().parent.parent
PLAN = str(ROOT / "plans" / "rental_inspector.yaml")
COLUMNS = ["scored_at", "listing_price", "neighborhood"]
SINCE = "2026-06-01T00:00:00Z"


# The check tests' demo fixture (20,000 rows, with demo.duckdb and scored_ds/) and CLI runner.
demo = test_check_cli.demo
run = test_check_cli.run


def outcomes(kind: str, demo: Path) -> list[str]:
    if kind == "duckdb":
        return [f"duckdb:{demo / 'demo.duckdb'}?table={t}"
                for t in ("inspector_audits", "lease_registry")]
    return [str(demo / "outcomes" / "inspector_audits.parquet"),
            str(demo / "outcomes" / "lease_registry.parquet")]


def results(demo: Path, data: str, *extra: str, baseline: str | None = None,
            outcome_kind: str = "parquet") -> dict[str, Any]:
    code, out = run("check", PLAN, "--baseline", baseline or str(demo / "baseline.json"),
                    "--data", data, "--outcomes", *outcomes(outcome_kind, demo),
                    "--format", "json", "--fail-on", "never", *extra)
    assert code == 0, out
    return dict(json.loads(out))


@pytest.fixture(scope="module")
def reference(demo: Path) -> dict[str, Any]:
    return results(demo, str(demo / "scored.parquet"))


# --------------------------------------------------------------------------- URIs, masking


def test_mask_hides_every_password() -> None:
    text = ("postgresql://ana:s3cret@db:5432/ml?table=t and postgres://bo:p%40ss@h/db "
            "and postgresql://cy@h/db")
    masked = mask(text)
    assert "s3cret" not in masked and "p%40ss" not in masked
    assert "postgresql://ana:***@db:5432/ml?table=t" in masked
    assert "postgresql://cy@h/db" in masked


def test_a_source_repr_never_shows_its_password() -> None:
    """A source's repr reaches logs, tracebacks and Dask's task graph."""
    src = open_source("postgresql://ana:s3cret@db:5432/ml?table=t")
    assert "s3cret" not in repr(src) and "s3cret" not in str(src)
    assert repr(src) == "Postgres('postgresql://ana:***@db:5432/ml?table=t')"
    narrowed = src.narrow(["a"], "t")
    assert "s3cret" not in repr(narrowed) and "s3cret" not in repr([narrowed])


def test_open_source_resolves_each_kind(demo: Path) -> None:
    assert isinstance(open_source(str(demo / "scored.parquet")), Files)
    assert isinstance(open_source(str(demo / "sc*.parquet")), Files)
    assert isinstance(open_source(str(demo / "scored_ds")), Dataset)
    d = open_source(f"duckdb:{demo}/demo.duckdb?query=SELECT * FROM scored WHERE bedrooms > 1")
    assert isinstance(d, DuckDB) and d.query == "SELECT * FROM scored WHERE bedrooms > 1"
    assert d.path == f"{demo}/demo.duckdb" and d.table is None
    p = open_source("postgresql://ana:s3cret@db:5432/ml?sslmode=disable&table=scored")
    assert isinstance(p, Postgres) and p.table == "scored"
    # planspec's own settings never reach libpq; a timeout is always set.
    assert p.conninfo == ("postgresql://ana:s3cret@db:5432/ml?sslmode=disable"
                          "&connect_timeout=5")
    assert "s3cret" not in repr(p.where) and p.scrub("auth failed for s3cret") == \
        "auth failed for ***"
    q = open_source("postgresql://ana:p%40ss@db/ml?options=-c%20search_path%3Dml&table=t")
    assert isinstance(q, Postgres)
    assert q.scrub("p@ss and p%40ss") == "*** and ***"
    assert q.conninfo.endswith("?options=-c+search_path%3Dml&connect_timeout=5")


@pytest.mark.parametrize("uri", ["duckdb:x.duckdb", "duckdb:x.duckdb?table=a&query=SELECT 1",
                                 "postgresql://h/db", "duckdb:x.duckdb?tabel=a"])
def test_a_uri_names_one_table_or_query(uri: str) -> None:
    with pytest.raises(SourceError) as e:
        open_source(uri)
    assert e.value.code == "PS401"


def test_one_database_at_a_time(demo: Path) -> None:
    with pytest.raises(SourceError, match="one database or dataset"):
        open_source([str(demo / "scored.parquet"), "duckdb:x.duckdb?table=t"])


# ------------------------------------------------------------------ pushdown and batches


def _rows(source: Any) -> pa.Table:
    return pa.Table.from_batches(list(source.batches()))


@pytest.mark.parametrize("kind", ["files", "dataset", "duckdb", "query"])
def test_each_source_yields_only_the_columns_asked(kind: str, demo: Path) -> None:
    spec = {"files": str(demo / "scored.parquet"), "dataset": str(demo / "scored_ds"),
            "duckdb": f"duckdb:{demo}/demo.duckdb?table=scored",
            "query": f"duckdb:{demo}/demo.duckdb?query=SELECT * FROM scored"}[kind]
    got = _rows(open_source(spec).narrow(COLUMNS, "scored_at"))
    want = pq.read_table(demo / "scored.parquet", columns=COLUMNS)
    assert got.column_names == COLUMNS
    got = got.sort_by([("scored_at", "ascending"), ("listing_price", "ascending")])
    want = want.sort_by([("scored_at", "ascending"), ("listing_price", "ascending")])
    assert got.column("listing_price").equals(want.column("listing_price"))
    assert got.column("neighborhood").to_pylist() == want.column("neighborhood").to_pylist()


@pytest.mark.parametrize("kind", ["files", "dataset", "duckdb", "duckdb without zone"])
def test_since_is_pushed_into_the_source(kind: str, demo: Path) -> None:
    spec = {"files": str(demo / "scored.parquet"), "dataset": str(demo / "scored_ds"),
            "duckdb": f"duckdb:{demo}/demo.duckdb?table=scored",
            "duckdb without zone": f"duckdb:{demo}/demo.duckdb?query=SELECT * REPLACE "
            "(scored_at AT TIME ZONE 'UTC' AS scored_at) FROM scored"}[kind]
    since = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
    got = _rows(open_source(spec, since=since).narrow(COLUMNS, "scored_at"))
    full = pq.read_table(demo / "scored.parquet", columns=COLUMNS)
    times = full.column("scored_at").to_pylist()
    assert got.num_rows == sum(t >= since for t in times) < full.num_rows
    first = min(got.column("scored_at").to_pylist())
    assert (first if first.tzinfo else first.replace(tzinfo=datetime.UTC)) >= since


def test_sql_names_only_the_columns_and_the_time_range() -> None:
    src = open_source("duckdb:x.duckdb?table=main.scored",
                      since=datetime.datetime(2026, 6, 1, 6, 30)).narrow(COLUMNS, "scored_at")
    assert isinstance(src, DuckDB)
    zoned = pa.schema([("scored_at", pa.timestamp("us", tz="UTC"))])
    naive = pa.schema([("scored_at", pa.timestamp("us"))])
    text = pa.schema([("scored_at", pa.string())])
    cols = '"scored_at", "listing_price", "neighborhood"'
    assert src.select(zoned) == (f'SELECT {cols} FROM "main"."scored" WHERE "scored_at" >= '
                                 "TIMESTAMPTZ '2026-06-01T06:30:00+00:00'")
    assert src.select(naive).endswith("\"scored_at\" >= TIMESTAMP '2026-06-01T06:30:00'")
    assert "WHERE" not in src.select(text)  # text times are filtered once parsed


def test_since_filters_text_times_after_parsing(tmp_path: Path) -> None:
    f = tmp_path / "t.csv"
    f.write_text("scored_at,x\n2026-01-01T00:00:00Z,1\n2026-02-01T00:00:00Z,2\n"
                 "2026-03-01T00:00:00Z,3\n")
    frame = load_frame(open_source(str(f), since=datetime.datetime(2026, 2, 1)),
                       "scored_at", {"x": "numeric"}, "data")
    assert frame.numbers["x"].tolist() == [2.0, 3.0]
    with pytest.raises(DataError, match="no rows since 2027"):
        load_frame(open_source(str(f), since=datetime.datetime(2027, 1, 1)),
                   "scored_at", {"x": "numeric"}, "data")


# ------------------------------------------------- every source gives the Parquet results


def test_dataset_directory_gives_the_parquet_results(demo: Path,
                                                     reference: dict[str, Any]) -> None:
    assert results(demo, str(demo / "scored_ds")) == reference


def test_duckdb_table_and_query_give_the_parquet_results(demo: Path,
                                                         reference: dict[str, Any]) -> None:
    db = demo / "demo.duckdb"
    assert results(demo, f"duckdb:{db}?table=scored", outcome_kind="duckdb") == reference
    assert results(demo, f"duckdb:{db}?query=SELECT * FROM scored",
                   baseline=f"duckdb:{db}?table=baseline") == reference


def test_since_gives_the_same_windows_from_every_source(demo: Path) -> None:
    want = results(demo, str(demo / "scored.parquet"), "--since", SINCE)
    assert want["windows"][0]["start"] >= "2026-06-01"
    assert results(demo, str(demo / "scored_ds"), "--since", SINCE) == want
    assert results(demo, f"duckdb:{demo}/demo.duckdb?table=scored", "--since", SINCE) == want


def test_a_bad_since_is_a_usage_error(demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("check", PLAN, "--baseline", str(demo / "baseline.json"), "--data",
                  str(demo / "scored.parquet"), "--since", "last week")
    assert code == 2 and "error[PS404]" in capsys.readouterr().err


def _plan_with_source(tmp: Path, source: str, suffix: str) -> Path:
    if suffix == ".yaml":
        text = Path(PLAN).read_text().replace("data:\n", f"data:\n  source: {source}\n", 1)
    else:
        text = (ROOT / "plans" / "rental_inspector.plan").read_text().replace(
            "data {\n", f'data {{\n  source "{source}"\n', 1)
    path = tmp / f"plan{suffix}"
    path.write_text(text)
    return path


@pytest.mark.parametrize("suffix", [".yaml", ".plan"])
def test_the_plan_names_its_source(suffix: str, demo: Path, tmp_path: Path,
                                   reference: dict[str, Any]) -> None:
    plan = _plan_with_source(tmp_path, f"duckdb:{demo}/demo.duckdb?table=scored", suffix)
    parsed = parse_text(plan.read_text(), str(plan))
    assert parsed.plan is not None and not parsed.diagnostics
    assert parsed.plan.data.source == f"duckdb:{demo}/demo.duckdb?table=scored"
    code, out = run("check", str(plan), "--baseline", str(demo / "baseline.json"),
                    "--outcomes", *outcomes("parquet", demo), "--format", "json",
                    "--fail-on", "never")
    assert code == 0
    got = json.loads(out)
    assert got["windows"] == reference["windows"]
    assert [c["windows"] for c in got["checks"]] == [c["windows"] for c in reference["checks"]]


def test_formatting_keeps_the_source(demo: Path, tmp_path: Path) -> None:
    from planspec.format import format_plan, format_yaml

    plan = _plan_with_source(tmp_path, "duckdb:demo-out/demo.duckdb?table=scored", ".yaml")
    parsed = parse_text(plan.read_text(), str(plan))
    assert parsed.plan is not None
    text = format_plan(parsed.plan, parsed.comments)
    assert '  source "duckdb:demo-out/demo.duckdb?table=scored"\n' in text
    assert parse_text(text, "p.plan").plan == parsed.plan
    assert parse_text(format_yaml(parsed.plan), "p.yaml").plan == parsed.plan


@pytest.mark.parametrize("suffix", [".yaml", ".plan"])
def test_a_password_in_the_plan_is_a_located_error(suffix: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    plan = _plan_with_source(tmp_path, "postgresql://ml:hunter2@db/ml?table=scored", suffix)
    code, out = run("validate", str(plan))
    err = capsys.readouterr()
    assert code == 1
    assert "error[PS203]: a plan's data source must not hold a password" in out
    line = next(n for n, t in enumerate(plan.read_text().splitlines(), 1) if "hunter2" in t)
    assert f"{plan}:{line}:" in out
    assert "hunter2" not in out + err.out + err.err
    assert "postgresql://ml:***@db/ml" in out


def test_check_without_data_or_source_is_a_usage_error(
        demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("check", PLAN, "--baseline", str(demo / "baseline.json"))[0] == 2
    assert "data: {source" in capsys.readouterr().err


# ----------------------------------------------------------------------------- bad sources


def _check_error(demo: Path, data: str, capsys: pytest.CaptureFixture[str]) -> str:
    code, out = run("check", PLAN, "--baseline", str(demo / "baseline.json"), "--data", data)
    err = capsys.readouterr().err
    assert code == 2 and out == "", err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(("case", "code", "says"), [
    ("missing duckdb file", "PS401", "no DuckDB file"),
    ("not a duckdb file", "PS401", "cannot open it as a DuckDB database"),
    ("missing table", "PS411", "no table `scord`"),
    ("failing query", "PS411", "the query failed"),
    ("missing column", "PS402", "no column `sqft`"),
    ("empty dataset directory", "PS401", "holds no Parquet files"),
])
def test_bad_sources_exit_2_with_their_code(case: str, code: str, says: str, demo: Path,
                                            tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty_ds" / "dt=2026-11-28").mkdir(parents=True)
    db = f"duckdb:{demo}/demo.duckdb"
    data = {"missing duckdb file": f"duckdb:{tmp_path}/nope.duckdb?table=scored",
            "not a duckdb file": f"duckdb:{demo}/scored.parquet?table=scored",
            "missing table": f"{db}?table=scord",
            "failing query": f"{db}?query=SELECT * FROM scored WHERE nonsense_column > 1",
            "missing column": f"{db}?query=SELECT * EXCLUDE (sqft) FROM scored",
            "empty dataset directory": str(tmp_path / "empty_ds")}[case]
    err = _check_error(demo, data, capsys)
    assert err.startswith(f"error[{code}]") and says in err
    if case == "missing table":
        assert "did you mean `scored`?" in err
    assert not (tmp_path / "nope.duckdb").exists()  # read-only: nothing created


def test_duckdb_column_of_the_wrong_type(demo: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "bad.duckdb"
    con = duckdb.connect(str(db))
    con.execute(f"CREATE TABLE scored AS SELECT * REPLACE ('about ' || sqft AS sqft) "
                f"FROM '{demo}/scored.parquet'")
    con.close()
    err = _check_error(demo, f"duckdb:{db}?table=scored", capsys)
    assert err.startswith("error[PS403]") and "`sqft` is declared numeric" in err


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never says a word: a database that does not
    answer."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield int(sock.getsockname()[1])
    stop.set()
    t.join()
    for c in held:
        c.close()
    sock.close()


def test_a_database_that_does_not_answer_times_out(demo: Path, silent_server: int,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"postgresql://ml:Sw0rdfish@127.0.0.1:{silent_server}/ml?connect_timeout=2&table=t"
    started = time.monotonic()
    err = _check_error(demo, uri, capsys)
    assert time.monotonic() - started < 30
    assert err.startswith("error[PS410]") and "cannot connect" in err
    assert "Sw0rdfish" not in err and "postgresql://ml:***@127.0.0.1" in err


def test_without_the_driver_the_message_says_what_to_install(
        demo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "adbc_driver_postgresql", None)
    err = _check_error(demo, "postgresql://ml@127.0.0.1:1/ml?table=scored", capsys)
    assert err.startswith("error[PS410]") and "pip install planspec[postgres]" in err


# ---------------------------------------------------------------- a real PostgreSQL server


@pytest.fixture(scope="module")
def postgres(demo: Path) -> Iterator[pg.Server]:
    if pg.find_bin() is None:
        pytest.skip("NO POSTGRESQL SERVER: initdb/pg_ctl not found; `apt-get install "
                    "postgresql` (as .ci/run does) to run the PostgreSQL tests")
    with pg.running_postgres() as server:
        pg.load_tables(server, {name: pq.read_table(path) for name, path in {
            "scored": demo / "scored.parquet", "baseline": demo / "baseline.parquet",
            "inspector_audits": demo / "outcomes" / "inspector_audits.parquet",
            "lease_registry": demo / "outcomes" / "lease_registry.parquet"}.items()})
        yield server


def test_postgres_gives_the_parquet_results(postgres: pg.Server, demo: Path,
                                            reference: dict[str, Any],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", pg.PASSWORD)
    code, out = run("check", PLAN, "--baseline", f"{postgres.uri}?table=baseline",
                    "--data", f"{postgres.uri}?table=scored", "--outcomes",
                    f"{postgres.uri}?table=inspector_audits",
                    f"lease_registry={postgres.uri}?query=SELECT * FROM lease_registry",
                    "--format", "json", "--fail-on", "never")
    assert code == 0
    assert json.loads(out) == reference


def test_postgres_since_is_pushed_down(postgres: pg.Server, demo: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", pg.PASSWORD)
    since = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
    src = open_source(f"{postgres.uri}?table=scored", since=since).narrow(COLUMNS, "scored_at")
    got = _rows(src)
    assert got.column_names == COLUMNS
    full = pq.read_table(demo / "scored.parquet", columns=["scored_at"])
    assert got.num_rows == sum(t >= since for t in full.column("scored_at").to_pylist())
    assert results(demo, f"{postgres.uri}?table=scored", "--since", SINCE) == \
        results(demo, str(demo / "scored.parquet"), "--since", SINCE)


def test_postgres_password_from_a_pgpass_file(postgres: pg.Server, demo: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              reference: dict[str, Any]) -> None:
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgres.port}:{pg.DATABASE}:{pg.USER}:{pg.PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    assert results(demo, f"{postgres.uri}?table=scored") == reference


def test_a_password_never_appears_in_any_output(postgres: pg.Server, demo: Path,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the CLI as a user would, with a wrong password and then the right one in the URI;
    grep everything it printed and wrote."""
    import subprocess

    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    wrong = "WrongHorse-77"
    host = f"127.0.0.1:{postgres.port}/{pg.DATABASE}"
    exe = [sys.executable, "-m", "planspec"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    texts = []
    for password, want in ((wrong, 2), (pg.PASSWORD, 0)):
        out = tmp_path / f"results-{want}.json"
        uri = f"postgresql://{pg.USER}:{password}@{host}?table=scored"
        done = subprocess.run([*exe, "check", PLAN, "--baseline", str(demo / "baseline.json"),
                               "--data", uri, "--format", "json", "-o", str(out),
                               "--fail-on", "never"], capture_output=True, text=True,
                              env=env, timeout=300)
        assert done.returncode == want, done.stderr
        texts += [done.stdout, done.stderr]
        if want == 0:
            texts.append(out.read_text())
            assert json.loads(texts[-1])["plan"] == "rental_fmv_inspector"
        else:
            assert done.stderr.startswith("error[PS410]")
            assert f"postgresql://{pg.USER}:***@{host}" in done.stderr
            assert "password authentication failed" in done.stderr
            assert not out.exists()
    everything = "\n".join(texts)
    assert wrong not in everything and pg.PASSWORD not in everything


def test_postgres_bad_sources(postgres: pg.Server, demo: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PGPASSWORD", pg.PASSWORD)
    err = _check_error(demo, f"{postgres.uri}?table=scord", capsys)
    assert err.startswith("error[PS411]") and "did you mean `scored`?" in err
    err = _check_error(demo, f"{postgres.uri}?query=SELECT * FROM scored WHERE nope > 1",
                       capsys)
    assert err.startswith("error[PS411]") and "nope" in err
    scored = pq.read_table(demo / "scored.parquet")
    pg.load_tables(postgres, {"bad": scored.set_column(
        scored.schema.get_field_index("sqft"), "sqft", pa.array(["about 900"] * len(scored)))})
    err = _check_error(demo, f"{postgres.uri}?table=bad", capsys)
    assert err.startswith("error[PS403]") and "`sqft` is declared numeric" in err


def test_the_python_api_takes_sources(demo: Path, reference: dict[str, Any]) -> None:
    from planspec.compile import compile_plan
    from planspec.load import load_plan
    from planspec.profile import load_profile

    parsed = load_plan(PLAN)
    assert parsed.plan is not None
    program = compile_plan(parsed.plan, parsed.source_map)
    profile = load_profile((demo / "baseline.json").read_text(), "baseline.json")
    got = program.run(open_source(f"duckdb:{demo}/demo.duckdb?table=scored"), profile)
    assert got.windows == program.run(str(demo / "scored.parquet"), profile).windows
    assert [c.windows for c in got.checks] == [
        c.windows for c in program.run(f"{demo}/scored_ds", profile).checks]
