"""The expression language: parsing conditions, durations and ratios (valid text by the hand-written
parser in planspec/_fast.py, anything else by the lark grammar, which turns parse errors into
located, readable ones), and formatting conditions back to text.

lark is imported only when a text does not parse by the fast path: valid plans never load it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import math
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any, TypeVar, cast, get_args

from planspec import _fast
from planspec._fast import (
    G_CALL_END,
    G_COLUMN,
    G_DIRECTION,
    G_DOT,
    G_LEVEL,
    G_NAME,
    G_NUMBER,
    G_OP,
    G_PART,
    G_PERCENT,
    G_PRED_FALSE,
    G_PRED_NUMBER,
    G_PRED_OP,
    G_PRED_PERCENT,
    G_PRED_SD,
    G_PRED_STRING,
    G_PRED_TRUE,
    G_SD,
    G_TRANSFORM,
    Node,
    NoFast,
    Tok,
    unit_end,
    unquote,
)
from planspec._node import CustomError, trusted
from planspec._node import Node as Record
from planspec.diagnostics import did_you_mean
from planspec.model import (
    AllOf,
    AnyOf,
    Between,
    Calibrated,
    Compare,
    CompOp,
    Condition,
    Direction,
    Duration,
    DurationUnit,
    Measure,
    Predicate,
    PredOp,
    RowAll,
    RowAny,
    RowFilter,
    RowOp,
    RowTest,
    Threshold,
    Transform,
    Unit,
)
from planspec.stats import PARTS, STATS

if TYPE_CHECKING:
    from lark import Lark, Token, Tree
    from lark.exceptions import UnexpectedInput

#: Relative path inside a condition → (start, end) character offsets in its text.
Offsets = dict[tuple[str | int, ...], tuple[int, int]]

_T = TypeVar("_T")
#: Parts of an outcome metric: the bounds of its confidence interval, `precision.upper`.
BOUNDS = ("lower", "upper")
#: The threshold form taken from the baseline: `calibrated(1%)`.
CALIBRATED = "calibrated"
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


@dataclass
class ExprError(Exception):
    """A located error in an expression: a catalogue code, a message, offsets and a hint."""

    code: str
    message: str
    start: int = 0
    end: int = 0
    hint: str | None = None

    def __str__(self) -> str:
        return self.message

    def to_error(self) -> CustomError:
        """The same error for validation to collect, with its code and offsets in the context."""
        return CustomError("planspec", "{message}", {
            "message": self.message, "code": self.code, "start": self.start, "end": self.end,
            "hint": self.hint})


_LARK_OPTIONS: dict[str, Any] = {
    "parser": "lalr", "strict": True, "propagate_positions": True, "maybe_placeholders": True,
    "start": ["plan", "condition", "duration", "ratio", "derived", "row_filter"]}


def _cache_file(grammar: str) -> FsPath:
    """Where the built parser of this grammar is kept: the user's cache folder, keyed by the
    grammar, the options and the lark and Python versions (so a stale table is never read)."""
    import lark

    key = hashlib.sha256(repr((grammar, sorted(_LARK_OPTIONS.items()), lark.__version__,
                               sys.version_info[:2])).encode()).hexdigest()[:24]
    root = os.environ.get("PLANSPEC_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "planspec")
    return FsPath(root) / f"grammar-{key}.lark"


def build_parser() -> Lark:
    """A freshly built parser that keeps its grammar (for tools such as Hypothesis's
    ``from_lark``); planspec itself uses the cached :func:`parser`."""
    from lark import Lark

    from planspec._resources import grammar_path

    return Lark(grammar_path().read_text(encoding="utf-8"), **_LARK_OPTIONS)


@functools.lru_cache(maxsize=1)
def parser() -> Lark:
    """The LALR parser for every start rule of the grammar, built once and then loaded from a
    cache: building the LALR tables costs most of a short command's start-up time."""
    from lark import Lark

    from planspec._resources import grammar_path

    grammar = grammar_path().read_text(encoding="utf-8")
    cache = _cache_file(grammar)
    try:
        with cache.open("rb") as f:
            return Lark.load(f)
    except Exception:  # missing, unreadable or stale: build the tables again
        pass
    built = Lark(grammar, **_LARK_OPTIONS)
    tmp = None
    try:  # written beside its final name and renamed, so a reader never sees half a file
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=".grammar-", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            built.save(f)
        os.replace(tmp, cache)
    except Exception:  # a read-only home, say: parse without a cache
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return built


# ----------------------------------------------------------------------------- syntax errors

_WORDS = {
    "NUMBER": "a number", "COMP_OP": "a comparison (`>`, `>=`, `<`, `<=`)", "NAME": "a name",
    "QUOTED_NAME": "a name", "LPAR": "`(`", "RPAR": "`)`", "SD": "a unit (`%` or `sd`)",
    "PERCENT": "a unit (`%` or `sd`)", "LBRACE": "`{`", "RBRACE": "`}`", "LSQB": "`[`",
    "RSQB": "`]`", "DATE": "a date", "WHEN": "`when`", "TO": "`to`",
    "TRANSFORM": "`shift` or `change`", "DIRECTION": "`up` or `down`", "AND": "`and`",
    "OR": "`or`", "BETWEEN": "`between`", "NOT": "`not`", "DOT": "`.`", "COMMA": "`,`",
    "STRING": "a string", "TRUE": "`true`", "FALSE": "`false`", "DURATION": "a duration",
    "$END": "the end",
}


def _expected(names: set[str]) -> str:
    words = sorted({_WORDS.get(n, n.lower()) for n in names} - {"the end"})
    if not words:
        return "the end of the condition"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _previous_token(text: str, pos: int) -> str:
    words = text[max(0, pos - 200):pos].split()  # a bounded look back: linear in the text
    return words[-1] if words else ""


