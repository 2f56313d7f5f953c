"""A hand-written parser for valid input: a regex tokenizer and a recursive-descent parser for the
start rules of grammar/planspec.lark (whole `.plan` files, conditions, row filters, derived labels).

It reads what the lark grammar reads and builds what the lark path builds (the same trees for the
`.plan` builder, and the same :class:`Pair` records for its one-value settings; the same semantic
actions for conditions, so the same models and offsets), several times faster and without
importing lark. It reads only valid input: on anything it does not
recognise it raises :class:`NoFast`, and the caller parses with lark, whose errors (positions,
expected tokens, recovery) stay the diagnostics a user sees. The grammar stays the specification;
``tests/test_fast_parser.py`` holds this parser to it on the diagnostic corpus and on generated
text.

Lark's lexer is contextual: a keyword is a keyword only where the grammar allows it there. Here a
word is read as a keyword where this parser looks for that keyword; where it reads a name, a word
that is a keyword somewhere in the grammar makes it give up (lark decides), except in a setting's
value, where lark too reads every word but `true` and `false` as a name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple


class NoFast(Exception):
    """The fast parser does not read this text: parse it with lark (which reports the error)."""


class Tok(str):
    """A token: its text, terminal name and offsets (what the builders read of lark's Token)."""

    type: str
    start_pos: int
    end_pos: int

    def __new__(cls, type_: str, value: str, start: int, end: int) -> Tok:
        tok = str.__new__(cls, value)
        tok.type, tok.start_pos, tok.end_pos = type_, start, end
        return tok

    def __getnewargs__(self) -> tuple[str, str, int, int]:  # type: ignore[override]  # pickled with a derived label
        return (self.type, str(self), self.start_pos, self.end_pos)


class Node:
    """A rule's node: its name, children (``None`` for an absent optional) and offsets, shaped
    as lark's tree of the same text."""

    __slots__ = ("children", "data", "end_pos", "start_pos")

    def __init__(self, data: str, children: list[Any], start: int, end: int) -> None:
        self.data, self.children, self.start_pos, self.end_pos = data, children, start, end

    @property
    def meta(self) -> Node:
        return self

    def __repr__(self) -> str:
        return f"Node({self.data!r}, {self.children!r}, {self.start_pos}, {self.end_pos})"


def _node(data: str, children: list[Any], start: int, end: int) -> Node:
    """``Node(data, children, start, end)``, made without a call of ``__init__``."""
    node = _obj_new(Node)
    node.data, node.children, node.start_pos, node.end_pos = data, children, start, end
    return node


def unit_end(end: int, percent: int, sd: int) -> int:
    """Where a number that ends at ``end`` ends with its unit: `%` at ``percent`` or `sd` at
    ``sd`` (-1 when absent)."""
    return percent + 1 if percent >= 0 else sd + 2 if sd >= 0 else end


def _tok(type_: str, text: str, start: int, end: int) -> Tok:
    """``Tok(type_, text, start, end)``, made without a call of ``__new__``."""
    tok = _str_new(Tok, text)
    tok.type, tok.start_pos, tok.end_pos = type_, start, end
    return tok


def _meta(start: int, end: int) -> Meta:
    """``Meta(start, end)``, made without a call of ``__init__``."""
    meta = _obj_new(Meta)
    meta.start_pos, meta.end_pos = start, end
    return meta


def _key(w: str, start: int, end: int) -> Node:
    """The key of a plain setting, the word ``w`` at ``start:end``; a word lark may read as a
    keyword here is left to lark."""
    if w in _KEY_WORDS:
        type_ = _KEY_WORDS[w]
    elif w in KEYWORDS:
        raise NoFast
    else:
        type_ = "NAME"
    return _node("key", [_tok(type_, w, start, end)], start, end)


class Parsed:
    """A condition or row filter of a `.plan` file, already built: the model and a function
    giving the offsets of its parts, or the error its semantic check raised; with the offsets
    of its text."""

    __slots__ = ("end", "end_pos", "error", "offsets", "start_pos", "value")

    def __init__(self, value: Any, offsets: Any, error: Exception | None, start: int,
                 end: int, container_end: int) -> None:
        self.value, self.offsets, self.error = value, offsets, error
        self.start_pos, self.end_pos = start, end
        #: Where it ends with the parentheses around it (what its setting's offsets reach).
        self.end = container_end

    @property
    def meta(self) -> Parsed:
        return self


class Meta:
    """The offsets a semantic action reads (lark's ``meta``)."""

    __slots__ = ("end_pos", "start_pos")

    def __init__(self, start: int, end: int) -> None:
        self.start_pos, self.end_pos = start, end


#: Every word the grammar uses as a keyword somewhere (`shift`… are its TRANSFORM and DIRECTION).
KEYWORDS = frozenset((
    "alert", "and", "between", "bias", "data", "defaults", "drift", "escalate", "false", "feature",
    "for", "in", "input", "is", "keep_firing_for", "missing", "model", "monitor", "not", "or",
    "outcome", "output", "plan", "playbook", "prediction", "range", "risk", "sd", "step",
    "timezone", "to", "true", "warn", "when", "where", "window", "windows",
    "shift", "change", "up", "down"))

# The grammar's terminals, as written there (lark matches them in the same way).
_SKIP = re.compile(r"(?:[ \t\f\r\n]+|#[^\n]*)*")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_QUOTED = re.compile(r"`[^`\n]+`")
#: (Lark's `"([^"\\\n]|\\.)*"`, written as loops over runs of characters: one group a
#: character made a long string cost a regex-stack push each.)
_STRING = re.compile(r'"[^"\\\n]*+(?:\\.[^"\\\n]*+)*+"|\'[^\'\\\n]*+(?:\\.[^\'\\\n]*+)*+\'')
_COMP = re.compile(r">=|<=|==|!=|>|<")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DURATION = re.compile(r"[0-9]+(?:mo|s|m|h|d|w|q|y)(?![A-Za-z0-9_])")
_NUMBER_WORD = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[ \t]+"
                          r"[A-Za-z_][A-Za-z0-9_]*(?=[ \t]*(?:#[^\n]*)?(?:\r?\n|$))")
