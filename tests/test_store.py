"""The sums store: a year ingested one day at a time judges like one run over the year; inputs
already ingested are skipped; late rows merge into their buckets; a store for another plan or
baseline is refused (PS430) and a damaged one reported (PS431); a run killed while writing leaves
the previous store readable and the next run carries on; each run appends its judged windows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from planspec.compile import CheckProgram, compile_plan
from planspec.demo import write_demo_data
from planspec.engine.run import run_program, run_store
from planspec.engine.store import store_info
from planspec.load import load_plan
from planspec.profile import Profile, build_profile

from .test_check_cli import PLAN, ROOT, run
from .test_sums import assert_close


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("demo")
    paths = write_demo_data(d, rows=3000, seed=3)
    parsed = load_plan(PLAN)
    assert parsed.plan is not None
    program = compile_plan(parsed.plan, parsed.source_map)
    profile = build_profile(program, str(paths["baseline"]))
    (d / "baseline.json").write_text(profile.model_dump_json())
    scored = pq.read_table(paths["scored"])
    seconds = pc.cast(pc.cast(scored.column("scored_at"), pa.timestamp("s")), pa.int64())
    day = np.asarray(seconds) // 86400  # UTC days, as the buckets are
    day -= day.min()
    days = []
    for n in range(int(day.max()) + 1):
        path = d / "days" / f"{n:03d}.parquet"
        path.parent.mkdir(exist_ok=True)
        pq.write_table(scored.filter(pa.array(day == n)), path)
        days.append(str(path))
    outcomes = {"inspector_audits": str(paths["inspector_audits"]),
                "lease_registry": str(paths["lease_registry"])}
    return {"dir": d, "program": program, "profile": profile, "days": days,
            "scored": str(paths["scored"]), "outcomes": outcomes}


def windows(results: Any) -> dict[str, Any]:
    data = json.loads(results.model_dump_json())
    return {k: data[k] for k in ("windows", "checks", "firing", "data", "as_of", "outcomes")}


def test_a_year_one_day_at_a_time_judges_like_one_run(demo: dict[str, Any],
                                                      tmp_path: Path) -> None:
    program: CheckProgram = demo["program"]
    profile: Profile = demo["profile"]
    store = tmp_path / "sums"
    for path in demo["days"]:  # 364 nightly runs, each reading one day
        results, report = run_store(program, [path], profile, store)
        assert [i.where for i in report.ingested] == [path]
    whole = run_program(program, demo["scored"], profile)
    assert windows(results) == windows(whole)
    # Outcomes arrive later: a run with no new data joins them to the stored scored rows.
    with_outcomes, report = run_store(program, None, profile, store, outcomes=demo["outcomes"])
    assert report.ingested == [] and report.skipped == []
    assert windows(with_outcomes) == windows(run_program(program, demo["scored"], profile,
                                                         outcomes=demo["outcomes"]))
    info = store_info(store)
    assert info["runs"] == len(demo["days"]) + 1 and len(info["files"]) == len(demo["days"])
    assert info["rows"] == pq.read_metadata(demo["scored"]).num_rows
    assert info["buckets"] == len(demo["days"])


def test_reingesting_is_skipped_and_late_rows_merge(demo: dict[str, Any], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "sums")
    first, rest = demo["days"][:20], demo["days"][20:40]
    late = pq.read_table(rest[0])  # one day of rows split: most now, some arrive late
    half = late.num_rows // 2
    assert half > 0
    pq.write_table(late.slice(0, half), tmp_path / "late.parquet")
    pq.write_table(late.slice(half), tmp_path / "ontime.parquet")
    base = ("check", PLAN, "--baseline", str(demo["dir"] / "baseline.json"), "--store", store,
            "--format", "json", "--fail-on", "never")
    assert run(*base, "--data", *first)[0] == 0
    assert run(*base, "--data", first[3], str(tmp_path / "ontime.parquet"), *rest[1:])[0] == 0
    err = capsys.readouterr().err
    assert f"skipped {first[3]}: the store already holds its content" in err
    assert "late rows" not in err
    code, out = run(*base, "--data", str(tmp_path / "late.parquet"))
    err = capsys.readouterr().err
    assert code == 0 and "late rows for 1 bucket the store already held" in err
    together = run_program(demo["program"], first + rest, demo["profile"])
    assert_close(json.loads(out)["checks"], json.loads(together.model_dump_json())["checks"])
    # The same content under another name is skipped too.
    copy = tmp_path / "copy.parquet"
    copy.write_bytes(Path(first[0]).read_bytes())
    run(*base, "--data", str(copy))
    assert f"skipped {copy}: the store already holds its content (as {first[0]})" in \
        capsys.readouterr().err


def test_history_records_judged_windows_with_since(demo: dict[str, Any], tmp_path: Path) -> None:
    store = tmp_path / "sums"
    program, profile = demo["program"], demo["profile"]
    results, report = run_store(program, demo["days"][:150], profile, store)
    assert report.history_added == sum(len(c.windows) for c in results.checks)
    again, report = run_store(program, demo["days"][150:157], profile, store)
    assert 0 < report.history_added < sum(len(c.windows) for c in again.checks)
    current = (store / "CURRENT").read_text().strip()
    history = pq.read_table(store / current / "history.parquet").to_pylist()
    assert {r["run"] for r in history} == {1, 2}
    firing = [r for r in history if r["firing"]]
    assert firing, "the demo's price feed event fires in the first 150 days"
    for r in firing:
        assert r["since"] is not None and r["since"] <= r["start"]
    now = {f.id: f.since for f in again.firing}
    for f in store_info(store)["firing"]:
        assert now.get(f["id"]) == f["since"]


def test_store_for_another_baseline_or_plan_is_refused(demo: dict[str, Any], tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "sums")
    base = ("check", PLAN, "--store", store, "--fail-on", "never", "-o", os.devnull)
    assert run(*base, "--baseline", str(demo["dir"] / "baseline.json"), "--data",
               demo["days"][0])[0] == 0
    other = build_profile(demo["program"], demo["days"][1])
    (tmp_path / "other.json").write_text(other.model_dump_json())
    before = sorted(p.name for p in Path(store).iterdir())
    capsys.readouterr()
    code, _ = run(*base, "--baseline", str(tmp_path / "other.json"), "--data", demo["days"][2])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error[PS430]:") and "manifest.json" in err
    assert str(tmp_path / "other.json") in err and "Traceback" not in err
    assert sorted(p.name for p in Path(store).iterdir()) == before
    # Another window length changes the bucket size: refused, pointing at the plan.
    hourly = tmp_path / "hourly.yaml"
    hourly.write_text(Path(PLAN).read_text().replace("window: 7d", "window: 36h", 1))
    code, _ = run(*("check", str(hourly)), *base[2:], "--baseline",
                  str(demo["dir"] / "baseline.json"), "--data", demo["days"][2])
    err = capsys.readouterr().err
    assert code == 2 and "error[PS430]" in err and str(hourly) in err


def test_a_plan_that_adds_a_check_says_which_windows_lack_history(
        demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "sums")
    text = Path(PLAN).read_text()
    marker = "input_alerts:\n"
    assert marker in text
    added = tmp_path / "added.yaml"
    added.write_text(text.replace(marker, marker + (
        "  - id: age_out_of_range_new\n"
        "    when: max(building_age) > 500\n"
        "    why: added later\n"), 1))
    assert run("check", PLAN, "--baseline", str(demo["dir"] / "baseline.json"), "--store", store,
               "--data", *demo["days"][:14], "-o", os.devnull, "--fail-on", "never")[0] == 0
    # The same baseline data profiled for the new plan: the same bins, so the store is kept.
    assert run("baseline", str(added), "--data", str(demo["dir"] / "baseline.parquet"), "-o",
               str(tmp_path / "added.json"))[0] == 0
    code, out = run("check", str(added), "--baseline", str(tmp_path / "added.json"),
                    "--store", store, "--data", *demo["days"][14:28], "--format", "json",
                    "--fail-on", "never")
    err = capsys.readouterr().err
    assert code == 0, err
    assert "age_out_of_range_new has history from 2025-12-15T00:00:00Z only" in err
    check = next(c for c in json.loads(out)["checks"] if c["id"] == "age_out_of_range_new")
    early = [w for w in check["windows"] if w["start"] < "2025-12-15"]
    assert early and all(w["status"] == "insufficient_data" and w["value"] is None
                         for w in early)
    later = [w for w in check["windows"] if w["start"] >= "2025-12-15"]
    assert later and all(w["value"] is not None for w in later)
    code, text = run("store", "info", store)
    assert code == 0 and "history of `building_age` extremes from 2025-12-15" in text


def test_store_info_summarises_and_damage_is_reported(demo: dict[str, Any], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "sums"
    run_store(demo["program"], demo["days"][:3], demo["profile"], store)
    code, text = run("store", "info", str(store))
    assert code == 0
    assert "buckets:   3 of 86,400 s" in text and "files ingested: 3" in text
    assert demo["days"][2] in text
    code, text = run("store", "info", str(store), "--format", "json")
    assert json.loads(text)["rows"] == sum(pq.read_metadata(p).num_rows
                                           for p in demo["days"][:3])
    assert run("store", "info", str(tmp_path / "nothing"))[0] == 2
    assert "error[PS431]" in capsys.readouterr().err
    (store / "CURRENT").write_text("gen-999999\n")
    assert run("store", "info", str(store))[0] == 2
    assert "error[PS431]" in capsys.readouterr().err


# ------------------------------------------------------------------ a run killed mid-write

KILLED = r"""
import sys, time
from pathlib import Path
from planspec.engine import store
from planspec.cli import main

