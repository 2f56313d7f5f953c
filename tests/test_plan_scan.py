"""`scan` (a `.plan` file's piece starts, comments and limits, found by stopping only where a
line may start a piece, at comments and at strings, and counting the brackets between) finds
exactly what a character-at-a-time reading finds, on every plan in the repository, on each with
text cut and spliced in, and on generated text full of quotes, brackets, comments and long names."""

from __future__ import annotations

import random
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planspec._expr import MAX_DEPTH
from planspec.parse import (
    _WORD_AT,
    ITEM_KEYWORDS,
    MAX_BLOCK_DEPTH,
    MAX_NAME,
    Comment,
    Scan,
    _too_long,
    scan,
)

ROOT = Path(__file__).resolve().parent.parent
_NAME_AT = re.compile(r"[A-Za-z0-9_.]+")
TEXTS = sorted({*ROOT.glob("plans/*.plan"), *ROOT.glob("tests/**/*.plan")})


def char_by_char(text: str) -> Scan:
    """The scan as it was first written, a character at a time: the specification."""
    starts = [0]
    comments: list[Comment] = []
    limits: list[tuple[str, str, int, int, str]] = []
    depth = parens = 0
    i, n = 0, len(text)
    line_start = True
    code_on_line = False
    while i < n:
        ch = text[i]
        if line_start and ch.isalpha() and i > 0:
            word = _WORD_AT.match(text, i)
            if depth <= 0 or (word and word.group(0) in ITEM_KEYWORDS and word.group(0) != "data"):
                starts.append(i)
                depth = 0
        line_start = False
        if ch == "\n":
            line_start, code_on_line = True, False
        elif ch == "#":
            end = text.find("\n", i)
            end = n if end < 0 else end
            comments.append(Comment(i, text[i:end], not code_on_line))
            i = end
            continue
        elif ch in "\"'`":
            j = i + 1
            while j < n and text[j] != ch and text[j] != "\n":
                j += 2 if text[j] == "\\" and ch != "`" else 1
            if ch == "`" and j - i - 1 > MAX_NAME:
                limits.append(_too_long(i, j + 1))
            i = j + 1
            code_on_line = True
            continue
        elif ch.isalnum() or ch == "_":
            m = _NAME_AT.match(text, i)
            end = m.end() if m else i + 1
            if end - i > MAX_NAME:
                limits.append(_too_long(i, end))
            i = end
            code_on_line = True
            continue
        elif ch == "(":
            parens += 1
            if parens == MAX_DEPTH + 1:
                limits.append(("PS152", f"parentheses nest more than {MAX_DEPTH} deep "
                               "here", i, i + 1,
                               "split the condition or drop parentheses it does not need"))
        elif ch == ")":
            parens -= 1
        elif ch == "{":
            depth += 1
            if depth == MAX_BLOCK_DEPTH + 1:
                limits.append(("PS151", f"blocks nest more than {MAX_BLOCK_DEPTH} deep here", i,
                               i + 1, "a plan needs at most three levels of `{ … }`"))
        elif ch == "}":
            depth -= 1
        if not ch.isspace():
            code_on_line = True
        i += 1
    return Scan(sorted(set(starts)), comments, limits)


def _same(text: str) -> None:
    assert scan(text) == char_by_char(text), text[:200]


def test_every_plan_file_and_its_mutants() -> None:
    rng = random.Random(17)
    pieces = ["\n", "#", "\"", "'", "`", "\\", "(", ")", "{", "}", "é", "\x85", " ", "\t",
              "a" * (MAX_NAME + 1), "x." * 130, "(" * (MAX_DEPTH + 2), "{" * (MAX_BLOCK_DEPTH + 2),
              "\ninput alert", "\ndata", "\n}"]
    for path in TEXTS:
        text = path.read_text(encoding="utf-8")
        _same(text)
        for _ in range(40):
            at = rng.randrange(len(text) + 1)
            cut = rng.randrange(4)
            _same(text[:at] + rng.choice(pieces) + text[at + cut:])


@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(st.lists(st.sampled_from([
    "\n", "\r\n", " ", "\t", "\xa0", "\u2028", "#", "# c", "\"", "'", "`", "\\", "(", ")",
    "{", "}", "[", ".", "é", "ß1", "_", "a", "Z9", "0.5", "plan", "data", "input", "feature",
    "a" * MAX_NAME, "b" * (MAX_NAME + 1), "c." * 129, "\x00", "\x1f", ">=", ",",
]), max_size=80))
def test_generated_text(parts: list[str]) -> None:
    _same("".join(parts))
