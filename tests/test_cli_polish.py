"""The command line's edges: help for every argument and exit code, explain's catalogue,
arguments in any order, quiet/verbose/colour, and the project files a user meets first."""

from __future__ import annotations

import argparse
import io
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from planspec.cli import build_parser, main, parse_args
from planspec.diagnostics import CATALOGUE, FIXES

ROOT = Path(__file__).resolve().parent.parent
YAML = str(ROOT / "plans" / "rental_inspector.yaml")
PLAN = str(ROOT / "plans" / "rental_inspector.plan")


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_help_documents_every_argument_and_the_exit_codes(
        name: str, capsys: pytest.CaptureFixture[str]) -> None:
    parser = _subcommands()[name]
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "exit codes: 0" in text
    for action in parser._actions:
        assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
        for option in action.option_strings:
            assert option in text
        if not action.option_strings:
            assert str(action.metavar or action.dest) in text
        assert " ".join(action.help.split()) in text


def test_explain_without_a_code_lists_every_mistake_and_fix() -> None:
    code, out = run("explain")
    assert code == 0
    assert set(FIXES) == set(CATALOGUE)
    entries = re.split(r"\n\n(?=PS\d{3} )", out.strip())
    assert [e[:5] for e in entries] == sorted(CATALOGUE)
    for entry in entries:
        assert "\n  mistake:\n" in entry and "\n  fix:\n" in entry, entry


def test_explain_one_code_shows_the_fix() -> None:
    code, out = run("explain", "ps303")
    assert code == 0 and "listing_prise" in out and "The fix:" in out and "listing_price" in out


def test_plans_may_follow_options() -> None:
    assert run("validate", "--format", "json", YAML, PLAN)[0] == 0
    assert run("validate", YAML, "--format", "json", PLAN)[0] == 0
    assert parse_args(["validate", YAML, "-q", PLAN]).plans == [YAML, PLAN]


@pytest.mark.parametrize("argv", [
    ["check", "--baseline", "b.json", "--data", "x.parquet", YAML],
    ["check", "--data", "x.parquet", "y.parquet", "--baseline", "b.json", PLAN],
    ["check", "--data", "x.parquet", "--outcomes", "a.parquet", YAML, "--baseline", "b.json"],
    ["check", YAML, "--baseline", "b.json", "--data", "x.parquet"],
])
def test_the_plan_can_come_anywhere(argv: list[str]) -> None:
    args = parse_args(argv)
    assert args.plan in (YAML, PLAN)
    assert args.baseline == ["b.json"] and args.data[0] == "x.parquet"
    assert all(not x.endswith((".yaml", ".plan")) for x in [*args.data, *(args.outcomes or [])])
    assert parse_args(["baseline", "--data", "x.parquet", YAML]).plan == YAML


@pytest.mark.parametrize("argv", [
    ["check", "--baseline", "b.json", "--data", "x.parquet"],
    ["check", "--baseline", "b.json", "--data", YAML],
    ["validate", YAML, "--bogus"],
])
def test_missing_plan_or_bad_arguments_exit_2(argv: list[str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        parse_args(argv)
    assert done.value.code == 2 and "planspec: error:" in capsys.readouterr().err


def test_quiet_and_verbose(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("render", PLAN, "-o", str(tmp_path / "a.md"))[0] == 0
    assert "runbook written to" in capsys.readouterr().err
    assert run("render", PLAN, "-q", "-o", str(tmp_path / "a.md"))[0] == 0
    assert capsys.readouterr().err == ""
    code, out = run("validate", "-q", YAML)
    assert code == 0 and out == ""
    with pytest.raises(SystemExit):
        parse_args(["render", PLAN, "-q", "-v"])


def test_license_matches_pyproject() -> None:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["license"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text and len(text.splitlines()) > 150


def test_make_demo_installs_only_runtime_dependencies(tmp_path: Path) -> None:
    done = subprocess.run(["make", "-n", "demo", f"VENV={tmp_path / 'venv'}"], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0 and "not found" in done.stderr:  # pragma: no cover
        pytest.skip("make is not installed")
    assert done.returncode == 0, done.stderr
    installs = [line for line in done.stdout.splitlines() if "pip install" in line]
    assert any(line.rstrip().endswith("-e .") for line in installs), installs
    assert not [line for line in installs if "[test]" in line]
    tested = subprocess.run(["make", "-n", "test", f"VENV={tmp_path / 'venv'}"], cwd=ROOT,
                            capture_output=True, text=True)
    assert "'.[test]'" in tested.stdout


def test_demo_data_into_an_impossible_folder_is_a_usage_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x")
    assert run("demo-data", "--out", str(tmp_path / "file" / "sub"), "--rows", "10")[0] == 2
    err = capsys.readouterr().err
    assert "cannot write the demo data" in err and "Traceback" not in err
