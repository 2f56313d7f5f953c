"""The YAML front end's loader resolves every scalar's tag exactly as PyYAML's resolver does
(YAML 1.1 as PyYAML reads it): on curated edge cases, on generated scalars, on every node of the
worked example, and when resolvers by path or for any first character are registered."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from planspec.parse_yaml import _Loader

ROOT = Path(__file__).resolve().parent.parent
KINDS = (yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode)
IMPLICIT = ((True, False), (False, True), (True, True), (False, False))
EDGES = [
    "", " ", "~", "null", "Null", "NULL", "nULL", "n", "N", "y", "Y", "yes", "Yes", "YES", "yEs",
    "no", "on", "On", "ON", "off", "Off", "OFF", "true", "True", "TRUE", "tRUE", "false", "f",
    "0", "-0", "+0", "00", "017", "0o17", "0x1F", "0X1f", "0b101", "-0b101", "1_000", "1__0",
    "_1", "1:30", "190:20:30", "-1:30", "1:70", "1.5", "1.", ".5", "1e3", "1.5e+3", "1.5E-3",
    "1_0.5", ".inf", ".Inf", ".INF", "-.inf", "+.inf", ".nan", ".NaN", ".NAN", "inf", "nan",
    "1.5:30", "2001-12-14", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5",
    "2001-12-15T02:59:43.1Z", "2002-1-1", "12-14", "<<", "<", "=", "!", "&", "*", "+", "-",
    ".", "high", "mean(x) > 2 sd", "1d", "30d", "7d", "3.2.0", "0.5%", "10%", "é", "\u00a0",
    "yes please", "null value", "on call", "2 windows",
]


def _same(ours: _Loader, theirs: yaml.SafeLoader, value: str) -> None:
    for kind in KINDS:
        for implicit in IMPLICIT:
            expected = theirs.resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
            assert ours.resolve(kind, value, implicit) == expected, (kind, value, implicit)


def _both(value: str) -> None:
    _same(_Loader(""), yaml.SafeLoader(""), value)


def test_edge_cases() -> None:
    for value in EDGES:
        _both(value)


@settings(max_examples=800, deadline=None, derandomize=True)
@given(st.one_of(
    st.text(),
    st.text(alphabet="0123456789+-._:eExXoObB abcdefnNyYtTfF~<=!&*TtZz", max_size=12),
    st.from_regex(re.compile(r"[-+]?[0-9][0-9_]*(\.[0-9_]*)?([eE][-+][0-9]+)?"), fullmatch=True),
    st.from_regex(re.compile(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ][0-9:.]*)?"), fullmatch=True),
))
def test_generated_scalars(value: str) -> None:
    _both(value)


def _tags(node: yaml.Node | None) -> list[str]:
    assert node is not None
    if isinstance(node, yaml.MappingNode):
        return [node.tag, *(t for k, v in node.value for t in (*_tags(k), *_tags(v)))]
    if isinstance(node, yaml.SequenceNode):
        return [node.tag, *(t for v in node.value for t in _tags(v))]
    return [node.tag]


def test_every_node_of_the_worked_example() -> None:
    text = (ROOT / "plans" / "rental_inspector.yaml").read_text(encoding="utf-8")
    text += "\nextra: [~, null, yes, 0x1f, 1:30, .inf, 2001-12-14, '1', \"yes\", !!str 2, '<<']\n"
    ours = _Loader(text).get_single_node()
    theirs = yaml.SafeLoader(text).get_single_node()
    assert _tags(ours) == _tags(theirs)
    assert yaml.load(text, Loader=_Loader) == yaml.safe_load(text)


def test_other_resolvers_are_asked_as_pyyaml_asks_them() -> None:
    class Wild(_Loader):
        pass

    class WildSafe(yaml.SafeLoader):
        pass

    for loader in (Wild, WildSafe):  # a resolver for any first character, then one by path
        loader.add_implicit_resolver("!word", re.compile(r"^[a-z]+$"), None)
    for value in ["high", "High", "yes", "12", ""]:
        _same(Wild(""), WildSafe(""), value)
    text = "a: high\nb: [yes, x1, 'q']\n"
    assert _tags(Wild(text).get_single_node()) == _tags(WildSafe(text).get_single_node())

    class ByPath(_Loader):
        pass

    class ByPathSafe(yaml.SafeLoader):
        pass

    for by_path in (ByPath, ByPathSafe):
        by_path.add_path_resolver("!seq-item", [(yaml.SequenceNode, None)], str)
    text = "- a\n- 1\n- yes\n"
    assert _tags(ByPath(text).get_single_node()) == _tags(ByPathSafe(text).get_single_node())