_ITEMS2 = {"input": ("alert", "input_alert"), "output": ("alert", "output_alert"),
           "outcome": ("monitor", "outcome_monitor"), "drift": ("risk", "drift_risk")}
_KEY_WORDS = {"playbook": "PLAYBOOK", "window": "WINDOW", "prediction": "PREDICTION"}
#: Each terminal followed by what the grammar skips after it: one match reads a token.
_TRAILED = {p: re.compile(f"({p.pattern}){_SKIP.pattern}")
            for p in (_NAME, _NUMBER, _QUOTED, _STRING, _COMP, _DATE, _DURATION, _NUMBER_WORD)}
#: What continues a word (lark's names are ASCII).
_NAME_TRAILED = _TRAILED[_NAME]
_NUMBER_TRAILED = _TRAILED[_NUMBER]
#: What can begin a run that the grammar skips (elsewhere there is nothing to skip).
_SKIPPED = frozenset(" \t\f\r\n#")
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")

# The same terminals for one-regex matches of common shapes: possessive, so that no token gives
# back characters to let a later one match (a lexer never splits a token it has read).
_S = r"(?:[ \t\f\r\n]++|#[^\n]*+)*+"
_N = r"[A-Za-z_][A-Za-z0-9_]*+"
_NUM = r"-?(?:[0-9]++(?:\.[0-9]*+)?|\.[0-9]++)(?:[eE][+-]?[0-9]++)?"
_OP = r"(>=|<=|==|!=|>|<)"
_END = r"(?![A-Za-z0-9_])"
_UNIT = rf"(?:(%){_S}|(sd){_END}{_S})?"
#: Blanks only: between the tokens of a common test (one with a comment inside is read token
#: by token).
_W = r"[ \t\f\r\n]*+"
_WUNIT = rf"(?:(%){_W}|(sd){_END}{_W})?"
#: The common test, `name[(column [op value] [, number])][.part][shift|change [up|down]] op
#: number [unit]`, in one match (its groups numbered in :meth:`Parser.simple_test`); a test
#: it does not match is read token by token.
_SIMPLE_TEST = re.compile(
    rf"({_N}){_W}"
    rf"(?:\({_W}({_N}|`[^`\n]+`){_W}"
    rf"(?:{_OP}{_W}(?:({_NUM}){_W}{_WUNIT}|({_STRING.pattern}){_W}|(true){_END}{_W}"
    rf"|(false){_END}{_W}))?"
    rf"(?:,{_W}({_NUM}){_W})?\)(){_W})?"
    rf"(?:(\.){_W}({_N}){_W})?"
    rf"(?:(shift|change){_END}{_W}(?:(up|down){_END}{_W})?)?"
    rf"{_OP}{_W}({_NUM}){_S}(?:(%)|(sd){_END})?{_S}")  # (a unit may follow a comment)
#: The groups of :data:`_SIMPLE_TEST`, by what they hold: the statistic's name; the column (a
#: name or a quoted name); a predicate's operator and its value (a number with `%` or `sd`, a
#: string, `true`, `false`); the level after a comma; where the call ends (empty); the dot and
#: the part; the transform and its direction; the comparison's operator, number, `%` and `sd`.
(G_NAME, G_COLUMN, G_PRED_OP, G_PRED_NUMBER, G_PRED_PERCENT, G_PRED_SD, G_PRED_STRING,
 G_PRED_TRUE, G_PRED_FALSE, G_LEVEL, G_CALL_END, G_DOT, G_PART, G_TRANSFORM, G_DIRECTION, G_OP,
 G_NUMBER, G_PERCENT, G_SD) = range(1, 20)
#: A setting's value that is one token (and a unit), in :meth:`Parser.value`'s order of tries:
#: 1 DATE, 2 NUMBER_WORD, 3 DURATION, 4 NUMBER (5 `%`, 6 `sd`), 7 STRING, 8 QUOTED_NAME, 9 NAME.
_NUMERIC_ALTS = (rf"({_DATE.pattern})|({_NUMBER_WORD.pattern})|({_DURATION.pattern})"
                 rf"|({_NUM}){_S}{_UNIT}")
_VALUE_ALTS = rf"{_NUMERIC_ALTS}|({_STRING.pattern})|(`[^`\n]+`)|({_N})"
_VALUE = re.compile(rf"(?:{_VALUE_ALTS}){_S}")
#: The value of a plain setting that begins as a number can (:data:`_VALUE_ALTS`' first
#: four alternatives, groups numbered alike); other values are told by their first character.
_NUMERIC = re.compile(rf"(?:{_NUMERIC_ALTS}){_S}")
_STRING_TRAILED = _TRAILED[_STRING]
_QUOTED_TRAILED = _TRAILED[_QUOTED]
_NAME_START = _WORD_CHARS - frozenset("0123456789")
_VALUE_KINDS = (None, ("date_value", "DATE"), ("number_word", "NUMBER_WORD"),
                ("duration_value", "DURATION"), None, None, None, ("string", "STRING"),
                ("word", "QUOTED_NAME"), ("word", "NAME"))
#: An item's head of three words (`input alert name`) before its block.
_ITEM_HEAD = re.compile(rf"({_N}){_S}({_N}){_S}({_N}){_S}(?=\{{)")
_str_new = str.__new__
_obj_new = object.__new__

