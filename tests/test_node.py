"""The plan's node classes (planspec._node) against pydantic: each plan (shipped, the diagnostic
corpus, and Hypothesis mutations of both) is validated by the node classes and by their pydantic
twins (planspec._schema); both accept or both reject it, with the same error types, locations
and messages, and equal dumps when they accept. Then the pydantic-like API itself."""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import pickle
from pathlib import Path
from typing import Any, get_args
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError as PydanticError

from planspec._node import Node, ValidationError
from planspec._schema import plan_schema, to_node, twin
from planspec.load import load_plan
from planspec.model import (
    Alert,
    AllOf,
    Compare,
    Defaults,
    DriftRisk,
    Duration,
    Feature,
    Measure,
    Plan,
    Predicate,
    RowTest,
    Threshold,
)

ROOT = Path(__file__).resolve().parent.parent


def _raw(path: Path) -> Any:
    """A YAML plan as plain data, or None when it is not YAML a plan could be (syntax errors,
    aliases that nest into themselves, hostile sizes)."""
    try:
        text = path.read_text(encoding="utf-8")
        if any(isinstance(e, yaml.AliasEvent) for e in yaml.parse(text)):
            return None  # (an alias bomb would take minutes to compare)
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) and len(text) < 50_000 else None


PLANS = {p.name: d for p in sorted([*ROOT.glob("plans/*.yaml"), *ROOT.glob("tests/cases/*.yaml")])
         if (d := _raw(p)) is not None}


def _errors(errors: list[dict[str, Any]]) -> list[tuple[str, tuple[str, ...], str]]:
    return sorted((e["type"], tuple(map(str, e["loc"])), e["msg"]) for e in errors)


def _same(cls: Any, data: Any) -> Any:
    """Validate ``data`` both ways; assert they agree; the node (or None)."""
    try:
        node, node_errors = cls.model_validate(data), None
    except ValidationError as e:
        node, node_errors = None, _errors(e.errors())
    try:
        other, other_errors = twin(cls).model_validate(data), None
    except PydanticError as e:
        other, other_errors = None, _errors(e.errors(include_url=False))
    assert node_errors == other_errors
    if node is not None:
        for flags in ({}, {"exclude_none": True, "exclude_defaults": True}):
            assert node.model_dump(mode="json", by_alias=True, **flags) == \
                other.model_dump(mode="json", by_alias=True, **flags)
        assert json.loads(node.model_dump_json(by_alias=True)) == \
            json.loads(other.model_dump_json(by_alias=True))
        assert to_node(other) == node
    return node


def test_the_corpus_is_read() -> None:
    assert "rental_inspector.yaml" in PLANS and len(PLANS) > 40


@pytest.mark.parametrize("name", sorted(PLANS))
def test_nodes_and_pydantic_agree_on_every_plan(name: str) -> None:
    _same(Plan, PLANS[name])


def test_the_worked_example_validates_the_same_both_ways() -> None:
    assert _same(Plan, PLANS["rental_inspector.yaml"]) == load_plan(
        ROOT / "plans" / "rental_inspector.yaml").plan


#: Values a mutation puts in a plan: every kind of scalar the coercions treat differently.
VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(), st.floats(),
    st.sampled_from(["", "x", "7d", "2w", "80%", "0.5", "1e400", "nan", "true", "no", "1.0",
                     " 3 ", "2026-01-05", "2026-02-30", "2026-01-05T01:00:00", "A", "a" * 81,
                     "mean(x) > 1", "psi(score) > 0.2", "share(x == \"a\") between 0.1 and 0.3",
                     'x == "a" or y is missing', "compare", "all_of", "row_test",
                     "prediction + 30d", "postgresql://u:secret@h/db?table=t"]),
    st.lists(st.sampled_from(["a", "b", 1, None]), max_size=3),
    st.dictionaries(st.sampled_from(["a", "kind", "value", "for", "for_"]),
                    st.sampled_from(["compare", "between", 1, "x", None]), max_size=3),
    st.dates().map(lambda d: d), st.datetimes().map(lambda d: d))


def _paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*path, i))
    return out


