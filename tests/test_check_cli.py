"""`planspec baseline` and `planspec check` on files: outputs, exit codes, and every data error
reported with its code and exit 2 (never a traceback, nothing half-written)."""

from __future__ import annotations

import datetime
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from planspec.cli import main
from planspec.diagnostics import CATALOGUE

ROOT = Path(__file__).resolve().parent.parent
PLAN = str(ROOT / "plans" / "rental_inspector.yaml")


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("demo")
    assert run("demo-data", "--out", str(d), "--rows", "20000")[0] == 0
    assert run("baseline", PLAN, "--data", str(d / "baseline.parquet"), "-o",
               str(d / "baseline.json"))[0] == 0
    return d


def check(demo: Path, *extra: str, data: str | None = None, baseline: str | None = None,
          more: tuple[str, ...] = ()) -> tuple[int, str]:
    return run("check", PLAN, "--baseline", baseline or str(demo / "baseline.json"),
               "--data", data or str(demo / "scored.parquet"), *extra, *more)


def test_baseline_profile_records_provenance(demo: Path) -> None:
    profile = json.loads((demo / "baseline.json").read_text())
    assert profile["format"] == "planspec-baseline" and profile["version"] == 1
    assert profile["plan"] == "rental_fmv_inspector" and profile["rows"] == 20000
    assert profile["plan_fingerprint"].startswith("sha256:")
    assert profile["data_fingerprint"].startswith("sha256:")
    assert len(profile["columns"]["listing_price"]["decile_edges"]) == 9


def test_check_json_follows_the_contract(demo: Path) -> None:
    code, out = check(demo, "--format", "json", "--fail-on", "never")
    assert code == 0
    results = json.loads(out)
    assert set(results) >= {"plan", "planspec_version", "baseline", "windows", "checks", "firing"}
    assert results["baseline"]["rows"] == 20000
    first = results["checks"][0]
    assert first["id"] == "price_mean_shift" and first["statistic"] == "mean_shift"
    assert first["source"].endswith("rental_inspector.yaml:77:11")  # the `when` value
    w = first["windows"][0]
    assert set(w) >= {"start", "end", "n", "value", "status", "firing"}
    assert w["start"] == "2025-12-01T00:00:00Z" and w["end"] == "2025-12-08T00:00:00Z"


def test_check_accepts_raw_baseline_data_and_globs(demo: Path) -> None:
    code, out = check(demo, "--format", "json", baseline=str(demo / "base*.parquet"),
                      data=str(demo / "sc*.parquet"))
    assert code in (0, 1)
    assert json.loads(out)["baseline"]["rows"] == 20000


def test_check_text_and_markdown(demo: Path) -> None:
    code, text = check(demo, "--fail-on", "never")
    assert code == 0 and "price_mean_shift" in text and "What fired and when:" in text
    code, md = check(demo, "--format", "markdown", "--fail-on", "never")
    assert md.startswith("# Monitoring report: `rental_fmv_inspector`")
    assert "| `price_mean_shift` | input | 7d |" in md