#: A part of a condition: (value, start, end, container start, container end). The container
#: includes the parentheses around a part, which lark counts in the offsets of what holds it.
_Part = tuple[Any, int, int, int, int]


class _Dry:
    """Semantic actions that build nothing: a condition whose check failed is read again with
    these, to find where it ends."""

    def __getattr__(self, name: str) -> Callable[..., None]:
        return _nothing


def _nothing(*args: Any) -> None:
    return None


class Parser:
    """Reads one text from a start rule; ``sem`` holds the semantic actions of conditions and row
    filters (the methods of lark's transformer, called with the same arguments)."""

    def __init__(self, text: str, sem: Any = None,
                 new_sem: Callable[[], tuple[Any, Callable[[Any], Any]]] | None = None) -> None:
        self.t = text
        self.n = len(text)
        self.c = text + "\x00"  # what peek reads: past the end, a character no rule takes
        self.i = 0
        self.sem = sem
        self.new_sem = new_sem
        self.skip()

    # ------------------------------------------------------------------------------ tokens

    def skip(self) -> None:
        self.i = _SKIP.match(self.t, self.i).end()  # type: ignore[union-attr]  # (always matches)

    def skipped(self, j: int) -> int:
        """Where what follows offset ``j`` begins (past blanks and comments)."""
        if self.c[j] in _SKIPPED:
            return _SKIP.match(self.t, j).end()  # type: ignore[union-attr]  # (always matches)
        return j

    def peek(self) -> str:
        return self.c[self.i]

    def word(self) -> str | None:
        """The name at the current position, if any (not consumed)."""
        m = _NAME.match(self.t, self.i)
        return m.group() if m else None

    def is_word(self, w: str) -> bool:
        i = self.i
        return self.t.startswith(w, i) and self.c[i + len(w)] not in _WORD_CHARS

    def take_word(self, w: str) -> bool:
        i = self.i
        j = i + len(w)
        if self.t.startswith(w, i) and self.c[j] not in _WORD_CHARS:
            self.i = self.skipped(j)
            return True
        return False

    def expect_word(self, w: str) -> int:
        start = self.i
        if not self.take_word(w):
            raise NoFast
        return start

    def tok(self, pattern: re.Pattern[str], type_: str) -> Tok | None:
        m = _TRAILED[pattern].match(self.t, self.i)
        if m is None:
            return None
        start, end = m.span(1)
        self.i = m.end()
        return Tok(type_, m.group(1), start, end)

    def need(self, pattern: re.Pattern[str], type_: str) -> Tok:
        tok = self.tok(pattern, type_)
        if tok is None:
            raise NoFast
        return tok

    def char(self, ch: str) -> int:
        """Consume the one-character token ``ch``; return the offset after it (-1 when absent)."""
        i = self.i
        if self.c[i] == ch:
            j = i + 1
            self.i = self.skipped(j)
            return j
        return -1

    def need_char(self, ch: str) -> int:
        end = self.char(ch)
        if end < 0:
            raise NoFast
        return end

    def name(self) -> Tok:
        """A NAME where lark may read a keyword: a keyword-like word is left to lark."""
        tok = self.need(_NAME, "NAME")
        if tok in KEYWORDS:
            raise NoFast
        return tok

    def column_tok(self) -> Tok:
        if self.peek() == "`":
            return self.need(_QUOTED, "QUOTED_NAME")
        return self.name()

    def end(self) -> None:
        if self.i < self.n:
            raise NoFast

    # -------------------------------------------------------------------------- conditions

    def chain(self, word: str, item: Callable[[], _Part], build: str) -> _Part:
        """``item (word item)*``: one item as it is, two or more joined by the semantic action
        ``build``."""
        first = item()
        i = self.i
        if not self.t.startswith(word, i) or self.c[i + len(word)] in _WORD_CHARS:
            return first
        parts = [first]
        while self.take_word(word):
            parts.append(item())
        s, e = parts[0][3], parts[-1][4]
        return (getattr(self.sem, build)(Meta(s, e), [p[0] for p in parts]), s, e, s, e)

    def condition(self) -> _Part:
        return self.chain("or", self.conjunction, "any_of")

    def conjunction(self) -> _Part:
        return self.chain("and", self.test, "all_of")

    def test(self) -> _Part:
        m = _SIMPLE_TEST.match(self.t, self.i)
        if m is not None:
            found = self.simple_test(m)
            if found is not None:
                return found
        if self.peek() == "(":
            open_at = self.i
            self.need_char("(")
            inner = self.condition()
            close = self.need_char(")")
            return (inner[0], inner[1], inner[2], open_at, close)
        sem = self.sem
        measure, m_start, _ = self.measure()
        op = self.tok(_COMP, "COMP_OP")
        if op is not None:
            if self.peek() == "-" or self.peek() == "." or self.peek().isdigit():
                thr, _, t_end = self.threshold()
                return self._node(sem.compare, m_start, t_end, [measure, op, thr])
            name = self.name()
            self.need_char("(")
            num = self.need(_NUMBER, "NUMBER")
            unit, u_end = self.unit()
            ratio = sem.ratio_arg(Meta(num.start_pos, u_end or num.end_pos), [num, unit])
            close = self.need_char(")")
            return self._node(sem.compare_calibrated, m_start, close, [measure, op, name, ratio])
        negated = self.take_word("not")
        self.expect_word("between")
        low, _, _ = self.threshold()
        self.expect_word("and")
        high, _, h_end = self.threshold()
        action = sem.not_between if negated else sem.between
        return self._node(action, m_start, h_end, [measure, low, high])

    def simple_test(self, m: re.Match[str]) -> _Part | None:
        """The test ``m`` matched (see :data:`_SIMPLE_TEST`), built as :meth:`test` builds it:
        by the semantic action ``simple_compare`` from the match's offsets alone when it takes
        the test (a valid one), else with the same semantic actions in the same order as
        :meth:`test`; ``None`` when a name in it is a keyword (the token-by-token reading
        decides)."""
        t = self.t
        g = m.regs
        ns, ne = g[G_NAME]
        name_text = t[ns:ne]
        if name_text in KEYWORDS:
            return None
        cs, ce = g[G_COLUMN]
        if cs >= 0 and t[cs] != "`" and t[cs:ce] in KEYWORDS:
            return None
        sem = self.sem
        value = sem.simple_compare(t, g)
        if value is not NotImplemented:
            ve = unit_end(g[G_NUMBER][1], g[G_PERCENT][0], g[G_SD][0])
            self.i = m.end()
            return (value, ns, ve, ns, ve)
        name = _tok("NAME", name_text, ns, ne)
        end = ne
        call = None
        if cs >= 0:
            col = _tok("QUOTED_NAME" if t[cs] == "`" else "NAME", t[cs:ce], cs, ce)
            meta = _meta(cs, ce)
            arg = sem.column(meta, [col])
            os_, oe = g[G_PRED_OP]
            if os_ >= 0:  # a predicate: `column op value`
                op = _tok("COMP_OP", t[os_:oe], os_, oe)
                vs, ve = g[G_PRED_NUMBER]
                if vs >= 0:
                    value, ve = self._threshold(vs, ve, g[G_PRED_PERCENT][0], g[G_PRED_SD][0])
                elif g[G_PRED_STRING][0] >= 0:
                    vs, ve = g[G_PRED_STRING]
                    s_tok = _tok("STRING", t[vs:ve], vs, ve)
                    meta = _meta(vs, ve)
                    value = sem.string(meta, [s_tok])
                else:
                    vs = g[G_PRED_TRUE][0]
                    truth = vs >= 0
                    if not truth:
                        vs = g[G_PRED_FALSE][0]
                    ve = vs + (4 if truth else 5)
                    meta = _meta(vs, ve)
                    value = sem.true(meta, []) if truth else sem.false(meta, [])
                meta = _meta(cs, ve)
                arg = sem.predicate(meta, [arg, op, value])
            qs, qe = g[G_LEVEL]
            args = [arg, self._threshold(qs, qe, -1, -1)[0]] if qs >= 0 else [arg]
            end = g[G_CALL_END][0]
            meta = _meta(ns, end)
            call = sem.call(meta, [name, *args])
        part = None
        ds = g[G_DOT][0]
        if ds >= 0:
            ps, end = g[G_PART]
            part_name = _tok("NAME", t[ps:end], ps, end)
            meta = _meta(ds, end)
            part = sem.part(meta, [part_name])
        against = None
        ks, end_k = g[G_TRANSFORM]
        if ks >= 0:
            kind = _tok("TRANSFORM", t[ks:end_k], ks, end_k)
            end = end_k
            direction = None
            ds, de = g[G_DIRECTION]
            if ds >= 0:
                direction = _tok("DIRECTION", t[ds:de], ds, de)
                end = de
            meta = _meta(ks, end)
            against = sem.against(meta, [kind, direction])
        meta = _meta(ns, end)
        if call is None:
            measure = sem.bare(meta, [name, part, against])
        else:
            measure = sem.measure(meta, [call, part, against])
        os_, oe = g[G_OP]
        op = _tok("COMP_OP", t[os_:oe], os_, oe)
        vs, ve = g[G_NUMBER]
        thr, ve = self._threshold(vs, ve, g[G_PERCENT][0], g[G_SD][0])
        meta = _meta(ns, ve)
        self.i = m.end()
        return (sem.compare(meta, [measure, op, thr]), ns, ve, ns, ve)

    def _threshold(self, ns: int, ne: int, percent: int, sd: int) -> tuple[Any, int]:
        """The threshold of the number at ``ns:ne`` with its unit (`%` at ``percent`` or `sd`
        at ``sd``, -1 when absent), built as :meth:`threshold` builds it; with its end."""
        sem = self.sem
        num = _tok("NUMBER", self.t[ns:ne], ns, ne)
        unit = None
        end = unit_end(ne, percent, sd)
        if end != ne:
            u = _tok("PERCENT", "%", percent, end) if percent >= 0 else _tok("SD", "sd", sd, end)
            unit = sem.unit(_meta(u.start_pos, end), [u])
        meta = _meta(ns, end)
        return sem.threshold(meta, [num, unit]), end

    @staticmethod
    def _node(action: Callable[[Meta, list[Any]], Any], start: int, end: int,
              children: list[Any]) -> _Part:
        return (action(Meta(start, end), children), start, end, start, end)

    def measure(self) -> tuple[Any, int, int]:
        sem = self.sem
        name = self.name()
        start = end = name.end_pos
        call = None
        if self.peek() == "(":
            args, end = self.listed("(", ")", self.arg)
            call = sem.call(Meta(name.start_pos, end), [name, *args])
        start = name.start_pos
        part = None
        if self.peek() == ".":
            dot = self.i
            self.need_char(".")
            part_name = self.need(_NAME, "NAME")
            end = part_name.end_pos
            part = sem.part(Meta(dot, end), [part_name])
        against = None
        w = self.word() if self.c[self.i] in "sc" else None
        if w == "shift" or w == "change":
            kind = self.need(_NAME, "TRANSFORM")
            a_start, end = kind.start_pos, kind.end_pos
            w = self.word()
            direction = None
            if w == "up" or w == "down":
                direction = self.need(_NAME, "DIRECTION")
                end = direction.end_pos
            against = sem.against(Meta(a_start, end), [kind, direction])
        meta = Meta(start, end)
        if call is None:
            return sem.bare(meta, [name, part, against]), start, end
        return sem.measure(meta, [call, part, against]), start, end

    def unit(self) -> tuple[str | None, int]:
        """An optional unit (`%` or `sd`) after a number: its text and end (0 when absent)."""
        if self.peek() == "%":
            at = self.i
            end = self.need_char("%")
            return self.sem.unit(Meta(at, end), [Tok("PERCENT", "%", at, end)]), end
        if self.is_word("sd"):
            at = self.i
            self.take_word("sd")
            return self.sem.unit(Meta(at, at + 2), [Tok("SD", "sd", at, at + 2)]), at + 2
        return None, 0

    def threshold(self) -> tuple[Any, int, int]:
        num = self.need(_NUMBER, "NUMBER")
        unit, end = self.unit()
        end = end or num.end_pos
        return self.sem.threshold(Meta(num.start_pos, end), [num, unit]), num.start_pos, end

    def arg(self) -> Any:
        ch = self.peek()
        if ch == "-" or ch == "." or ch.isdigit():
            return self.threshold()[0]
        col = self.column_tok()
        column = self.sem.column(Meta(col.start_pos, col.end_pos), [col])
        op = self.tok(_COMP, "COMP_OP")
        if op is None:
            return column
        value, v_end = self.value_of_test()
        return self.sem.predicate(Meta(col.start_pos, v_end), [column, op, value])

    def value_of_test(self) -> tuple[Any, int]:
        """A value compared with in a test: a threshold, a string, `true` or `false`."""
        ch = self.peek()
        if ch == "-" or ch == "." or ch.isdigit():
            value, _, end = self.threshold()
            return value, end
        if ch == '"' or ch == "'":
            s = self.need(_STRING, "STRING")
            return self.sem.string(Meta(s.start_pos, s.end_pos), [s]), s.end_pos
        at = self.i
        if self.take_word("true"):
            return self.sem.true(Meta(at, at + 4), []), at + 4
        if self.take_word("false"):
            return self.sem.false(Meta(at, at + 5), []), at + 5
        raise NoFast

    # ------------------------------------------------------------------------- row filters

    def row_filter(self) -> _Part:
        inner = self.row_or()
        s, e = inner[3], inner[4]
        return (self.sem.row_filter(Meta(s, e), [inner[0]]), s, e, s, e)

    def row_or(self) -> _Part:
        return self.chain("or", self.row_and, "row_any")

    def row_and(self) -> _Part:
        return self.chain("and", self.row_test, "row_all")

    def row_test(self) -> _Part:
        sem = self.sem
        if self.peek() == "(":
            open_at = self.i
            self.need_char("(")
            inner = self.row_or()
            close = self.need_char(")")
            return (inner[0], inner[1], inner[2], open_at, close)
        col = self.column_tok()
        column = sem.column(Meta(col.start_pos, col.end_pos), [col])
        start = col.start_pos
        op = self.tok(_COMP, "COMP_OP")
        if op is not None:
            value, end = self.value_of_test()
            return self._node(sem.row_compare, start, end, [column, op, value])
        if self.take_word("is"):
            negated = self.take_word("not")
            at = self.i
            self.expect_word("missing")
            return self._node(sem.row_present if negated else sem.row_missing, start, at + 7,
                              [column])
        negated = self.take_word("not")
        self.expect_word("in")
        values, end = self.listed("[", "]", lambda: self.value_of_test()[0], empty=False)
        return self._node(sem.row_not_in if negated else sem.row_in, start, end,
                          [column, *values])

    # ------------------------------------------------------------------------ derived labels

    def derived(self) -> Node:
        left = self.arith()
        op = self.need(_COMP, "COMP_OP")
        right = self.arith()
        return Node("derived", [left[0], op, right[0]], left[3], right[4])

    def arith(self) -> _Part:
        return self.binary({"+": "add", "-": "sub"}, self.product)

    def product(self) -> _Part:
        return self.binary({"*": "mul", "/": "div"}, self.operand)

    def listed(self, open_: str, close: str, item: Callable[[], Any], empty: bool = True
               ) -> tuple[list[Any], int]:
        """``open_ item ("," item)* close`` (no items too when ``empty``): the items and the
        offset of ``close``."""
        self.need_char(open_)
        out: list[Any] = []
        if not empty or self.peek() != close:
            out.append(item())
            while self.char(",") >= 0:
                out.append(item())
        return out, self.need_char(close)

    def binary(self, kinds: dict[str, str], item: Callable[[], _Part]) -> _Part:
        """``item (op item)*`` for the operators in ``kinds``, left-associative."""
        part = item()
        while (ch := self.peek()) in kinds:
            self.need_char(ch)
            right = item()
            part = (Node(kinds[ch], [part[0], right[0]], part[3], right[4]), part[3], right[4],
                    part[3], right[4])
        return part

    def operand(self) -> _Part:
        ch = self.peek()
        if ch == "(":
            open_at = self.i
            self.need_char("(")
            inner = self.arith()
            close = self.need_char(")")
            return (inner[0], inner[1], inner[2], open_at, close)
        if ch == "-" or ch == "." or ch.isdigit():
            node = self.threshold_node()
            return (node, node.start_pos, node.end_pos, node.start_pos, node.end_pos)
        if ch == "`":
            tok = self.need(_QUOTED, "QUOTED_NAME")
        else:
            tok = self.name()
            if self.peek() == "(":
                self.need_char("(")
                inner = self.arith()
                close = self.need_char(")")
                node = Node("func", [tok, inner[0]], tok.start_pos, close)
                return (node, tok.start_pos, close, tok.start_pos, close)
        node = Node("ref", [tok], tok.start_pos, tok.end_pos)
        return (node, tok.start_pos, tok.end_pos, tok.start_pos, tok.end_pos)

    def threshold_node(self) -> Node:
        """A number with an optional unit, as a tree (`threshold` of the grammar)."""
        num = self.need(_NUMBER, "NUMBER")
        unit = None
        at = self.i
        if self.peek() == "%":
            end = self.need_char("%")
            unit = Node("unit", [Tok("PERCENT", "%", at, end)], at, end)
        elif self.take_word("sd"):
            unit = Node("unit", [Tok("SD", "sd", at, at + 2)], at, at + 2)
        return Node("threshold", [num, unit], num.start_pos, unit.end_pos if unit else
                    num.end_pos)

    # ---------------------------------------------------------------------- `.plan` files

    def plan(self) -> Node:
        items = []
        while self.i < self.n:
            items.append(self.item())
        if not items:
            return Node("plan", items, 0, 0)
        return Node("plan", items, items[0].start_pos, items[-1].end_pos)

    def item(self) -> Node:
        start = self.i
        m = _ITEM_HEAD.match(self.t, start)
        if m is not None:  # `input alert name {` and the like, in one match
            w, second, name_text = m.groups()
            pair = _ITEMS2.get(w)
            if pair is not None and second == pair[0] and name_text not in KEYWORDS:
                ns, ne = m.span(3)
                name = _tok("NAME", name_text, ns, ne)
                self.i = m.end()
                block = self.block()
                return _node(pair[1], [name, block], start, block.end_pos)
        w = self.word()
        if w is None:
            raise NoFast
        self.take_word(w)
        if w == "plan":
            name = self.name()
            desc = self.tok(_STRING, "STRING")
            return Node("plan_decl", [name, desc], start, (desc or name).end_pos)
        if w == "timezone":
            zone = self.need(_STRING, "STRING")
            return Node("timezone_decl", [zone], start, zone.end_pos)
        if w == "model":
            label = self.label()
            block = self.block()
            return Node("model_item", [label, block], start, block.end_pos)
        if w == "data" or w == "defaults":
            block = self.block()
            return Node(f"{w}_item", [block], start, block.end_pos)
        if w == "playbook":
            kind = "playbook_item"
        elif w in _ITEMS2:
            second, kind = _ITEMS2[w]
            self.expect_word(second)
        else:
            raise NoFast
        name = self.name()
        block = self.block()
        return Node(kind, [name, block], start, block.end_pos)

    def label(self) -> Tok:
        ch = self.peek()
        if ch == "`":
            return self.need(_QUOTED, "QUOTED_NAME")
        if ch == '"' or ch == "'":
            return self.need(_STRING, "STRING")
        return self.name()

    def block(self) -> Node:
        start = self.i
        self.need_char("{")
        settings: list[Node | Pair] = []
        t, c = self.t, self.c
        while True:
            i = self.i
            if c[i] == "}":
                self.i = self.skipped(i + 1)
                return _node("block", settings, start, i + 1)
            m = _NAME_TRAILED.match(t, i)
            if m is None:
                raise NoFast
            w = m.group(1)
            j = m.end()
            keyword = _SETTINGS.get(w)
            if keyword is not None:
                self.i = j
                settings.append(keyword(self, i, w))
                continue
            if w in KEYWORDS and w not in _KEY_WORDS:  # (as :func:`_key`)
                raise NoFast
            ch = c[j]
            if ch in _NAME_START:  # the most common value: a name (or `true`, `false`)
                v = _NAME_TRAILED.match(t, j)
                vs, ve = v.span(1)  # type: ignore[union-attr]  # (a name starts here)
                value: Any = t[vs:ve]
                if value == "true" or value == "false":
                    value = value == "true"
                after = v.end()  # type: ignore[union-attr]
                if c[after] != "{":
                    self.i = after
                    settings.append(_tuple_new(Pair, ("pair", w, i, i + len(w), value, vs, ve,
                                                      ve, None)))
                    continue
            else:
                pair = self._pair(w, i, j)
                if pair is not None:
                    settings.append(pair)
                    continue
            settings.append(self.setting())  # a sub-block, a list, or what `setting` declines

    def _pair(self, w: str, start: int, j: int) -> Pair | None:
        """The plain setting of the key ``w`` at ``start`` whose value, at ``j``, is not a name
        and is one token (and a unit), as :func:`pair_of` makes it of the tree
        :meth:`value` would read; None for anything else (a list, a block after the value,
        text the parser declines): :meth:`setting` reads it. The value is tried as
        :data:`_VALUE_ALTS` tries it, those alternatives that can begin with its first
        character."""
        t, c = self.t, self.c
        ch = c[j]
        if ch == '"' or ch == "'":
            m = _STRING_TRAILED.match(t, j)
            if m is None:
                return None
            s, e = m.span(1)
            value: Any = t[s + 1:e - 1]
            if "\\" in value:
                value = unquote(t[s:e])
        elif ch == "`":
            m = _QUOTED_TRAILED.match(t, j)
            if m is None:
                return None
            s, e = m.span(1)
            value = t[s + 1:e - 1]
        else:
            m = _NUMERIC.match(t, j)
            if m is None:
                return None
            k = m.lastindex
            if k == 4:  # a number
                s, e = m.span(4)
                value = number_value(t[s:e])
            elif k == 5 or k == 6:  # a number and its unit (which may be on the next line)
                s, e = m.start(4), m.start(k) + (1 if k == 5 else 2)
                value = t[s:m.end(4)] + ("%" if k == 5 else " sd")
            else:  # 1 a date, 2 a number and a word, 3 a duration
                s, e = m.span(k)  # type: ignore[arg-type]
                value = t[s:e]
                if k == 2:
                    value = " ".join(value.split())
        if c[m.end()] == "{":
            return None
        self.i = m.end()
        return _tuple_new(Pair, ("pair", w, start, start + len(w), value, s, line_end(t, s, e),
                                 e, None))

    def setting(self) -> Node | Pair:
        start = self.i
        m = _NAME_TRAILED.match(self.t, start)
        if m is None:
            raise NoFast
        w = m.group(1)
        self.i = m.end()
        keyword = _SETTINGS.get(w)
        if keyword is not None:
            return keyword(self, start, w)
        key = _key(w, start, start + len(w))
        if self.c[self.i] == "{":
            block = self.block()
            return _node("sub_block", [key, None, block], start, block.end_pos)
        value = self.value()
        if self.c[self.i] == "{" and value.data == "word" and value.children[0].type == "NAME":
            block = self.block()
            return _node("sub_block", [key, value.children[0], block], start, block.end_pos)
        return pair_of("pair", w, start, key.end_pos, value, value.end_pos, self.t)

    # Each keyword setting, read after its first word (``w``, which began at ``start``).

    def _when(self, start: int, w: str) -> Node | Pair:
        if w == "warn":
            self.expect_word("when")
        cond = self.parsed(self.condition)
        return _node("when" if w == "when" else "warn_when", [cond], start, cond.end)

    def _where(self, start: int, w: str) -> Node | Pair:
        found = self.parsed(self.row_filter)
        return _node("where_setting", [found], start, found.end)

    def _for(self, start: int, w: str) -> Node | Pair:
        m = _NUMBER_TRAILED.match(self.t, self.i)
        if m is None:
            raise NoFast
        ns, end = m.span(1)
        self.i = m.end()
        at = self.i
        setting_end = at + 7 if self.take_word("windows") else end
        return _tuple_new(Pair, ("for_setting" if w == "for" else "keep_setting", w, start,
                                 start + len(w), number_value(m.group(1)), ns, end, setting_end,
                                 None))

    def _range(self, start: int, w: str) -> Node | Pair:
        low = self.threshold_node()
        self.expect_word("to")
        high = self.threshold_node()
        return Node("range_setting", [low, high], start, high.end_pos)

    def _column(self, start: int, w: str) -> Node | Pair:
        label = self.label()
        type_name = self.name()
        block = self.block() if self.peek() == "{" else None
        return Node("feature" if w == "feature" else "prediction", [label, type_name, block],
                    start, (block or type_name).end_pos)

    def _text(self, start: int, w: str) -> Node | Pair:
        text = self.need(_STRING, "STRING")
        return Node(w, [text], start, text.end_pos)

    def _escalate(self, start: int, w: str) -> Node | Pair:
        self.expect_word("to")
        target = self.name()
        block = self.block() if self.peek() == "{" else None
        return Node("escalate", [target, block], start, (block or target).end_pos)

    def value(self) -> Node:
        """A setting's value; in lark too every word here but `true` and `false` is a name."""
        m = _VALUE.match(self.t, self.i)
        if m is None:
            return self.value_slow()
        self.i = m.end()
        return self._value_node(m.regs, m.lastindex, 0)  # type: ignore[arg-type]

    def _value_node(self, g: tuple[tuple[int, int], ...], k: int, base: int) -> Node:
        """The node of the value a match of :data:`_VALUE` found (its group ``k``, groups
        numbered from ``base`` + 1, spans ``g``)."""
        k -= base
        if 4 <= k <= 6:  # a number and its unit
            ns, ne = g[base + 4]
            num = _tok("NUMBER", self.t[ns:ne], ns, ne)
            if k == 4:
                return _node("threshold", [num, None], ns, ne)
            at = g[base + k][0]
            unit_tok = (_tok("PERCENT", "%", at, at + 1) if k == 5 else
                        _tok("SD", "sd", at, at + 2))
            end = unit_tok.end_pos
            return _node("threshold", [num, _node("unit", [unit_tok], at, end)], ns, end)
        s, e = g[base + k]
        text = self.t[s:e]
        if k == 9 and (text == "true" or text == "false"):
            return _node(text, [], s, e)
        kind, type_ = _VALUE_KINDS[k]  # type: ignore[misc]
        tok = _tok(type_, text, s, e)
        return _node(kind, [tok], s, e)

    def value_slow(self) -> Node:
        """:meth:`value` token by token (a list, or text it declines)."""
        ch = self.peek()
        if ch == "-" or ch == "." or ch.isdigit():
            for pattern, kind, type_ in ((_DATE, "date_value", "DATE"),
                                         (_NUMBER_WORD, "number_word", "NUMBER_WORD"),
                                         (_DURATION, "duration_value", "DURATION")):
                tok = self.tok(pattern, type_)
                if tok is not None:
                    return Node(kind, [tok], tok.start_pos, tok.end_pos)
            return self.threshold_node()
        if ch == '"' or ch == "'":
            tok = self.need(_STRING, "STRING")
            return Node("string", [tok], tok.start_pos, tok.end_pos)
        if ch == "`":
            tok = self.need(_QUOTED, "QUOTED_NAME")
            return Node("word", [tok], tok.start_pos, tok.end_pos)
        if ch == "[":
            start = self.i
            items, end = self.listed("[", "]", self.value)
            return Node("list_value", items or [None], start, end)
        tok = self.need(_NAME, "NAME")
        if tok == "true" or tok == "false":
            return Node(str(tok), [], tok.start_pos, tok.end_pos)
        return Node("word", [tok], tok.start_pos, tok.end_pos)

    def parsed(self, rule: Callable[[], _Part]) -> Parsed:
        """A condition or row filter of a `.plan` file, built by its semantic actions; when they
        refuse it, their error, and the text read again without them to find its end."""
        assert self.new_sem is not None
        start = self.i
        self.sem, finish = self.new_sem()
        try:
            value, s, e, _, ce = rule()
            return Parsed(value, finish(value), None, s, e, ce)
        except NoFast:
            raise
        except Exception as error:
            if not hasattr(error, "code"):  # not a located error: lark's path raises it
                raise NoFast from None
            self.i = start
            self.sem = _Dry()
            _, s, e, _, ce = rule()
            return Parsed(None, dict, error, s, e, ce)


