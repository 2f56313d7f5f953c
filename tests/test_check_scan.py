"""check_plan's scan: the one pass that clears the alerts and comparisons no rule finds anything
in never hides a finding, and clears the worked example entirely (so rules do no per-item work
on a valid plan)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planspec import check
from planspec._expr import coerce_condition, coerce_filter
from planspec.check import Ctx, check_plan
from planspec.load import load_plan
from planspec.model import (
    Alert,
    Between,
    Calibrated,
    Compare,
    Duration,
    Measure,
    Plan,
    Predicate,
    Threshold,
)
from planspec.stats import STATS

from .strategies import _combine


def _example() -> Plan:
    plan = load_plan("plans/rental_inspector.yaml").plan
    assert plan is not None
    return plan


EXAMPLE = _example()
COLUMNS = [*EXAMPLE.data.features, *EXAMPLE.data.predictions, "listing_prise"]
SECTIONS = ("input_alerts", "output_alerts", "outcome_monitors")


@contextmanager
def nothing_cleared() -> Iterator[None]:
    """Every alert and comparison goes to every rule, as before the scan."""
    with mock.patch.object(check, "_plain_leaf", lambda *_: False), \
            mock.patch.object(check, "_plain_watcher", lambda *_: False):
        yield


def found_as_before(plan: Plan) -> list[str]:
    """The codes check_plan finds in ``plan``, having checked that it finds the very same
    diagnostics in the same order when the scan clears nothing."""
    found = check_plan(plan)
    with nothing_cleared():
        assert found == check_plan(plan)
    return [d.code for d in found]


def with_condition(plan: Plan, section: str, cond: object, **settings: object) -> Plan:
    items = list(getattr(plan, section))
    items[0] = items[0].model_copy(update={"when": cond, **settings})
    return plan.model_copy(update={section: tuple(items)})


@pytest.mark.parametrize("path", ["plans/rental_inspector.yaml", "plans/rental_inspector.plan"])
def test_the_worked_example_leaves_nothing_for_the_rules(path: str) -> None:
    parsed = load_plan(path)
    assert parsed.plan is not None
    ctx = Ctx(parsed.plan, parsed.source_map)
    assert len(list(ctx.leaves())) > 30  # what the scan read
    assert list(ctx.leaves_to_check()) == []
    assert list(ctx.watchers_to_check()) == []
    assert set(ctx.scan.ids) == {w.id for _, _, w in ctx.watchers()}


# A leaf at each edge of each rule about single comparisons, in an input alert: what it finds.
EDGES = [
    ("missing_rate(sqft) > 0", set()),  # at the bottom of its range, and can still hold
    ("missing_rate(sqft) >= 1", set()),
    ("missing_rate(sqft) > 1", {"PS305"}),  # never holds
    ("missing_rate(sqft) > 150%", {"PS305"}),
    ("missing_rate(sqft) < 0", {"PS305"}),
    ("missing_rate(sqft) <= 0", set()),
    ("ks(sqft).pvalue < 0.01", set()),
    ("ks(sqft).pvalue < 2", {"PS305"}),
    ("js(sqft) > 1.5", {"PS305"}),
    ("psi(sqft) < 0", {"PS305"}),
    ("count change down > 100%", {"PS305"}),
    ("count change down > 99%", set()),
    ("mean(sqft) shift > 2", {"PS314"}),
    ("mean(sqft) change > 0.5", {"PS314"}),
    ("psi(neighborhood) > 20%", {"PS314"}),
    ("missing_rate(sqft) > 5%", set()),
    ("psi(listing_prise) > 0.2", {"PS303"}),
    ("chi2(sqft) > 1", {"PS304"}),
    ("psi(description_text) > 0.2", {"PS304"}),
    ("rate(sqft >= 500) > 0.5", {"PS304"}),
    ("psi(p_within_10pct) > 0.2", {"PS317"}),
    ("precision < 0.8", {"PS317"}),
    ("psi(sqft) change > 10%", {"PS319"}),
    ("missing_rate(sqft) shift > 2 sd", {"PS319"}),
    ("ks(sqft).pvalue change > 10%", {"PS319"}),
    ("psi(sqft) > calibrated(1%)", set()),
    ("count < calibrated(1%)", {"PS360"}),
    ("psi(sqft) > calibrated(60%)", {"PS361"}),
    ("psi(sqft) > calibrated(0)", {"PS361"}),
    ("psi(sqft) between 0.3 and 0.1", {"PS316"}),
    ("psi(sqft) between 0.1 and 0.1", {"PS316"}),
    ("js(sqft) between 0 and 1", set()),
    ("js(sqft) not between 0.1 and 2", {"PS305"}),
    ("quantile(sqft, 90) > 100", {"PS322"}),
    ("quantile(sqft, 90%) > 100", set()),
    ("out_of_range_rate(neighborhood) > 1%", {"PS304", "PS315"}),
    ("mean(sqft) > 100 and psi(listing_prise) > 0.2", {"PS303"}),
    ("(mean(sqft) > 100 or js(sqft) > 2) and ks(sqft).pvalue < 0.01", {"PS305"}),
]


@pytest.mark.parametrize(("text", "codes"), EDGES)
def test_a_leaf_at_each_edge_is_found_as_before(text: str, codes: set[str]) -> None:
    cond = coerce_condition(text)
    assert set(found_as_before(with_condition(EXAMPLE, "input_alerts", cond))) == codes
    for section in SECTIONS[1:]:  # the same leaf where the other sides watch
        found_as_before(with_condition(EXAMPLE, section, cond))


def test_an_undeclared_range_is_found_as_before() -> None:
    features = dict(EXAMPLE.data.features)
    features["sqft"] = features["sqft"].model_copy(update={"range": None})
    plan = EXAMPLE.model_copy(update={"data": EXAMPLE.data.model_copy(
        update={"features": features})})
    assert found_as_before(plan) == ["PS315"]


# Settings of an alert at each edge of each rule about single alerts.
WATCHER_EDGES: list[tuple[dict[str, object], set[str]]] = [
    ({"window": Duration(value=1, unit="d")}, set()),  # the cadence itself
    ({"window": Duration(value=12, unit="h")}, {"PS307"}),
    ({"every": Duration(value=7, unit="d")}, set()),  # slides by the default window
    ({"every": Duration(value=8, unit="d")}, {"PS320"}),
    ({"window": Duration(value=1, unit="mo"), "every": Duration(value=1, unit="d")},
     {"PS325"}),
    ({"window": Duration(value=1, unit="y"), "every": Duration(value=1, unit="q")}, set()),
    ({"for_": 0}, {"PS308"}),
    ({"playbook": None}, {"PS312"}),
    ({"playbook": "investigate_input"}, {"PS302"}),
    ({"by": "listing_source"}, set()),
    ({"by": ("listing_source", "broker_fee")}, set()),
    ({"by": ("listing_source", "sqft")}, {"PS381"}),
    ({"by": "listing_sorce"}, {"PS380"}),
    ({"where": coerce_filter('listing_source == "aggregator" and sqft > 0')}, set()),
    ({"where": coerce_filter("listing_source == 3")}, {"PS383"}),
    ({"warn": coerce_condition("mean(listing_price) shift > 1.5 sd")}, set()),
    ({"warn": coerce_condition("mean(listing_price) shift > 2 sd")}, {"PS306"}),
    ({"warn": coerce_condition("mean(listing_price) shift > 3 sd")}, {"PS306"}),
    ({"warn": coerce_condition("mean(sqft) shift > 3 sd")}, set()),  # another measure
]


@pytest.mark.parametrize(("update", "codes"), WATCHER_EDGES)
def test_an_alert_at_each_edge_is_found_as_before(update: dict[str, object],
                                                  codes: set[str]) -> None:
    plan = with_condition(EXAMPLE, "input_alerts", EXAMPLE.input_alerts[0].when, **update)
    assert set(found_as_before(plan)) == codes


def test_a_repeated_id_is_found_as_before() -> None:
    alerts = list(EXAMPLE.input_alerts)
    alerts.append(alerts[3].model_copy(update={"id": alerts[1].id}))
    assert found_as_before(EXAMPLE.model_copy(update={"input_alerts": tuple(alerts)})) == [
        "PS301"]


# Random comparisons over the worked example's columns, with numbers at and near the edges of
# every statistic's range, in random alerts of every section.

edge_numbers = st.sampled_from([0.0, 1.0, -1.0, 0.5, 2.0, 100.0, 150.0, 1e-9, -0.5, 0.999])
thresholds = st.builds(Threshold, value=edge_numbers | st.floats(-1e3, 1e3),
                       unit=st.sampled_from(["", "%", "sd"]))


@st.composite
def measures(draw: st.DrawFn) -> Measure:
    name = draw(st.sampled_from(sorted(STATS)))
    info = STATS[name]
    fields: dict[str, Any] = {"stat": name}
    if info.args not in ("none", "within"):
        fields["column"] = draw(st.sampled_from(COLUMNS))
    if info.args == "quantile":
        fields["q"] = draw(edge_numbers)
    if info.args == "predicate":
        fields["predicate"] = Predicate(op=">=", value=Threshold(value=0.5))
    if info.args == "within":
        fields["within"] = Threshold(value=10, unit="%")
    fields["part"] = draw(st.sampled_from(["statistic", "pvalue", "lower", "upper"]))
    fields["transform"] = draw(st.sampled_from(["value", "value", "shift", "change"]))
    fields["direction"] = draw(st.sampled_from(["both", "up", "down"]))
    return Measure(**fields)


@st.composite
def leaves(draw: st.DrawFn) -> Compare | Between:
    m = draw(measures())
    if draw(st.booleans()):
        return Between(measure=m, low=draw(thresholds), high=draw(thresholds),
                       negated=draw(st.booleans()))
    calibrated = st.builds(Calibrated, value=edge_numbers, unit=st.sampled_from(["", "%"]))
    return Compare(measure=m, op=draw(st.sampled_from([">", ">=", "<", "<="])),
                   threshold=draw(thresholds | calibrated))


conditions = st.recursive(leaves(), _combine, max_leaves=4)
durations = st.builds(Duration, value=st.sampled_from([1, 2, 7, 12, 14]),
                      unit=st.sampled_from(["h", "d", "w", "mo", "q", "y"]))
segments = st.none() | st.sampled_from(COLUMNS) | st.lists(
    st.sampled_from(COLUMNS), max_size=2).map(tuple)
filters = st.none() | st.sampled_from([
    'listing_source == "aggregator"', "sqft > 0", 'listing_source > "a"', "listing_prise > 1",
    'sqft == "a"', "broker_fee == true or bedrooms in [1, 2]"]).map(coerce_filter)


@st.composite
def changed(draw: st.DrawFn) -> Plan:
    plan = EXAMPLE
    for _ in range(draw(st.integers(1, 4))):
        section = draw(st.sampled_from(SECTIONS))
        items = list(getattr(plan, section))
        i = draw(st.integers(0, len(items) - 1))
        update: dict[str, object] = {
            "when": draw(conditions), "warn": draw(st.none() | conditions),
            "window": draw(st.none() | durations), "for_": draw(st.sampled_from([None, 0, 2])),
            "playbook": draw(st.sampled_from([None, "investigate_inputs", "quality_drop",
                                              "no_such_playbook"])),
            "by": draw(segments), "where": draw(filters)}
        if isinstance(items[i], Alert):
            update["every"] = draw(st.none() | durations)
        if draw(st.booleans()):
            update["id"] = draw(st.sampled_from([w.id for w in EXAMPLE.input_alerts]))
        items[i] = items[i].model_copy(update=update)
        plan = plan.model_copy(update={section: tuple(items)})
    return plan


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changed())
def test_clearing_hides_no_finding(plan: Plan) -> None:
    found_as_before(plan)
