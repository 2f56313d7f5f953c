"""The YAML front end: load a YAML plan into the model, with a source map of every value, key, and
every position inside a condition string, and every problem as a located diagnostic."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import yaml

from planspec import _expr, source
from planspec._node import ValidationError
from planspec._shape import diagnostics_of, number_diagnostics
from planspec.diagnostics import Diagnostic, Span, make, sort_key
from planspec.model import CONDITION_FIELDS, Plan
from planspec.source import WIDE, LineIndex, ParsedPlan, Path, Places, SourceMap, unpack

if TYPE_CHECKING:
    from planspec.parse import Comment

_MAX_DEPTH = 64
#: libyaml's parser when PyYAML was built with it (several times faster), else the Python one.
if TYPE_CHECKING:
    _BaseLoader = yaml.SafeLoader
else:
    _BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):
    """The safe loader, with PyYAML's scalar resolution written for its usual case (no
    resolver by path, none for every first character): the same tags, without building a
    list of candidate resolvers for each of a plan's scalars."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        resolvers = self.yaml_implicit_resolvers  # (as registered when the load starts)
        #: The implicit resolvers by first character, when they are all there is.
        self.by_first: dict[Any, Any] | None = (
            resolvers if None not in resolvers and not self.yaml_path_resolvers else None)
        self.default: str = self.DEFAULT_SCALAR_TAG

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        """The tag PyYAML's resolver gives ``value``: the first implicit resolver registered
        for its first character that matches it, else the default tag (as
        ``BaseResolver.resolve`` decides, which decides any other case here)."""
        by_first = self.by_first
        if kind is _SCALAR and by_first is not None:
            if implicit[0]:
                for tag, regexp in by_first.get(value[:1], ()):
                    if regexp.match(value):
                        return tag  # type: ignore[no-any-return]
            return self.default
        found: str = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
        return found


_SCALAR = yaml.ScalarNode
#: Tags whose values a plan may hold (what plain YAML resolves to without a tag).
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in (
    "str", "int", "float", "bool", "null", "map", "seq", "timestamp"))
_STR = "tag:yaml.org,2002:str"


class _AliasBomb(Exception):
    """Aliases expand the document past its budget of values (a "billion laughs")."""

    def __init__(self, span: Span, budget: int) -> None:
        super().__init__(span)
        self.span, self.budget = span, budget


class _Places(Places):
    """Where the parts of a YAML plan are: the source map's resolver, from the notes the builder
    writes as it reads (a node's offsets; a path of a string scalar with offsets inside it)."""

    def __init__(self, text: str, file: str) -> None:
        super().__init__(text, file)
        #: Each string scalar's offsets, style and text (what its characters' offsets need).
        self.scalars: dict[Path, tuple[int, int, str | None, str]] = {}
        self.offsets: dict[Path, list[int] | None] = {}

    def __call__(self, raw: Any) -> Span:
        if type(raw) is int:
            return self.node_span(*unpack(raw))
        span = self.inner_span(*raw)
        assert span is not None  # noted only for string scalars
        return span

    def node_span(self, start: int, end: int) -> Span:
        """The span of the node at offsets ``[start, end)``, without the blanks that end it."""
        text = self.text
        stop = end
        while stop > start and text[stop - 1].isspace():
            stop -= 1
        return self.index.span(self.file, start, start + max(1, stop - start))

    def char_offsets(self, path: Path) -> list[int] | None:
        """The file offset of each character of the string scalar at ``path``, plus its end."""
        if path not in self.offsets:
            self.offsets[path] = self._char_offsets(path)
        return self.offsets[path]

    def _char_offsets(self, path: Path) -> list[int] | None:
        scalar = self.scalars.get(path)
        if scalar is None:
            return None
        start, end, style, value = scalar
        raw = self.text[start:end]
        j = {'"': 1, "'": 1}.get(style or "", 0)
        if style in ("|", ">"):
            j = raw.find("\n") + 1
        out = []
        for ch in value:
            if ch.isspace():
                k = next((i for i in range(j, len(raw)) if raw[i].isspace()), -1)
            else:
                k = raw.find(ch, j)
            k = k if k >= 0 else min(j, max(0, len(raw) - 1))
            out.append(start + k)
            j = k + 1
        out.append(start + min(j, len(raw)))
        return out

    def inner_span(self, path: Path, begin: int, end: int) -> Span | None:
        """The span of characters ``[begin, end)`` inside the string scalar at ``path``."""
        offsets = self.char_offsets(path)
        if offsets is None:
            return None
        last = len(offsets) - 1
        b = offsets[min(max(begin, 0), last)]
        e = offsets[min(max(end - 1, 0), last)] + 1 if end > begin else b + 1
        return self.index.span(self.file, b, max(e, b + 1))