def test_output_file_is_written_whole(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    check(demo, "--format", "json", "-o", str(out), "--fail-on", "never")
    assert json.loads(out.read_text())["plan"] == "rental_fmv_inspector"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_fail_on_sets_the_exit_code(demo: Path, tmp_path: Path) -> None:
    # A scored file that ends in the week of the price-feed fault: fires at fail at the end.
    table = pq.read_table(demo / "scored.parquet")
    end = pa.scalar(datetime.datetime(2026, 3, 23, tzinfo=datetime.UTC),
                    type=table.schema.field("scored_at").type)
    cut = table.filter(pc.less(table.column("scored_at"), end))
    f = tmp_path / "march.parquet"
    pq.write_table(cut, f)
    assert check(demo, "--fail-on", "fail", data=str(f))[0] == 1
    assert check(demo, "--fail-on", "never", data=str(f))[0] == 0
    assert check(demo, "--fail-on", "warn", data=str(f))[0] == 1


def _write_csv(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


HEADER = ("scored_at,listing_price,sqft,bedrooms,building_age,neighborhood,listing_source,"
          "days_on_market,broker_fee,description_text,p_within_10pct\n")
ROW = "2026-01-05T10:00:00Z,2500,800,1,30,D01,owner_site,10,true,x,0.7\n"


def data_errors(tmp: Path, demo: Path) -> dict[str, dict[str, Any]]:
    profile = json.loads((demo / "baseline.json").read_text())
    other = dict(profile, plan="another_plan")
    old = dict(profile, version=0)
    (tmp / "other.json").write_text(json.dumps(other))
    (tmp / "old.json").write_text(json.dumps(old))
    (tmp / "garbage.parquet").write_bytes(b"not parquet at all")
    (tmp / "short.json").write_text(json.dumps(dict(profile, span_seconds=0), indent=1))
    nulls = pq.read_table(demo / "baseline.parquet")
    i = nulls.schema.get_field_index("sqft")
    pq.write_table(nulls.set_column(i, "sqft", pa.nulls(nulls.num_rows, pa.float64())),
                   tmp / "nullsqft.parquet")
    t = nulls.schema.get_field_index("scored_at")
    long = nulls.slice(0, 2).set_column(t, "scored_at", pa.array(
        [datetime.datetime(1000, 1, 1), datetime.datetime(8999, 1, 1)], pa.timestamp("s")))
    pq.write_table(long, tmp / "long.parquet")
    return {
        "PS401 missing file": {"data": str(tmp / "nope.parquet")},
        "PS401 no glob match": {"data": str(tmp / "none-*.parquet")},
        "PS401 not parquet": {"data": str(tmp / "garbage.parquet")},
        "PS401 unknown suffix": {"data": _write_csv(tmp / "d.xlsx", HEADER + ROW)},
        "PS402 missing column": {"data": _write_csv(tmp / "nosqft.csv", HEADER.replace(
            "sqft,", "sq_ft,") + ROW)},
        "PS403 wrong type": {"data": _write_csv(tmp / "text.csv", HEADER + ROW.replace(
            ",800,", ",approx 800,"))},
        "PS404 bad timestamp": {"data": _write_csv(tmp / "ts.csv", HEADER + ROW + ROW.replace(
            "2026-01-05T10:00:00Z", "last tuesday"))},
        "PS404 missing timestamp": {"data": _write_csv(tmp / "nots.csv", HEADER + ROW +
                                                        ROW.replace("2026-01-05T10:00:00Z", ""))},
        "PS405 empty file": {"data": _write_csv(tmp / "empty.csv", HEADER)},
        "PS406 another plan": {"baseline": str(tmp / "other.json")},
        "PS407 not a profile": {"baseline": _write_csv(tmp / "results.json", '{"plan": "x"}')},
        "PS407 old version": {"baseline": str(tmp / "old.json")},
        "PS408 unknown outcome source": {"more": ("--outcomes", f"inspector_audit={tmp}/a.pq")},
        "PS409 bad events file": {"more": ("--events", _write_csv(
            tmp / "events.csv", "risk,date\nrent_stabilization_law,someday\n"))},
        "PS430 store of another baseline": {"more": ("--store", _store(tmp, "other.json"))},
        "PS431 damaged store": {"more": ("--store", _store(tmp, None))},
        # Port 1 on this machine refuses at once (tests/test_sources.py has the rest).
        "PS410 unreachable database": {"data": "postgresql://ml@127.0.0.1:1/ml?table=scored"},
        "PS411 missing table": {"data": f"duckdb:{demo / 'demo.duckdb'}?table=scord"},
        "PS440 inconsistent profile": {"baseline": str(tmp / "short.json")},
        "PS441 baseline column without values": {"baseline": str(tmp / "nullsqft.parquet")},
        "PS442 too many buckets": {"data": str(tmp / "long.parquet")},
        "PS443 column named twice": {"data": _write_csv(tmp / "twice.csv", HEADER.replace(
            "sqft,", "sqft,sqft,") + ROW.replace(",800,", ",800,800,"))},
    }


def _store(tmp: Path, manifest_baseline: str | None) -> str:
    """A store whose manifest names another baseline, or whose CURRENT names nothing."""
    store = tmp / f"store-{manifest_baseline or 'damaged'}"
    gen = store / "gen-000001"
    gen.mkdir(parents=True, exist_ok=True)
    (store / "CURRENT").write_text("gen-000001\n" if manifest_baseline else "gen-000009\n")
    (gen / "manifest.json").write_text(json.dumps({
        "format": 1, "plan": "rental_fmv_inspector", "baseline_fingerprint": "sha256:other",
        "bucket": 86400, "timestamp": "scored_at", "files": []}))
    return str(store)


def test_every_data_code_has_a_case(tmp_path: Path, demo: Path) -> None:
    covered = {name[:5] for name in data_errors(tmp_path, demo)}
    assert {c for c in CATALOGUE if c >= "PS400"} == covered


@pytest.mark.parametrize("case", [
    "PS401 missing file", "PS401 no glob match", "PS401 not parquet", "PS401 unknown suffix",
    "PS402 missing column", "PS403 wrong type", "PS404 bad timestamp", "PS404 missing timestamp",
    "PS405 empty file", "PS406 another plan", "PS407 not a profile", "PS407 old version",
    "PS408 unknown outcome source", "PS409 bad events file", "PS410 unreachable database",
    "PS411 missing table", "PS430 store of another baseline", "PS431 damaged store",
    "PS440 inconsistent profile", "PS441 baseline column without values",
    "PS442 too many buckets", "PS443 column named twice"])
def test_data_errors_exit_2_with_their_code(case: str, demo: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    args: dict[str, Any] = data_errors(tmp_path, demo)[case]
    out = tmp_path / "keep.json"
    out.write_text("previous results\n")
    code, _ = check(demo, "-o", str(out), **args)
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error[{case[:5]}]:"), err
    assert "Traceback" not in err
    assert out.read_text() == "previous results\n"


def test_missing_column_suggests_the_near_name(demo: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    check(demo, **data_errors(tmp_path, demo)["PS402 missing column"])
    assert "did you mean `sq_ft`?" in capsys.readouterr().err


def test_baseline_data_errors_exit_2_as_in_check(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("baseline", PLAN, "--data", str(tmp_path / "nope.parquet"))
    assert code == 2 and "error[PS401]" in capsys.readouterr().err


def test_invalid_plan_is_a_usage_error(tmp_path: Path, demo: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    broken = ROOT / "tests" / "cases" / "PS303_unknown_column.yaml"
    code, _ = run("check", str(broken), "--baseline", str(demo / "baseline.json"), "--data",
                  str(demo / "scored.parquet"))
    assert code == 2 and "error[PS303]" in capsys.readouterr().err


def test_plan_after_the_many_valued_options(demo: Path) -> None:
    code, out = run("check", "--baseline", str(demo / "baseline.json"), "--data",
                    str(demo / "scored.parquet"), PLAN, "--format", "json")
    assert code in (0, 1) and json.loads(out)["plan"] == "rental_fmv_inspector"
    assert run("baseline", "--data", str(demo / "baseline.parquet"), PLAN)[0] == 0


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("color", "tty", "no_color", "painted"), [
    ("always", False, "", True), ("never", True, "", False), ("auto", False, "", False),
    ("auto", True, "", True), ("auto", True, "1", False), ("auto", True, None, True)])
def test_color_option(demo: Path, monkeypatch: pytest.MonkeyPatch, color: str, tty: bool,
                      no_color: str | None, painted: bool) -> None:
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    out = _Terminal() if tty else io.StringIO()
    main(["check", PLAN, "--baseline", str(demo / "baseline.json"), "--data",
          str(demo / "scored.parquet"), "--color", color, "--fail-on", "never"], out)
    assert ("\x1b[" in out.getvalue()) == painted


@pytest.mark.parametrize("columns", [60, 80, 120, 200])
def test_text_table_fits_the_terminal(demo: Path, monkeypatch: pytest.MonkeyPatch,
                                      columns: int) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    _, out = check(demo, "--fail-on", "never")
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("CHECK"))
    table = lines[start:lines.index("", start)]
    assert len(table) > 10
    assert max(map(len, table)) <= max(columns, 70)  # below 78 columns, no history column
    assert ("HISTORY" in table[0]) == (columns >= 78)
    header = table[0]
    # The KIND column holds "outcome" and the header lines up with the rows.
    kind = header.index("KIND")
    assert any(row[kind:kind + 7] == "outcome" for row in table[1:])
    assert all(row[header.index("NOW") - 2:header.index("NOW")] == "  " for row in table)


def test_report_numbers_read_as_the_cli_prints_them(demo: Path) -> None:
    _, text = check(demo, "--format", "markdown", "--fail-on", "never")
    _, table = check(demo, "--fail-on", "never")
    assert "e+0" not in text and "-0 " not in text and "-0.0" not in text
    rows = json.loads(check(demo, "--format", "json")[1])["data"]["rows"]
    assert f"{rows:,} scored rows" in text and f"on {rows:,} rows" in table
    assert "## What fired and when" in text
    assert "shift of the mean, in baseline SDs" in text


@pytest.mark.parametrize("window", ["1d", "7d", "1mo"])
def test_demo_baseline_scored_against_itself_fires_nothing(demo: Path, tmp_path: Path,
                                                           window: str) -> None:
    """Issue #10: the worked example's input and output alerts, on every window length, judge
    the baseline against itself without one firing."""
    text = Path(PLAN).read_text()
    plan = tmp_path / "plan.yaml"
    plan.write_text(text.replace("window: 7d", f"window: {window}", 1))
    base = str(tmp_path / "b.json")
    assert run("baseline", str(plan), "--data", str(demo / "baseline.parquet"), "-o", base)[0] == 0
    out = str(tmp_path / "r.json")
    code, _ = run("check", str(plan), "--baseline", base, "--data",
                  str(demo / "baseline.parquet"), "--format", "json", "-o", out)
    results = json.loads(Path(out).read_text())
    fired = {c["id"] for c in results["checks"] if c["kind"] != "outcome"
             for w in c["windows"] if w["firing"]}
    assert fired == set(), (window, fired)
    assert code == 0


def test_data_ending_mid_week_marks_the_partial_window(demo: Path, tmp_path: Path) -> None:
    """Issue #10: the demo's scored data cut on a Wednesday: the week it ends in is partial in
    the JSON, text and markdown outputs and never sets the exit code."""
    table = pq.read_table(demo / "scored.parquet")
    cut = datetime.datetime(2026, 6, 10, 12, tzinfo=datetime.UTC)  # a Wednesday
    mid = table.filter(pc.less(table["scored_at"], pa.scalar(cut, table.schema.field(
        "scored_at").type)))
    pq.write_table(mid, tmp_path / "mid.parquet")
    data = str(tmp_path / "mid.parquet")
    out = str(tmp_path / "r.json")
    code, _ = check(demo, "--format", "json", "-o", out, "--fail-on", "warn", data=data)
    results = json.loads(Path(out).read_text())
    weekly = [c for c in results["checks"] if c["window"] == "7d"]
    assert weekly and all(c["windows"][-1]["status"] == "partial" for c in weekly)
    assert all(c["windows"][-1]["end"] == "2026-06-15T00:00:00Z" for c in weekly)
    # a partial window neither starts nor extends a firing: what fires now fired in the latest
    # complete week, and the exit code follows complete windows only
    by_id = {c["id"]: c for c in weekly}
    for f in results["firing"]:
        if f["id"] in by_id:
            assert by_id[f["id"]]["windows"][-1]["firing"] is None
            assert by_id[f["id"]]["windows"][-2]["firing"] and f["since"] < "2026-06-08"
    assert code == (1 if results["firing"] else 0)
    _, text = check(demo, data=data)
    assert "Partial windows" in text
    md = str(tmp_path / "r.md")
    assert run("report", out, "-o", md)[0] == 0
    assert "◦" in Path(md).read_text()
