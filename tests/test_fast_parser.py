"""The hand-written parser (planspec/_fast.py) against the lark grammar it stands in for. Where the
fast parser reads a text, lark must read it too and build the same thing: the same `.plan` tree
(node names, children, tokens and offsets), the same condition and row-filter models with the same
offsets or the same error in their meaning, the same derived-label trees. Where lark rejects a
text, the fast parser must reject it (so lark's diagnostics are what the user sees). The fast
parser may decline a text lark reads (a keyword used as a name: `psi(and)`, a key `to`), which then
goes to lark; every valid plan in the repository must be read by the fast parser. The inputs are
the diagnostic corpus, every plan and condition in the repository, and generated and mutated
text."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.lark import from_lark
from lark.exceptions import LarkError

from planspec import _expr, _fast
from planspec._fast import Node, NoFast, Pair, Parsed, Tok
from planspec.parse import _from_lark, parse_plan
from planspec.stats import STATS

ROOT = Path(__file__).resolve().parent.parent
PLAN_FILES = sorted({*ROOT.glob("plans/*.plan"), *ROOT.glob("tests/**/*.plan")})
YAML_FILES = sorted({*ROOT.glob("plans/*.yaml"), *ROOT.glob("tests/cases/*.yaml"),
                     *ROOT.glob("tests/format/*.yaml"), *ROOT.glob("tests/golden/**/*.yaml")})
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))


def _same(a: Any, b: Any, where: str = "") -> None:
    """Assert that two parse results are the same, node by node, offsets included."""
    if isinstance(a, Tok) or isinstance(b, Tok):
        assert isinstance(a, Tok) and isinstance(b, Tok), where
        assert (a.type, str(a), a.start_pos, a.end_pos) == (b.type, str(b), b.start_pos,
                                                            b.end_pos), where
    elif isinstance(a, Parsed) or isinstance(b, Parsed):
        assert isinstance(a, Parsed) and isinstance(b, Parsed), where
        assert (a.start_pos, a.end_pos, a.end) == (b.start_pos, b.end_pos, b.end), where
        assert a.value == b.value and a.offsets() == b.offsets(), where
        assert _error(a.error) == _error(b.error), where
    elif isinstance(a, Pair) or isinstance(b, Pair):
        # (the value's repr: `1`, `1.0` and `True` are equal, but not the same value)
        assert isinstance(a, Pair) and isinstance(b, Pair), (where, a, b)
        assert (*a[:4], *a[5:]) == (*b[:4], *b[5:]), (where, a, b)
        assert (type(a.value), repr(a.value)) == (type(b.value), repr(b.value)), (where, a, b)
    elif isinstance(a, Node) or isinstance(b, Node):
        assert isinstance(a, Node) and isinstance(b, Node), where
        assert (a.data, a.start_pos, a.end_pos, len(a.children)) == \
            (b.data, b.start_pos, b.end_pos, len(b.children)), (where, a, b)
        for i, (x, y) in enumerate(zip(a.children, b.children, strict=True)):
            _same(x, y, f"{where}/{a.data}[{i}]")
    else:
        assert a == b, where


def _error(e: Exception | None) -> Any:
    if e is None:
        return None
    return (type(e).__name__, getattr(e, "code", None), str(e), getattr(e, "start", None),
            getattr(e, "end", None), getattr(e, "hint", None))


def _lark_plan(text: str) -> Node | None:
    try:
        return _from_lark(_expr.parser().parse(text, start="plan"), text)
    except LarkError:
        return None


def _fast_plan(text: str) -> Node | None:
    try:
        return _fast.parse_plan(text, _expr.new_semantics)
    except NoFast:
        return None


def check_plan(text: str) -> bool:
    """The fast parser reads ``text`` exactly when lark does, into the same tree. Returns
    whether it was read."""
    fast, slow = _fast_plan(text), _lark_plan(text)
    assert slow is not None or fast is None, ("the fast parser accepts what lark rejects", text)
    if fast is not None:
        _same(fast, slow)
    elif slow is not None:
        assert _declined(text), ("the fast parser declines a text without a keyword name", text)
    return fast is not None


def _lark_expr(text: str, start: str) -> tuple[str, Any]:
    """What the lark path gives for ``text`` from ``start``: ("ok", model, offsets), or
    ("syntax", …) or ("error", …) for an error in the text or in its meaning."""
    try:
        tree = _expr.parser().parse(text, start=start)
    except LarkError:
        return ("syntax", None)
    built = _expr._Built()
    try:
        value = _expr._to_model(built).transform(tree)
    except LarkError as e:
        return ("error", _error(getattr(e, "orig_exc", e)))
    offsets: _expr.Offsets = {}
    _expr._collect(value, (), built, offsets)
    return ("ok", (value, offsets))


def _fast_expr(text: str, start: str) -> tuple[str, Any]:
    built = _expr._Built()
    try:
        value = _fast.parse(text, start, _expr._Semantics(built))
    except NoFast:
        return ("syntax", None)
    except _expr.ExprError as e:
        return ("error", _error(e))
    offsets: _expr.Offsets = {}
    _expr._collect(value, (), built, offsets)
    return ("ok", (value, offsets))


def check_expr(text: str, start: str = "condition") -> str:
    """The fast parser and lark agree on ``text``: both reject its syntax, or both give the
    same error in its meaning, or the same model and offsets. Returns which."""
    fast, slow = _fast_expr(text, start), _lark_expr(text, start)
    if fast[0] != "syntax":  # declined texts go to lark
        assert fast == slow, text
    elif slow[0] != "syntax":
        assert _declined(text), ("the fast parser declines a text without a keyword name", text)
    return fast[0]


def _declined(text: str) -> bool:
    """Whether the fast parser may decline ``text`` though lark reads it: a keyword of the
    grammar written where lark reads a name, or run into a name where lark reads the keyword
    and then a name (`planx` is `plan x` to lark's contextual lexer)."""
    words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)
    return any(w.startswith(k) for w in words for k in _fast.KEYWORDS)


