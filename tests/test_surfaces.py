"""The same mistake in both surfaces: every YAML case of the diagnostic corpus has a `.plan`
twin (tests/cases/X.yaml and X.plan) unless YAML alone can make it; the twin reports the same
codes, each pointing at the equivalent token (or a narrower one); and a `.plan` diagnostic
speaks `.plan`, never YAML syntax."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from planspec.diagnostics import Diagnostic, Span
from planspec.load import load_plan
from planspec.parse import parse_plan

CASES = Path(__file__).parent / "cases"
#: Mistakes only YAML can make, with why the `.plan` language cannot express them.
YAML_ONLY = {
    "PS101_yaml_syntax": "YAML indentation and flow syntax",
    "PS102_folded_condition": "a folded (`>-`) scalar; `.plan` conditions are one line",
    "PS205_not_a_plan": "a top-level list; a `.plan` file is items by grammar",
    "PS252_yaml_tag": "YAML tags",
    "PS253_alias_bomb": "YAML aliases",
    "PS303_in_multiline_quoted": "a quoted scalar over two lines; `.plan` strings are one line",
}
PAIRED = sorted(p.stem for p in CASES.glob("*.yaml") if p.stem not in YAML_ONLY)


def test_every_yaml_case_has_a_plan_twin_or_a_reason() -> None:
    yaml_cases = {p.stem for p in CASES.glob("*.yaml")}
    assert set(YAML_ONLY) <= yaml_cases  # no stale reasons
    assert {s for s in PAIRED if not (CASES / f"{s}.plan").exists()} == set()


def _spanned(text: str, s: Span) -> str:
    lines = text.split("\n")
    if s.line == s.end_line:
        return lines[s.line - 1][s.col - 1:s.end_col]
    return "\n".join([lines[s.line - 1][s.col - 1:], *lines[s.line:s.end_line - 1],
                      lines[s.end_line - 1][:s.end_col]])


def _words(text: str) -> str:
    """Text without quoting and punctuation that differ between surfaces."""
    return " ".join(re.findall(r"[^\s\"'`:,\[\]{}]+", text))


def _by_code(diagnostics: tuple[Diagnostic, ...]) -> list[Diagnostic]:
    return sorted(diagnostics, key=lambda d: (d.code, d.span.line if d.span else 0,
                                              d.span.col if d.span else 0))


@pytest.mark.parametrize("stem", PAIRED)
def test_plan_twin_reports_the_same_codes_as_precisely(stem: str) -> None:
    as_yaml = load_plan(CASES / f"{stem}.yaml")
    as_plan = load_plan(CASES / f"{stem}.plan")
    assert [d.code for d in _by_code(as_plan.diagnostics)] == \
        [d.code for d in _by_code(as_yaml.diagnostics)]
    for y, p in zip(_by_code(as_yaml.diagnostics), _by_code(as_plan.diagnostics), strict=True):
        assert y.span is not None and p.span is not None
        y_text, p_text = _spanned(as_yaml.text, y.span), _spanned(as_plan.text, p.span)
        assert p.span.line == p.span.end_line, (p, p_text)  # a caret fits on one line
        if y_text.lstrip().startswith(("{", "[")) or y.span.line != y.span.end_line:
            continue  # YAML shows a whole mapping; `.plan` its head line: narrower
        # the same token, or a narrower one inside it (`"America/New_Yrok"` is the same token)
        assert _words(p_text) in _words(y_text) or _words(y_text) == "", (p, p_text, y_text)
        assert (_words(p_text) == "") == (_words(y_text) == "")  # both at the end, or neither


#: What YAML syntax looks like in a message or hint: `key:`, `a.b`, `input_alerts[0]`.
_YAML_SYNTAX = re.compile(r"`[A-Za-z_]+:[^`]*`|\b(input|output)_alerts\b|\boutcome_monitors\b|"
                          r"\bdrift_risks\b|\[\d+\]|`data\.(features|predictions)`")


@pytest.mark.parametrize("stem", PAIRED + [p.stem for p in CASES.glob("*.plan")
                                           if p.stem not in PAIRED])
def test_plan_diagnostics_speak_plan(stem: str) -> None:
    for d in load_plan(CASES / f"{stem}.plan").diagnostics:
        assert not _YAML_SYNTAX.search(d.message), d
        assert not _YAML_SYNTAX.search(d.hint or ""), d


# -------------------------------------------------------------- reproducers from issue 16, item 4

BASE = (Path(__file__).resolve().parent.parent / "plans" / "rental_inspector.plan").read_text()


def _found(old: str, new: str) -> tuple[str, list[Diagnostic]]:
    assert old in BASE
    text = BASE.replace(old, new, 1)
    return text, list(parse_plan(text, "r.plan").diagnostics)


def _line_col(text: str, needle: str) -> tuple[int, int]:
    at = text.index(needle)
    return text.count("\n", 0, at) + 1, at - text.rfind("\n", 0, at)


def test_doubled_operator_is_named_at_the_operator() -> None:
    text, found = _found("when mean(listing_price) shift > 2 sd",
                         "when mean(listing_price) shift >> 2 sd")
    [d] = found
    assert d.code == "PS102" and (d.span.line, d.span.col) == _line_col(text, ">>")  # type: ignore[union-attr]
    assert "`>>`" in d.message and "unit" not in d.message and "`sd`" not in (d.hint or "")


def test_a_word_after_a_duration_is_reported_on_its_own_line() -> None:
    text, found = _found("response_time 4h", "response_time 1 day")
    [d] = found
    assert (d.code, d.span.line, d.span.col) == ("PS104", *_line_col(text, "1 day"))  # type: ignore[union-attr]
    assert d.hint == "did you mean `1d`?"


def test_misspelled_keyword_suggests_the_plan_word_once() -> None:
    text, found = _found("feature sqft numeric", "featrue sqft numeric")
    [d] = found
    assert (d.code, d.span.line, d.span.col) == ("PS201", *_line_col(text, "featrue"))  # type: ignore[union-attr]
    assert d.hint == "did you mean `feature`?"


def test_missing_key_hint_is_written_in_plan() -> None:
    _, found = _found('  version "3.2.0"\n', "")
    [d] = found
    assert d.code == "PS202" and d.hint == "add `version`"


@pytest.mark.parametrize(("old", "new", "code", "needle"), [
    ("  severity high\n  playbook investigate_inputs\n",
     "  severity high critical\n  playbook investigate_inputs\n", "PS204", "high critical"),
    ("  kind data_fix\n", "  kind data fix\n", "PS204", "data fix"),
    ("  window 28d\n", "  window 28 days  # four weeks\n", "PS104", "28 days"),
    ("    tighten 25%\n", "    tighten 25 percent\n", "PS105", "25 percent"),
    ("  when mean(listing_price) shift > 2 sd\n", "  when mean(listing_price) shift > 2 sds\n",
     "PS102", "sds"),
    ("  for 2 windows\n  severity high\n", "  for 2 windowz\n  severity high\n", "PS110",
     "windowz"),
])
def test_a_crowded_line_is_one_error_on_that_line(old: str, new: str, code: str,
                                                  needle: str) -> None:
    # As YAML reads `key: value` to the end of the line, so does `.plan`: the whole rest of the
    # line is the value, reported where it is, never as a new setting on the next line.
    text, found = _found(old, new)
    assert [(d.code, d.span.line, d.span.col) for d in found] == [  # type: ignore[union-attr]
        (code, *_line_col(text, needle))]


def test_plan_hints_use_plan_syntax_and_yaml_hints_yaml() -> None:
    yaml_text = (CASES / "PS315_range.yaml").read_text()
    plan_text = (CASES / "PS315_range.plan").read_text()
    [y] = load_plan(CASES / "PS315_range.yaml").diagnostics
    [p] = load_plan(CASES / "PS315_range.plan").diagnostics
    assert "`range: [low, high]`" in (y.hint or "") and "range: [" in yaml_text
    assert "`range low to high`" in (p.hint or "") and "range 0 to 1000" in plan_text