def syntax_error(text: str, e: UnexpectedInput) -> ExprError:
    """Translate a lark error into an :class:`ExprError` a person can act on."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    if isinstance(e, UnexpectedToken):
        tok = e.token
        expected = set(e.expected)
        at_end = tok.type == "$END"
        start = len(text) if at_end else (tok.start_pos or 0)
        end = start + max(1, len(str(tok)) if not at_end else 1)
        prev = _previous_token(text, start)
        after = f" after `{prev}`" if prev else ""
        if tok.type == "COMP_OP" and start > 0 and text[start - 1] in "<>=!":
            # `>>`, `=>`, `<>`: two operators run together, reported as the one they spell
            first = start - 1
            while first > 0 and text[first - 1] in "<>=!":
                first -= 1
            return ExprError("PS102", f"`{text[first:end]}` is not a comparison", first, end,
                             "compare with >, >=, < or <= (== and != inside rate() and share())")
        # (lark's contextual lexer leaves `expected` empty when the word fits no terminal there)
        if tok.type == "NAME" and re.fullmatch(r"-?[\d.eE+]+", prev or "") and \
                ("SD" in expected or not expected):
            return ExprError("PS102", f"unknown unit `{tok}` on a threshold", start, end,
                             did_you_mean(str(tok), ["sd"]) or "units are `%` and `sd`")
        if "NUMBER" in expected and "COMP_OP" not in expected:
            what = "a threshold" if prev in {">", ">=", "<", "<=", "between", "and"} else None
            if what:
                found = "the condition ends" if at_end else f"found `{tok}`"
                return ExprError("PS102", f"expected {what}{after}, but {found}", start, end,
                                 "a threshold is a number, optionally with `%` or `sd`")
        found = "the condition ends" if at_end else f"found `{tok}`"
        return ExprError("PS102", f"expected {_expected(expected)}{after}, but {found}",
                         start, end)
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream or 0
        ch = text[pos] if pos < len(text) else ""
        hint = None
        if ch == "=":
            hint = "compare with `==` inside rate() or share(); thresholds use >, >=, <, <="
        elif ch == '"' or ch == "'":
            hint = "strings are only values inside share(col == \"value\")"
        return ExprError("PS102", f"unexpected character `{ch}`", pos, pos + 1, hint)
    pos = getattr(e, "pos_in_stream", None) or len(text)
    return ExprError("PS102", "the condition ends too early", pos, pos + 1)


# ------------------------------------------------------------------------------- transformer


def _span(x: Any) -> tuple[int, int]:
    """The offsets of a token (lark's or the fast parser's, both strings) or of a tree."""
    if type(x) is Tok:  # (the fast parser's: its offsets are always numbers)
        return (x.start_pos, x.end_pos)
    if isinstance(x, str):
        return (getattr(x, "start_pos", 0) or 0, getattr(x, "end_pos", 0) or 0)
    return (x.meta.start_pos, x.meta.end_pos)


#: What a backslash escape stands for in a condition's string (a setting's strings also read
#: `\r`: ``_fast.SETTING_ESCAPES``).
_ESCAPED = {"n": "\n", "t": "\t"}


def _string(quoted: str) -> str:
    """The text a quoted string in a condition stands for."""
    return unquote(quoted, _ESCAPED)


#: What the semantic actions check before building a model object without validating it (the
#: values validation would accept unchanged): the model's own literals.
_THRESHOLD_UNITS = frozenset(get_args(Unit))
_PRED_OPS = frozenset(get_args(PredOp))
_ROW_OPS = frozenset(get_args(RowOp))
_TRANSFORMS = frozenset(get_args(Transform))
_DIRECTIONS = frozenset(get_args(Direction))
_COMP_OPS = frozenset(get_args(CompOp))
_CONDITIONS = (Compare, Between, AllOf, AnyOf)
_ROW_FILTERS = (RowTest, RowAll, RowAny)
_KINDS: dict[type[Record], str] = {AllOf: "all_of", AnyOf: "any_of", RowAll: "row_all",
                                   RowAny: "row_any"}


@dataclass
class _Call:
    name: Any  # a NAME token
    args: list[Any]
    start: int
    end: int


#: What :class:`_Built` notes of a model object: the object itself (kept, so its id stays its
#: own while spans are keyed by it), the offsets of the whole of it, and of its parts by field
#: name (None when none are noted).
_Noted = tuple[Any, int, int, "dict[str, tuple[int, int]] | None"]


class _Built:
    """Model objects created while transforming, with the spans of their parts."""

    __slots__ = ("spans",)

    def __init__(self) -> None:
        self.spans: dict[int, _Noted] = {}

    def note(self, obj: _T, start: int, end: int,
             parts: dict[str, tuple[int, int]] | None = None) -> _T:
        """Note the offsets of ``obj`` (from ``start`` to ``end``) and of its ``parts`` by field
        name."""
        self.spans[id(obj)] = (obj, start, end, parts)
        return obj

    def whole(self, obj: Any) -> tuple[int, int]:
        """The offsets noted of the whole of ``obj``."""
        noted = self.spans[id(obj)]
        return (noted[1], noted[2])


class _Semantics:
    """Builds condition models from the parts of a parse, checking names against the catalogue:
    the semantic actions of the grammar's condition and row-filter rules, called with a rule's
    ``meta`` (its offsets) and its children, by lark's transformer (:func:`_to_model`) and by the
    fast parser alike, so both build the same models."""

    def __init__(self, built: _Built) -> None:
        self.b = built

    def unit(self, meta: Any, ch: list[Token]) -> str:
        return str(ch[0])

    def threshold(self, meta: Any, ch: list[Any]) -> Threshold:
        number, unit = ch
        value = float(number)
        if not math.isfinite(value):
            raise ExprError("PS203", f"`{str(number)[:24]}` is out of range for a threshold",
                            *_span(number), "write a finite number")
        unit = str(unit or "")
        # a finite float and a unit of the model's: what validating them would give
        node = trusted(Threshold, {"value": value, "unit": unit}) if unit in _THRESHOLD_UNITS \
            else Threshold(value=value, unit=cast(Any, unit))
        return self.b.note(node, meta.start_pos, meta.end_pos)

    def column(self, meta: Any, ch: list[Token]) -> tuple[str, tuple[int, int]]:
        tok = ch[0]
        name = str(tok)[1:-1] if tok.type == "QUOTED_NAME" else str(tok)
        return name, _span(tok)

    def string(self, meta: Any, ch: list[Token]) -> str:
        return _string(str(ch[0]))

    def true(self, meta: Any, ch: list[Any]) -> bool:
        return True

    def false(self, meta: Any, ch: list[Any]) -> bool:
        return False

    def predicate(self, meta: Any, ch: list[Any]) -> tuple[str, Any]:
        (col, col_span), op, value = ch
        return "predicate", (col, col_span, str(op), value, (meta.start_pos, meta.end_pos))

    def call(self, meta: Any, ch: list[Any]) -> _Call:
        name, *args = ch
        return _Call(name, [a for a in args if a is not None], meta.start_pos, meta.end_pos)

    def part(self, meta: Any, ch: list[Any]) -> Any:
        return ch[0]

    def against(self, meta: Any, ch: list[Any]) -> tuple[str, str]:
        kind, direction = ch
        return str(kind), str(direction or "both")

    def measure(self, meta: Any, ch: list[Any]) -> Measure:
        call, part, transform = ch
        return self._measure(call, part, transform, meta)

    def bare(self, meta: Any, ch: list[Any]) -> Measure:
        name, part, transform = ch
        return self._measure(_Call(name, [], *_span(name)), part, transform, meta, bare=True)

    def _measure(self, call: _Call, part: Any, transform: tuple[str, str] | None,
                 meta: Any, bare: bool = False) -> Measure:
        name = str(call.name)
        name_span = _span(call.name)
        info = STATS.get(name)
        if info is None:
            raise ExprError("PS103", f"unknown statistic `{name}`", *name_span,
                            did_you_mean(name, STATS) or "see `planspec explain PS103`")
        spans: dict[str, tuple[int, int]] = {"stat": name_span}
        args = call.args
        # the arguments by kind, in one pass: columns, tests (`col >= 0.5`), numbers
        first_column: Any = None
        first_pred: Any = None
        first_number: Any = None
        n_columns = n_preds = n_numbers = 0
        for a in args:
            if isinstance(a, tuple):
                if a[0] == "predicate":
                    if not n_preds:
                        first_pred = a[1]
                    n_preds += 1
                elif len(a) == 2 and isinstance(a[0], str):
                    if not n_columns:
                        first_column = a
                    n_columns += 1
            elif isinstance(a, Threshold):
                if not n_numbers:
                    first_number = a
                n_numbers += 1
        shape = info.args
        column: Any = None
        q: Any = None
        predicate: Predicate | None = None
        within: Threshold | None = None
        if shape == "none":
            if not bare:
                raise self._wrong(name, shape, call, f"`{name}` takes no arguments")
        elif bare:
            raise self._wrong(name, shape, call, f"`{name}` needs arguments")
        elif shape == "column":
            if len(args) != 1 or n_columns != 1:
                raise self._wrong(name, shape, call, f"`{name}` takes one column")
        elif shape == "quantile":
            if len(args) != 2 or n_columns != 1 or n_numbers != 1 or first_number.unit == "sd":
                raise self._wrong(name, shape, call, "`quantile` takes a column and a level")
            q = first_number.amount
            spans["q"] = self.b.whole(first_number)
        elif shape == "predicate":
            if len(args) != 1 or n_preds != 1:
                raise self._wrong(name, shape, call, f"`{name}` takes a test on one column")
            col, col_span, op, value, pred_span = first_pred
            column = col
            spans["column"] = col_span
            predicate = self._predicate(op, value, pred_span)
        elif shape == "within":
            if len(args) != 1 or n_numbers != 1 or first_number.unit == "sd":
                raise self._wrong(name, shape, call, f"`{name}` takes one tolerance, such as 10%")
            within = first_number
        if n_columns:
            column, spans["column"] = first_column
        part_name = "statistic"
        if part is not None and info.scope == "outcome":
            if str(part) not in BOUNDS:
                raise ExprError("PS107", f"unknown part `{part}` of `{name}`", *_span(part),
                                did_you_mean(str(part), BOUNDS) or
                                "outcome metrics have `.lower` and `.upper` (their 95% interval)")
            part_name = str(part)
        elif part is not None:
            if not info.tests:
                raise ExprError("PS107", f"`{name}` has no parts", *_span(part),
                                "only tests (ks, chi2) have `.statistic` and `.pvalue`, and "
                                "outcome metrics `.lower` and `.upper`")
            if str(part) not in PARTS:
                raise ExprError("PS107", f"unknown part `{part}` of `{name}`", *_span(part),
                                did_you_mean(str(part), PARTS))
            part_name = str(part)
        kind, direction = ("value", "both") if transform is None else transform
        values = {"stat": name, "column": column, "q": q, "predicate": predicate,
                  "within": within, "part": part_name, "transform": kind,
                  "direction": direction}
        # a known statistic, a column's name, a finite level, a test and a tolerance built
        # here, a part of the catalogue's: valid, as validating them would leave them
        if (column is None or type(column) is str) and (q is None or type(q) is float) and \
                kind in _TRANSFORMS and direction in _DIRECTIONS:
            measure = trusted(Measure, values)
        else:
            measure = Measure(**values)
        return self.b.note(measure, meta.start_pos, meta.end_pos, spans)

    @staticmethod
    def _wrong(name: str, shape: str, call: _Call, msg: str) -> ExprError:
        """PS106: the arguments of ``call`` do not fit its statistic's ``shape``."""
        usage = {"column": f"{name}(column)", "quantile": f"{name}(column, 0.9)",
                 "predicate": f"{name}(column >= 0.5)", "within": f"{name}(10%)",
                 "none": name}[shape]
        return ExprError("PS106", msg, call.start, call.end, f"write `{usage}`")

    def _predicate(self, op: str, value: Any, span: tuple[int, int]) -> Predicate:
        """The test inside `rate(...)`, `share(...)`."""
        if type(op) is str and op in _PRED_OPS and (
                type(value) is bool or type(value) is str or isinstance(value, Threshold)):
            pred = trusted(Predicate, {"op": op, "value": value})
        else:
            pred = Predicate(op=cast(Any, op), value=value)
        return self.b.note(pred, span[0], span[1])

    def _compare(self, meta: Any, measure: Any, op: str, threshold: Any) -> Compare:
        if isinstance(measure, Measure) and isinstance(threshold, (Threshold, Calibrated)):
            node = trusted(Compare, {"kind": "compare", "measure": measure, "op": op,
                                     "threshold": threshold})
        else:
            node = Compare(measure=measure, op=cast(Any, op), threshold=threshold)
        return self.b.note(node, meta.start_pos, meta.end_pos)

    def compare(self, meta: Any, ch: list[Any]) -> Compare:
        measure, op, threshold = ch
        text = str(op)
        if text not in _COMP_OPS:
            raise ExprError("PS102", f"`{op}` cannot compare with a threshold", *_span(op),
                            "use >, >=, < or <=; `==` belongs inside rate() or share()")
        return self._compare(meta, measure, text, threshold)

    def simple_compare(self, t: str, g: tuple[tuple[int, int], ...]) -> Any:
        """The test the fast parser matched whole (``_fast._SIMPLE_TEST``: ``g`` holds its groups'
        offsets in ``t``), built from those offsets as the actions above build it from its
        tokens: the same models, noted at the same offsets, without a token or a ``meta`` made
        for each part. It takes only what they would accept: anything they refuse (an unknown
        statistic, arguments that do not fit it, a part it lacks, a number out of range, `==`)
        gives ``NotImplemented``, and the fast parser reads that test with them, so their
        errors are the ones reported."""
        ns, ne = g[G_NAME]
        name = t[ns:ne]
        info = STATS.get(name)
        os_, oe = g[G_OP]
        op = t[os_:oe]
        if info is None or op not in _COMP_OPS:
            return NotImplemented
        shape = info.args
        cs, ce = g[G_COLUMN]
        pred_at, pred_op_end = g[G_PRED_OP]
        qs, qe = g[G_LEVEL]
        if cs < 0:
            if shape != "none":
                return NotImplemented
        elif shape == "column":
            if pred_at >= 0 or qs >= 0:
                return NotImplemented
        elif shape == "predicate":
            if pred_at < 0 or qs >= 0:
                return NotImplemented
        elif shape != "quantile" or pred_at >= 0 or qs < 0:
            return NotImplemented
        end = ne
        part = "statistic"
        ds = g[G_DOT][0]
        if ds >= 0:
            ps, end = g[G_PART]
            part = t[ps:end]
            if part not in (BOUNDS if info.scope == "outcome" else
                            PARTS if info.tests else ()):
                return NotImplemented
        elif cs >= 0:
            end = g[G_CALL_END][0]
        transform, direction = "value", "both"
        ks, ke = g[G_TRANSFORM]
        if ks >= 0:
            transform, end = t[ks:ke], ke
            ds, de = g[G_DIRECTION]
            if ds >= 0:
                direction, end = t[ds:de], de
        threshold = self._simple_threshold(t, g[G_NUMBER], g[G_PERCENT][0], g[G_SD][0])
        if threshold is None:
            return NotImplemented
        b = self.b
        spans: dict[str, tuple[int, int]] = {"stat": (ns, ne)}
        column = q = predicate = None
        if cs >= 0:
            column = t[cs + 1:ce - 1] if t[cs] == "`" else t[cs:ce]
            if qs >= 0:
                q = float(t[qs:qe])
                if not math.isfinite(q):
                    return NotImplemented
                spans["q"] = (qs, qe)
            elif pred_at >= 0:
                predicate = self._simple_predicate(t, g, t[pred_at:pred_op_end], cs)
                if predicate is None:
                    return NotImplemented
            spans["column"] = (cs, ce)
        measure = trusted(Measure, {"stat": name, "column": column, "q": q,
                                    "predicate": predicate, "within": None, "part": part,
                                    "transform": transform, "direction": direction})
        b.note(measure, ns, end, spans)
        node = trusted(Compare, {"kind": "compare", "measure": measure, "op": op,
                                 "threshold": threshold})
        return b.note(node, ns, b.spans[id(threshold)][2])

    def _simple_threshold(self, t: str, number: tuple[int, int], percent: int,
                          sd: int) -> Threshold | None:
        """:meth:`threshold` of the number at ``number`` in ``t`` with its unit (`%` at
        ``percent`` or `sd` at ``sd``, -1 when absent); ``None`` for a number out of range."""
        s, e = number
        value = float(t[s:e])
        if not math.isfinite(value):
            return None
        unit = "%" if percent >= 0 else "sd" if sd >= 0 else ""
        return self.b.note(trusted(Threshold, {"value": value, "unit": unit}), s,
                           unit_end(e, percent, sd))

    def _simple_predicate(self, t: str, g: tuple[tuple[int, int], ...], op: str,
                          start: int) -> Predicate | None:
        """:meth:`_predicate` of the test inside the call :meth:`simple_compare` reads, which
        begins at ``start``; ``None`` for what that refuses."""
        if op not in _PRED_OPS:
            return None
        value: Any
        vs, ve = g[G_PRED_NUMBER]
        if vs >= 0:
            value = self._simple_threshold(t, (vs, ve), g[G_PRED_PERCENT][0], g[G_PRED_SD][0])
            if value is None:
                return None
            ve = self.b.spans[id(value)][2]
        elif g[G_PRED_STRING][0] >= 0:
            vs, ve = g[G_PRED_STRING]
            value = _string(t[vs:ve])
        elif g[G_PRED_TRUE][0] >= 0:
            value, ve = True, g[G_PRED_TRUE][1]
        else:
            value, ve = False, g[G_PRED_FALSE][1]
        return self.b.note(trusted(Predicate, {"op": op, "value": value}), start, ve)

    def ratio_arg(self, meta: Any, ch: list[Any]) -> tuple[Any, str, tuple[int, int]]:
        number, unit = ch
        return number, str(unit or ""), (meta.start_pos, meta.end_pos)

    def compare_calibrated(self, meta: Any, ch: list[Any]) -> Compare:
        """`measure > calibrated(1%)`: a threshold from the baseline's no-drift distribution."""
        measure, op, name, (number, unit, arg_span) = ch
        if str(name) != CALIBRATED:
            raise ExprError("PS102", f"expected a threshold, but found `{name}(`", *_span(name),
                            did_you_mean(str(name), [CALIBRATED]) or
                            "a threshold is a number, or `calibrated(1%)`")
        if str(op) not in _COMP_OPS:
            raise ExprError("PS102", f"`{op}` cannot compare with a threshold", *_span(op),
                            "use >, >=, < or <=")
        if unit == "sd":
            raise ExprError("PS102", "a calibrated threshold takes a false-alarm rate",
                            arg_span[0], arg_span[1], "write a share, e.g. `calibrated(1%)`")
        # (validated: its value may be out of range)
        cal = self.b.note(Calibrated(value=float(str(number)), unit=unit),
                          name.start_pos or 0, meta.end_pos, {"value": arg_span})
        return self._compare(meta, measure, str(op), cal)

    def between(self, meta: Any, ch: list[Any], negated: bool = False) -> Between:
        measure, low, high = ch
        if isinstance(measure, Measure) and isinstance(low, Threshold) and \
                isinstance(high, Threshold) and type(negated) is bool:
            node = trusted(Between, {"kind": "between", "measure": measure, "low": low,
                                     "high": high, "negated": negated})
        else:
            node = Between(measure=measure, low=low, high=high, negated=negated)
        return self.b.note(node, meta.start_pos, meta.end_pos)

    def not_between(self, meta: Any, ch: list[Any]) -> Between:
        return self.between(meta, ch, negated=True)

    def _flat(self, cls: type[AllOf] | type[AnyOf] | type[RowAll] | type[RowAny], meta: Any,
              ch: list[Any]) -> Any:
        """An `and`/`or` of conditions or of row filters, nested ones of the same kind flattened."""
        terms: list[Any] = []
        for c in ch:
            if isinstance(c, cls):
                terms.extend(c.terms)
            else:
                terms.append(c)
        members = _ROW_FILTERS if cls is RowAll or cls is RowAny else _CONDITIONS
        if len(terms) >= 2 and all(isinstance(t, members) for t in terms):
            node = trusted(cls, {"kind": _KINDS[cls], "terms": tuple(terms)})
        else:
            node = cls(terms=tuple(terms))
        return self.b.note(node, meta.start_pos, meta.end_pos)

    def all_of(self, meta: Any, ch: list[Any]) -> AllOf:
        return self._flat(AllOf, meta, ch)  # type: ignore[no-any-return]

    def any_of(self, meta: Any, ch: list[Any]) -> AnyOf:
        return self._flat(AnyOf, meta, ch)  # type: ignore[no-any-return]

    # ---------------------------------------------------------------- row filters (`where`)

    def row_filter(self, meta: Any, ch: list[Any]) -> Any:
        return ch[0]

    def _row_value(self, v: Any) -> bool | float | str:
        if isinstance(v, Threshold):
            if v.unit == "sd":
                start, end = self.b.whole(v)
                raise ExprError("PS102", "a row filter compares with a value, not a shift in SDs",
                                start, end, "write a number, a string, `true` or `false`")
            return v.amount
        return v  # type: ignore[no-any-return]

    def _row(self, meta: Any, column: tuple[str, tuple[int, int]], op: str,
             values: list[Any]) -> RowTest:
        name, span = column
        row_values = tuple(self._row_value(v) for v in values)
        if type(name) is str and op in _ROW_OPS and all(
                type(v) is float or type(v) is str or type(v) is bool for v in row_values):
            test = trusted(RowTest, {"kind": "row_test", "column": name, "op": op,
                                     "values": row_values})
        else:
            test = RowTest(column=name, op=cast(Any, op), values=row_values)
        return self.b.note(test, meta.start_pos, meta.end_pos, {"column": span})

    def row_compare(self, meta: Any, ch: list[Any]) -> RowTest:
        column, op, value = ch
        return self._row(meta, column, str(op), [value])

    def row_in(self, meta: Any, ch: list[Any]) -> RowTest:
        return self._row(meta, ch[0], "in", ch[1:])

    def row_not_in(self, meta: Any, ch: list[Any]) -> RowTest:
        return self._row(meta, ch[0], "not in", ch[1:])

    def row_missing(self, meta: Any, ch: list[Any]) -> RowTest:
        return self._row(meta, ch[0], "is missing", [])

    def row_present(self, meta: Any, ch: list[Any]) -> RowTest:
        return self._row(meta, ch[0], "is not missing", [])

    def row_all(self, meta: Any, ch: list[Any]) -> RowAll:
        return self._flat(RowAll, meta, ch)  # type: ignore[no-any-return]

    def row_any(self, meta: Any, ch: list[Any]) -> RowAny:
        return self._flat(RowAny, meta, ch)  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=1)
