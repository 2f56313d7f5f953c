"""The sums store: a year ingested one day at a time judges like one run over the year; inputs
already ingested are skipped; late rows merge into their buckets; a store for another plan or
baseline is refused (PS430) and a damaged one reported (PS431); a run killed while writing leaves
the previous store readable and the next run carries on; each run appends its judged windows; a
run judges again only what it can change, and that equals judging everything."""

from __future__ import annotations

import datetime
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
from planspec.engine.gather import column_needs
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


def test_a_year_one_day_at_a_time_judges_like_one_run(demo: dict[str, Any], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    program: CheckProgram = demo["program"]
    profile: Profile = demo["profile"]
    store = tmp_path / "sums"
    # What is judged, not durability, is under test here (the killed-run tests below keep
    # every fsync): ten fsyncs a run were a fifth of the 364 runs' time.
    monkeypatch.setattr(os, "fsync", lambda fd: None)
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


def test_a_nightly_run_judges_again_only_what_the_new_day_can_change(
        demo: dict[str, Any], tmp_path: Path) -> None:
    program, profile = demo["program"], demo["profile"]
    store = tmp_path / "sums"
    run_store(program, demo["days"][:60], profile, store)
    said: list[str] = []
    run_store(program, demo["days"][60:61], profile, store, progress=said.append)
    again = [m for m in said if m.startswith("judged ")]
    assert len(again) == 1
    judged, total = (int(x) for x in again[0].split()[1:4:2])
    assert 0 < judged <= 8 < total  # the new day, the week and the 28 days holding it


def test_streaks_across_the_reused_windows_judge_like_one_run(tmp_path: Path) -> None:
    """Alerts that fire and resolve often (`for: 2`, `keep_firing_for: 1`), on daily,
    weekly and sliding windows, a p-value corrected across a window's tests and a segmented
    alert: days arrive in blocks, some rows of old days arrive late, and one run looks from an
    earlier as-of. After each run, the judgement reused from the store equals judging all it
    holds again, and one run over the same rows."""
    import pyarrow as pa

    from .enginekit import DAY, T0, frame, plan_with
    from .enginekit import compile_plan as compile_unchecked

    plan = plan_with({"shift": "mean(x) shift > 0.3 sd", "ks": "ks(x).pvalue < 0.2",
                      "missing": "missing_rate(x) > 12%", "seg": "mean(x) > 0.2"},
                     correction="bh", window="1d")
    data = plan.model_dump(by_alias=True, mode="json")
    data["defaults"].update({"for": 2, "keep_firing_for": 1})
    alerts = {a["id"]: a for a in data["input_alerts"]}
    alerts["ks"].update({"window": "7d"})
    alerts["missing"].update({"window": "7d", "every": "1d"})
    alerts["seg"].update({"by": "c", "window": "2d"})
    program = compile_unchecked(type(plan).model_validate(data))
    rng = np.random.default_rng(8)
    base = frame(rng, 4000, 28, start=T0 - 35 * DAY, missing=0.1, categories=3)
    cur = frame(rng, 24000, 60, missing=0.1, categories=3)
    day = (cur["ts"].astype(np.int64) - T0) // DAY
    drift = rng.random(60) < 0.35  # days that drift, in runs and alone
    cur["x"] = cur["x"] + np.where(drift[day], 0.5, 0.0)
    cur["x"][drift[day] & (rng.random(day.size) < 0.1)] = np.nan
    profile = build_profile(program, base)
    late = (day >= 20) & (day < 40) & (np.arange(day.size) % 3 == 0)
    blocks = [(day < 20), (day >= 20) & (day < 40) & ~late, (day >= 40) & (day < 50), late,
              (day >= 50)]
    store = tmp_path / "sums"
    held = np.zeros(day.size, dtype=bool)
    for n, keep in enumerate(blocks):
        path = tmp_path / f"block{n}.parquet"
        pq.write_table(pa.table({k: v[keep] for k, v in cur.items()}), path)
        held |= keep
        so_far = {k: v[held] for k, v in cur.items()}
        for as_of in ((None, T0 + 30 * DAY) if n == 3 else (None,)):
            got, _ = run_store(program, [str(path)] if as_of is None else None, profile, store,
                               as_of=as_of)
            # The same stored sums judged whole (no stored judgement): exactly equal.
            (store / (store / "CURRENT").read_text().strip() / "judged.json").unlink()
            whole, _ = run_store(program, None, profile, store, as_of=as_of)
            assert windows(got) == windows(whole), (n, as_of)
            # One run over the same rows: equal, moments to rounding (late rows merged apart).
            want = run_program(program, so_far, profile, as_of=as_of)
            assert_close(windows(got), windows(want))
    assert any(w.firing for c in got.checks for w in c.windows)
    assert any(c.segment for c in got.checks)


def test_a_store_without_a_stored_judgement_is_judged_whole(
        demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A store written before judgements were kept (no judged.json) is read and judged whole;
    a damaged judgement is a located PS431."""
    program, profile = demo["program"], demo["profile"]
    store = tmp_path / "sums"
    run_store(program, demo["days"][:20], profile, store)
    gen = store / (store / "CURRENT").read_text().strip()
    (gen / "judged.json").unlink()
    said: list[str] = []
    results, _ = run_store(program, demo["days"][20:21], profile, store, progress=said.append)
    assert not any(m.startswith("judged ") for m in said)
    assert windows(results) == windows(run_program(program, demo["days"][:21], profile))
    gen = store / (store / "CURRENT").read_text().strip()
    assert (gen / "judged.json").exists()
    (gen / "judged.json").write_text('{"head": {"key": 1}, "checks": [}')
    base = ("check", PLAN, "--baseline", str(demo["dir"] / "baseline.json"), "--store",
            str(store), "--fail-on", "never")
    assert run(*base, "--data", demo["days"][21])[0] == 2
    err = capsys.readouterr().err
    assert "error[PS431]" in err and str(gen / "judged.json") in err


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


def _plan_in(tmp_path: Path, zone: str | None, name: str = "rental_fmv_inspector") -> Path:
    """The worked example's plan with its days in ``zone`` (None: no `timezone`, so UTC)."""
    text = Path(PLAN).read_text()
    assert "plan: rental_fmv_inspector\n" in text
    head = f"plan: {name}\n" + (f"timezone: {zone}\n" if zone else "")
    path = tmp_path / f"{name}-{(zone or 'none').replace('/', '-')}.yaml"
    path.write_text(text.replace("plan: rental_fmv_inspector\n", head, 1))
    return path


def _manifest(store: str | Path) -> dict[str, Any]:
    current = (Path(store) / "CURRENT").read_text().strip()
    return json.loads((Path(store) / current / "manifest.json").read_text())  # type: ignore[no-any-return]


def test_a_store_gathered_in_another_time_zone_is_refused(
        demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    berlin = _plan_in(tmp_path, "Europe/Berlin")
    baseline = str(demo["dir"] / "baseline.json")
    store = str(tmp_path / "sums")
    base = ("--baseline", baseline, "--store", store, "--fail-on", "never", "-o", os.devnull)
    assert run("check", PLAN, *base, "--data", *demo["days"][:3])[0] == 0
    manifest = _manifest(store)
    assert manifest["timezone"] == "UTC"
    assert manifest["grid"] == {"bucket": 86400, "timezone": "UTC", "local_days": False,
                                "origin": "1970-01-05T00:00:00Z"}
    before = sorted(p.name for p in Path(store).iterdir())
    capsys.readouterr()
    code, _ = run("check", str(berlin), *base, "--data", demo["days"][3])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error[PS430]:") and "Traceback" not in err
    # Located at the line of the plan that sets the zone, naming both zones.
    line = Path(berlin).read_text().splitlines().index("timezone: Europe/Berlin") + 1
    assert f"{berlin}:{line}:" in err and "`UTC`" in err and "Europe/Berlin" in err
    assert "manifest.json" in err
    assert sorted(p.name for p in Path(store).iterdir()) == before
    assert _manifest(store)["files"] == manifest["files"]

    # The other way round: a store of Berlin's local days, and a plan with no zone (UTC).
    local = str(tmp_path / "berlin-sums")
    assert run("check", str(berlin), "--baseline", baseline, "--store", local, "--fail-on",
               "never", "-o", os.devnull, "--data", *demo["days"][:3])[0] == 0
    info = store_info(local)
    assert info["timezone"] == "Europe/Berlin" and _manifest(local)["grid"]["local_days"]
    assert info["first_bucket"].endswith("T23:00:00Z")  # midnight in Berlin in winter
    capsys.readouterr()
    code, _ = run("check", PLAN, "--baseline", baseline, "--store", local, "--fail-on",
                  "never", "-o", os.devnull, "--data", demo["days"][3])
    err = capsys.readouterr().err
    assert code == 2 and "error[PS430]" in err and PLAN in err
    assert "`Europe/Berlin`" in err and "timezone: UTC" in err
    # The Berlin store keeps judging like one run over the same days in Berlin.
    program = compile_plan(load_plan(str(berlin)).plan)  # type: ignore[arg-type]
    results, _ = run_store(program, demo["days"][3:6], demo["profile"], local)
    assert windows(results) == windows(run_program(program, demo["days"][:6], demo["profile"]))


def test_a_store_that_does_not_record_its_zone(demo: dict[str, Any], tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A store written before zones were recorded: its UTC-aligned buckets are read as they
    are (their bounds do not depend on a zone); local days are refused (unknown zone)."""
    store = tmp_path / "sums"
    run_store(demo["program"], demo["days"][:2], demo["profile"], store)
    current = store / (store / "CURRENT").read_text().strip() / "manifest.json"
    manifest = json.loads(current.read_text())
    del manifest["timezone"], manifest["grid"]
    current.write_text(json.dumps(manifest))
    berlin = _plan_in(tmp_path, "Europe/Berlin")
    code, _ = run("check", str(berlin), "--baseline", str(demo["dir"] / "baseline.json"),
                  "--store", str(store), "--fail-on", "never", "-o", os.devnull,
                  "--data", demo["days"][2])
    err = capsys.readouterr().err
    assert code == 2 and "error[PS430]" in err and "without a record of its time zone" in err
    run_store(demo["program"], demo["days"][2:4], demo["profile"], store)
    assert _manifest(store)["timezone"] == "UTC"  # recorded from now on


def test_a_store_for_another_plan_is_refused(demo: dict[str, Any], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "sums")
    base = ("--baseline", str(demo["dir"] / "baseline.json"), "--store", store, "--fail-on",
            "never", "-o", os.devnull)
    assert run("check", PLAN, *base, "--data", demo["days"][0])[0] == 0
    other = _plan_in(tmp_path, None, "another_model")
    # Profiled from the same baseline rows for that plan: only the store stands in the way.
    profile = tmp_path / "other.json"
    assert run("baseline", str(other), "--data", str(demo["dir"] / "baseline.parquet"), "-o",
               str(profile))[0] == 0
    capsys.readouterr()
    code, _ = run("check", str(other), "--baseline", str(profile), *base[2:], "--data",
                  demo["days"][1])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error[PS430]:") and str(other) in err
    assert "`rental_fmv_inspector`" in err and "`another_model`" in err
    # A store whose column was gathered as another type (numbers, not categories).
    current = Path(store) / (Path(store) / "CURRENT").read_text().strip() / "manifest.json"
    manifest = json.loads(current.read_text())
    assert manifest["columns"]["listing_source"]["kind"] == "categorical"
    manifest["columns"]["listing_source"]["kind"] = "numeric"
    current.write_text(json.dumps(manifest))
    code, _ = run("check", PLAN, *base, "--data", demo["days"][1])
    err = capsys.readouterr().err
    assert code == 2 and "error[PS430]" in err and "`listing_source` as numeric" in err


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


# ------------------------------------------------------------- databases: read on from a mark


def _growing(demo: dict[str, Any]) -> list[pa.Table]:
    """The demo's first 31 days as what a table holds at three nightly runs: days 0–9 and the
    first half of day 10 (a day still being scored), then through day 20, then through day 30."""
    days = [pq.read_table(p) for p in demo["days"][:31]]
    half = days[10].num_rows // 2
    assert half > 0
    first = pa.concat_tables([*days[:10], days[10].slice(0, half)])
    second = pa.concat_tables([first, days[10].slice(half), *days[11:21]])
    return [first, second, pa.concat_tables([second, *days[21:31]])]


def _read_on(demo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             load: Any, uri: str) -> None:
    """Three nightly runs over a growing table give the windows of one run over all its rows,
    each run reading only the rows from the bucket the last one held back (in SQL)."""
    from planspec import sources

    queries: list[str] = []
    real = sources._Database.select

    def select(self: Any, schema: pa.Schema) -> str:
        queries.append(real(self, schema))
        return queries[-1]

    monkeypatch.setattr(sources._Database, "select", select)
    program, profile = demo["program"], demo["profile"]
    store = tmp_path / "sums"
    states = _growing(demo)
    day0 = datetime.datetime.fromisoformat(
        windows(run_program(program, demo["days"][0], profile))["data"]["start"][:10])
    for n, table in enumerate(states):
        load(table)
        queries.clear()
        results, report = run_store(program, uri, profile, store)
        assert not report.skipped
        held = day0 + datetime.timedelta(days=(10, 20, 30)[n])
        assert [r[2] for r in report.live] == [held.strftime("%Y-%m-%dT00:00:00Z")]
        if n:  # only rows from the bucket held back last time are asked of the database
            since = (day0 + datetime.timedelta(days=(10, 20)[n - 1])).strftime("%Y-%m-%dT%H")
            assert [q for q in queries if "WHERE" in q], queries
            assert all(f'WHERE "scored_at" >= TIMESTAMPTZ \'{since}' in q
                       for q in queries if "LIMIT" not in q), queries
            a, b = ((10, 20), (20, 30))[n - 1]  # whole buckets only, each once
            assert report.ingested[0].rows == sum(pq.read_metadata(p).num_rows
                                                  for p in demo["days"][a:b])
        assert_close(windows(results), windows(run_program(program, states[n], profile)))
    info = store_info(store)
    assert info["rows"] == states[-1].num_rows - pq.read_metadata(demo["days"][30]).num_rows
    # Outcomes join the stored rows and the held-back day's rows, each once.
    with_outcomes, _ = run_store(program, uri, profile, store, outcomes=demo["outcomes"])
    assert_close(windows(with_outcomes), windows(run_program(program, states[-1], profile,
                                                             outcomes=demo["outcomes"])))


def test_a_duckdb_table_is_read_on_from_the_held_back_bucket(
        demo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from planspec.demo import write_duckdb

    db = tmp_path / "live.duckdb"
    _read_on(demo, tmp_path, monkeypatch, lambda t: write_duckdb(db, {"scored": t}),
             f"duckdb:{db}?table=scored")


def test_a_postgres_table_is_read_on_from_the_held_back_bucket(
        demo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from . import pg

    if pg.find_bin() is None:
        pytest.skip("NO POSTGRESQL SERVER: initdb/pg_ctl not found; `apt-get install "
                    "postgresql` (as .ci/run does) to run the PostgreSQL tests")
    monkeypatch.setenv("PGPASSWORD", pg.PASSWORD)
    with pg.running_postgres() as server:
        _read_on(demo, tmp_path, monkeypatch,
                 lambda t: pg.load_tables(server, {"scored": t}), f"{server.uri}?table=scored")


def test_parquet_row_groups_are_gathered_a_column_at_a_time(
        demo: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Parquet file's row groups are decoded one column at a time (memory holds a column, not
    the group), and give the results of the whole table in memory; a group larger than a batch
    streams within itself."""
    from planspec import data

    reads: list[list[str]] = []
    real = data.RowGroup.read

    def read(self: data.RowGroup, columns: Any) -> pa.Table:
        reads.append(list(columns))
        return real(self, columns)

    monkeypatch.setattr(data.RowGroup, "read", read)
    program, profile = demo["program"], demo["profile"]
    table = pq.read_table(demo["scored"])
    path = tmp_path / "groups.parquet"
    pq.write_table(table, path, row_group_size=700)
    in_memory = windows(run_program(program, table, profile))
    assert_close(windows(run_program(program, str(path), profile)), in_memory)
    groups = pq.ParquetFile(path).metadata.num_row_groups
    # per group: the time column, each column once (the segments' sums share its read), and
    # each slice's own columns once, for the rows' segments
    from planspec.engine.segments import segment_needs

    slices = [program.slices[k].columns for k in segment_needs(program)]
    assert groups > 3 and slices
    assert sorted(map(tuple, reads)) == sorted(
        [(program.timestamp,), *((n,) for n in column_needs(program)), *map(tuple, slices)]
        * groups)
    reads.clear()  # groups of 700 rows in batches of 300: streamed in record batches instead
    assert_close(windows(run_program(program, str(path), profile, batch_rows=300)), in_memory)
    assert table.num_rows % 700 <= 300  # but for the last, shorter group
    assert len(reads) == 1 + len(column_needs(program)) + (1 if program.slices else 0)


def test_a_new_database_beside_another_is_named_on_the_command_line(
        demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A database the store has not read, beside one it reads, is read from its first row as
    another feed; the run says so once, since a moved source would now count twice."""
    from planspec.demo import write_duckdb

    db = tmp_path / "feeds.duckdb"
    scored = pq.read_table(demo["scored"])
    half = scored.num_rows // 2
    write_duckdb(db, {"east": scored.slice(0, half), "west": scored.slice(half)})
    base = ("check", PLAN, "--baseline", str(demo["dir"] / "baseline.json"), "--store",
            str(tmp_path / "sums"), "--fail-on", "never", "-o", os.devnull)
    east, west = f"duckdb:{db}?table=east", f"duckdb:{db}?table=west"
    assert run(*base, "--data", east)[0] == 0
    assert "is new to this store" not in capsys.readouterr().err
    assert run(*base, "--data", west)[0] == 0
    err = capsys.readouterr().err
    assert (f"{west} is new to this store, which already reads {east}: it was read from its "
            "first row as another feed beside it") in err
    assert run(*base, "--data", west)[0] == 0
    assert "is new to this store" not in capsys.readouterr().err
