"""Broken plans, one or more per diagnostic code: each reports the right code at the right place.

A case marks where each finding must point with a caret comment under the offending line
(``#   ^ PS303``: the caret's column, on the line above) or a header ``# expect: PS102@24:25``.
Tests compare code@line:col, never wording.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from planspec.diagnostics import CATALOGUE
from planspec.load import load_plan

CASES = sorted((Path(__file__).parent / "cases").glob("*.yaml")) + sorted(
    (Path(__file__).parent / "cases").glob("*.plan"))
_CARET = re.compile(r"^(\s*#\s*)\^ (PS\d{3})\s*$")
_HEADER = re.compile(r"^# expect: (PS\d{3})@(\d+):(\d+)\s*$")


def expected(path: Path) -> list[str]:
    out = []
    last_content = 0
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if m := _CARET.match(line):
            out.append(f"{m.group(2)}@{last_content}:{line.index('^') + 1}")
        elif m := _HEADER.match(line):
            out.append(f"{m.group(1)}@{m.group(2)}:{m.group(3)}")
        elif not line.lstrip().startswith("#"):
            last_content = n
    return sorted(out)


def found(path: Path) -> list[str]:
    parsed = load_plan(path)
    return sorted(f"{d.code}@{d.span.line}:{d.span.col}" for d in parsed.diagnostics if d.span)


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_case_reports_code_at_position(case: Path) -> None:
    want = expected(case)
    assert want, f"{case.name} marks no expected finding"
    assert found(case) == want


def test_every_plan_code_has_a_case() -> None:
    # Data codes (PS4xx) are raised by data, not plans: tests/test_check_cli.py covers them.
    # PS362/PS363 need a baseline (`validate --baseline`): tests/test_power.py covers them.
    # PS370-PS373 are about plan test files, not plans: tests/test_plantest.py covers them.
    covered = {c.name[:5] for c in CASES} | {"PS362", "PS363", "PS370", "PS371", "PS372",
                                             "PS373"}
    assert {c for c in CATALOGUE if c < "PS400"} - covered == set()


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 20


def test_worked_example_raises_nothing(root: Path) -> None:
    parsed = load_plan(root / "plans" / "rental_inspector.yaml")
    assert parsed.plan is not None
    assert parsed.diagnostics == ()


def test_the_base_of_the_corpus_is_clean(tmp_path: Path) -> None:
    # Every case is the same small plan with one fault; without the fault it raises nothing.
    text = (Path(__file__).parent / "cases" / "PS303_unknown_column.yaml").read_text()
    fixed = text.replace("mean(prise)", "mean(price)")
    fixed = "\n".join(line for line in fixed.splitlines() if "^ PS" not in line)
    (tmp_path / "clean.yaml").write_text(fixed)
    assert load_plan(tmp_path / "clean.yaml").diagnostics == ()


def test_all_errors_in_a_file_are_reported_in_one_run(tmp_path: Path) -> None:
    text = (Path(__file__).parent / "cases" / "PS303_unknown_column.yaml").read_text()
    text = text.replace("task: binary_classification", "task: regresion")
    text = text.replace("cadence: 1d", "cadence: 1")
    text = text.replace("psi(score) > 0.2", "psi(score) >")
    (tmp_path / "many.yaml").write_text(text)
    codes = sorted(d.code for d in load_plan(tmp_path / "many.yaml").diagnostics)
    assert codes == ["PS102", "PS104", "PS204"]  # semantic checks wait for a well-formed plan