class _Builder:
    """Turns composed YAML nodes into plain data while noting where each part came from (as
    offsets, which the source map resolves into spans when asked)."""

    def __init__(self, text: str, file: str, loader: yaml.SafeLoader) -> None:
        self.places = _Places(text, file)
        self.loader = loader
        self.smap = SourceMap(file, resolve=self.places)
        self.values = self.smap.raw_values
        self.keys = self.smap.raw_keys
        self.scalars = self.places.scalars
        self.inner_span = self.places.inner_span
        self.diagnostics: list[Diagnostic] = []
        self.unreadable: set[Path] = set()  # reported here already; validation stays quiet on them
        # Each value needs a character or two of text unless an alias repeats it: more values
        # than that means aliases multiply them (a billion laughs), refused before it costs.
        self.budget = len(text) + 1000
        self.visits = 0

    @property
    def index(self) -> LineIndex:
        return self.places.index

    def node_span(self, node: yaml.Node) -> Span:
        return self.places.node_span(node.start_mark.index, node.end_mark.index)

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.visits += 1
        if self.visits > self.budget:
            raise _AliasBomb(self.node_span(node), self.budget)
        start, end = node.start_mark.index, node.end_mark.index
        self.values[path] = start << WIDE | end
        if len(path) > _MAX_DEPTH:
            self.diagnostics.append(make("PS203", "the plan nests too deeply",
                                         self.node_span(node)))
            return None
        tag = node.tag
        if tag == _STR and type(node) is yaml.ScalarNode:  # most values: as the constructor
            # reads a string scalar (its text), without its dispatch
            value = node.value
            self.scalars[path] = (start, end, node.style, value)
            return value
        if tag not in _PLAIN_TAGS:
            self.diagnostics.append(make(
                "PS252", f"the tag `{node.tag.replace('tag:yaml.org,2002:', '!!')}` is not read "
                "in a plan", self.node_span(node), "remove the tag: plans hold plain values"))
            self.unreadable.add(path)
            return None
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        before = len(self.diagnostics)
        value = self.scalar(node)
        if len(self.diagnostics) > before:
            self.unreadable.add(path)
        if isinstance(value, str):
            self.scalars[path] = (start, end, node.style, node.value)  # type: ignore[attr-defined]
        return value

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[Any, Any]:
        """A mapping's data; a string value (most of a plan) is read here, as :meth:`build`
        reads it, without a call of its own."""
        out: dict[Any, Any] = {}
        keys, values, scalars = self.keys, self.values, self.scalars
        leaves = len(path) < _MAX_DEPTH  # (deeper, a value is reported as nested too deeply)
        for key_node, value_node in node.value:
            if type(key_node) is _SCALAR and key_node.tag == _STR:  # most keys: a name
                key = part = key_node.value
            else:
                key = self.scalar(key_node)
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    self.diagnostics.append(make("PS203", "a key must be a plain name",
                                                 self.node_span(key_node)))
                    continue
                part = key if isinstance(key, (str, int)) else str(key)
            if key in out:
                self.diagnostics.append(make("PS206", f"the key `{key}` appears twice",
                                             self.node_span(key_node),
                                             "keep one; YAML would silently use the last"))
                continue
            sub = (*path, part)
            keys[sub] = key_node.start_mark.index << WIDE | key_node.end_mark.index
            if leaves and type(value_node) is _SCALAR and value_node.tag == _STR:
                self.visits += 1
                if self.visits > self.budget:
                    raise _AliasBomb(self.node_span(value_node), self.budget)
                start, end = value_node.start_mark.index, value_node.end_mark.index
                values[sub] = start << WIDE | end
                value = out[key] = value_node.value
                scalars[sub] = (start, end, value_node.style, value)
            else:
                out[key] = self.build(value_node, sub)
        return out

    def scalar(self, node: yaml.Node) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return None
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as e:
            self.diagnostics.append(make("PS203", f"cannot read this value: {e}",
                                         self.node_span(node)))
            return node.value


#: The text fields parsed before validation, by section: (field, start rule of the grammar).
_PREPARSED: dict[str, tuple[tuple[str, str], ...]] = {
    section: (*((name, "condition") for s, name in CONDITION_FIELDS if s == section),
              ("where", "row_filter"))
    for section in ("input_alerts", "output_alerts", "outcome_monitors")}


def _preparse(data: dict[str, Any], b: _Builder) -> None:
    """Parse every condition and `where` row filter string in place; the spans of their parts
    enter the source map when a path inside one is first asked for.

    Text that does not parse is left as text: validation reports it, located.
    """
    expand_later, values, scalars = b.smap.expand_later, b.values, b.scalars
    for section, fields in _PREPARSED.items():
        items = data.get(section)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue
            for name, start in fields:
                text = item.get(name)
                if not isinstance(text, str):
                    continue
                try:
                    found, offsets = _expr.parse_later(text, start)
                except _expr.ExprError:
                    continue
                item[name] = found
                base: Path = (section, i, name)
                if base in scalars:
                    expand_later(base, functools.partial(_note_parts, values, base, offsets))