def _within_limits(text: str) -> bool:
    try:
        _expr.check_limits(text)
    except _expr.ExprError:
        return False
    return True


def check_derived(text: str) -> bool:
    try:
        fast: Node | None = _fast.parse_derived(text)
    except NoFast:
        fast = None
    try:
        slow: Node | None = _expr.to_node(_expr.parser().parse(text, start="derived"))
    except LarkError:
        slow = None
    assert slow is not None or fast is None, text
    if fast is not None:
        _same(fast, slow)
    elif slow is not None:
        assert _declined(text), text
    return fast is not None


# ------------------------------------------------------------------------------ the corpus


@pytest.mark.parametrize("path", PLAN_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_plan_file_in_the_repository(path: Path) -> None:
    check_plan(path.read_text(encoding="utf-8"))


def test_every_plan_file_lark_reads_is_read_by_the_fast_parser() -> None:
    texts = [p.read_text(encoding="utf-8") for p in PLAN_FILES]
    valid = [t for t in texts if _lark_plan(t) is not None]
    assert len(valid) >= 10
    assert [t[:60] for t in valid if _fast_plan(t) is None] == []


@functools.lru_cache(maxsize=1)
def _repository_expressions() -> tuple[list[str], list[str], list[str]]:
    """Every condition, row filter and derived label in the repository's plans."""
    conditions: set[str] = set()
    filters: set[str] = set()
    derived: set[str] = set()

    def walk(x: Any, key: str = "") -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                walk(v, str(k))
        elif isinstance(x, list):
            for v in x:
                walk(v, key)
        elif isinstance(x, str):
            if key in ("when", "warn"):
                conditions.add(x)
            elif key == "where":
                filters.add(x)
            elif key == "label":
                derived.add(x)

    for path in YAML_FILES:
        if "alias_bomb" in path.name:  # walking its expansion would take hours
            continue
        try:
            walk(yaml.safe_load(path.read_text(encoding="utf-8")))
        except yaml.YAMLError:
            continue
    for path in PLAN_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            words = line.split(None, 1)
            if len(words) == 2 and words[0] in ("when", "where", "label"):
                text = words[1].split("#")[0].strip()
                (conditions if words[0] == "when" else filters if words[0] == "where"
                 else derived).add(text.strip('"'))
            elif line.strip().startswith("warn when"):
                conditions.add(line.strip()[len("warn when"):].split("#")[0].strip())
    return sorted(conditions), sorted(filters), sorted(derived)


def test_every_condition_filter_and_label_in_the_repository() -> None:
    conditions, filters, derived = _repository_expressions()
    assert len(conditions) > 50 and filters and derived
    # (the hostile plans' 40,000-character names are refused before any parsing)
    conditions, filters, derived = ([t for t in texts if _within_limits(t)]
                                    for texts in (conditions, filters, derived))
    outcomes = [check_expr(c) for c in conditions]
    assert outcomes.count("ok") > 30
    for f in filters:
        check_expr(f, "row_filter")
    for d in derived:
        check_derived(d)


@pytest.mark.parametrize("text", [
    "psi(x) > 0.2", "(psi(x) > 0.2)", "((psi(x) > 0.2)) and (ks(y).pvalue < 0.01 or js(z) > 1)",
    "mean(price) shift up > 2 sd", "mean(price) change down < -10%", "count change < -50%",
    "psi(x) > calibrated(1%)", "psi(x) >= calibrated(0.5 sd)", "quantile(x, 0.9) between 1 and 2",
    "mean(x) not between 1 sd and 2 sd and psi(y) > 1", "share(kind == \"a\") > 5%",
    "rate(score >= 0.5) > 1e-3", "share(flag == true) < .5", "share(flag == false) < 5.",
    "precision.lower < 0.8", "ks(x).statistic > 0.1 # why", "psi(`odd name`) > 1",
    "meen(x) > 1", "psi(x) == 1", "psi(x, y) > 1", "psi(x).lower > 1", "psi(x) > 1e400",
    "calibrated(x) > calibrated(1%)", "psi(x) > calibrate(1%)", "psi(x) > 1 and", "psi(x) >",
    "psi(x) > 2 sds", "psi(and) > 1", "and(x) > 1", "psi(x) shift shift > 1", "psi(x)>1or(y)>2",
    "psi(x)>1 or\n ks(y).pvalue<0.1", "", "   ", "psi(x) > 1 )", "(psi(x) > 1",
    # (the one-match reading of common tests, and what it leaves to the token-by-token one)
    "psi(x) > 2 # c\n sd", "psi(x) # c\n > 1", "mean(x) shift # c\n up > 1", "ks(x). pvalue < 1",
    "mean(x)shift up>2sd", "mean(x) shiftup > 1", "mean(x) shift upx > 1", "psi(x) > 2sdx",
    "quantile(x, 0.5 sd) > 1", "quantile(x, 50%) > 1", "quantile(x,.5)>-1e3", "psi(x, ) > 1",
    "rate(x >= 5 %) > 1%", "rate(x >= 5 % , 2) > 1", "share(x == 'a\\'b') > 1",
    "share(x == truex) > 1", "share(x == true, y) > 1", "share(`a b` != false) > 1",
    "share(and == 1) > 1", "psi(`x`).and > 1", "psi(x) > -", "psi(x) > 1.5.2", "psi(x) >= .5e",
    # (what the one-step build of a common test leaves to the semantic actions, for their errors)
    "precision(x) > 1", "psi > 1", "quantile(x) > 1", "rate(x) > 1", "psi(x > 1) > 1",
    "rate(x > 1, 0.5) > 1", "psi(x, 0.5) > 1", "quantile(x == 1, 0.5) > 1", "psi(x).pvalue > 1",
    "ks(x).lower > 1", "precision.pvalue < 1", "precision.statistic < 1", "recall.mid < 1",
    "quantile(x, 1e400) > 1", "rate(x > 1e400) > 1", "rate(x == 1e999 %) > 1", "psi(x) > 1e999 sd",
    "psi(x) != 1", "rate(x = 1) > 1", "count(x) > 1", "meen > 1", "mean(x) change upward > 1",
])
def test_conditions(text: str) -> None:
    check_expr(text)


class _TokenByToken(_expr._Semantics):
    """Semantic actions that fail when a measure is built from its tokens."""

    def measure(self, meta: Any, ch: list[Any]) -> Any:
        raise AssertionError("built token by token")

    bare = measure


@pytest.mark.parametrize("text", [
    "psi(x) > 0.2", "mean(price) shift up > 2 sd", "mean(price) change down < -10%",
    "count change < -50%", "quantile(x, 0.9) >= 1", "share(kind == \"a\") > 5%",
    "share(k == 'a\\'b') > 5%", "rate(score >= 0.5 sd) > 1e-3", "share(flag == true) < .5",
    "share(flag != false) < 5.", "precision.lower < 0.8", "ks(x).statistic > 0.1 # why",
    "psi(`odd name`) > 1", "ks(x) > 0.1 and ks(x).pvalue < 0.01 or js(y) > 1 %",
])
def test_a_valid_common_test_is_built_in_one_step(text: str) -> None:
    """The common tests are built from the offsets of one match (``simple_compare``), not
    token by token, into what lark's path builds."""
    _fast.parse(text, "condition", _TokenByToken(_expr._Built()))
    assert check_expr(text) == "ok"


@pytest.mark.parametrize("text", [
    'a == "x"', "a in [1, 2.5, 'b'] and b is missing or c is not missing",
    "(a > 1 or b < 2) and not_in not in [true, false]", "`a b` != -1", "a == 2 sd",
    "a in []", "a is", "a or", "in == 1", "a == b",
])
def test_row_filters(text: str) -> None:
    check_expr(text, "row_filter")


@pytest.mark.parametrize("text", [
    "abs(a - b) / b > 10%", "a - -1 > (b)", "a-1 >= 2*`c d`/(e+f)", "abs(a) > 1 sd", "abs(a",
    "a > b > c", "f(a) > 1", "a >", "1 + 2 * 3 - 4 / 5 == ((6))",
])
def test_derived_labels(text: str) -> None:
    check_derived(text)


@pytest.mark.parametrize("text", [
    "plan p\nmodel m { owners [a, b] }\n", 'plan p "d"\ntimezone "UTC"\n', "plan model\n",
    "defaults { for 2 windows\n x []\n y [1, 2026-01-01, 7d, 'q', `w`, true]\n for 3 }",
    "data { feature a numeric { range -1 to 2 sd unit \"m\" }\n output p score\n }",
    "input alert a { when psi(x) > 0.2 warn when psi(x) > 0.1 window 7d }",
    "input alert a { when (psi(x) > 0.2) }\ninput alert b { where (a == 1) }",
    "playbook p { escalate to q { after 1d } step \"s\" bias 'b' playbook x window 2w }",
    "outcome monitor m { source audits { kind data label \"x > 1\" } response_time 1 day\n}",
    "drift risk r { date 2026-01-01 prediction x to 1 }", "x { }", "plan p\n}", "",
    "input alert a { when psi(x) > 1 sds }", "input alert a { key {", "input alert a { k v {} }",
    "input alert a { k `v` {} }", "input alert a { k true {} }", "input alert a { when meen(x)>1 }",
    "input alert a { when meen(x) > 1 and }", "input alert a { for 2w }",
    "input alert a { when psi(x) > 1\n to 5 }", "defaults { severity high critical }",
    # (the one-match readings of item heads, plain settings and values)
    "input alertx a { }", "input # c\n alert a # c\n { }", "input alert and { }",
    "output monitor a { }", "drift risk r { k 1 }", "input alert a { k # c\n 5 sd }",
    'input alert a { why "a \\" b" why2 \'c\' }', 'input alert a { why "a\\\nb" }',
    "input alert a { k 5 % }", "input alert a { k 5 sdx }", "input alert a { k 7d5 }",
    "input alert a { k 2026-01-01x }", "input alert a { k 3 day # c\n }", "input alert a { k true}",
    "input alert a { k falsey }", "input alert a { k `q` { } }", "input alert a { k v# c\n{ } }",
    "input alert a { to 1 }", "input alert a { when # c\n psi(x) > 1 }",
    # (a plain setting's value, told by its first character: each kind, and each followed by
    # a block, a comment, another setting or the end of its line)
    "defaults { k -1\n}", "defaults { k .5 j 1e3 i -2.5E-2 h 07 }", "defaults { k 5sd j 5%x }",
    "defaults { k 5% j 5 %\n i 5 sd h 5\n% }", "defaults { k 5 sd# c\n}", "defaults { k 1 day x }",
    "defaults { k 1 day\n j 1 day # c\n}", "defaults { k 2026-01-01 j 12mo i 3q }",
    "defaults { k 3qx }", "defaults { k 'a\\'b' j \"a\\tb\" i `a b` h \"\" }", "defaults { k -x }",
    "defaults { k 5 { } }", "defaults { k 'a' { } }", "defaults { k `q` { } }",
    "defaults { k v { } }", "defaults { k v\n{ } }", "defaults { k [1, 'a'] j [] }",
    "defaults { k true j false i truex }", "defaults { k \"a }", "defaults { k }", "defaults { k 1",
    "defaults { window 7d playbook x prediction y }", "defaults { for 2 windowsx }",
    "defaults { keep_firing_for 2 # c\n windows }", "defaults { for 2\n windows }",
    "defaults { and 1 }",
])
def test_plan_texts(text: str) -> None:
    check_plan(text)


# --------------------------------------------------------------------- generated and mutated


def _conditions() -> st.SearchStrategy[str]:
    spaced = {name: st.just(f" {word} ") for name, word in
              [("AND", "and"), ("OR", "or"), ("BETWEEN", "between"), ("NOT", "not")]}
    return from_lark(_expr.build_parser(), start="condition",
                     alphabet=st.characters(codec="ascii"),
                     explicit={**spaced,
                               "TRANSFORM": st.sampled_from([" shift ", " change "]),
                               "DIRECTION": st.sampled_from([" up ", " down "]),
                               "COMP_OP": st.sampled_from([" > ", " >= ", "<", " == "]),
                               "NAME": st.sampled_from([*sorted(STATS)[:12], "x", "and", "sd",
                                                        "calibrated", "up", "meen"]),
                               "WS": st.sampled_from([" ", "\n", "  "])})


def _mutate(text: str, data: st.DataObject) -> str:
    """``text`` with one span deleted, duplicated or replaced by a token of the language."""
    if not text:
        return text
    i = data.draw(st.integers(0, len(text) - 1))
    j = data.draw(st.integers(i, min(len(text), i + 8)))
    how = data.draw(st.sampled_from(["delete", "duplicate", "insert"]))
    if how == "delete":
        return text[:i] + text[j:]
    if how == "duplicate":
        return text[:j] + text[i:j] + text[j:]
    word = data.draw(st.sampled_from([" and ", " or ", "(", ")", " sd ", "%", ",", " not ",
                                      " between ", ".", " 2 ", " x ", " > ", "{", "}", "\n",
                                      " to ", " windows ", "#", '"', "-", "7d", " true "]))
    return text[:i] + word + text[i:]


@settings(SETTINGS, max_examples=30)
@given(_conditions())
def test_generated_conditions(text: str) -> None:
    check_expr(text)


@settings(SETTINGS, max_examples=30)
@given(_conditions(), st.data())
def test_mutated_conditions(text: str, data: st.DataObject) -> None:
    check_expr(_mutate(text, data))


def _plans() -> st.SearchStrategy[str]:
    return from_lark(_expr.build_parser(), start="plan", alphabet=st.characters(codec="ascii"),
                     explicit={"WS": st.sampled_from([" ", "\n"]),
                               "COMMENT": st.just("# c\n"),
                               "NAME": st.sampled_from(["x", "psi", "window", "kind", "and",
                                                        "sd", "to", "data", "windows"])})


@SETTINGS
@given(_plans())
def test_generated_plans(text: str) -> None:
    check_plan(text)


@SETTINGS
@given(st.sampled_from([p for p in PLAN_FILES if "golden" not in str(p)]), st.data())
def test_mutated_plan_files(path: Path, data: st.DataObject) -> None:
    check_plan(_mutate(path.read_text(encoding="utf-8"), data))


def test_the_fast_path_needs_no_lark_for_valid_plans() -> None:
    """(The start-up test checks this in a fresh process; here: the same diagnostics come
    back from `parse_plan` on a valid and a broken file, whichever parser read them.)"""
    text = (ROOT / "plans" / "rental_inspector.plan").read_text(encoding="utf-8")
    assert parse_plan(text, "x.plan").plan is not None
    broken = text.replace("\n  when ", "\n  when ((", 1)
    assert parse_plan(broken, "x.plan").diagnostics


def test_a_derived_label_pickles_as_it_was_parsed() -> None:
    """Compiled programs, with their derived labels, travel to Dask workers pickled."""
    import pickle

    label = _expr.parse_derived("abs(a - b) / `b` > 10%")
    again = pickle.loads(pickle.dumps(label))
    _same(again.tree, label.tree)
    assert again.columns == ("a", "b")
    assert float(again.evaluate({"a": 1.2, "b": 1.0})) == 1.0
