"""The source map resolves places lazily: a span asked for alone, in any order, is the span the
whole map gives, and the whole map is what the eager front ends built (goldens written by them).
Loading a valid plan resolves no span at all (that is what keeps big plans quick)."""

from __future__ import annotations

import pickle
import random
import re
from pathlib import Path

import pytest

from planspec.diagnostics import Span
from planspec.load import load_plan, parse_text
from planspec.source import SourceMap

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden" / "source_map"
PLANS = sorted(p for p in [*ROOT.glob("plans/*"), *ROOT.glob("tests/cases/*"),
                           *ROOT.glob("tests/format/*")]
               if p.suffix in (".yaml", ".yml", ".plan"))


def dump(smap: SourceMap) -> str:
    """Every value's and key's span, a line each, sorted."""
    lines = []
    for what, table in (("value", smap.values), ("key", smap.keys)):
        for path, s in table.items():
            lines.append(f"{what} {'.'.join(map(str, path)) or '()'} "
                         f"{s.line}:{s.col}-{s.end_line}:{s.end_col}")
    return "\n".join(sorted(lines)) + "\n"


def when_twice(text: str, yaml: bool) -> str:
    """A second `when` in the first input alert (PS206): its parts are noted too."""
    pattern = r"(\n    when: [^\n]*\n)" if yaml else r"(\n  when [^\n]*\n)"
    second = ("    when: " if yaml else "  when ") + "psi(sqft) > 0.3 or ks(sqft).pvalue < 0.01\n"
    return re.sub(pattern, lambda m: m.group(1) + second, text, count=1)


CASES = {
    "rental_inspector_yaml": ("rental_inspector.yaml", False),
    "rental_inspector_plan": ("rental_inspector.plan", False),
    "when_twice_yaml": ("rental_inspector.yaml", True),
    "when_twice_plan": ("rental_inspector.plan", True),
}


@pytest.mark.parametrize("golden", sorted(CASES))
def test_the_whole_map_is_what_eager_front_ends_built(golden: str) -> None:
    name, twice = CASES[golden]
    text = (ROOT / "plans" / name).read_text(encoding="utf-8")
    file = name
    if twice:
        text = when_twice(text, name.endswith(".yaml"))
        file = "twice" + Path(name).suffix
    assert dump(parse_text(text, file).source_map) == (GOLDEN / f"{golden}.txt").read_text()


def _paths_to_ask(values: dict[tuple[str | int, ...], Span]) -> list[tuple[str | int, ...]]:
    """Every noted path, and below each a path nothing notes (answered by its closest ancestor)."""
    out = {p for path in values for p in (path, (*path, "nowhere"), (*path, 0, "measure"))}
    return sorted(out, key=repr)


@pytest.mark.parametrize("path", PLANS, ids=lambda p: p.name)
def test_a_span_asked_for_alone_is_the_one_the_whole_map_gives(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    whole = parse_text(text, path.name).source_map
    values, keys = dict(whole.values), dict(whole.keys)
    asked = _paths_to_ask(values)
    random.Random(path.name).shuffle(asked)
    lazy = parse_text(text, path.name).source_map
    for p in asked:  # each resolved on its own, conditions expanded on the way
        expected = next((values[p[:k]] for k in range(len(p), -1, -1) if p[:k] in values), None)
        assert lazy.span(p) == expected, p
    lazy = parse_text(text, path.name).source_map
    for p in sorted(keys, key=repr):
        assert lazy.key_span(p) == keys[p], p
    assert lazy.values == values and lazy.keys == keys


@pytest.mark.parametrize("name", ["rental_inspector.yaml", "rental_inspector.plan"])
def test_a_pickled_map_travels_resolved(name: str) -> None:
    smap = load_plan(ROOT / "plans" / name).source_map
    back = pickle.loads(pickle.dumps(smap))
    assert back.resolve is None and not back.pending
    assert back.values == smap.values and back.keys == smap.keys
    assert back.span(("input_alerts", 0, "when", "measure", "column")) == \
        smap.span(("input_alerts", 0, "when", "measure", "column"))


@pytest.mark.parametrize("name", ["rental_inspector.yaml", "rental_inspector.plan"])
def test_loading_a_valid_plan_resolves_no_span(name: str) -> None:
    parsed = load_plan(ROOT / "plans" / name)
    assert parsed.plan is not None and parsed.diagnostics == ()
    smap = parsed.source_map
    # `.plan` notes the top of the file as a span (what a missing item points at); all else
    # is still offsets, and every condition's parts still wait to be noted.
    assert [p for p, v in smap.raw_values.items() if isinstance(v, Span)] in ([], [()])
    assert not any(isinstance(v, Span) for v in smap.raw_keys.values())
    assert len(smap.pending) == sum(
        (item.when is not None) + (item.warn is not None) + (getattr(item, "where", None)
                                                            is not None)
        for item in (*parsed.plan.input_alerts, *parsed.plan.output_alerts,
                     *parsed.plan.outcome_monitors))