@st.composite
def mutants(draw: st.DrawFn) -> Any:
    data = copy.deepcopy(PLANS[draw(st.sampled_from(sorted(PLANS)))])
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(data)[1:] or [("plan",)]))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["set", "set", "drop", "add"]))
        if action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "kind", "for", "for_", "wen"]))] = draw(VALUES)
        else:
            parent[path[-1]] = draw(VALUES)
    return data


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_nodes_and_pydantic_agree_on_mutated_plans(data: Any) -> None:
    _same(Plan, data)


@pytest.mark.parametrize(("cls", "data", "kind"), [
    (Duration, {"unit": "d"}, "missing"),
    (Duration, {"value": 1, "unit": "d", "x": 1}, "extra_forbidden"),
    (Duration, {"value": 1, "unit": "days"}, "literal_error"),
    (Duration, {"value": 0, "unit": "d"}, "greater_than_equal"),
    (Defaults, {"max_segments": 10**5}, "less_than_equal"),
    (AllOf, {"terms": [{"kind": "compare", "measure": {"stat": "mean"}, "op": ">",
                        "threshold": {"value": 1}}]}, "too_short"),
    (Alert, {"id": "a" * 81, "when": "mean(x) > 1"}, "string_too_long"),
    (Alert, {"id": "Bad", "when": "mean(x) > 1"}, "string_pattern_mismatch"),
    (Alert, {"id": "a", "when": "mean(x) > 1", "for": "two"}, "int_parsing"),
    (Alert, {"id": "a", "when": "mean(x) > 1", "for": [2]}, "int_type"),
    (Alert, {"id": "a", "when": "mean(x) > 1", "for": 1.5}, "int_from_float"),
    (Threshold, {"value": "lots"}, "float_parsing"),
    (Threshold, {"value": float("inf")}, "finite_number"),
    (Predicate, {"op": ">", "value": None}, "bool_type"),
    (Alert, {"id": 3, "when": "mean(x) > 1"}, "string_type"),
    (Alert, {"id": "a", "when": "mean(x) > 1", "by": {"a": 1}}, "tuple_type"),
    (Plan, {**PLANS["rental_inspector.yaml"], "data": ["x"]}, "model_type"),
    (Plan, {**PLANS["rental_inspector.yaml"],
            "data": {**PLANS["rental_inspector.yaml"]["data"], "features": []}}, "dict_type"),
    (AllOf, {"terms": [{"kind": "nope"}, {"kind": "compare"}]}, "union_tag_invalid"),
    (AllOf, {"terms": [{"op": ">"}, {"op": "<"}]}, "union_tag_not_found"),
    (DriftRisk, {"id": "r", "title": "t", "kind": "both", "affects": ["x"],
                 "date": "2026-13-01"}, "date_from_datetime_parsing"),
    (DriftRisk, {"id": "r", "title": "t", "kind": "both", "affects": ["x"],
                 "date": "2026-01-05T10:00"}, "date_from_datetime_inexact"),
    (DriftRisk, {"id": "r", "title": "t", "kind": "both", "affects": ["x"],
                 "date": "0999-01-01"}, "planspec"),
    (Measure, {"stat": "median_absolute"}, "value_error"),
    (Feature, {"type": "numeric", "range": [1]}, "missing"),
    (Feature, {"type": "numeric", "range": [1, 2, 3]}, "too_long"),
    (Alert, {"id": "a", "when": "mean(x) >"}, "planspec"),
])
def test_each_kind_of_error_reads_as_pydantic_wrote_it(cls: Any, data: Any, kind: str) -> None:
    with pytest.raises(ValidationError) as e:
        cls.model_validate(data)
    assert kind in {err["type"] for err in e.value.errors()}
    _same(cls, data)