ready = Path(sys.argv[1])
where = sys.argv[2]
if where == "switch":  # everything of the new generation written, CURRENT not yet moved
    real = store.write_atomic
    def slow(path, text):
        ready.write_text("now")
        time.sleep(60)
        real(path, text)
    store.write_atomic = slow
else:  # half-way through writing the new generation's sums
    real = store._write_parquet
    def slow(table, path):
        real(table.slice(0, table.num_rows // 2), path)
        ready.write_text("now")
        time.sleep(60)
    store._write_parquet = slow
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize("where", ["sums", "switch"])
def test_a_run_killed_while_writing_leaves_the_previous_store(
        demo: dict[str, Any], tmp_path: Path, where: str) -> None:
    store = tmp_path / "sums"
    baseline = str(demo["dir"] / "baseline.json")
    argv = ["check", PLAN, "--baseline", baseline, "--store", str(store), "-q",
            "--fail-on", "never", "--format", "json", "-o", os.devnull]
    assert run(*argv, "--data", *demo["days"][:5])[0] == 0
    before = store_info(store)
    ready = tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", KILLED, str(ready), where, *argv,
                             "--data", *demo["days"][5:9]], cwd=ROOT)
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert proc.poll() is None, "the run ended before it was killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert store_info(store) == before  # the killed run changed nothing that readers see
    code, text = run("store", "info", str(store))
    assert code == 0 and "files ingested: 5" in text
    # The next run carries on: the killed run's files are ingested, not skipped.
    code, out = run(*argv[:-2], "--data", *demo["days"][:9])
    assert code == 0
    after = store_info(store)
    assert len(after["files"]) == 9 and after["runs"] == before["runs"] + 1
    assert not [p for p in store.iterdir() if p.name.startswith((".gen-", "gen-"))
                and p.name != (store / "CURRENT").read_text().strip()]
    whole = run_program(demo["program"], demo["days"][:9], demo["profile"])
    assert_close(json.loads(out)["checks"], windows(whole)["checks"])
