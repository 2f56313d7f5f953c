"""Where each part of a plan came from: the source map the front ends build; the parse result."""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from planspec._surface import Surface
from planspec.diagnostics import Diagnostic, Span

if TYPE_CHECKING:
    from planspec.model import Plan

#: A model path, e.g. ``("input_alerts", 2, "when", "measure", "column")``.
Path = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Spans of a plan's values (and of mapping keys) by model path, kept beside the model, and
    the surface the plan was written in (which messages and hints speak)."""

    file: str
    values: dict[Path, Span] = field(default_factory=dict)
    keys: dict[Path, Span] = field(default_factory=dict)
    surface: Surface = "yaml"

    def span(self, path: Path) -> Span | None:
        """The span of ``path``, or of its closest ancestor that has one."""
        path = tuple(path)
        while True:
            if path in self.values:
                return self.values[path]
            if not path:
                return None
            path = path[:-1]

    def key_span(self, path: Path) -> Span | None:
        """The span of the key that introduces ``path`` (falls back to the value's span)."""
        return self.keys.get(tuple(path)) or self.span(path)


@dataclass(frozen=True)
class ParsedPlan:
    """What a front end returns: the plan (None when it could not be built), its source map,
    the diagnostics found so far, the source text (for carets) and, for `.plan` files, the
    comments the formatter keeps."""

    plan: Plan | None
    source_map: SourceMap
    diagnostics: tuple[Diagnostic, ...]
    text: str
    comments: Any = None  # a `.plan` file's comments, attached for the formatter


_NEWLINE = re.compile("\n")


class LineIndex:
    """Converts 0-based character offsets in a text to 1-based (line, col)."""

    def __init__(self, text: str) -> None:
        self.starts = [0, *(m.end() for m in _NEWLINE.finditer(text))]  # per line, not char

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based line and column of ``offset``."""
        line = bisect.bisect_right(self.starts, offset) - 1
        return line + 1, offset - self.starts[line] + 1

    def span(self, file: str, start: int, end: int) -> Span:
        """The span covering offsets ``[start, end)`` (at least one character)."""
        line, col = self.position(start)
        end_line, end_col = self.position(max(start, end - 1))
        return Span(file, line, col, end_line, end_col)