def test_lax_coercions_are_pydantic_s() -> None:
    alert = Alert.model_validate({"id": "a", "when": "mean(x) > 1", "for": "2",
                                  "keep_firing_for": 3.0, "window_rows": b"7"})
    assert (alert.for_, alert.keep_firing_for, alert.window_rows) == (2, 3, 7)
    assert Predicate(op="==", value="yes").value == "yes"  # str stays str in a smart union
    assert Predicate.model_validate({"op": "==", "value": True}).value is True
    assert RowTest.model_validate({"column": "c", "op": "in", "values": [1, True, "a"]}).values \
        == (1.0, True, "a")
    assert Feature.model_validate({"type": "numeric", "range": ("1", 2)}).range == (1.0, 2.0)
    risk = DriftRisk.model_validate({"id": "r", "title": "t", "kind": "both", "affects": ["x"],
                                     "date": datetime.datetime(2026, 1, 5)})
    assert risk.date == datetime.date(2026, 1, 5)
    for data in ({"for": "2"}, {"for_": 2}, {"window": "2w", "correction": "bh"}):
        _same(Defaults, data)


def test_keywords_aliases_and_extra_keys() -> None:
    assert Defaults(for_=3).for_ == 3
    assert Defaults.model_validate({"for": 3}) == Defaults(for_=3)
    assert Defaults(for_=3).model_dump(by_alias=True)["for"] == 3
    with pytest.raises(ValidationError) as e:
        Defaults(**{"fro": 3})
    assert e.value.errors()[0]["loc"] == ("fro",)
    assert "1 validation error for Defaults" in str(e.value)


def test_nodes_are_frozen_values() -> None:
    t = Threshold(value=2, unit="sd")
    with pytest.raises(ValidationError):
        t.value = 3  # type: ignore[misc]
    assert t == Threshold(value=2.0, unit="sd") and hash(t) == hash(Threshold(value=2.0,
                                                                             unit="sd"))
    assert t != Threshold(value=2.0) and t != "2 sd"
    assert repr(t) == "Threshold(value=2.0, unit='sd')" and dict(t) == {"value": 2.0,
                                                                         "unit": "sd"}
    assert t.amount == 2.0 and Threshold(value=5, unit="%").amount == 0.05
    assert Threshold.model_validate(t) is t


def test_a_plan_pickles_and_copies() -> None:
    plan = load_plan(ROOT / "plans" / "rental_inspector.yaml").plan
    assert plan is not None
    again = pickle.loads(pickle.dumps(plan))
    assert again == plan and again.input_alerts[0].when == plan.input_alerts[0].when
    renamed = plan.model_copy(update={"plan": "other"})
    assert renamed.plan == "other" and renamed.data is plan.data and plan.plan != "other"
    built = Duration.model_construct(value=7, unit="d")
    assert built == Duration(value=7, unit="d") and str(built) == "7d"
    defaults = Defaults.model_construct(**{"for": 2})
    assert defaults.for_ == 2 and defaults.window == Duration(value=7, unit="d")


def test_dumps_serialize_conditions_durations_and_dates_as_text() -> None:
    alert = Alert.model_validate({"id": "a", "when": "mean(x) shift > 2 sd", "window": "7d",
                                  "where": 'c == "v"'})
    python = alert.model_dump(exclude_none=True)
    assert python["when"] == "mean(x) shift > 2 sd" and python["window"] == "7d"
    assert python["where"] == 'c == "v"'
    risk = DriftRisk(id="r", title="t", kind="both", affects=("x",),
                     date=datetime.date(2026, 1, 5))
    assert risk.model_dump()["affects"] == ("x",)
    assert risk.model_dump(mode="json")["affects"] == ["x"]
    assert risk.model_dump(mode="json")["date"] == "2026-01-05"
    assert json.loads(risk.model_dump_json(indent=2)) == risk.model_dump(mode="json")
    assert isinstance(alert.when, Compare)


def test_model_fields_describe_each_field() -> None:
    fields = Alert.model_fields
    assert list(fields)[:3] == ["id", "when", "warn"]
    assert fields["for_"].alias == "for" and fields["id"].alias is None
    assert fields["id"].is_required() and not fields["warn"].is_required()
    assert fields["severity"].default == "medium"
    assert Defaults.model_fields["window"].get_default() == Duration(value=7, unit="d")


def test_a_mutable_default_is_never_shared() -> None:
    from planspec.model import DataSchema

    one = DataSchema(timestamp="t", features={"x": Feature(type="numeric")})
    two = DataSchema(timestamp="t", features={"x": Feature(type="numeric")})
    assert one.predictions == {} and one.predictions is not two.predictions