#: The settings that begin with a keyword, by that keyword.
_SETTINGS: dict[str, Callable[[Parser, int, str], Node | Pair]] = {
    "when": Parser._when, "warn": Parser._when, "where": Parser._where, "for": Parser._for,
    "keep_firing_for": Parser._for, "range": Parser._range, "feature": Parser._column,
    "output": Parser._column, "step": Parser._text, "bias": Parser._text,
    "escalate": Parser._escalate}


class Pair(NamedTuple):
    """A setting of one key and one value, read (a plain `key value`, or `for 2 windows` and
    `keep_firing_for 1`): its key, and its value as the plain data YAML would read for it, with
    their offsets; what the builder notes without reading a tree. Made for the lark path's
    trees too (by :func:`pair_of`), so one builder reads both."""

    #: "pair" for a plain `key value`, else its setting's rule (`for_setting`, `keep_setting`).
    data: str
    key: str
    start_pos: int
    key_end: int
    value: Any
    value_start: int
    #: Where the value ends, cut at the end of its first line (see :func:`line_end`).
    value_end: int
    #: Where the setting ends.
    end_pos: int
    #: The offsets of a list's items, else None.
    items: list[tuple[int, int]] | None


_tuple_new = tuple.__new__


def line_end(text: str, start: int, end: int) -> int:
    """Where the value at ``text[start:end]`` ends, cut at the end of its first line, without
    the blanks there (a value's span is what a caret can show)."""
    eol = text.find("\n", start, end)
    return end if eol < 0 else len(text[start:eol].rstrip()) + start


