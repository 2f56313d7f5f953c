"""The `.plan` front end: parse a whole file with the shared grammar, transform it into the same
plain data and source map as the YAML front end, and validate it with the same model.

A valid file is read by the hand-written parser (planspec/_fast.py); a file it does not read is
parsed by lark, whose trees are turned into the same nodes, so one builder reads both. A setting
of one key and one value (most of a plan) is not a tree but a `Pair` record, its value already
plain data, which both parsers make alike and the builder notes in one step.

Syntax errors recover at top-level items: the file is split where a line starts at column 1 and
the braces before it are balanced (or the line starts with an item keyword), each piece is parsed
on its own, so every broken item is reported in one run.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from planspec import _expr, _fast, source
from planspec._fast import (
    Node,
    NoFast,
    Pair,
    Parsed,
    Tok,
    line_end,
    number_value,
    pair_of,
    plain_value,
)
from planspec._fast import unquote as _unquote
from planspec._node import ValidationError
from planspec._shape import _fields_at, diagnostics_of, number_diagnostics, unknown_key
from planspec.diagnostics import Diagnostic, Span, did_you_mean, make, sort_key
from planspec.model import Plan
from planspec.source import WIDE, LineIndex, ParsedPlan, Path, Places, SourceMap

if TYPE_CHECKING:
    from lark import Tree
    from lark.exceptions import UnexpectedInput

ITEM_KEYWORDS = ("plan", "model", "data", "defaults", "input", "output", "outcome", "playbook",
                 "drift")
_ITEMS = {"input_alert": "input_alerts", "output_alert": "output_alerts",
          "outcome_monitor": "outcome_monitors", "playbook_item": "playbooks",
          "drift_risk": "drift_risks"}
_SINGLE = {"model_item": "model", "data_item": "data", "defaults_item": "defaults"}
#: The settings that hold a condition or a row filter, and their keys.
_CONDITION_KEYS = {"when": "when", "warn_when": "warn", "where_setting": "where"}
#: Setting keys written differently from the model's field names.
DSL_KEYS = {"step": "steps", "bias": "biases", "escalate": "escalate", "warn when": "warn"}


@dataclass
class Comment:
    """A comment and where it sits: on a line of its own, or after code on a line."""

    offset: int
    text: str
    own_line: bool


@dataclass
class Comments:
    """Comments attached to the model paths they precede (or trail), for the formatter."""

    leading: dict[Path, list[str]] = field(default_factory=dict)
    trailing: dict[Path, str] = field(default_factory=dict)
    end: list[str] = field(default_factory=list)


#: The longest name (of a column, an alert, a key…) the plan language reads.
MAX_NAME = _expr.MAX_NAME
#: How deeply `{ … }` blocks may nest (the language needs three levels).
MAX_BLOCK_DEPTH = 16
_WORD_AT = re.compile(r"[A-Za-z_]+")
#: What may follow a setting on its line: blanks, then its end, a comment or the block's `}`.
_NO_TAIL = re.compile(r"[ \t\r]*(?:[\n#}]|\Z)")


@dataclass
class Scan:
    """What one pass over a `.plan` file finds before parsing: where top-level pieces start,
    its comments, and the limits it breaks (over-long names, blocks nested too deeply), as
    (code, message, start, end, hint)."""

    starts: list[int]
    comments: list[Comment]
    limits: list[tuple[str, str, int, int, str]] = field(default_factory=list)


#: Where :func:`scan` stops, left to right: a line break before a letter (a piece may start
#: there); a comment; a string or quoted name (to its closing quote or the end of its line; a
#: backslash in a string escapes any next character). What lies between is code (names,
#: numbers, punctuation, blanks, other line breaks): only its brackets matter, and they are
#: counted, not visited one by one. (No groups: the first character says what was found, and
#: a pattern without groups skips what cannot start a stop several times faster.)
_STOPS = r"""
    \n(?=[^\W\d_])
  | \#[^\n]*
  | "[^"\\\n]*(?:\\[\s\S]?[^"\\\n]*)*["\n]?|'[^'\\\n]*(?:\\[\s\S]?[^'\\\n]*)*['\n]?
  | `[^`\n]*[`\n]?
"""
_SCAN = re.compile(_STOPS, re.VERBOSE)
#: The same, stopping at every run of name characters too (a name as the grammar's names and
#: numbers run, dots included, starts at its first character that is not a dot): for text
#: that may hold an over-long name.
_SCAN_NAMES = re.compile(_STOPS + r"  | [A-Za-z0-9_.]+", re.VERBOSE)
#: Each byte of UTF-8 text as `a` when it is a name character, else a blank.
_NAME_BYTES = bytes(ord("a") if re.fullmatch(r"[A-Za-z0-9_.]", chr(c)) else ord(" ")
                    for c in range(256))


def _may_hold_long_name(text: str) -> bool:
    """Whether ``text`` has more than :data:`MAX_NAME` name characters in a row (a substring
    search on bytes: a regex would try each position).

    >>> _may_hold_long_name("a" * MAX_NAME + " b"), _may_hold_long_name("x." * MAX_NAME)
    (False, True)
    """
    return b"a" * (MAX_NAME + 1) in text.encode("utf-8", "surrogatepass").translate(_NAME_BYTES)

_BRACKETS = re.compile(r"[(){}]")


def scan(text: str) -> Scan:
    """One linear pass: piece starts, every comment (outside strings and names), and limits.

    A piece starts where a line starts with a letter and the braces before it are balanced (or
    the line starts with an item keyword but `data`). A string left open ends with its line,
    and takes the line break with it.
    """
    starts = [0]
    comments: list[Comment] = []
    limits: list[tuple[str, str, int, int, str]] = []
    depth = parens = 0
    counted = 0  # the code before this offset has had its brackets counted
    last_start = last_end = -1  # the last string or quoted name (it may hold a line break)
    stops = _SCAN_NAMES if _may_hold_long_name(text) else _SCAN
    for m in stops.finditer(text):
        i = m.start()
        if counted < i:  # the code since the last stop
            opens, parens_open = text.count("{", counted, i), text.count("(", counted, i)
            if depth + opens <= MAX_BLOCK_DEPTH and parens + parens_open <= _expr.MAX_DEPTH:
                depth += opens - text.count("}", counted, i)
                parens += parens_open - text.count(")", counted, i)
            else:  # a limit may be broken here: bracket by bracket
                depth, parens = _brackets(text, counted, i, depth, parens, limits)
        counted = m.end()
        kind = text[i]
        if kind == "\n":
            i += 1
            if text[i].isalpha():
                word = _WORD_AT.match(text, i)
                if depth <= 0 or (word and word.group(0) in ITEM_KEYWORDS
                                  and word.group(0) != "data"):
                    starts.append(i)
                    depth = 0
        elif kind == "#":
            # On a line of its own unless code precedes it on its line (or a string its line
            # is part of: one that holds the line break before it).
            line = text.rfind("\n", 0, i)
            own_line = not (last_start <= line < last_end) and \
                (line + 1 == i or text[line + 1:i].isspace())
            comments.append(Comment(i, m.group(), own_line))
        elif kind == '"' or kind == "'":
            last_start, last_end = i, counted
        elif kind == "`":
            last_start, last_end = i, counted
            end = counted - (text[counted - 1] in "`\n" and counted - i > 1)
            if end - i - 1 > MAX_NAME:
                limits.append(_too_long(i, end + 1))
        else:  # a run of name characters, in text that may hold an over-long name
            begin = i + len(m.group()) - len(m.group().lstrip("."))
            if counted - begin > MAX_NAME:
                limits.append(_too_long(begin, counted))
    if counted < len(text):
        depth, parens = _brackets(text, counted, len(text), depth, parens, limits)
    return Scan(sorted(set(starts)), comments, limits)


def _brackets(text: str, start: int, end: int, depth: int, parens: int,
              limits: list[tuple[str, str, int, int, str]]) -> tuple[int, int]:
    """Count the brackets of the code in ``text[start:end]``, noting the limits they break."""
    for b in _BRACKETS.finditer(text, start, end):
        depth, parens = _bracket(b.group(), b.start(), depth, parens, limits)
    return depth, parens


def _bracket(ch: str, i: int, depth: int, parens: int,
             limits: list[tuple[str, str, int, int, str]]) -> tuple[int, int]:
    """Count a bracket at ``i`` (block depth and parentheses), noting a limit it breaks."""
    if ch == "(":
        parens += 1
        if parens == _expr.MAX_DEPTH + 1:
            limits.append(("PS152", f"parentheses nest more than {_expr.MAX_DEPTH} deep here",
                           i, i + 1, "split the condition or drop parentheses it does not need"))
    elif ch == ")":
        parens -= 1
    elif ch == "{":
        depth += 1
        if depth == MAX_BLOCK_DEPTH + 1:
            limits.append(("PS151", f"blocks nest more than {MAX_BLOCK_DEPTH} deep here", i,
                           i + 1, "a plan needs at most three levels of `{ … }`"))
    else:
        depth -= 1
    return depth, parens


def _too_long(start: int, end: int) -> tuple[str, str, int, int, str]:
    return ("PS150", f"this name is {end - start:,} characters long; the most is {MAX_NAME}",
            start, end, "use a shorter name")


class _FileBuilder:
    """Turns parse trees of a `.plan` file into plain data, a source map and comment anchors."""

    def __init__(self, text: str, file: str, comments: list[Comment] | None = None) -> None:
        self.text = text
        #: The text and a line break: what :meth:`block` reads at the end of a setting.
        self.ends = text + "\n"
        self.comment_at = sorted(c.offset for c in comments or [])
        self.places = Places(text, file)
        self.smap = SourceMap(file, surface="plan", resolve=self.places)
        self.values, self.keys = self.smap.raw_values, self.smap.raw_keys
        self.data: dict[str, Any] = {}
        self.diagnostics: list[Diagnostic] = []
        #: Unknown keys: reported here (with the `.plan` word), validation goes on without them.
        self.unknown: list[Diagnostic] = []
        self.anchors: list[tuple[int, Path]] = []

    @property
    def index(self) -> LineIndex:
        return self.places.index

    def span(self, start: int, end: int) -> Span:
        return self.index.span(self.smap.file, start, end)

    def head(self, tree: Node) -> tuple[int, int]:
        """Where the first word of an item or setting is (its keywords are not in the tree)."""
        start = tree.start_pos
        m = _WORD_AT.match(self.text, start)
        return start, m.end() if m else start + 1

    def at(self, path: Path, node: Any, key: tuple[int, int] | None = None) -> None:
        """Note where the value at ``path`` is (``node``'s offsets) and its key, if it has one
        (else the value is the comment anchor)."""
        s, e = node.start_pos, node.end_pos
        self.values[path] = _line_packed(self.text, s, e)
        if key is not None:
            ks, ke = key
            self.keys[path] = ks << WIDE | ke
            self.anchors.append((ks, path))
        else:
            self.anchors.append((s, path))

    # ------------------------------------------------------------------------------- items

    def item(self, tree: Node) -> None:
        kind = tree.data
        if kind in _ITEMS:  # the most common: an alert, monitor, playbook or risk, noted here
            section = _ITEMS[kind]
            items = self.data.setdefault(section, [])
            name, block = tree.children
            path: Path = (section, len(items))
            text, values = self.text, self.values
            s, e = tree.start_pos, tree.end_pos
            values[path] = _line_packed(text, s, e)
            hs, he = self.head(tree)
            self.keys[path] = hs << WIDE | he
            id_path = (*path, "id")
            s, e = name.start_pos, name.end_pos
            values[id_path] = s << WIDE | e  # (a NAME: on one line)
            self.anchors += ((tree.start_pos, path), (s, id_path))
            items.append(self.block(block, path, {"id": str(name)}, _allowed_at((section, 0))))
            return
        if kind == "plan_decl":
            name, desc = tree.children
            self._single(("plan",), str(name), name, tree)
            if desc is not None:
                self._single(("description",), _unquote(desc), desc, tree)
            return
        if kind == "timezone_decl":
            (zone,) = tree.children
            self._single(("timezone",), _unquote(zone), zone, tree)
            return
        key = _SINGLE[kind]
        if key in self.data:
            self.diagnostics.append(make("PS206", f"a second `{key}` block",
                                         self.span(tree.start_pos, tree.end_pos),
                                         "merge it into the first"))
            return
        path = (key,)
        self.at(path, tree, self.head(tree))
        content: dict[str, Any] = {}
        if kind == "model_item":
            label, block = tree.children
            content["name"] = _label(label)
            self.at((*path, "name"), label)
        else:
            (block,) = tree.children
        self.data[key] = self.block(block, path, content)

    def _single(self, path: Path, value: Any, node: Tok, tree: Node) -> None:
        key = str(path[0])
        if key in self.data:
            self.diagnostics.append(make("PS206", f"a second `{key}`",
                                         self.span(tree.start_pos, tree.end_pos)))
            return
        self.data[key] = value
        self.at(path, node, self.head(tree) if key == "plan" else None)

    # ---------------------------------------------------------------------------- settings

    def block(self, block: Node | None, path: Path, out: dict[str, Any],
              allowed: frozenset[str] | None = None) -> dict[str, Any]:
        """Read a block's settings into ``out`` (``allowed``: the keys the model allows there,
        when the caller knows them). A plain `key value` setting or a condition, most of a
        plan, is read and noted here in line; the others by :meth:`setting`."""
        if block is None:
            return out
        text, values = self.text, self.values
        self.anchors.append((block.end_pos - 1, (*path, "}")))  # comments at the block's end
        broken_line = 0
        if allowed is None:
            allowed = _allowed_at(tuple([0 if type(p) is int else p for p in path]))
        ends = self.ends
        for s in block.children:
            if broken_line and self.index.position(s.start_pos)[0] == broken_line:
                continue  # the rest of a line whose key is unknown: one mistake, one error
            kind = s.data
            if type(s) is Pair:
                if kind == "pair" and allowed and s.key not in allowed:
                    broken_line = self._unknown(path, s.key, s.start_pos, s.key_end)
                    continue
            elif kind == "sub_block":
                key_tok = s.children[0].children[0]
                if allowed and str(key_tok) not in allowed:
                    broken_line = self._unknown(path, str(key_tok), key_tok.start_pos,
                                                key_tok.end_pos)
                    continue
            end = s.end_pos
            if ends[end] != "\n" and _NO_TAIL.match(text, end) is None:  # more code follows
                tail = self._tail(end)
                if kind in ("pair", "when", "warn_when") and not self._in_one_line(tail):
                    self.crowded(s, path, out, tail)
                else:
                    self.diagnostics.append(self._follows(s, tail))
                broken_line = self.index.position(end)[0]
                continue
            if type(s) is Pair:  # most settings: their values read by the parser already
                sub = self._put(out, path, s.key, s.value, s.value_start << WIDE | s.value_end,
                                s.start_pos, s.key_end)
                if sub is not None and s.items is not None:
                    for i, (item_start, item_end) in enumerate(s.items):
                        values[(*sub, i)] = item_start << WIDE | item_end
            elif kind in _CONDITION_KEYS:  # `when`, `warn when` and `where`
                key = _CONDITION_KEYS[kind]
                parsed = s.children[-1]
                value = self.condition(parsed, (*path, key))
                ks = s.start_pos  # (its keyword, `when`, `warn` or `where`, is its head)
                self._put(out, path, key, value,
                          _line_packed(text, parsed.start_pos, parsed.end_pos),
                          ks, ks + (5 if kind == "where_setting" else 4))
            else:
                self.setting(s, path, out)
        return out

    def _unknown(self, path: Path, key: str, start: int, end: int) -> int:
        """PS201 for the key at ``start:end``, which the model does not allow at ``path``; the
        line it is on (the rest of which is not read)."""
        self.keys[(*path, key)] = start << WIDE | end
        self.unknown.append(unknown_key(self.smap, (*path, key)))
        return self.index.position(start)[0]

    def _tail(self, end: int) -> int:
        """Where more code follows ``end`` on its line (0 when only spaces, a comment or the
        `}` of the block follow)."""
        eol = self.text.find("\n", end)
        rest = self.text[end:eol if eol >= 0 else len(self.text)]
        stripped = rest.lstrip(" \t\r")
        if not stripped or stripped[0] in "#}":
            return 0
        return end + len(rest) - len(stripped)

    def _in_one_line(self, tail: int) -> bool:
        """Whether the code from ``tail`` to the end of its line closes a block (`{ window 7d
        min_samples 50 }`): more settings on the line of a one-line block, not one long value."""
        eol = self.text.find("\n", tail)
        line = self.text[tail:eol if eol >= 0 else len(self.text)]
        k = bisect.bisect_left(self.comment_at, tail)
        if k < len(self.comment_at) and self.comment_at[k] < tail + len(line):
            line = line[:self.comment_at[k] - tail]
        return line.rstrip().endswith("}")

    def crowded(self, s: Node | Pair, path: Path, out: dict[str, Any], tail: int) -> None:
        """A setting with more words after it on its line (`severity high critical`,
        `when … > 2 sds`): the rest of the line is its value, as YAML reads `key: value` to
        the end of the line, so the model says what is wrong with the value as a whole."""
        start = s.value_start if type(s) is Pair else _pos(_kids(s)[-1])[0]
        eol = self.text.find("\n", tail)
        line = self.text[start:eol if eol >= 0 else len(self.text)]
        k = bisect.bisect_left(self.comment_at, start)  # the line's comment, found in log time
        comment = self.comment_at[k] if k < len(self.comment_at) and \
            self.comment_at[k] < start + len(line) else None
        text = line[:comment - start if comment is not None else len(line)].rstrip()
        if type(s) is Pair:
            self._put(out, path, s.key, text, start << WIDE | start + len(text), s.start_pos,
                      s.key_end)
            return
        try:
            _expr.parse_condition(text)
        except _expr.ExprError as e:
            self.diagnostics.append(make(e.code, e.message, self.span(start + e.start,
                                                                      start + e.end), e.hint))
            return
        self.diagnostics.append(self._follows(s, tail))

    def _follows(self, s: Node | Pair, tail: int) -> Diagnostic:
        word = re.match(r"\S{1,40}", self.text[tail:])
        what = word.group(0) if word else self.text[tail]
        setting = " ".join(self.text[s.start_pos:s.end_pos].split())
        shown = setting if len(setting) <= 40 else setting[:39] + "…"
        return make("PS110", f"`{what}` follows `{shown}` on its line",
                    self.span(tail, tail + len(what)),
                    "write one setting per line: a setting's value runs to the end of its line")

    def _put(self, out: dict[str, Any], path: Path, key: str, value: Any, where: int,
             ks: int, ke: int) -> Path | None:
        """Set ``key`` of ``out`` to ``value``, noting where the value is (``where``, packed)
        and its key (at ``ks:ke``): the value's path; PS206 and None when the key is set
        already."""
        if key in out:
            self.diagnostics.append(make("PS206", f"`{key}` is set twice", self.span(ks, ke),
                                         "keep one"))
            return None
        out[key] = value
        sub = (*path, key)
        self.values[sub] = where
        self.keys[sub] = ks << WIDE | ke
        self.anchors.append((ks, sub))
        return sub

    def _append(self, out: dict[str, Any], path: Path, key: str, value: Any,
                node: Any, key_at: tuple[int, int]) -> None:
        items = out.setdefault(key, [])
        self.at((*path, key, len(items)), node, key_at)
        items.append(value)

    def setting(self, s: Node, path: Path, out: dict[str, Any]) -> None:
        """Read a setting other than a plain `key value` or a condition (which :meth:`block`
        reads)."""
        kind = s.data
        head = self.head(s)
        if kind == "range_setting":
            lo, hi = _kids(s)
            self._put(out, path, "range", [plain_value(lo), plain_value(hi)],
                      _line_packed(self.text, s.start_pos, s.end_pos), *head)
        elif kind in ("feature", "prediction"):
            label, type_name, block = _kids(s)
            group = "features" if kind == "feature" else "predictions"
            table = out.setdefault(group, {})
            name = _label(label)
            if name in table:
                self.diagnostics.append(make("PS206", f"`{name}` is declared twice",
                                             self.span(*_pos(label))))
                return
            sub: Path = (*path, group, name)
            self.at(sub, s, head)
            self.keys[sub] = _packed(label)
            self.at((*sub, "type" if kind == "feature" else "kind"), type_name)
            field_name = "type" if kind == "feature" else "kind"
            table[name] = self.block(block, sub, {field_name: str(type_name)})
        elif kind in ("step", "bias"):
            (string,) = _kids(s)
            self._append(out, path, DSL_KEYS[kind], _unquote(string), string, head)
        elif kind == "escalate":
            target, block = _kids(s)
            items = out.setdefault("escalate", [])
            sub = (*path, "escalate", len(items))
            self.at(sub, s, head)
            self.at((*sub, "to"), target)
            items.append(self.block(block, sub, {"to": str(target)}))
        elif kind == "sub_block":
            key_tree, name, block = _kids(s)
            key = _kids(key_tree)[0]
            sub = (*path, str(key))
            content: dict[str, Any] = {}
            if name is not None:
                content["name"] = str(name)
            if str(key) in out:
                self.diagnostics.append(make("PS206", f"`{key}` is set twice",
                                             self.span(*_pos(key))))
                return
            self.at(sub, s, (key.start_pos, key.end_pos))
            if name is not None:
                self.at((*sub, "name"), name)
            out[str(key)] = self.block(block, sub, content)

    def condition(self, parsed: Parsed, path: Path) -> Any:
        """A condition or row filter, built when it was parsed: its spans, or its error."""
        error = parsed.error
        if isinstance(error, _expr.ExprError):
            self.diagnostics.append(make(error.code, error.message,
                                         self.span(error.start, error.end), error.hint))
            return None
        self.smap.expand_later(path, functools.partial(_note_parts, self.values, path,
                                                       parsed.offsets))
        return parsed.value


def _note_parts(values: dict[Path, Any], path: Path, offsets: Callable[[], _expr.Offsets]
                ) -> None:
    """Note where the parts of the condition or row filter at ``path`` are."""
    for rel, (start, end) in offsets().items():
        values[(*path, *rel)] = start << WIDE | end


@functools.lru_cache(maxsize=4096)
def _allowed_at(path: Path) -> frozenset[str]:
    """The keys the model allows at ``path``, which has 0 for every list index (the keys
    allowed in a list's items are the same in each): looked up once per place in the model,
    not once per setting."""
    return frozenset(_fields_at(path))


def _kids(tree: Any) -> list[Any]:
    """A tree's children, typed loosely (lark's own types do not say what a rule holds)."""
    return list(tree.children)


def _pos(node: Any) -> tuple[int, int]:
    """The offsets of a token or a node (the fast parser's or lark's)."""
    if type(node) is Tok or type(node) is Node:
        return node.start_pos, node.end_pos
    if isinstance(node, str):
        return getattr(node, "start_pos", 0) or 0, getattr(node, "end_pos", 0) or 0
    return node.meta.start_pos, node.meta.end_pos


def _packed(node: Any) -> int:
    """The offsets of a token or a node, packed as a source map notes them."""
    start, end = _pos(node)
    return start << WIDE | end


def _label(tok: Tok) -> str:
    text = str(tok)
    if tok.type == "STRING":
        return _unquote(tok)
    return text[1:-1] if tok.type == "QUOTED_NAME" else text


def _syntax_error(text: str, piece: str, offset: int, e: UnexpectedInput, file: str,
                  index: LineIndex) -> Diagnostic:
    """The diagnostic for a syntax error in ``piece``, which starts at ``offset`` of ``text``."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    err = _expr.syntax_error(piece, e)
    err.start, err.end = err.start + offset, err.end + offset
    span = index.span(file, min(err.start, len(text)), max(err.end, err.start + 1))
    # The line being written when the parse failed: where the last token before the error is.
    last = min(err.start, len(text)) - 1
    while last >= offset and text[last].isspace():
        last -= 1
    line_no = index.position(last)[0] if last >= 0 else 1
    line_start = index.starts[line_no - 1]
    line_end = text.find("\n", line_start)
    line = text[line_start:line_end if line_end >= 0 else len(text)]
    m = re.match(r"\s*([A-Za-z_]+)", line)
    first = m.group(1) if m else None
    broken = _broken_condition(piece, e)
    if broken is not None:
        x, begin = broken
        at = offset + begin
        return make(x.code, x.message, index.span(file, at + x.start, at + max(x.end, x.start + 1)),
                    x.hint)
    if isinstance(e, UnexpectedToken) and e.token.type == "$END" and "RBRACE" in e.expected:
        opening = offset + _last_open_item(piece)
        where = index.span(file, opening, opening + 1)
        return make("PS108", "this block is not closed: expected `}`", where,
                    "add `}` after its last setting")
    if isinstance(e, UnexpectedToken) and set(e.expected) >= {"PLAN", "MODEL", "DATA"} \
            and e.token.type != "$END":
        word = str(e.token)
        return make("PS109", f"`{word}` does not start an item", span,
                    did_you_mean(word, ITEM_KEYWORDS) or
                    "items start with plan, model, data, defaults, input alert, output alert, "
                    "outcome monitor, playbook or drift risk")
    # `when … > 2 sds`: the word after the number reads as the start of a new setting, so the
    # parse fails later; the mistake is the unit (unless the line breaks earlier than it).
    unit = re.search(r"-?[0-9.]+\s+([A-Za-z_]+)\s*$", line)
    unit_at = index.starts[line_no - 1] + unit.start(1) if unit else 0
    if first in ("when", "warn") and unit and unit.group(1) != "sd" and err.start >= unit_at \
            and did_you_mean(unit.group(1), ("sd",)):
        start = unit_at
        return make("PS102", f"unknown unit `{unit.group(1)}` on a threshold",
                    index.span(file, start, start + len(unit.group(1))), "did you mean `sd`?")
    code = "PS102" if first in ("when", "warn") else "PS110"
    hint = err.hint
    if code == "PS110" and isinstance(e, UnexpectedCharacters):
        ch = text[err.start] if err.start < len(text) else ""
        hint = {"=": "settings are written `key value`, without `=`",
                '"': "a string ends with `\"` on the same line",
                "'": "a string ends with `'` on the same line"}.get(ch)
    if first and first not in ("when", "warn") and did_you_mean(first, ("when", "warn")):
        hint = did_you_mean(first, ("when", "warn"))
    return make(code, err.message, span, hint)


def _last_open_item(piece: str) -> int:
    """Where the piece's first block opens (its item line): what an unclosed `{` belongs to."""
    m = re.search(r"(?m)^[A-Za-z_][^\n{]*\{", piece)
    return m.start() if m else 0


def _line_packed(text: str, start: int, end: int) -> int:
    """The packed offsets of the value at ``text[start:end]``, cut at the end of its first
    line, without the blanks there: a block's span is its head line (`source audits {`), what
    a caret can show."""
    return start << WIDE | line_end(text, start, end)


def _attach(comments: list[Comment], anchors: list[tuple[int, Path]], text: str) -> Comments:
    out = Comments()
    if not comments:
        return out
    ordered = sorted(anchors, key=operator.itemgetter(0))
    offsets = [off for off, _ in ordered]
    for c in comments:
        if c.own_line:
            k = bisect.bisect_right(offsets, c.offset)
            if k == len(ordered):
                out.end.append(c.text)
            else:
                out.leading.setdefault(ordered[k][1], []).append(c.text)
            continue
        # The line's first anchor is the setting or item the line shows.
        line_start = text.rfind("\n", 0, c.offset) + 1
        k = bisect.bisect_left(offsets, line_start)
        if k < len(ordered) and offsets[k] < c.offset:
            out.trailing[ordered[k][1]] = c.text
        else:  # pragma: no cover - code before the comment always has an anchor
            out.end.append(c.text)
    return out


def _shift(tree: Tree[Any], offset: int) -> None:
    """Move every position in a piece's parse tree by ``offset`` (the piece's place in the file)."""
    from lark import Token

    for sub in tree.iter_subtrees():
        meta = sub.meta
        if not meta.empty:
            meta.start_pos += offset
            meta.end_pos += offset
        for tok in sub.children:
            if isinstance(tok, Token):
                tok.start_pos = (tok.start_pos or 0) + offset
                tok.end_pos = (tok.end_pos or 0) + offset


def _from_lark(tree: Tree[Any], text: str) -> Node:
    """A lark tree of a `.plan` file (``text``, or a piece of it whose offsets the tree's are
    moved to) as the fast parser's nodes and pairs, its conditions and row filters built (or
    their errors kept) as the fast parser builds them."""
    from lark import Tree
    from lark.exceptions import LarkError

    def conv(x: Any) -> Any:
        if not isinstance(x, Tree):
            return _expr.to_node(x)
        if x.data == "pair":
            key = _kids(_kids(x)[0])[0]
            return pair_of("pair", str(key), key.start_pos, key.end_pos, conv(x.children[1]),
                           x.meta.end_pos, text)
        if x.data == "for_setting" or x.data == "keep_setting":
            start, (number,) = x.meta.start_pos, _kids(x)
            key = "for" if x.data == "for_setting" else "keep_firing_for"
            return Pair(str(x.data), key, start, start + len(key), number_value(number),
                        number.start_pos, number.end_pos, x.meta.end_pos, None)
        if x.data not in ("when", "warn_when", "where_setting"):
            return Node(str(x.data), [conv(c) for c in x.children],
                        *((0, 0) if x.meta.empty else (x.meta.start_pos, x.meta.end_pos)))
        sub = x.children[-1]
        built = _expr._Built()
        try:
            value, error = _expr._to_model(built).transform(sub), None
        except LarkError as e:
            error = getattr(e, "orig_exc", e)
            if not isinstance(error, _expr.ExprError):
                raise
            value = None
        offsets = dict if error is not None else functools.partial(_expr._offsets, value, built)
        found = Parsed(value, offsets, error, sub.meta.start_pos, sub.meta.end_pos,
                       x.meta.end_pos)
        return Node(str(x.data), [found], x.meta.start_pos, x.meta.end_pos)

    return conv(tree)  # type: ignore[no-any-return]


def _trees(text: str, starts: list[int], b: _FileBuilder) -> Iterator[Node]:
    """The file's parse tree; when it does not parse, the trees of the pieces that do, with a
    syntax error for each piece that does not (so one run reports every broken item)."""
    try:  # a valid file, by the fast parser
        yield _fast.parse_plan(text, _expr.new_semantics)
        return
    except NoFast:
        pass
    from lark.exceptions import LarkError, UnexpectedInput

    try:
        yield _from_lark(_expr.parser().parse(text, start="plan"), text)
        return
    except UnexpectedInput:
        pass
    except LarkError:  # pragma: no cover - lark's other errors: recover piece by piece too
        pass
    for start, end in zip(starts, [*starts[1:], len(text)], strict=True):
        piece = text[start:end]
        if not _COMMENT.sub("", piece).strip():
            continue
        try:
            tree = _parse_piece(piece)
        except UnexpectedInput as e:
            b.diagnostics.append(_syntax_error(text, piece, start, e, b.smap.file, b.index))
            continue
        except LarkError as e:  # pragma: no cover - lark's other errors: still reported
            b.diagnostics.append(make("PS110", str(e).splitlines()[0], b.span(start, end)))
            continue
        _shift(tree, start)
        yield _from_lark(tree, text)


_COMMENT = re.compile(r"#[^\n]*")
#: How many crowded lines (`severity high critical`) one piece may have set aside.
_MAX_CROWDED = 3


def _parse_piece(piece: str) -> Tree[Any]:
    """Parse a piece; when it fails because a line holds more than its setting (`kind data
    fix`, whose `fix` the parser took for the next setting), parse it again without the rest
    of that line, which the builder then reads as part of the setting's value. Raises the
    first error when that does not help."""
    from lark.exceptions import UnexpectedInput

    try:
        return _expr.parser().parse(piece, start="plan")
    except UnexpectedInput as e:
        first = error = e
    for _ in range(_MAX_CROWDED):
        tail = _crowded_tail(piece, error)
        if tail is None:
            break
        eol = piece.find("\n", tail)
        eol = len(piece) if eol < 0 else eol
        piece = piece[:tail] + " " * (eol - tail) + piece[eol:]
        try:
            return _expr.parser().parse(piece, start="plan")
        except UnexpectedInput as again:
            error = again
    raise first


def _settings_read(e: UnexpectedInput) -> list[list[tuple[int, int]]]:
    """The settings a failed parse had read, per open block (from the parser's value stack),
    as (start, end) offsets; the last of a block may be the one being read (its first part)."""
    from lark import Token, Tree

    state = getattr(getattr(e, "interactive_parser", None), "parser_state", None)
    if state is None:
        return []
    groups: list[list[tuple[int, int]]] = []
    pending: list[bool] = []
    for v in state.value_stack:
        if isinstance(v, Token) and v.type == "LBRACE":
            groups.append([])
            pending.append(False)
        elif not groups:
            continue
        elif isinstance(v, Tree) and str(v.data).startswith("__block_star"):
            groups[-1] += [_pos(c) for c in v.children if isinstance(c, Tree)]
        elif not pending[-1] and (isinstance(v, Token) or not v.meta.empty):
            groups[-1].append(_pos(v))  # the first part of the setting being read
            pending[-1] = True
    return groups


def _crowded_tail(piece: str, e: UnexpectedInput) -> int | None:
    """Where, among the settings a failed parse had read, one begins on the line another ends
    on (the first such place)."""
    found = [b for group in _settings_read(e) for (_, a), (b, _) in itertools.pairwise(group)
             if a <= b and "\n" not in piece[a:b]]
    return min(found) if found else None


def _broken_condition(piece: str, e: UnexpectedInput) -> tuple[_expr.ExprError, int] | None:
    """When the setting being read is a condition (`when …`) and the parse failed on a later
    line, the condition is what broke: its own line's error (as YAML reports it), with the
    offset of the condition in the piece."""
    groups = [g for g in _settings_read(e) if g]
    if not groups:
        return None
    start = groups[-1][-1][0]
    head = re.match(r"(warn\s+when|when)\b[ \t]*", piece[start:])
    error_at = getattr(e, "pos_in_stream", None)
    eol = piece.find("\n", start)
    if head is None or eol < 0 or error_at is None or error_at < eol:
        return None
    begin = start + head.end()
    comment = piece.find("#", begin, eol)
    text = piece[begin:comment if comment >= 0 else eol].rstrip()
    try:
        _expr.parse_condition(text)
    except _expr.ExprError as x:
        return x, begin
    return None


def parse_plan(text: str, file: str = "<string>") -> ParsedPlan:
    """Parse a `.plan` file. Never raises for bad input: problems come back as diagnostics.

    >>> parsed = parse_plan('plan demo\\nmodel m {\\n  task regresion\\n}\\n', "x.plan")
    >>> [(d.code, d.span.line, d.span.col) for d in parsed.diagnostics if d.code != "PS202"]
    [('PS204', 3, 8)]
    >>> all(d.span for d in parsed.diagnostics)
    True
    """
    scanned = scan(text)
    b = _FileBuilder(text, file, scanned.comments)
    b.values[()] = Span(file, 1, 1, 1, 1)  # what a missing top-level item points at
    if scanned.limits:  # parse nothing that breaks a limit: it could not be parsed in time
        return ParsedPlan(None, b.smap, tuple(sorted(
            (make(code, msg, b.span(s, e), hint) for code, msg, s, e, hint in scanned.limits),
            key=sort_key)), text, Comments())
    for tree in _trees(text, scanned.starts, b):
        for item in _kids(tree):
            b.item(item)
    attached = _attach(scanned.comments, b.anchors, text)
    if not b.data and not b.diagnostics:
        b.diagnostics.append(make("PS205", "the file holds no plan", Span(file, 1, 1, 1, 1),
                                  "start with `plan NAME`, then `model`, `data` and alerts"))
    if any(d.severity == "error" for d in b.diagnostics):
        return ParsedPlan(None, b.smap, tuple(sorted(b.diagnostics, key=sort_key)), text,
                          attached)
    numbers, bad = number_diagnostics(b.data, b.smap)
    try:
        plan: Plan | None = Plan.model_validate(b.data)
        found = [*b.diagnostics, *b.unknown, *numbers]
    except ValidationError as e:
        plan = None
        found = [*b.diagnostics, *b.unknown, *numbers,
                 *diagnostics_of(e, b.smap, lambda *_: None, bad)]
    if plan is not None and not numbers and source.may_hold_unreadable_numbers(text):
        numbers, _ = number_diagnostics(plan, b.smap)  # `1e400` as text: read as infinity
        found += numbers
    if numbers or b.unknown:
        plan = None
    return ParsedPlan(plan, b.smap, tuple(sorted(found, key=sort_key)), text, attached)
