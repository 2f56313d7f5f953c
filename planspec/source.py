"""Where each part of a plan came from: the source map the front ends build; the parse result."""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from planspec._surface import Surface
from planspec.diagnostics import Diagnostic, Span

if TYPE_CHECKING:
    from planspec.model import Plan

#: A model path, e.g. ``("input_alerts", 2, "when", "measure", "column")``.
Path = tuple[str | int, ...]
#: Offsets ``[start, end)`` are noted packed in one int, ``start << WIDE | end``: a plan has tens
#: of thousands of places, and an int costs the cyclic garbage collector nothing (a tuple does).
WIDE = 32
_LOW = (1 << WIDE) - 1


def unpack(note: int) -> tuple[int, int]:
    """The offsets ``(start, end)`` packed in ``note``.

    >>> unpack(7 << WIDE | 12)
    (7, 12)
    """
    return note >> WIDE, note & _LOW


class Resolver(Protocol):
    """Turns what a front end noted about a place (its offsets, say) into its span."""

    def __call__(self, raw: Any) -> Span: ...


class SourceMap:
    """Spans of a plan's values (and of mapping keys) by model path, kept beside the model, and
    the surface the plan was written in (which messages and hints speak).

    A front end notes places cheaply, as it reads: a :class:`Span`, or a raw note (packed
    offsets, say) that its ``resolve`` turns into one; and the parts of a condition as one
    pending entry at the condition's path, which :meth:`expand_later` runs when a path at or
    inside it is asked for.
    A place becomes a span only when asked for (a diagnostic, a compiled check's provenance),
    so loading a valid plan builds almost none; ``values`` and ``keys`` give them all.
    """

    def __init__(self, file: str, surface: Surface = "yaml",
                 resolve: Resolver | None = None) -> None:
        self.file = file
        self.surface: Surface = surface
        #: Path → a span or a raw note for ``resolve``; what a front end writes as it reads.
        self.raw_values: dict[Path, Any] = {}
        self.raw_keys: dict[Path, Any] = {}
        self.resolve = resolve
        #: Path of a condition → (what notes its parts, the note at its path when deferred).
        self.pending: dict[Path, tuple[Callable[[], None], Any]] = {}
        self._depth = 0  # the longest pending path, so lookups stop looking sooner
        self._done: dict[str, int] = {}  # table → how many notes it had when all were resolved

    # ------------------------------------------------------------------------------ writing

    def expand_later(self, path: Path, expand: Callable[[], None]) -> None:
        """Defer ``expand``, which notes the places inside the value at ``path`` (the parts of
        a condition). It runs the first time ``path`` or a path inside it is asked for, as if it
        had run now: a note written at ``path`` after this call is kept over its own."""
        if path in self.pending:  # a second value at one path (an error): the first one's
            self._expand(path)    # notes now, the second's over them later, as in reading order
        self.pending[path] = (expand, self.raw_values.get(path))
        if len(path) > self._depth:
            self._depth = len(path)

    def _expand(self, path: Path) -> None:
        expand, before = self.pending.pop(path)
        after = self.raw_values.get(path, before)
        expand()
        if after is not before:  # written after the deferral: that note wins, as it would have
            self.raw_values[path] = after

    def _expand_above(self, path: Path) -> None:
        for k in range(min(len(path), self._depth), 0, -1):
            if path[:k] in self.pending:
                self._expand(path[:k])
                return

    # ------------------------------------------------------------------------------ reading

    def _span(self, table: dict[Path, Any], path: Path) -> Span:
        raw = table[path]
        if type(raw) is not Span:
            assert self.resolve is not None, f"no resolver for {raw!r}"
            raw = table[path] = self.resolve(raw)
        return raw

    def span(self, path: Path) -> Span | None:
        """The span of ``path``, or of its closest ancestor that has one."""
        path = tuple(path)
        if self.pending:
            self._expand_above(path)
        while True:
            if path in self.raw_values:
                return self._span(self.raw_values, path)
            if not path:
                return None
            path = path[:-1]

    def key_span(self, path: Path) -> Span | None:
        """The span of the key that introduces ``path`` (falls back to the value's span)."""
        path = tuple(path)
        if path in self.raw_keys:
            return self._span(self.raw_keys, path)
        return self.span(path)

    @property
    def values(self) -> dict[Path, Span]:
        """Every value's span by path (every place resolved: for tools that read them all)."""
        while self.pending:
            self._expand(next(iter(self.pending)))
        return self._resolved(self.raw_values, "values")

    @property
    def keys(self) -> dict[Path, Span]:
        """Every mapping key's span by the path it introduces (every one resolved)."""
        return self._resolved(self.raw_keys, "keys")

    def _resolved(self, table: dict[Path, Any], name: str) -> dict[Path, Span]:
        if self._done.get(name) != len(table):  # (a front end adds notes, never replaces one)
            for path in table:
                self._span(table, path)
            self._done[name] = len(table)
        return table

    def __getstate__(self) -> dict[str, Any]:
        """Pickled with every place resolved (a resolver need not travel)."""
        _ = self.values, self.keys
        return {**self.__dict__, "resolve": None}


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