def _transformer() -> type[Any]:
    """lark's transformer running the semantic actions of :class:`_Semantics` (built when lark
    is first needed; lark's ``v_args`` wraps only methods defined on the class itself)."""
    from lark import Transformer, v_args

    methods = {k: v for k, v in vars(_Semantics).items() if callable(v) and k[:2] != "__"}
    cls = type("_ToModel", (Transformer,), methods)
    return v_args(meta=True)(cls)  # type: ignore[return-value]


def _to_model(built: _Built) -> Any:
    """A lark transformer from parse trees to the model, noting spans in ``built``."""
    tm = _transformer()()
    tm.b = built
    return tm


def new_semantics() -> tuple[_Semantics, Any]:
    """Fresh semantic actions for one condition, and the function that gives, for what they
    built, a function giving the offsets of its parts (for the fast parser of `.plan` files)."""
    built = _Built()
    return _Semantics(built), functools.partial(_later, built)


def _later(built: _Built, value: Any) -> Callable[[], Offsets]:
    return functools.partial(_offsets, value, built)


def _collect(obj: Any, path: tuple[str | int, ...], built: _Built, out: Offsets) -> None:
    noted = built.spans.get(id(obj))
    if noted is not None:
        out[path] = (noted[1], noted[2])
        if noted[3] is not None:
            for name, span in noted[3].items():
                out[(*path, name)] = span
    if isinstance(obj, Record):
        for name in type(obj).model_fields:
            value = getattr(obj, name)
            if isinstance(value, tuple):
                for i, item in enumerate(value):
                    _collect(item, path + (name, i), built, out)
            elif isinstance(value, Record):
                _collect(value, path + (name,), built, out)