def pair_of(data: str, key: str, key_start: int, key_end: int, value: Any, end: int,
            text: str) -> Pair:
    """The :class:`Pair` of a setting whose key is ``key`` at ``key_start:key_end`` and whose
    value is the tree ``value``, the setting ending at ``end`` of ``text``."""
    vs, ve = value.start_pos, value.end_pos
    items = ([(c.start_pos, c.end_pos) for c in value.children if c is not None]
             if type(value) is not Tok and value.data == "list_value" else None)
    return _tuple_new(Pair, (data, key, key_start, key_end, plain_value(value), vs,
                             line_end(text, vs, ve), end, items))


def plain_value(v: Any) -> Any:
    """The plain data of a setting's value (a tree of `setting_value`, or a token)."""
    if isinstance(v, str):
        return str(v)
    kind = v.data
    if kind == "threshold":
        number, unit = v.children
        unit_text = str(unit.children[0]) if unit is not None else ""
        if unit_text:
            return f"{number}{'' if unit_text == '%' else ' '}{unit_text}"
        return number_value(number)
    if kind == "number_word":  # `1 day`: kept as written, for the model to say what is wrong
        return " ".join(str(v.children[0]).split())
    if kind in ("duration_value", "date_value", "word"):
        tok = str(v.children[0])
        return tok[1:-1] if tok.startswith("`") else tok
    if kind == "string":
        return unquote(v.children[0])
    if kind == "true":
        return True
    if kind == "false":
        return False
    if kind == "list_value":
        return [plain_value(c) for c in v.children if c is not None]
    raise ValueError(f"unexpected value {kind}")  # pragma: no cover - the grammar has no other