def test_the_schema_is_pydantic_s_of_the_twins() -> None:
    schema = plan_schema()
    assert schema["$defs"]["Defaults"]["properties"]["for"]["minimum"] == 0
    assert schema["$defs"]["Alert"]["properties"]["when"]["type"] == "string"
    assert schema["description"] == "A whole monitoring plan."


# ------------------------------------------------------------------- the fast paths of building

#: Conditions and row filters of every shape the semantic actions build (each statistic's
#: arguments, parts, transforms, zones, calibrated thresholds, nesting), besides the plans'.
TEXTS = [
    ("condition", "psi(neighborhood) > 0.2"), ("condition", "mean(x) shift up > 2 sd"),
    ("condition", "mean(x) change down < -10%"), ("condition", "ks(sqft).pvalue < 0.01"),
    ("condition", "ks(`odd name`).statistic >= 1e-3"), ("condition", "quantile(x, 0.9) > 3"),
    ("condition", "quantile(x, 90%) change > 5%"), ("condition", "rate(y >= 0.5) > 0.1"),
    ("condition", 'share(c == "a\\"b\\n") between 0.1 and 0.3'),
    ("condition", "share(flag == true) not between 1% and 2%"),
    ("condition", "share(flag != false) > .5"), ("condition", "rate(y < -2%) <= 0"),
    ("condition", "precision.lower < 0.8"), ("condition", "count < 100"),
    ("condition", "share_within(10%).upper > 0.5"), ("condition", "js(x) > calibrated(1%)"),
    ("condition", "psi(x) > calibrated(0.05)"),
    ("condition", "js(x) > 0.1 and (chi2(x).pvalue < 0.001 or psi(x) > 1) and js(y) > 2"),
    ("condition", "(js(x) > 0.1 and js(y) > 1) and (js(z) > 1 or (psi(a) > 1 or psi(b) > 2))"),
    ("row_filter", 'listing_source == "aggregator"'), ("row_filter", "sqft > 0"),
    ("row_filter", "a in [1, 2.5, \"x\", true]"), ("row_filter", "a not in [-1%]"),
    ("row_filter", "a is missing or b is not missing and c != 'q'"),
    ("row_filter", "(a == 1 or b == 2) and (c == 3 and d <= 4)"),
]


def _texts() -> list[tuple[str, str]]:
    out = list(TEXTS)
    for data in PLANS.values():
        for section in ("input_alerts", "output_alerts", "outcome_monitors"):
            items = data.get(section)
            for item in items if isinstance(items, list) else []:
                for key, start in (("when", "condition"), ("warn", "condition"),
                                   ("where", "row_filter")):
                    if isinstance(item, dict) and isinstance(item.get(key), str):
                        out.append((start, item[key]))
    return out


def _parts(node: Any) -> Any:
    yield node
    for value in node.__dict__.values():
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, Node):
                yield from _parts(v)


def test_the_semantic_actions_build_what_validation_builds() -> None:
    """The semantic actions build their model objects without validating them (the values are
    valid by construction): each is exactly what validating its fields gives, by both parsers."""
    from lark.exceptions import LarkError

    from planspec import _expr

    built = 0
    for start, text in _texts():
        results = []
        with contextlib.suppress(_expr.ExprError):
            results.append(_expr.parse_later(text, start)[0])
        with contextlib.suppress(LarkError):
            tree = _expr.parser().parse(text, start=start)
            results.append(_expr._to_model(_expr._Built()).transform(tree))
        for result in results:
            for node in _parts(result):
                again = type(node).model_validate(dict(node.__dict__))
                assert repr(again) == repr(node) and list(again.__dict__) == list(node.__dict__)
                assert [type(v) for v in again.__dict__.values()] == \
                    [type(v) for v in node.__dict__.values()], text
                built += 1
    assert built > 500