#: The longest name a condition reads, and how deeply its parentheses may nest.
MAX_NAME = 256
MAX_DEPTH = 32
#: What :func:`check_limits` reads: quoted strings (so a name or parenthesis inside one is
#: text), quoted and bare names, and parentheses, left to right.
_LIMIT_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|\'[^\']*\'?|`[^`\n]*`?|[A-Za-z0-9_.]+|[()]')


def check_limits(text: str) -> None:
    """Refuse, before parsing, what no plan needs and what would make parsing slow or deep:
    names longer than :data:`MAX_NAME`, parentheses nested deeper than :data:`MAX_DEPTH`.

    >>> check_limits("(" * 40 + "psi(x) > 1" + ")" * 40)
    Traceback (most recent call last):
    planspec._expr.ExprError: parentheses nest more than 32 deep here

    Two quoted names are two names, however much text lies between them:

    >>> check_limits("psi(`a-b`) > 1 and " + "psi(x) > 1 and " * 20 + "psi(`c-d`) > 1")
    """
    if len(text) <= MAX_NAME and text.count("(") <= MAX_DEPTH:
        return  # no name can be longer than the text, nor nest deeper than its parentheses
    depth = 0
    for m in _LIMIT_TOKENS.finditer(text):
        tok = m.group()
        first = tok[0]
        if first == "(":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExprError("PS152", f"parentheses nest more than {MAX_DEPTH} deep here",
                                m.start(), m.end(),
                                "split the condition or drop parentheses it does not need")
        elif first == ")":
            depth -= 1
        elif first in "\"'":
            continue
        else:
            size = len(tok) - 2 if first == "`" and len(tok) > 1 and tok[-1] == "`" else len(tok)
            if size > MAX_NAME:
                raise ExprError("PS150", f"this name is {size:,} characters long; the most is "
                                f"{MAX_NAME}", m.start(), m.end(), "use a shorter name")