def number_value(tok: str) -> int | float:
    """A NUMBER token's value: an int when it has no fraction and no exponent."""
    text = str(tok)
    return float(text) if "." in text or "e" in text or "E" in text else int(text)


_ESCAPE = re.compile(r"\\(.)")
#: What a backslash escape stands for in a setting's string (any other escaped character
#: stands for itself). A condition's strings read `\n` and `\t` only (``_expr``).
SETTING_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def unquote(tok: str, escapes: dict[str, str] = SETTING_ESCAPES) -> str:
    """A STRING token's text: without its quotes, its ``escapes`` read."""
    body = str(tok)[1:-1]
    if "\\" not in body:  # most strings escape nothing
        return body
    return _ESCAPE.sub(lambda m: escapes.get(m.group(1), m.group(1)), body)


def parse(text: str, start: str, sem: Any) -> Any:
    """The value of ``text`` read from the start rule ``start`` (`condition` or `row_filter`)
    with the semantic actions ``sem``. Raises :class:`NoFast` when it does not read it, or the
    error a semantic action raised when the text is otherwise valid (as lark's path does)."""
    p = Parser(text, sem)
    try:
        value = (p.condition if start == "condition" else p.row_filter)()[0]
        p.end()
        return value
    except NoFast:
        raise
    except Exception as error:
        if not hasattr(error, "code"):  # not a located error: lark's path raises it
            raise NoFast from None
        dry = Parser(text, _Dry())  # lark reports a syntax error before a semantic one
        (dry.condition if start == "condition" else dry.row_filter)()
        dry.end()
        raise


def parse_derived(text: str) -> Node:
    """The tree of a derived label (`derived` of the grammar). Raises :class:`NoFast`."""
    p = Parser(text)
    tree = p.derived()
    p.end()
    return tree


def parse_plan(text: str, new_sem: Callable[[], tuple[Any, Callable[[Any], Any]]]) -> Node:
    """The tree of a whole `.plan` file, its conditions and row filters built (as
    :class:`Parsed`) with fresh semantic actions from ``new_sem``. Raises :class:`NoFast`."""
    return Parser(text, new_sem=new_sem).plan()
