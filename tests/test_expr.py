"""The expression language: every statistic is expressible, formatting is canonical, and syntax
errors carry the right code and position."""

from __future__ import annotations

import pytest

from planspec._expr import (
    ExprError,
    format_condition,
    parse_condition,
    parse_duration,
)
from planspec.model import AllOf, AnyOf, Between, Compare, Measure, Threshold
from planspec.stats import STATS

EXAMPLES = {
    "mean(listing_price) shift > 2 sd": ("mean", "listing_price", "shift", 2.0, "sd"),
    "psi(neighborhood) > 0.2": ("psi", "neighborhood", "value", 0.2, ""),
    "ks(sqft).pvalue < 0.01": ("ks", "sqft", "value", 0.01, ""),
    "missing_rate(sqft) > 5%": ("missing_rate", "sqft", "value", 5.0, "%"),
    "rate(p_within_10pct >= 0.5) change > 50%": ("rate", "p_within_10pct", "change", 50.0, "%"),
    "precision < 0.8": ("precision", None, "value", 0.8, ""),
    "count change down > 50%": ("count", None, "change", 50.0, "%"),
}


@pytest.mark.parametrize("text", EXAMPLES)
def test_issue_examples_parse(text: str) -> None:
    cond, _ = parse_condition(text)
    assert isinstance(cond, Compare)
    m = cond.measure
    assert (m.stat, m.column, m.transform, cond.threshold.value, cond.threshold.unit) == \
        EXAMPLES[text]
    assert format_condition(cond) == text


def test_effect_size_and_significance_gate() -> None:
    cond, _ = parse_condition("js(neighborhood) > 0.1 and chi2(neighborhood).pvalue < 0.001")
    assert isinstance(cond, AllOf)
    assert [t.measure.stat for t in cond.terms] == ["js", "chi2"]
    assert cond.terms[1].measure.part == "pvalue"


def test_every_statistic_is_expressible() -> None:
    forms = {"column": "{}(x) > 0", "quantile": "{}(x, 0.9) > 0", "predicate": "{}(x >= 0.5) > 0",
             "within": "{}(10%) > 0", "none": "{} > 0"}
    for name, info in STATS.items():
        cond, _ = parse_condition(forms[info.args].format(name))
        assert cond.measure.stat == name
        if info.tests:
            assert parse_condition(f"{name}(x).pvalue < 0.01")[0].measure.part == "pvalue"


def test_zones_and_precedence() -> None:
    cond, _ = parse_condition("psi(x) not between 0 and 0.1 or js(x) > 0.2 and ks(x) > 0.1")
    assert isinstance(cond, AnyOf)
    assert isinstance(cond.terms[0], Between) and cond.terms[0].negated
    assert isinstance(cond.terms[1], AllOf)
    assert format_condition(cond) == \
        "psi(x) not between 0 and 0.1 or js(x) > 0.2 and ks(x) > 0.1"


def test_parentheses_are_kept_only_where_needed() -> None:
    cond, _ = parse_condition("(psi(x) > 1 or psi(y) > 1) and (ks(x) > 0.1)")
    assert format_condition(cond) == "(psi(x) > 1 or psi(y) > 1) and ks(x) > 0.1"
    flat, _ = parse_condition("count > 1 and (count > 2 and count > 3)")
    assert isinstance(flat, AllOf) and len(flat.terms) == 3


def test_predicate_values() -> None:
    cond, _ = parse_condition('share(neighborhood == "Bed-Stuy \\"north\\"") > 10%')
    assert cond.measure.predicate.value == 'Bed-Stuy "north"'
    assert parse_condition(format_condition(cond))[0] == cond
    boolean, _ = parse_condition("share(broker_fee == true) change up > 30%")
    assert boolean.measure.predicate.value is True
    assert boolean.measure.direction == "up"


def test_quoted_column_names() -> None:
    cond, _ = parse_condition("mean(`monthly rent`) > 1000")
    assert cond.measure.column == "monthly rent"
    assert format_condition(cond) == "mean(`monthly rent`) > 1000"
    keyword, _ = parse_condition("mean(`and`) > 1")
    assert format_condition(keyword) == "mean(`and`) > 1"


def test_spans_of_parts() -> None:
    text = "js(neighborhood) > 0.1 and chi2(neighborhood).pvalue < 0.001"
    _, spans = parse_condition(text)
    s, e = spans[("terms", 1, "measure", "column")]
    assert text[s:e] == "neighborhood" and s == 32
    s, e = spans[("terms", 1, "threshold")]
    assert text[s:e] == "0.001"


def test_equal_conditions_compare_equal_and_differ_from_others() -> None:
    assert parse_condition("psi(x)>0.2")[0] == parse_condition("psi( x ) > 0.2")[0]
    assert parse_condition("psi(x) > 0.2")[0] != parse_condition("psi(x) >= 0.2")[0]


def test_threshold_amounts() -> None:
    assert Threshold(value=5, unit="%").amount == pytest.approx(0.05)
    assert Threshold(value=2, unit="sd").amount == 2
    assert Measure(stat="mean", column="x").part == "statistic"


SYNTAX_ERRORS = [
    # text, code, start offset
    ("psi(neighborhood) >", "PS102", 19),
    ("psi(neighborhood) > > 1", "PS102", 20),
    ("meen(x) > 1", "PS103", 0),
    ("mean(x) shift > 2 sds", "PS102", 18),
    ("mean(x) = 3", "PS102", 8),
    ("mean(x) == 3", "PS102", 8),
    ("psi(x).pvalue < 0.1", "PS107", 7),
    ("ks(x).pvalu < 0.1", "PS107", 6),
    ("precision(x) < 1", "PS106", 0),
    ("psi > 2", "PS106", 0),
    ("quantile(x) > 2", "PS106", 0),
    ("rate(x) > 2", "PS106", 0),
    ("(psi(x) > 1", "PS102", 11),
    ("psi(x) > 1 and", "PS102", 14),
    ("psi(x) between 1", "PS102", 16),
    ("", "PS102", 0),
    ("psi(x) > 0.2 ;", "PS102", 13),
]


@pytest.mark.parametrize(("text", "code", "start"), SYNTAX_ERRORS)
def test_syntax_errors(text: str, code: str, start: int) -> None:
    with pytest.raises(ExprError) as info:
        parse_condition(text)
    assert (info.value.code, info.value.start) == (code, start)


def test_error_messages_say_what_was_expected_in_words() -> None:
    with pytest.raises(ExprError) as info:
        parse_condition("psi(neighborhood) >")
    assert "threshold" in info.value.message and "`>`" in info.value.message
    with pytest.raises(ExprError) as info:
        parse_condition("meen(x) > 1")
    assert info.value.hint == "did you mean `mean`?"


@pytest.mark.parametrize(("text", "seconds"), [("7d", 604800), ("12h", 43200), ("2w", 1209600),
                                               ("30m", 1800), ("45s", 45)])
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).seconds == seconds
    assert str(parse_duration(text)) == text


@pytest.mark.parametrize(("text", "hint"), [("7", "did you mean `7d`?"),
                                            ("7 days", "did you mean `7d`?"),
                                            ("3 hours", "did you mean `3h`?")])
def test_durations_need_units(text: str, hint: str) -> None:
    with pytest.raises(ExprError) as info:
        parse_duration(text)
    assert info.value.code == "PS104"
    assert info.value.hint == hint