def parse_condition(text: str) -> tuple[Condition, Offsets]:
    """Parse a condition; return it with the offsets of its parts. Raises :class:`ExprError`.

    >>> c, spans = parse_condition("psi(neighborhood) > 0.2")
    >>> c.measure.column, c.threshold.value, spans[("measure", "column")]
    ('neighborhood', 0.2, (4, 16))
    """
    return _parse(text, "condition")


def parse_filter(text: str) -> tuple[RowFilter, Offsets]:
    """Parse a `where` row filter; return it with the offsets of its parts. Raises
    :class:`ExprError`.

    >>> f, spans = parse_filter('listing_source in ["aggregator", "owner_site"] or sqft is missing')
    >>> f.terms[0].values, f.terms[1].op, spans[("terms", 1, "column")]
    (('aggregator', 'owner_site'), 'is missing', (50, 54))
    """
    return _parse(text, "row_filter")


def _parse(text: str, start: str) -> tuple[Any, Offsets]:
    """``text`` parsed from the start rule ``start`` into the model, with the offsets of its
    parts; :class:`ExprError` when it does not parse."""
    out, offsets = parse_later(text, start)
    return out, offsets()


def parse_later(text: str, start: str) -> tuple[Any, Callable[[], Offsets]]:
    """``text`` parsed from the start rule ``start`` (`condition` or `row_filter`) into the
    model, with a function that gives the offsets of its parts: what a front end calls only
    when a place inside the text is asked for. Raises :class:`ExprError`.

    >>> c, offsets = parse_later("psi(x) > 0.2", "condition")
    >>> offsets()[("measure", "column")]
    (4, 5)
    """
    check_limits(text)
    built = _Built()
    try:  # valid text, by the fast parser; anything else by lark, for its errors
        out = _fast.parse(text, start, _Semantics(built))
    except NoFast:
        pass
    else:
        return out, functools.partial(_offsets, out, built)
    from lark.exceptions import LarkError, UnexpectedInput

    try:
        tree = parser().parse(text, start=start)
    except UnexpectedInput as e:
        raise syntax_error(text, e) from None
    except LarkError as e:  # pragma: no cover - lark's other errors: still a syntax error
        raise ExprError("PS102", str(e).splitlines()[0], 0, len(text)) from None
    built = _Built()
    try:
        out = _to_model(built).transform(tree)
    except LarkError as e:  # VisitError wraps what the transformer raised
        orig = getattr(e, "orig_exc", e)
        if isinstance(orig, ExprError):
            raise orig from None
        raise ExprError("PS102", str(orig), 0, len(text)) from None
    return out, functools.partial(_offsets, out, built)