def test_what_the_semantic_actions_check_is_what_the_model_allows() -> None:
    from planspec import _expr
    from planspec.model import AnyOf, Between, RowAll, RowAny

    def literal(cls: Any, name: str) -> frozenset[Any]:
        return frozenset(get_args(cls.model_fields[name].annotation))

    assert literal(Threshold, "unit") == _expr._THRESHOLD_UNITS
    assert literal(Predicate, "op") == _expr._PRED_OPS
    assert literal(RowTest, "op") == _expr._ROW_OPS
    assert literal(Measure, "transform") == _expr._TRANSFORMS
    assert literal(Measure, "direction") == _expr._DIRECTIONS
    assert literal(Duration, "unit") == _expr._UNITS
    assert literal(Compare, "op") == _expr._COMP_OPS
    for cls in (AllOf, AnyOf, RowAll, RowAny):
        assert _expr._KINDS[cls] == cls.model_fields["kind"].default
    assert Compare.model_fields["kind"].default == "compare"
    assert Between.model_fields["kind"].default == "between"
    assert RowTest.model_fields["kind"].default == "row_test"


def _outcome(data: Any) -> Any:
    try:
        return repr(Plan.model_validate(data))
    except ValidationError as e:
        return [(err["type"], err["loc"], err["msg"], repr(err["input"])) for err in e.errors()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_a_dict_validates_as_field_by_field(data: Any) -> None:
    """A plain dict's values are validated in its keys' order: the node, or the errors in
    their order, are what validating field by field in the class's order gives."""
    from planspec import _node

    fast = _outcome(data)
    with mock.patch.object(_node, "_validate_fields",
                           lambda cls, d: _node._validate_in_order(_node._spec(cls), d)):
        slow = _outcome(data)
    assert fast == slow


def test_durations_are_built_as_validated() -> None:
    from planspec import _expr

    for text in ("1s", "7d", " 12h ", "3mo", "1q", "2y", "2w", "90m"):
        d = _expr.parse_duration(text)
        again = Duration.model_validate(dict(d.__dict__))
        assert repr(again) == repr(d) and type(d.value) is int
    with pytest.raises(_expr.ExprError, match="needs a unit"):
        _expr.parse_duration(" 7 ")
    with pytest.raises(ValidationError):  # 0d: not trusted, validated (and refused) as before
        Alert.model_validate({"id": "a", "when": "mean(x) > 1", "window": "0d"})


def test_errors_come_in_the_fields_order_whatever_the_keys_order() -> None:
    data = {"severity": "nope", "for": "x", "why": 3, "id": "Bad", "window": "0d"}
    with pytest.raises(ValidationError) as e:
        Alert.model_validate(data)
    assert [err["loc"][0] for err in e.value.errors()] == ["id", "when", "window", "for",
                                                            "severity", "why"]
    for more in ({"for_": 1}, {"extra": 1}):  # a name beside its alias, a key of no field
        with pytest.raises(ValidationError) as e:
            Alert.model_validate({**data, **more})
        assert [err["loc"][0] for err in e.value.errors()] == ["id", "when", "window", "for",
                                                                "severity", "why", *more]


def test_a_value_taken_as_it_is_is_what_its_validator_returns() -> None:
    """Where a dict's value is of a type its field's validator returns as it is, the value is
    taken without calling it: for every field, a value of each such type is indeed returned
    by the validator itself (the same object)."""
    from planspec import _node

    plan = load_plan(ROOT / "plans" / "rental_inspector.yaml").plan
    samples: dict[type, list[Any]] = {str: ["x", ""], type(None): [None], int: [0, 5],
                                      bool: [True, False], float: [0.5, -1e9],
                                      datetime.date: [datetime.date(2026, 1, 5)]}
    from planspec import _expr

    parsed = [_expr.parse_later(text, start)[0] for start, text in TEXTS]
    for node in [n for top in (plan, *parsed) for n in _parts(top)]:
        samples.setdefault(type(node), []).append(node)
    samples[Duration] = [Duration(value=7, unit="d")]
    classes = {type(n) for n in _parts(plan)} | {Plan, DriftRisk, Feature}
    checked = 0
    for cls in classes:
        for name, validate, kept in _node._spec(cls).by_key.values():
            for t in kept:
                assert samples.get(t), (cls, name, t)
                for value in samples[t]:
                    assert validate(value) is value, (cls, name, value)
                    checked += 1
    assert checked > 100
