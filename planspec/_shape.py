"""Shape errors: the plan model's validation errors, as located diagnostics.

Both front ends build plain data and a source map, validate it with the model, and report what
validation finds through :func:`diagnostics_of`.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Collection
from typing import Annotated, Any, Union, get_args, get_origin

from planspec._node import Node, ValidationError
from planspec._surface import place, setting, word
from planspec.diagnostics import Diagnostic, Span, did_you_mean, make
from planspec.model import Plan
from planspec.source import Path, SourceMap

#: Maps (path of a string value, start, end) to the span of those characters in the file.
InnerSpan = Callable[[Path, int, int], Span | None]


def _unwrap(t: Any) -> Any:
    while True:
        origin = get_origin(t)
        if origin is Annotated:
            t = get_args(t)[0]
        elif origin in (Union, types.UnionType):
            models = [a for a in get_args(t) if a is not type(None)]
            if len(models) != 1:
                return t
            t = models[0]
        else:
            return t


def _fields_at(loc: Path) -> list[str]:
    """The keys the model allows at ``loc`` (for "did you mean" on an unknown key)."""
    t: Any = Plan
    parts = list(loc)
    while True:
        t = _unwrap(t)
        origin = get_origin(t)
        if origin in (tuple, dict, list):
            if not parts:
                return []
            parts.pop(0)
            t = get_args(t)[-1 if origin is dict else 0]
            continue
        if not (isinstance(t, type) and issubclass(t, Node)):
            return []
        names = {(f.alias or name): f for name, f in t.model_fields.items()}
        if not parts:
            return list(names)
        part = parts.pop(0)
        if part not in names:
            return []
        t = names[part].annotation


#: The largest magnitude a plan's integer may have: beyond it no count or size makes sense, and
#: converting it to a float or a duration overflows. (Floats need only be finite.)
MAX_NUMBER = 10**18


def _walked(cls: type[Node]) -> tuple[tuple[str, str], ...]:
    """(key, field name) of the fields of a node class that may hold numbers: not those that
    serialize to text (conditions, filters, durations), whose numbers the parsers checked."""
    found = _WALKED.get(cls)
    if found is None:
        found = _WALKED[cls] = tuple((f.alias or name, name)
                                     for name, f in cls.model_fields.items()
                                     if f.serialize is None)
    return found


_WALKED: dict[type[Node], tuple[tuple[str, str], ...]] = {}
_PLAIN = frozenset({str, bool, type(None)})


def _node_types(cls: type[Node] = Node) -> set[type[Node]]:
    """Every subclass of ``cls``."""
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_node_types(sub)}
    return found


def number_diagnostics(data: Any, smap: SourceMap) -> tuple[list[Diagnostic], set[Path]]:
    """Numbers that are not finite (`.nan`, `.inf`, `1e400`) or beyond :data:`MAX_NUMBER`, at
    their place; and their paths, which validation then leaves alone."""
    out: list[Diagnostic] = []
    bad: set[Path] = set()
    # A validated plan (numbers that validation read from text) is walked into its nodes; in
    # plain data a node is a parsed condition or filter, whose numbers the parser checked.
    nodes = isinstance(data, Node)
    plain = _PLAIN if nodes else _PLAIN | _node_types()  # values that hold no number
    stack: list[tuple[Path, Any]] = [((), data)]
    while stack:  # iterative: nesting depth costs no recursion
        path, value = stack.pop()
        items: Any
        kind = type(value)
        if kind is dict:
            items = value.items()
        elif kind is list or kind is tuple:
            items = enumerate(value)
        elif isinstance(value, Node):
            fields = value.__dict__
            items = [(key, fields[name]) for key, name in _walked(type(value))]
        elif isinstance(value, dict):
            items = value.items()
        elif isinstance(value, (list, tuple)):
            items = enumerate(value)
        else:
            continue
        for key, v in items:
            kind = type(v)
            if kind in plain:  # (most values: no path built for them)
                continue
            if kind is dict:  # (most mappings hold text only: not listed)
                if not plain.issuperset(map(type, v.values())):
                    stack.append(((*path, key), v))
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                if isinstance(v, (dict, list, tuple)):
                    stack.append(((*path, key), v))
                elif nodes and isinstance(v, Node):  # (most alerts hold no number: not listed)
                    fields = v.__dict__
                    if not plain.issuperset([type(fields[name]) for _, name in _walked(kind)]):
                        stack.append(((*path, key), v))
                continue
            if isinstance(v, float) and not math.isfinite(v):
                at = (*path, key)
                bad.add(at)
                out.append(make("PS203", f"{place(smap.surface, at)}: `{v}` is not a finite "
                                "number", smap.span(at), "write a finite number"))
            elif isinstance(v, int) and abs(v) > MAX_NUMBER:
                at = (*path, key)
                bad.add(at)
                out.append(make("PS203", f"{place(smap.surface, at)}: {str(v)[:12]}… is out of "
                                f"range (at most {MAX_NUMBER:.0e} in size)", smap.span(at),
                                "write a smaller number"))
    return out, bad


def diagnostics_of(e: ValidationError, smap: SourceMap, inner: InnerSpan,
                   skip: Collection[Path] = ()) -> list[Diagnostic]:
    """Every validation error as a located diagnostic: unknown keys with "did you mean",
    missing keys, unknown choices, and planspec's own errors at their offset in the value."""
    out = []
    for err in e.errors(include_url=False):
        loc: Path = tuple(err["loc"])
        if any(loc[: len(p)] == p for p in skip):
            continue
        typ, ctx = err["type"], err.get("ctx") or {}
        if typ == "planspec":
            start, end = int(ctx.get("start", 0)), int(ctx.get("end", 0))
            span = (inner(loc, start, end) if end > start else None) or smap.span(loc)
            out.append(make(str(ctx["code"]), str(ctx["message"]), span, ctx.get("hint")))
        elif typ == "extra_forbidden":
            out.append(unknown_key(smap, loc))
        elif typ == "missing":
            parent = loc[:-1]
            out.append(make("PS202", f"missing key `{word(smap.surface, str(loc[-1]))}` in "
                            f"{place(smap.surface, parent)}",
                            smap.key_span(parent) if parent else smap.span(()),
                            f"add {setting(smap.surface, str(loc[-1]))}"))
        elif typ == "literal_error":
            choices = [c.strip("'") for c in str(ctx.get("expected", "")).replace(" or ", ", ")
                       .split(", ")]
            value = err.get("input")
            hint = did_you_mean(str(value), choices) if isinstance(value, str) else None
            out.append(make("PS204", f"`{value}` is not one of {', '.join(choices)}",
                            smap.span(loc), hint or f"choose one of {', '.join(choices)}"))
        else:
            out.append(make("PS203", f"{place(smap.surface, loc)}: {err['msg']}",
                            smap.span(loc)))
    return out


def unknown_key(smap: SourceMap, loc: Path) -> Diagnostic:
    """PS201 for the key that ends ``loc``, at the key, with the closest key the model allows
    there as its surface writes it (`feature` in a `.plan` file, `features` in YAML)."""
    choices = [word(smap.surface, f) for f in _fields_at(loc[:-1])]
    return make("PS201", f"unknown key `{loc[-1]}` in {place(smap.surface, loc[:-1])}",
                smap.key_span(loc), did_you_mean(str(loc[-1]), choices))