def _offsets(value: Any, built: _Built) -> Offsets:
    """The offsets of the parts of ``value``, from the spans its semantic actions noted."""
    out: Offsets = {}
    _collect(value, (), built, out)
    return out


# --------------------------------------------------------------------------------- formatting


def format_number(v: float) -> str:
    """The shortest text that parses back to ``v``: `2`, `0.2`, `1e-05`."""
    if math.isfinite(v) and v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(v)


def format_threshold(t: Threshold | Calibrated) -> str:
    """`2 sd`, `5%`, `0.2`, `calibrated(1%)`."""
    num = format_number(t.value)
    if isinstance(t, Calibrated):
        return f"{CALIBRATED}({num}{t.unit})"
    return {"": num, "%": num + "%", "sd": num + " sd"}[t.unit]


@functools.lru_cache(maxsize=1)
def keywords() -> frozenset[str]:
    """Every word the grammar writes as a literal in its rules (lexed as a keyword where the
    rule allows it): read from the grammar's text, so formatting needs no parser."""
    from planspec._resources import grammar_path  # (importlib.resources: not for valid plans)

    found: set[str] = set()
    for line in grammar_path().read_text(encoding="utf-8").splitlines():
        code = line.split("//")[0]
        if re.match(r"\s*[A-Z_]+(\.\d+)?\s*:", code):  # a terminal's definition
            continue
        found.update(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', code))
    return frozenset(found)


def format_column(name: str) -> str:
    """A column name, back-quoted when it is not a plain name or is a keyword."""
    return name if _PLAIN_NAME.match(name) and name not in keywords() else f"`{name}`"


def _format_value(v: Threshold | bool | str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        escaped = v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped.replace(chr(9), chr(92) + "t")}"'
    return format_threshold(v)


def format_measure(m: Measure) -> str:
    """The text of a measure: `ks(sqft).pvalue`, `mean(listing_price) shift`."""
    shape = STATS[m.stat].args
    col = format_column(m.column or "")
    if shape == "none":
        text = m.stat
    elif shape == "column":
        text = f"{m.stat}({col})"
    elif shape == "quantile":
        text = f"{m.stat}({col}, {format_number(m.q or 0.0)})"
    elif shape == "predicate":
        assert m.predicate is not None
        text = f"{m.stat}({col} {m.predicate.op} {_format_value(m.predicate.value)})"
    else:
        assert m.within is not None
        text = f"{m.stat}({format_threshold(m.within)})"
    if m.part != "statistic":
        text += f".{m.part}"
    if m.transform != "value":
        text += f" {m.transform}" + ("" if m.direction == "both" else f" {m.direction}")
    return text


def format_condition(c: Condition) -> str:
    """The canonical text of a condition.

    >>> format_condition(parse_condition("js(x)>0.1 and (chi2(x).pvalue<0.001)")[0])
    'js(x) > 0.1 and chi2(x).pvalue < 0.001'
    """
    if isinstance(c, Compare):
        return f"{format_measure(c.measure)} {c.op} {format_threshold(c.threshold)}"
    if isinstance(c, Between):
        neg = "not " if c.negated else ""
        return (f"{format_measure(c.measure)} {neg}between {format_threshold(c.low)} and "
                f"{format_threshold(c.high)}")
    if isinstance(c, AllOf):
        return " and ".join(f"({format_condition(t)})" if isinstance(t, AnyOf)
                            else format_condition(t) for t in c.terms)
    return " or ".join(format_condition(t) for t in c.terms)


def _row_literal(v: bool | float | str) -> str:
    return _format_value(v) if isinstance(v, (bool, str)) else format_number(v)


def format_filter(f: RowFilter, nested: bool = False) -> str:
    """The canonical text of a row filter (parenthesised where `or` sits inside `and`).

    >>> format_filter(parse_filter("(a == 'x' or b is not missing) and c not in [1, 2.5]")[0])
    '(a == "x" or b is not missing) and c not in [1, 2.5]'
    """
    if isinstance(f, RowTest):
        col = format_column(f.column)
        if f.op in ("is missing", "is not missing"):
            return f"{col} {f.op}"
        if f.op in ("in", "not in"):
            return f"{col} {f.op} [{', '.join(_row_literal(v) for v in f.values)}]"
        return f"{col} {f.op} {_row_literal(f.values[0])}"
    if isinstance(f, RowAll):
        return " and ".join(format_filter(t, True) for t in f.terms)
    text = " or ".join(format_filter(t) for t in f.terms)
    return f"({text})" if nested else text


def coerce_filter(v: Any) -> Any:
    """Validation's view of a row filter: a string is parsed; a model or mapping passes
    through."""
    return _coerce(v, parse_filter,
                   'a row filter is a string, such as `listing_source == "aggregator"`')


# ------------------------------------------------------------------- coercion for the plan model


def coerce_condition(v: Any) -> Any:
    """Validation's view of a condition: a string is parsed; a model or mapping passes
    through."""
    return _coerce(v, parse_condition,
                   "a condition is a string, such as `psi(neighborhood) > 0.2`")


def _coerce(v: Any, parse: Callable[[str], tuple[Any, Offsets]], not_text: str) -> Any:
    """A string parsed by ``parse`` (its error as a validation error, located); a model or
    mapping as it is; anything else PS203 with ``not_text``."""
    if isinstance(v, str):
        try:
            return parse(v)[0]
        except ExprError as e:
            raise e.to_error() from None
    if isinstance(v, (Record, dict)):
        return v
    raise CustomError("planspec", "{message}", {
        "message": not_text, "code": "PS203", "start": 0, "end": 0, "hint": None})


def parse_duration(text: str) -> Duration:
    """Parse `7d`, `12h`, `2w`. Raises :class:`ExprError` (PS104 when the unit is missing).

    >>> parse_duration("12h").seconds
    43200
    """
    m = _DURATION.fullmatch(text)
    if m:  # the common case, without the parser: what it would read (never digits alone)
        return _duration(m.group(1), text)
    stripped = text.strip()
    if _DIGITS.fullmatch(stripped):
        raise ExprError("PS104", f"the duration `{stripped}` needs a unit (s, m, h, d or w)", 0,
                        len(text),
                        f"did you mean `{stripped}d`?")
    from lark.exceptions import UnexpectedInput

    try:
        tree = parser().parse(text, start="duration")
    except UnexpectedInput:
        m = re.fullmatch(r"(\d+)\s*([A-Za-z]+)", stripped)
        units = {"sec": "s", "second": "s", "min": "m", "minute": "m", "hour": "h", "day": "d",
                 "week": "w", "month": "mo", "quarter": "q", "year": "y"}
        hint = "units are s, m, h, d, w, mo, q and y, as in `7d`"
        if m:
            unit = units.get(m.group(2).lower().rstrip("s"))
            if unit:
                hint = f"did you mean `{m.group(1)}{unit}`?"
        raise ExprError("PS104", f"`{stripped}` is not a duration", 0, len(text), hint) from None
    return _duration(str(tree.children[0]), text)


_DIGITS = re.compile(r"\d+")
#: The units of a duration (the model's).
_UNITS = frozenset(get_args(DurationUnit))
#: A duration exactly as the grammar's `duration` rule reads it (DURATION between blanks).
_SKIP = r"(?:[ \t\f\r\n]+|#[^\n]*)*"
_DURATION = re.compile(rf"{_SKIP}([0-9]+(?:mo|s|m|h|d|w|q|y)){_SKIP}")
#: A share exactly as the grammar's `ratio` rule reads it: NUMBER and an optional unit.
_RATIO = re.compile(rf"{_SKIP}(-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?){_SKIP}"
                    rf"(%|sd(?![A-Za-z0-9_]))?{_SKIP}")


def _duration(tok: str, text: str) -> Duration:
    """The duration of a DURATION token ``tok`` (``text`` is what it was read from)."""
    if len(tok) > 12:  # more digits than any sensible duration: refuse before converting
        raise ExprError("PS203", f"the duration `{tok[:12]}…` is too long", 0, len(text),
                        f"durations are at most {MAX_DURATION_DAYS:,} days")
    digits = len(tok) - len(tok.lstrip("0123456789"))
    value, unit = int(tok[:digits]), tok[digits:]
    if value >= 1 and unit in _UNITS:  # valid already (ASCII digits, a unit of the model's)
        duration = trusted(Duration, {"value": value, "unit": unit})
    else:
        duration = Duration.model_validate({"value": value, "unit": unit})
    if duration.seconds > MAX_DURATION_DAYS * 86400:
        raise ExprError("PS203", f"the duration `{tok}` is too long", 0, len(text),
                        f"durations are at most {MAX_DURATION_DAYS:,} days")
    return duration


#: The longest duration a plan may give (about a century): longer ones overflow date arithmetic.
MAX_DURATION_DAYS = 36_500


def coerce_duration(v: Any) -> Any:
    """Validation's view of a duration: text is parsed; a bare number gets a PS104 hint."""
    if isinstance(v, bool):
        v = str(v)
    if isinstance(v, (int, float)):
        v = format_number(float(v))
    if isinstance(v, str):
        try:
            return parse_duration(v)
        except ExprError as e:
            raise e.to_error() from None
    return v


def coerce_ratio(v: Any) -> Any:
    """Validation's view of a share: `80%` or 0.8; a number above 1 gets a PS105 hint."""
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        if math.isfinite(v) and v > 1:
            raise ExprError("PS105", f"{format_number(v)} is above 1", 0, 0,
                            f"write a fraction or a percentage: did you mean "
                            f"`{format_number(v)}%`?").to_error()
        return v
    if isinstance(v, str):
        m = _RATIO.fullmatch(v)
        if m:  # the common case, without the parser: what it would read
            number, unit = m.group(1), m.group(2)
        else:
            from lark import Tree
            from lark.exceptions import UnexpectedInput

            try:
                tree = parser().parse(v, start="ratio")
            except UnexpectedInput:
                raise ExprError("PS105", f"`{v}` is not a share", 0, len(v),
                                "write a fraction (0.8) or a percentage (80%)"
                                ).to_error() from None
            number, unit_tree = tree.children
            unit = unit_tree.children[0] if isinstance(unit_tree, Tree) else None
        if unit is not None and str(unit) != "%":
            raise ExprError("PS105", f"`{v}` is not a share", 0, len(v),
                            "write a fraction (0.8) or a percentage (80%)").to_error()
        return float(str(number)) / (100 if unit is not None else 1)
    return v


# ------------------------------------------------------------------------- derived labels

FUNCTIONS = ("abs",)


@dataclass(frozen=True)
class Derived:
    """An outcome label computed from values: an arithmetic comparison over named columns."""

    text: str
    tree: Any
    columns: tuple[str, ...]

    def evaluate(self, values: dict[str, Any]) -> Any:
        """1.0 where the comparison holds, 0.0 where not, NaN where a value is missing."""
        import numpy as np

        def ev(t: Any) -> Any:
            if isinstance(t, Node):
                kind = t.data
                if kind == "ref":
                    return values[_ref_name(t.children[0])]
                if kind == "threshold":
                    number, unit = t.children
                    unit_text = str(unit.children[0]) if isinstance(unit, Node) else ""
                    return float(str(number)) / (100 if unit_text == "%" else 1)
                if kind == "func":
                    return np.abs(ev(t.children[1]))
                a, b = ev(t.children[0]), ev(t.children[-1])
                with np.errstate(divide="ignore", invalid="ignore"):
                    return {"add": np.add, "sub": np.subtract, "mul": np.multiply,
                            "div": np.divide}[kind](a, b)
            raise ValueError(f"unexpected {t!r}")  # pragma: no cover - the grammar has no other

        left, op, right = self.tree.children
        a, b = np.asarray(ev(left), dtype=float), np.asarray(ev(right), dtype=float)
        with np.errstate(invalid="ignore"):
            held = {">": a > b, ">=": a >= b, "<": a < b, "<=": a <= b, "==": a == b,
                    "!=": a != b}[str(op)]
        return np.where(np.isnan(a) | np.isnan(b), np.nan, held.astype(float))


def _ref_name(tok: Any) -> str:
    text = str(tok)
    return text[1:-1] if tok.type == "QUOTED_NAME" else text


def parse_derived(text: str) -> Derived:
    """Parse a derived label. Raises :class:`ExprError`.

    >>> d = parse_derived("abs(listing_price - lease_rent) / lease_rent > 10%")
    >>> d.columns
    ('listing_price', 'lease_rent')
    >>> d.evaluate({"listing_price": 1200.0, "lease_rent": 1000.0})
    array(1.)
    """
    check_limits(text)
    try:
        tree = _fast.parse_derived(text)
    except NoFast:
        from lark.exceptions import UnexpectedInput

        try:
            tree = to_node(parser().parse(text, start="derived"))
        except UnexpectedInput as e:
            raise syntax_error(text, e) from None
    nodes = list(_walk(tree))
    for t in nodes:
        if t.data == "func":
            name = str(t.children[0])
            if name not in FUNCTIONS:
                tok = t.children[0]
                raise ExprError("PS103", f"unknown function `{name}`", *_span(tok),
                                did_you_mean(name, FUNCTIONS) or "functions: abs")
    refs = sorted((t for t in nodes if t.data == "ref"), key=lambda t: t.start_pos)
    return Derived(text, tree, tuple(dict.fromkeys(_ref_name(t.children[0]) for t in refs)))


def _walk(tree: Node) -> Iterator[Node]:
    yield tree
    for c in tree.children:
        if isinstance(c, Node):
            yield from _walk(c)


def to_node(tree: Tree[Any]) -> Node:
    """A lark tree as the fast parser's :class:`Node` (tokens as :class:`Tok`), so what
    follows a parse reads one kind of tree whichever parser made it."""
    from lark import Token, Tree

    def conv(x: Any) -> Any:
        if isinstance(x, Tree):
            meta = x.meta
            start, end = (0, 0) if meta.empty else (meta.start_pos, meta.end_pos)
            return Node(str(x.data), [conv(c) for c in x.children], start, end)
        if isinstance(x, Token):
            return Tok(x.type, str(x), x.start_pos or 0, x.end_pos or 0)
        return x

    return conv(tree)  # type: ignore[no-any-return]


def is_column_name(text: str) -> bool:
    """Whether a label is a plain column name (else it is a derived label)."""
    return bool(_PLAIN_NAME.match(text)) or (text.startswith("`") and text.endswith("`"))