def _note_parts(values: dict[Path, Any], base: Path,
                offsets: Callable[[], _expr.Offsets]) -> None:
    """Note where the parts of the condition or row filter at ``base`` are, inside its text."""
    for rel, (s, e) in offsets().items():
        values[base + rel] = (base, s, e)


def parse_yaml(text: str, file: str = "<string>") -> ParsedPlan:
    """Load a YAML plan. Never raises for bad input: problems come back as diagnostics.

    >>> parsed = parse_yaml("plan: [unclosed", "x.yaml")
    >>> [(d.code, d.span.line, d.span.col) for d in parsed.diagnostics]
    [('PS101', 1, 16)]
    """
    unprintable = yaml.reader.Reader.NON_PRINTABLE.search(text)
    if unprintable:  # what YAML's reader refuses, found first so it is always located
        line, col = LineIndex(text).position(unprintable.start())
        return ParsedPlan(None, SourceMap(file), (make(
            "PS101", f"the character {unprintable.group()[0]!r} cannot appear in YAML",
            Span(file, line, col, line, col), "remove it or write it as an escape in quotes"),),
            text)
    loader = _Loader(text)
    b = _Builder(text, file, loader)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        span = None
        if mark:  # at the end of the text, point just after its last character
            at = min(mark.index, len(text))
            at -= at == len(text) and text.endswith("\n")
            line, col = b.index.position(at)
            span = Span(file, line, col, line, col)
        msg = (e.problem or "invalid YAML") + (f" ({e.context})" if e.context else "")
        hint = ("check this line's indentation against the lines above it"
                if "block" in msg else "quote values that contain `: `, `#` or start with `[`")
        return ParsedPlan(None, b.smap, (make("PS101", msg, span, hint),), text)
    except yaml.YAMLError as e:
        return ParsedPlan(None, b.smap, (make("PS101", str(e).splitlines()[0]),), text)
    try:
        if not isinstance(node, yaml.MappingNode):
            span = b.node_span(node) if node is not None else Span(file, 1, 1, 1, 1)
            return ParsedPlan(None, b.smap, (make(
                "PS205", "a plan is a mapping with `plan`, `model`, `data` and alerts", span,
                "start from `planspec explain PS205` or the worked example in plans/"),), text)
        data = b.build(node, ())
    except _AliasBomb as e:
        return ParsedPlan(None, b.smap, (make(
            "PS253", f"aliases here expand the plan past {e.budget:,} values", e.span,
            "write the values out, or use fewer nested aliases"),), text)
    finally:
        loader.dispose()
    _preparse(data, b)
    numbers, bad = number_diagnostics(data, b.smap)
    try:
        plan: Plan | None = Plan.model_validate(data)
        found = [*b.diagnostics, *numbers]
    except ValidationError as e:
        plan = None
        found = [*b.diagnostics, *numbers,
                 *diagnostics_of(e, b.smap, b.inner_span, b.unreadable | bad)]
    if plan is not None and not numbers and source.may_hold_unreadable_numbers(text):
        numbers, _ = number_diagnostics(plan, b.smap)  # `1e400` as text: read as infinity
        found += numbers
    if numbers:
        plan = None
    return ParsedPlan(plan, b.smap, tuple(sorted(found, key=sort_key)), text)


def yaml_comments(text: str) -> list[Comment]:
    """Every comment in YAML ``text``, in order: what lies between the scanner's tokens and
    starts with `#` (a `#` inside a scalar is part of its token, never a comment).

    >>> [(c.text, c.own_line) for c in yaml_comments("# top\\na: 1  # one\\nb: '#2'\\n")]
    [('# top', True), ('# one', False)]
    """
    from planspec.parse import Comment

    found: list[Comment] = []
    loader = _Loader(text)
    end = 0
    try:
        while loader.check_token():
            token = loader.get_token()  # type: ignore[no-untyped-call]
            gap_end = min(token.start_mark.index, len(text))
            i = text.find("#", end, gap_end)
            while i >= 0:
                stop = text.find("\n", i, gap_end)
                stop = gap_end if stop < 0 else stop
                line_start = text.rfind("\n", 0, i) + 1
                found.append(Comment(i, text[i:stop].rstrip(), not text[line_start:i].strip()))
                i = text.find("#", stop, gap_end)
            end = max(end, token.end_mark.index)
    except yaml.YAMLError:  # pragma: no cover - only plans that loaded reach the formatter
        pass
    finally:
        loader.dispose()
    return found