class Places:
    """A source map's resolver for notes of packed offsets (``start << WIDE | end``) in one
    text: their span, with the text's line index built when the first one is asked for."""

    def __init__(self, text: str, file: str) -> None:
        self.text, self.file = text, file
        self._index: LineIndex | None = None

    @property
    def index(self) -> LineIndex:
        """The line index of the text."""
        if self._index is None:
            self._index = LineIndex(self.text)
        return self._index

    def __call__(self, raw: Any) -> Span:
        return self.index.span(self.file, *unpack(raw))


#: What a string must hold for validation to read it as a number that is not finite or out of
#: range (`"1e400"`, `nan`, `-Infinity`, twenty digits), in text without underscores (which
#: validation skips between digits and letters alike: `N_aN`, `1_000`): anything else is read
#: as a finite number of at most 18 digits, or not as a number. Generous on purpose: a match
#: only costs a second look. (Used for text with digits beyond ASCII; other text is searched
#: with bytes methods, several times faster than a regex on a big plan.)
_UNREADABLE_NUMBER = re.compile(
    r"(?i)(?<![a-z0-9_])[-+]?\.?(?:inf(?:inity)?|nan)(?![a-z0-9_])"
    r"|[\d.][eE][-+]?\d{3}|\d{10}")
#: Every ASCII byte (what is left of UTF-8 text without them is its other characters).
_ASCII = bytes(range(128))
#: An exponent of three digits, after `_FOLD` and a digit or a point: `1e400`, `2.E-999`.
_EXPONENTS = (b"e000", b"e+000", b"e-000")
#: ASCII letters in lower case and every digit as `0` (with `_` deleted, as validation skips
#: it): what `_EXPONENTS` and the words are looked for in, in one pass.
_FOLD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ123456789",
                        b"abcdefghijklmnopqrstuvwxyz000000000")


def may_hold_unreadable_numbers(text: str) -> bool:
    """Whether plan ``text`` may hold a string that validation reads as a number that is not
    finite or out of range: when not, the validated plan need not be searched for one.

    >>> may_hold_unreadable_numbers("threshold: '1e400'"), may_hold_unreadable_numbers("a: 0.2")
    (True, False)
    >>> may_hold_unreadable_numbers("n: '١e٤٠٠'"), may_hold_unreadable_numbers("… «x» 0.5")
    (True, False)
    """
    b = text.encode("ascii", "ignore")  # other characters are no part of a number's text,
    if len(b) != len(text):  # but digits: its characters beyond ASCII, each once
        others = text.encode("utf-8", "surrogatepass").translate(None, _ASCII)
        if any(ch.isdigit() for ch in set(others.decode("utf-8", "surrogatepass"))):
            return _UNREADABLE_NUMBER.search(text.replace("_", "")) is not None
    b = b.translate(_FOLD, b"_")
    if b"0000000000" in b:
        return True
    for exponent in _EXPONENTS:
        i = b.find(exponent, 1)
        while i >= 0:
            if b[i - 1] in b"0.":
                return True
            i = b.find(exponent, i + 1)
    for word in (b"infinity", b"inf", b"nan"):  # a word of its own: not `info`, `dominant`
        i = b.find(word)
        while i >= 0:
            if not b[i - 1:i].isalnum() and not b[i + len(word):i + len(word) + 1].isalnum():
                return True
            i = b.find(word, i + 1)
    return False
