"""The command line: exit codes, output formats, schema and explain."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from planspec.cli import main
from planspec.diagnostics import CATALOGUE

ROOT = Path(__file__).resolve().parent.parent
PLAN = str(ROOT / "plans" / "rental_inspector.yaml")
BROKEN = str(ROOT / "tests" / "cases" / "PS303_unknown_column.yaml")
WARNS = str(ROOT / "tests" / "cases" / "PS313_coverage_gap.yaml")


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


def test_validate_valid_plan_prints_a_summary() -> None:
    code, out = run("validate", PLAN)
    assert code == 0
    assert "16 input alerts, 3 output alerts, 4 outcome monitors, 7 playbooks, 4 drift risks" in out


def test_validate_errors_exit_1_and_warnings_exit_0() -> None:
    assert run("validate", BROKEN)[0] == 1
    code, out = run("validate", WARNS)
    assert code == 0 and "warning[PS313]" in out and "0 errors, 1 warning" in out


def test_validate_json_carries_every_field() -> None:
    code, out = run("validate", "--format", "json", BROKEN, PLAN)
    assert code == 1
    [d] = json.loads(out)
    assert set(d) == {"code", "severity", "message", "file", "line", "col", "end_line", "end_col",
                      "hint"}
    assert (d["code"], d["line"], d["col"], d["end_col"]) == ("PS303", 21, 16, 20)
    assert d["hint"] == "did you mean `price`?"


def test_validate_github_annotations() -> None:
    code, out = run("validate", "--format", "github", BROKEN)
    assert code == 1
    assert out.startswith("::error file=") and ",line=21,col=16," in out and "title=PS303" in out


def test_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("validate", "no/such/plan.yaml")[0] == 2
    assert "no/such/plan.yaml" in capsys.readouterr().err


def test_unknown_suffix_is_a_usage_error(tmp_path: Path) -> None:
    f = tmp_path / "plan.txt"
    f.write_text("plan: x\n")
    assert run("validate", str(f))[0] == 2


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["validate"])
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["validate", "--format", "xml", PLAN])
    assert info.value.code == 2


def test_schema_is_json_schema_of_the_yaml_form() -> None:
    code, out = run("schema")
    schema = json.loads(out)
    assert code == 0 and schema["type"] == "object"
    alert = schema["$defs"]["Alert"]
    assert alert["properties"]["when"]["type"] == "string"
    assert "for" in alert["properties"] and alert["additionalProperties"] is False


def test_schema_accepts_the_worked_example() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    schema = json.loads(run("schema")[1])
    data = yaml.safe_load(Path(PLAN).read_text())
    data["drift_risks"][0]["date"] = str(data["drift_risks"][0]["date"])
    jsonschema.validate(data, schema)


@pytest.mark.parametrize("code", sorted(CATALOGUE))
def test_explain_every_code(code: str) -> None:
    status, out = run("explain", code.lower())
    assert status == 0 and out.startswith(code) and "Example" in out


def test_explain_unknown_code() -> None:
    assert run("explain", "PS999")[0] == 2
