"""Hostile data files, generated here (never committed binaries): each is read by `planspec check`
(as data: exit 2) and `planspec baseline` (exit 1) with a located message (the file, and the row,
line or column where there is one), no traceback, in under 2 s of CPU. Also: what planspec
accepts that it used to refuse (zoneless and mixed text times), years near the edges of the
calendar, paths that are not regular files, and the bucket budget."""

from __future__ import annotations

import datetime
import gzip
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given

import planspec.data
from planspec.data import (
    BUCKET_BUDGET,
    EARLIEST,
    LATEST,
    DataError,
    check_bucket_budget,
    timestamps,
)
from tests.datakit import HEADER, T0, row, run, table, write_plan

Make = Callable[[Path], Path]


def _text(name: str, text: str | bytes) -> Make:
    def make(d: Path) -> Path:
        path = d / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text)
        return path
    return make


def _parquet(name: str, build: Callable[[], pa.Table]) -> Make:
    def make(d: Path) -> Path:
        pq.write_table(build(), d / name)
        return d / name
    return make


def _truncated(d: Path) -> Path:
    whole = d / "whole.parquet"
    pq.write_table(table(), whole)
    cut = d / "truncated.parquet"
    data = whole.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    return cut


def _truncated_gz(d: Path) -> Path:
    data = gzip.compress((HEADER + "".join(row(h) for h in range(2000))).encode())
    path = d / "truncated.csv.gz"
    path.write_bytes(data[:len(data) // 2])
    return path


def _with(column: str, values: pa.Array) -> Callable[[], pa.Table]:
    def build() -> pa.Table:
        t = table(n=3)
        return t.set_column(t.schema.get_field_index(column), column, values)
    return build


def _duplicate_parquet() -> pa.Table:
    t = table(n=3)
    return pa.table([*t.columns, t.column("x")], names=[*t.column_names, "x"])


def _times(*when: datetime.datetime) -> Callable[[], pa.Table]:
    def build() -> pa.Table:
        t = table(n=len(when))
        ts = pa.array(list(when), pa.timestamp("us", tz="UTC"))
        return t.set_column(0, "ts", ts)
    return build


HUGE = "y" * 5_000_000
UTC = datetime.UTC

#: name → (how to make it, the code, a pattern the message must match after the file name).
CORPUS: dict[str, tuple[Make, str, str]] = {
    "empty csv": (_text("empty.csv", ""), "PS405", r": the file is empty"),
    "empty parquet": (_text("empty.parquet", b""), "PS405", r": the file is empty"),
    "header only": (_text("header.csv", HEADER), "PS405", r": no rows"),
    "text in a numeric column": (_text("types.csv", HEADER + row(0) + row(1, x="lots")),
                                 "PS403", r": `x` is declared numeric but holds 'lots' \(row 2\)"),
    "numbers as times": (_text("numtimes.csv", HEADER + row(ts="1767225600")), "PS404",
                         r": `ts` holds int64, not times"),
    "NaN timestamp": (_text("nants.csv", HEADER + row(0) + row(ts="nan")), "PS404",
                      r": 1 row has no `ts` \(first at row 2\)"),
    "inf timestamp": (_text("infts.csv", HEADER + row(0) + row(ts="inf")), "PS404",
                      r": `ts` has a value that is not a time: 'inf' \(row 2\)"),
    "all timestamps inf": (_text("allinf.csv", HEADER + row(ts="inf") + row(ts="-inf")),
                           "PS404", r": `ts` holds double, not times"),
    "all-null timestamps": (_text("nullts.csv", HEADER + row(ts="") + row(ts="")), "PS404",
                            r": `ts` holds null, not times|2 rows have no `ts`"),
    "all-null baseline column": (_parquet("nullx.parquet", lambda: table(x_missing=1.0)),
                                 "PS441", r": `x` has no values"),
    "huge string as a time": (_text("hugets.csv", HEADER + row(0) + row(ts=HUGE)), "PS404",
                              r": `ts` has a value that is not a time: 'yyy+… \(row 2\)"),
    "huge string as a number": (_text("hugex.csv", HEADER + row(0) + row(1, x=HUGE)), "PS403",
                                r": `x` is declared numeric but holds 'yyy+… \(row 2\)"),
    "duplicate column in a csv": (_text("dup.csv", "ts,x,x,c,p\n2026-01-05T10:00:00Z,1,2,a,.3\n"),
                                  "PS443", r": 2 columns are named `x`"),
    "duplicate column in parquet": (_parquet("dup.parquet", _duplicate_parquet), "PS443",
                                    r": 2 columns are named `x`"),
    "ragged csv": (_text("ragged.csv", HEADER + row(0) + row(1).replace("\n", ",extra\n")),
                   "PS401", r":3: a row has 5 fields where the header has 4"),
    "short csv row": (_text("short.csv", HEADER + row(0) + "2026-01-05T11:00:00Z,1\n"),
                      "PS401", r":3: a row has 2 fields where the header has 4"),
    "latin-1 category": (_text("latin1.csv", (HEADER + row(0, c="caf\xe9")).encode("latin-1")),
                         "PS403", r": `c` holds bytes that are not UTF-8 text \(row 1: "
                                  r"b'caf\\xe9'\)"),
    "latin-1 number": (_text("latin1x.csv", (HEADER + row(0, x="1\xb75")).encode("latin-1")),
                       "PS403", r": `x` is declared numeric but holds binary"),
    "latin-1 header": (_text("latin1h.csv", ("ts,x,c,p\xe9\n" + row(0)).encode("latin-1")),
                       "PS401", r":1: the header is not UTF-8 text"),
    "truncated parquet": (_truncated, "PS401", r": not a readable Parquet file: .*footer"),
    "not parquet": (_text("text.parquet", "hello, world\n" * 50), "PS401",
                    r": not a readable Parquet file"),
    "truncated gzip csv": (_truncated_gz, "PS401", r": cannot read it: "),
    "struct category": (_parquet("struct.parquet", _with("c", pa.array([{"a": 1}] * 3))),
                        "PS403", r": `c` holds struct<a: int64>: nested values"),
    "list category": (_parquet("list.parquet", _with("c", pa.array([[1, 2]] * 3))), "PS403",
                      r": `c` holds list<element: int64>: nested values"),
    "map category": (_parquet("map.parquet", _with("c", pa.array(
        [[("k", 1)]] * 3, pa.map_(pa.string(), pa.int64())))), "PS403",
        r": `c` holds map<string, int64.*>: nested values"),
    "struct number": (_parquet("structx.parquet", _with("x", pa.array([{"a": 1.0}] * 3))),
                      "PS403", r": `x` is declared numeric but holds struct<a: double>"),
    "struct time": (_parquet("structts.parquet", _with("ts", pa.array([{"a": 1}] * 3))),
                    "PS404", r": `ts` holds struct<a: int64>, not times"),
    "year 9999": (_parquet("y9999.parquet", _times(T0, datetime.datetime(9999, 12, 31,
                                                                           tzinfo=UTC))),
                  "PS404", r": `ts` has a time outside the years 1000–8999: 9999-12-31 \(row 2\)"),
    "year 1": (_parquet("y1.parquet", _times(datetime.datetime(1, 1, 1, tzinfo=UTC), T0)),
               "PS404", r": `ts` has a time outside the years 1000–8999: 0001-01-01 \(row 1\)"),
    "years 1 to 9999": (_text("span.csv", HEADER + row(ts="0001-01-01T00:00:00Z") +
                              row(ts="9999-12-31T23:59:59Z")), "PS404", r": `ts` has a time "
                        r"outside the years 1000–8999: 0001-01-01 \(row 1\)"),
    # A folder is read as a Parquet dataset (planspec/sources.py): an empty one says so.
    "a directory": (lambda d: (d / "folder.parquet").mkdir() or d / "folder.parquet", "PS401",
                    r": the dataset directory holds no Parquet files"),
    "a FIFO": (lambda d: os.mkfifo(d / "pipe.csv") or d / "pipe.csv", "PS401",
               r": is a FIFO \(named pipe\), not a data file"),
    "a dangling link": (lambda d: os.symlink(d / "gone.csv", d / "link.csv") or d / "link.csv",
                        "PS401", r": is a symbolic link to a file that does not exist"),
    "no such file": (lambda d: d / "nothing.parquet", "PS401", r": no such file"),
    "unknown suffix": (_text("data.xlsx", HEADER + row(0)), "PS401",
                       r": planspec reads \.parquet and \.csv files"),
}


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("hostile")
    plan = write_plan(d)
    pq.write_table(table(seed=1), d / "base.parquet")
    assert run("baseline", plan, "--data", str(d / "base.parquet"), "-o",
               str(d / "base.json")).code == 0
    pq.write_table(table(seed=2), d / "data.parquet")
    return {"plan": plan, "baseline": str(d / "base.json"), "data": str(d / "data.parquet")}


@pytest.mark.parametrize("case", CORPUS)
def test_hostile_file_as_data(case: str, kit: dict[str, str], tmp_path: Path) -> None:
    make, code, pattern = CORPUS[case]
    path = str(make(tmp_path))
    if code == "PS441":  # a baseline problem: as data, the same file runs (all windows judged)
        r = run("check", kit["plan"], "--baseline", kit["baseline"], "--data", path,
                "--fail-on", "never")
        assert r.code == 0, r.err
        return
    r = run("check", kit["plan"], "--baseline", kit["baseline"], "--data", path)
    _assert_located(r.code, r.err, r.cpu, 2, code, path, pattern)


@pytest.mark.parametrize("case", CORPUS)
def test_hostile_file_as_baseline(case: str, kit: dict[str, str], tmp_path: Path) -> None:
    make, code, pattern = CORPUS[case]
    path = str(make(tmp_path))
    out = tmp_path / "baseline.json"
    r = run("baseline", kit["plan"], "--data", path, "-o", str(out))
    _assert_located(r.code, r.err, r.cpu, 2, code, path, pattern)
    assert not out.exists()


def _assert_located(code: int, err: str, cpu: float, exit_code: int, diagnostic: str,
                    path: str, pattern: str) -> None:
    assert code == exit_code, err
    first = err.splitlines()[0]
    assert re.match(rf"error\[{diagnostic}\]: {re.escape(path)}{pattern}", first), first
    assert len(first) < 400, "a message quotes at most a short piece of a value"
    assert "Traceback" not in err
    assert cpu < 2.0, f"{cpu:.2f} s of CPU"


def _as_nobody(argv: tuple[str, ...]) -> tuple[int, str]:
    """``planspec argv…`` in a forked child that dropped root for `nobody` (root reads every
    file). Everything the run imports is imported first, by a run of the same command on a
    readable copy, since `nobody` may not read the interpreter's files."""
    import pwd

    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("no user `nobody`")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            r = run(*argv)
            payload = json.dumps([r.code, r.err])
        except BaseException as e:
            payload = json.dumps([-1, repr(e)])
        os.write(write, payload.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        code, err = json.loads(f.read())
    os.waitpid(pid, 0)
    return int(code), str(err)


def test_unreadable_file(kit: dict[str, str]) -> None:
    d = Path(tempfile.mkdtemp())
    try:
        os.chmod(d, 0o755)
        for f in (kit["plan"], kit["baseline"]):
            shutil.copy(f, d)
            os.chmod(d / Path(f).name, 0o644)
        readable, secret = d / "readable.csv", d / "secret.csv"
        readable.write_text(HEADER + row(0))
        secret.write_text(HEADER + row(0))
        os.chmod(secret, 0)
        argv = ("check", str(d / "plan.yaml"), "--baseline", str(d / "base.json"), "--data")
        if os.geteuid() == 0:
            assert run(*argv, str(readable), "--fail-on", "never").code == 0
            code, err = _as_nobody((*argv, str(secret)))
        else:
            r = run(*argv, str(secret))
            code, err = r.code, r.err
        assert code == 2, err
        assert err.startswith(f"error[PS401]: {secret}: permission denied"), err
        assert "Traceback" not in err
    finally:
        shutil.rmtree(d)


# ------------------------------------------------------------------ zoneless and mixed times


def _parquet_text_times(path: Path, times: list[str]) -> str:
    t = table(n=len(times))
    pq.write_table(t.set_column(0, "ts", pa.array(times, pa.string())), path)
    return str(path)


def test_text_times_without_a_zone_are_utc() -> None:
    zoned = pa.table({"t": ["2026-03-02T14:05:00Z", "2026-03-02T14:05:00+02:00",
                            "2026-03-02T14:05:00.5-0130", "2026-03-02 14:05:00Z"]})
    naive = pa.table({"t": ["2026-03-02T14:05:00", "2026-03-02T12:05:00",
                            "2026-03-02T15:35:00.5", "2026-03-02 14:05:00"]})
    expected = [datetime.datetime(2026, 3, 2, 14, 5, tzinfo=UTC),
                datetime.datetime(2026, 3, 2, 12, 5, tzinfo=UTC),
                datetime.datetime(2026, 3, 2, 15, 35, tzinfo=UTC),
                datetime.datetime(2026, 3, 2, 14, 5, tzinfo=UTC)]
    seconds = [int(e.timestamp()) for e in expected]
    assert timestamps(zoned, "t", "d").tolist() == seconds
    assert timestamps(naive, "t", "d").tolist() == seconds
    dates = pa.table({"t": ["2026-03-02", "2026-03-03T00:00:00Z"]})
    assert np.diff(timestamps(dates, "t", "d")).tolist() == [86400]


@given(st.lists(st.tuples(st.datetimes(min_value=datetime.datetime(1000, 1, 1),
                                       max_value=datetime.datetime(8999, 12, 31)),
                          st.sampled_from(["", "Z", "+00:00", "+05:30", "-08:00"])),
                min_size=1, max_size=20))
def test_mixed_text_times_match_python(values: list[tuple[datetime.datetime, str]]) -> None:
    """Any mix of zoneless (UTC) and zoned ISO 8601 text reads as Python reads it."""
    texts, expected = [], []
    for when, zone in values:
        texts.append(when.isoformat() + zone)
        aware = datetime.datetime.fromisoformat(when.isoformat() + (zone or "+00:00"))
        epoch = datetime.datetime(1970, 1, 1, tzinfo=UTC)
        expected.append((aware - epoch) // datetime.timedelta(seconds=1))
    if any(not EARLIEST <= e < LATEST for e in expected):
        return  # an offset moved it past the range: refused, tested elsewhere
    assert timestamps(pa.table({"t": texts}), "t", "d").tolist() == expected


def test_zoneless_and_mixed_times_give_the_same_results(kit: dict[str, str],
                                                         tmp_path: Path) -> None:
    data = pq.read_table(kit["data"])
    when = [t.strftime("%Y-%m-%dT%H:%M:%S") for t in data.column("ts").to_pylist()]
    forms = {"zoned": [w + "Z" for w in when], "zoneless": when,
             "mixed": [w + ("Z" if i % 2 else "") for i, w in enumerate(when)],
             "offsets": [w + ("+00:00" if i % 3 else "") for i, w in enumerate(when)]}
    results = {}
    for name, texts in forms.items():
        path = tmp_path / f"{name}.parquet"
        pq.write_table(data.set_column(0, "ts", pa.array(texts, pa.string())), path)
        r = run("check", kit["plan"], "--baseline", kit["baseline"], "--data", str(path),
                "--format", "json", "--fail-on", "never")
        assert r.code == 0, r.err
        results[name] = json.loads(r.out)["checks"]
        csv = tmp_path / f"{name}.csv"
        rows = [",".join(map(str, v)) for v in zip(texts, *(data.column(c).to_pylist()
                                                             for c in ("x", "c", "p")),
                                                    strict=True)]
        csv.write_text(HEADER + "\n".join(rows) + "\n")
        r = run("check", kit["plan"], "--baseline", kit["baseline"], "--data", str(csv),
                "--format", "json", "--fail-on", "never")
        assert r.code == 0, r.err
        assert json.loads(r.out)["checks"] == results[name], f"{name} as CSV"
    assert results["zoneless"] == results["zoned"] == results["mixed"] == results["offsets"]


def test_a_bad_time_among_many_is_found_by_row(tmp_path: Path) -> None:
    times = ["2026-01-05T10:00:00Z"] * 50_000 + ["not a time"] + ["2026-01-05T10:00:00"] * 10
    with pytest.raises(DataError) as e:
        timestamps(pa.table({"t": times}), "t", "d")
    assert e.value.code == "PS404" and e.value.message.endswith("'not a time' (row 50001)")


# ------------------------------------------------------------ the edges of the calendar


def test_as_of_in_year_9999_does_not_overflow(kit: dict[str, str]) -> None:
    for as_of in ("9999-12-31T23:59:59Z", "9999-12-31"):
        r = run("check", kit["plan"], "--baseline", kit["baseline"], "--data", kit["data"],
                "--as-of", as_of, "--fail-on", "never")
        assert r.code == 0, r.err
    r = run("check", kit["plan"], "--baseline", kit["baseline"], "--data", kit["data"],
            "--as-of", "10000-01-01T00:00:00Z")
    assert r.code == 2 and r.err.startswith("error[PS404]: --as-of"), r.err


@pytest.mark.parametrize("date", ["9999-12-31", "0001-01-01"])
def test_an_event_date_past_the_calendar_is_a_located_error(date: str, root: Path,
                                                            tmp_path: Path) -> None:
    plan = str(root / "plans" / "rental_inspector.yaml")
    events = tmp_path / "events.csv"
    events.write_text(f"risk,date\nrent_stabilization_law,{date}\n")
    r = run("check", plan, "--baseline", "unused.json", "--data", "unused.parquet",
            "--events", str(events))
    assert r.code == 2
    assert r.err.startswith(f"error[PS409]: {events}: record 1 has a date outside the years "
                            f"1000–8999: {date}"), r.err


def test_an_events_file_that_is_a_fifo_does_not_block(root: Path, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "events.csv")
    r = run("check", str(root / "plans" / "rental_inspector.yaml"), "--baseline", "unused.json",
            "--data", "unused.parquet", "--events", str(tmp_path / "events.csv"))
    assert r.code == 2
    assert r.err.startswith(f"error[PS401]: {tmp_path / 'events.csv'}: is a FIFO"), r.err


# ------------------------------------------------------------------------ the bucket budget


def test_bucket_budget_counts_buckets_and_refuses_past_it() -> None:
    day = 86400
    assert check_bucket_budget(0, 0, day) == 1
    assert check_bucket_budget(0, 365 * day - 1, day, bins=1001) == 365
    with pytest.raises(DataError) as e:
        check_bucket_budget(EARLIEST, LATEST - 1, day, bins=1001, where="scored.parquet")
    err = e.value
    assert err.code == "PS442"
    assert err.message.startswith("scored.parquet: the times run from 1000-01-01 to 8999-12-31")
    assert f"{BUCKET_BUDGET:,}" in err.message
    assert err.hint is not None and "--since" in err.hint and "longer windows" in err.hint


@given(st.integers(EARLIEST, LATEST - 1), st.integers(0, LATEST - EARLIEST),
       st.sampled_from([60, 3600, 86400, 7 * 86400]), st.integers(1, 5000))
def test_the_suggested_start_fits_the_budget(t_min: int, span: int, size: int, bins: int) -> None:
    t_max = min(t_min + span, LATEST - 1)
    span = t_max - t_min
    try:
        buckets = check_bucket_budget(t_min, t_max, size, bins)
    except DataError as e:
        assert (span // size + 1) * bins > BUCKET_BUDGET
        assert e.hint is not None
        since = re.search(r"rows from (\S+) on fit", e.hint)
        assert since is not None
        start = datetime.datetime.fromisoformat(since.group(1)).replace(tzinfo=UTC)
        assert check_bucket_budget(int(start.timestamp()), t_max, size, bins) >= 1
        return
    assert buckets == span // size + 1 and buckets * bins <= BUCKET_BUDGET


def test_a_run_past_the_bucket_budget_is_ps442(kit: dict[str, str], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Three years of daily buckets against a budget made small for the test: the engine must
    call check_bucket_budget before it allocates its buckets."""
    monkeypatch.setattr(planspec.data, "BUCKET_BUDGET", 1000)
    data = _times(T0 - datetime.timedelta(days=3 * 365), T0)()
    pq.write_table(data, tmp_path / "long.parquet")
    r = run("check", kit["plan"], "--baseline", kit["baseline"], "--data",
            str(tmp_path / "long.parquet"))
    assert r.code == 2 and r.err.startswith(f"error[PS442]: {tmp_path / 'long.parquet'}: the "
                                            "times run from"), r.err

