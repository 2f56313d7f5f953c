"""Hypothesis properties: plans survive dump → load unchanged; no input makes a front end raise."""

from __future__ import annotations

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark

from planspec import _expr
from planspec.check import check_plan
from planspec.format import format_yaml
from planspec.model import Plan
from planspec.parse_yaml import parse_yaml
from planspec.stats import STATS

from .strategies import conditions, plans

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(plans)
def test_any_plan_survives_dump_and_load(plan: Plan) -> None:
    parsed = parse_yaml(format_yaml(plan), "gen.yaml")
    assert parsed.diagnostics == ()
    assert parsed.plan == plan


@SETTINGS
@given(plans)
def test_semantic_checks_never_raise_on_any_plan(plan: Plan) -> None:
    for d in check_plan(plan):
        # Semantic codes, or the syntax code of a derived outcome label that does not parse.
        assert d.code.startswith("PS3") or d.code in ("PS102", "PS103")


@SETTINGS
@given(conditions)
def test_condition_text_round_trips(cond: object) -> None:
    text = _expr.format_condition(cond)  # type: ignore[arg-type]
    again, _ = _expr.parse_condition(text)
    assert again == cond
    assert _expr.format_condition(again) == text


@SETTINGS
@given(st.text(max_size=200))
def test_arbitrary_text_never_makes_the_condition_parser_raise(text: str) -> None:
    try:
        _expr.parse_condition(text)
    except _expr.ExprError as e:
        assert e.code.startswith("PS1")
        assert 0 <= e.start <= len(text) + 1


def _grammar_strings() -> st.SearchStrategy[str]:
    # Keywords get spaced spellings (the generator does not separate adjacent tokens) and names
    # come from the statistics catalogue (plus a misspelling), so a share of the strings are
    # valid conditions and the rest exercise the transformer's errors.
    spaced = {name: st.just(f" {word} ") for name, word in
              [("AND", "and"), ("OR", "or"), ("BETWEEN", "between"), ("NOT", "not")]}
    return from_lark(_expr.build_parser(), start="condition", alphabet=st.characters(codec="ascii"),
                     explicit={**spaced,
                               "TRANSFORM": st.sampled_from([" shift ", " change "]),
                               "DIRECTION": st.sampled_from([" up ", " down "]),
                               "COMP_OP": st.sampled_from([" > ", " >= ", " < ", " <= ", " == "]),
                               "NAME": st.sampled_from([*sorted(STATS), "x", "sqft", "meen"]),
                               "WS": st.just(" ")})


@SETTINGS
@given(_grammar_strings())
def test_strings_from_the_grammar_parse_or_yield_diagnostics(text: str) -> None:
    try:
        cond, _ = _expr.parse_condition(text)
    except _expr.ExprError as e:
        assert e.code.startswith("PS1") or e.code == "PS203"  # PS203: a number out of range
        event("rejected " + e.code)
    else:
        event("parsed")
        assert _expr.parse_condition(_expr.format_condition(cond))[0] == cond


@SETTINGS
@given(st.text(max_size=300))
def test_arbitrary_text_never_makes_the_yaml_front_end_raise(text: str) -> None:
    parsed = parse_yaml(text, "fuzz.yaml")
    assert parsed.plan is None or isinstance(parsed.plan, Plan)


YAML_PIECES = st.sampled_from([
    "plan: x\n", "model:\n", "  name: m\n", "  cadence: 1d\n", "  cadence: 7\n", "data:\n",
    "  features: {a: {type: numeric}}\n", "  predictions: {p: {kind: value}}\n", "input_alerts:\n",
    "  - id: a\n", "    when: psi(a) > 0.2\n", "    when: meen(a) >\n", "    when: [1, 2]\n",
    "    window: 0d\n", "    for: -1\n", "  - 3\n", "playbooks: {}\n", "  timestamp: ts\n",
    "defaults: {min_samples: x}\n", "  task: regression\n", ": :\n", "  &a [*a]\n", "\t\n",
    "drift_risks:\n  - id: r\n    date: 2026-02-30\n",
])


@SETTINGS
@given(st.lists(YAML_PIECES, max_size=25).map("".join))
def test_plan_shaped_text_never_makes_the_yaml_front_end_raise(text: str) -> None:
    parsed = parse_yaml(text, "fuzz.yaml")
    for d in parsed.diagnostics:
        assert d.code in {"PS101", "PS102", "PS103", "PS104", "PS105", "PS106", "PS107",
                          "PS201", "PS202", "PS203", "PS204", "PS205", "PS206"}
    if parsed.plan is not None:
        check_plan(parsed.plan, parsed.source_map)
