"""The `.plan` language: same model as YAML, canonical formatting (identity, idempotence, comments
kept), round trips in both surfaces, syntax errors by code and position, and `planspec fmt`."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

from planspec import _expr
from planspec.cli import main
from planspec.format import format_plan, format_yaml
from planspec.load import load_plan
from planspec.model import Plan
from planspec.parse import parse_plan
from planspec.parse_yaml import parse_yaml

from .strategies import plans

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "tests" / "format").glob("*.plan"))
# Plans only: `*.test.yaml` files beside them are plan tests (`planspec test`), not plans.
SHIPPED = sorted((ROOT / "plans").glob("*.plan")) + sorted(
    p for p in (ROOT / "plans").glob("*.yaml") if not p.name.endswith(".test.yaml"))
SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


def test_plan_and_yaml_worked_examples_are_equal() -> None:
    a = load_plan(ROOT / "plans" / "rental_inspector.plan")
    b = load_plan(ROOT / "plans" / "rental_inspector.yaml")
    assert a.diagnostics == () and b.diagnostics == ()
    assert a.plan == b.plan


def test_validate_the_plan_worked_example_exits_0() -> None:
    assert run("validate", str(ROOT / "plans" / "rental_inspector.plan"))[0] == 0


@pytest.mark.parametrize("path", FIXTURES + [ROOT / "plans" / "rental_inspector.plan"],
                         ids=lambda p: p.name)
def test_canonical_texts_format_to_themselves(path: Path) -> None:
    text = path.read_text()
    parsed = parse_plan(text, str(path))
    assert parsed.plan is not None, parsed.diagnostics
    assert format_plan(parsed.plan, parsed.comments) == text


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_formatting_a_shipped_plan_twice_changes_nothing(path: Path) -> None:
    plan = load_plan(path).plan
    assert plan is not None
    once_plan = format_plan(plan)
    assert format_plan(parse_plan(once_plan).plan) == once_plan  # type: ignore[arg-type]
    once_yaml = format_yaml(plan)
    assert format_yaml(parse_yaml(once_yaml).plan) == once_yaml  # type: ignore[arg-type]


def test_comments_survive_formatting() -> None:
    text = ("# about the plan\nplan p\n\nmodel m {\n  # the version\n  version \"1\"  # trailing\n"
            "  task regression\n  deployment batch\n  owners [\"t\"]\n  cadence 1d\n}\n\n"
            "data {\n  timestamp ts\n  feature x numeric  # on a feature\n  output y value\n}\n"
            "\n# the end\n")
    parsed = parse_plan(text, "c.plan")
    assert parsed.plan is not None, parsed.diagnostics
    out = format_plan(parsed.plan, parsed.comments)
    assert out == text


def test_semantic_diagnostics_point_into_plan_files() -> None:
    text = (ROOT / "plans" / "rental_inspector.plan").read_text().replace(
        "when mean(listing_price) shift > 2 sd", "when mean(listing_prise) shift > 2 sd")
    line = next(i for i, s in enumerate(text.splitlines(), 1) if "listing_prise" in s)
    parsed = parse_plan(text, "r.plan")
    from planspec.check import check_plan

    [d] = check_plan(parsed.plan, parsed.source_map)  # type: ignore[arg-type]
    assert (d.code, d.span.line, d.span.col) == ("PS303", line, 13)


BASE = ('plan p\n\nmodel m {\n  version "1"\n  task regression\n  deployment batch\n'
        '  owners ["t"]\n  cadence 1d\n}\n\ndata {\n  timestamp ts\n  feature x numeric\n'
        '  output y value\n}\n')

SYNTAX = [
    # (text appended to BASE and a blank line, code, line, col): the tail starts on line 17
    ("input alert a {\n  when mean(x) >\n}\n", "PS102", 18, 17),  # where the line ends
    ("input alert a {\n  when meen(x) > 1\n}\n", "PS103", 18, 8),
    ("input alert a {\n  when psi(x).pvalue < 0.1\n}\n", "PS107", 18, 15),
    ("input alert a {\n  when mean(x) shift > 2 sds\n}\n", "PS102", 18, 26),
    ("input alert a {\n  when mean(x) = 2\n}\n", "PS102", 18, 16),
    ("input alert a {\n  when quantile(x) > 2\n}\n", "PS106", 18, 8),
    ("input alert a {\n  when psi(x) > 0.2\n\ninput alert b {\n  when psi(x) > 0.2\n}\n",
     "PS108", 17, 1),
    ("inptu alert a {\n  when psi(x) > 0.2\n}\n", "PS109", 17, 1),
    ("input alert a {\n  window = 7d\n}\n", "PS110", 18, 10),
    ("input alert a {\n  wehn psi(x) > 0.2\n}\n", "PS110", 18, 11),
    ("input alert a {\n  when psi(x) > 0.2\n  window 7\n}\n", "PS104", 19, 10),
    ("input alert a {\n  when psi(x) > 0.2\n  window 7d\n  window 1d\n}\n", "PS206", 20, 3),
    ("input alert a {\n  when psi(x) > 0.2\n  severty high\n}\n", "PS201", 19, 3),
    ("input alert a {\n  when psi(x) > 0.2\n  severity hihg\n}\n", "PS204", 19, 12),
    ("input alert a {\n  when psi(x) > 0.2\n  for two\n}\n", "PS110", 19, 7),
    ("input alert a {\n  when psi(x) > 0.2\n  why \"unterminated\n}\n", "PS110", 19, 7),
    ("input alert a {\n  when psi(x) > 0.2\n  playbook [a, b\n}\n", "PS110", 20, 1),
    ("outcome monitor m {\n  when precision < 0.8\n  min_coverage 80\n}\n", "PS105", 19, 16),
]


@pytest.mark.parametrize(("tail", "code", "line", "col"), SYNTAX,
                         ids=[f"{c}-{i}" for i, (_, c, _, _) in enumerate(SYNTAX)])
def test_syntax_errors_have_code_and_position(tail: str, code: str, line: int, col: int) -> None:
    parsed = parse_plan(BASE + "\n" + tail, "e.plan")
    found = [(d.code, d.span.line, d.span.col) for d in parsed.diagnostics if d.span]
    assert (code, line, col) in found, found


def test_two_settings_on_the_line_of_a_one_line_block_say_one_per_line() -> None:
    """`{ window 7d min_samples 50 }`: a setting's value runs to the end of its line, so the
    second setting is the mistake, located, with the fix (not `7d min_samples 50 }` as a bad
    duration); one setting in a one-line block stays valid."""
    text = BASE + "\ninput alert a { when psi(x) > 0.2 }\ndefaults { window 7d min_samples 50 }\n"
    found = [(d.code, d.span.line, d.span.col, d.message, d.hint)
             for d in parse_plan(text, "e.plan").diagnostics if d.severity == "error"]
    assert found == [("PS110", 18, 22, "`min_samples` follows `window 7d` on its line",
                      "write one setting per line: a setting's value runs to the end of its "
                      "line")]
    assert parse_plan(BASE + "\ndefaults { window 7d }\n", "e.plan").plan is not None


def test_several_errors_in_one_file_are_reported_in_one_run() -> None:
    text = BASE + ("\ninput alert a {\n  when meen(x) > 1\n}\n"
                   "\ninput alert b {\n  when psi(x) >\n}\n"
                   "\ninptu alert c {\n}\n")
    codes = sorted(d.code for d in parse_plan(text, "e.plan").diagnostics)
    assert codes == ["PS102", "PS103", "PS109"]


def test_misspelled_keyword_gets_did_you_mean() -> None:
    parsed = parse_plan(BASE + "\ninptu alert a {\n}\n", "e.plan")
    assert parsed.diagnostics[0].hint == "did you mean `input`?"
    parsed = parse_plan(BASE + "\ninput alert a {\n  wehn psi(x) > 0.2\n}\n", "e.plan")
    assert parsed.diagnostics[0].hint == "did you mean `when`?"


@SETTINGS
@given(plans)
def test_parse_format_round_trips_in_both_surfaces(plan: Plan) -> None:
    as_plan = parse_plan(format_plan(plan), "gen.plan")
    assert as_plan.diagnostics == (), format_plan(plan)
    assert as_plan.plan == plan
    as_yaml = parse_yaml(format_yaml(plan), "gen.yaml")
    assert as_yaml.plan == plan, as_yaml.diagnostics


@SETTINGS
@given(st.text(max_size=400))
def test_arbitrary_text_never_makes_the_plan_parser_raise(text: str) -> None:
    parse_plan(text, "fuzz.plan")


@SETTINGS
@given(from_lark(_expr.build_parser(), start="plan", alphabet=st.characters(codec="ascii"),
                 explicit={"WS": st.just(" "), "COMMENT": st.just("# c\n")}))
def test_strings_from_the_grammar_never_make_the_plan_parser_raise(text: str) -> None:
    parse_plan(text, "fuzz.plan")


@SETTINGS
@given(st.lists(st.sampled_from(BASE.splitlines(keepends=True) + [
    "input alert a {\n", "  when psi(x) > 0.2\n", "}\n", "  window 7d\n", "{\n", "  step \"s\"\n",
    "playbook p {\n", "  escalate to p\n", "# comment\n", "drift risk r {\n", "  date 2026-01-01\n",
]), max_size=30).map("".join))
def test_plan_shaped_text_never_makes_the_plan_parser_raise(text: str) -> None:
    parse_plan(text, "fuzz.plan")


def test_fmt_check_reports_a_diff_and_exit_1(tmp_path: Path) -> None:
    f = tmp_path / "p.plan"
    f.write_text(BASE.replace("  task regression", "task   regression"))
    code, out = run("fmt", "--check", str(f))
    assert code == 1 and out.startswith("---") and "+  task regression" in out
    assert run("fmt", "--check", str(ROOT / "plans" / "rental_inspector.plan"))[0] == 0


def test_fmt_write_rewrites_in_place(tmp_path: Path) -> None:
    f = tmp_path / "p.plan"
    f.write_text(BASE.replace("  task regression", "task   regression"))
    assert run("fmt", "-w", str(f))[0] == 0
    assert f.read_text() == BASE


def test_fmt_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "p.plan"
    original = BASE.replace("  task regression", "task   regression")
    f.write_text(original)

    def fail(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    assert run("fmt", "-w", str(f))[0] == 2  # "cannot write it: disk full", no traceback
    assert f.read_text() == original
    assert [p.name for p in tmp_path.iterdir()] == ["p.plan"]


def test_fmt_converts_between_surfaces(tmp_path: Path) -> None:
    out = tmp_path / "r.yaml"
    assert run("fmt", str(ROOT / "plans" / "rental_inspector.plan"), "--to", "yaml", "-o",
               str(out))[0] == 0
    assert load_plan(out).plan == load_plan(ROOT / "plans" / "rental_inspector.yaml").plan
    code, text = run("fmt", str(ROOT / "plans" / "rental_inspector.yaml"), "--to", "plan")
    assert code == 0 and parse_plan(text).plan == load_plan(out).plan


def test_fmt_refuses_to_convert_in_place_and_broken_plans(tmp_path: Path) -> None:
    assert run("fmt", "-w", "--to", "yaml", str(ROOT / "plans" / "rental_inspector.plan"))[0] == 2
    f = tmp_path / "bad.plan"
    f.write_text("plan p\nmodel m {\n")
    assert run("fmt", str(f))[0] == 2


@pytest.mark.parametrize(("old", "new"), [
    ("    range 0 to 8\n  }\n", "    range 0 to 8\n  }  # closes bedrooms\n"),  # after a `}`
    ("  why \"Unit-size mix shifts when short-term rentals return to the long-term market.\"\n}\n",
     "  why \"Unit-size mix shifts when short-term rentals return to the long-term market.\"\n"
     "  # last thing in the alert\n}  # end of the alert\n"),
    ("    tighten 25%\n  }\n", "    tighten 25%\n  }  # heighten ends\n"),
])
def test_fmt_keeps_an_end_of_line_comment_on_its_line(old: str, new: str) -> None:
    base = (ROOT / "plans" / "rental_inspector.plan").read_text()
    assert old in base
    text = base.replace(old, new, 1)
    parsed = parse_plan(text, "r.plan")
    assert parsed.plan is not None, parsed.diagnostics
    assert format_plan(parsed.plan, parsed.comments) == text


def test_fmt_never_loses_the_comment_of_a_line_it_drops() -> None:
    # `severity medium` is the default, so canonical text leaves it out; its comment stays.
    text = BASE + "\ninput alert a {\n  when psi(x) > 0.2\n  severity medium  # on purpose\n}\n"
    parsed = parse_plan(text, "c.plan")
    assert parsed.plan is not None, parsed.diagnostics
    out = format_plan(parsed.plan, parsed.comments)
    assert "severity" not in out and out.count("# on purpose") == 1
    assert "input alert a {  # on purpose" in out
    again = parse_plan(out, "c.plan")
    assert format_plan(again.plan, again.comments) == out  # type: ignore[arg-type]
