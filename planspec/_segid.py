"""Segment names and ids that read back: each value bare when that is unambiguous, else quoted.

A segment of `by: [a, b]` is named by its values joined with ``, `` (``k0, u``) and its results
are ``alert[a=k0,b=u]``. A value is written bare when it is one or more words of characters other
than white space, ``,``, ``=``, ``[``, ``]``, ``"`` and ``\\`` separated by single spaces (``Upper
West Side``, ``D01``, ``owner_site``), and is not ``(missing)``; any other value (empty, with a
comma, a quote, a bracket, a newline, outer spaces, or the text ``(missing)`` itself) is written as
a JSON string (``"a, b"``, ``"say \\"hi\\""``, ``""``). Rows whose value is missing are the
segment ``(missing)``, bare. So every name splits back into its values (:func:`values_of`), two
different segments never share a name, and a plain value is named as it always was.
"""

from __future__ import annotations

import json
import re

#: The segment of rows whose segment column is missing.
MISSING = "(missing)"

_BARE = re.compile(r'[^\s,=\[\]"\\]+(?: [^\s,=\[\]"\\]+)*')
_DECODER = json.JSONDecoder()


def quote(value: str | None) -> str:
    """One value as a segment name writes it.

    >>> quote("Upper West Side"), quote("a, b"), quote(""), quote(None), quote("(missing)")
    ('Upper West Side', '"a, b"', '""', '(missing)', '"(missing)"')
    >>> print(quote('x]\\n"y'))
    "x]\\n\\"y"
    """
    if value is None:
        return MISSING
    if value != MISSING and _BARE.fullmatch(value):
        return value
    return json.dumps(value, ensure_ascii=False)


def name_of(values: tuple[str | None, ...]) -> str:
    """The name of the segment of ``values`` (one per `by` column).

    >>> name_of(("k0", "u")), name_of(("a, b", None))
    ('k0, u', '"a, b", (missing)')
    """
    return ", ".join(quote(v) for v in values)


def _tokens(name: str) -> list[str]:
    """The quoted values of a segment name, as written."""
    out, i = [], 0
    while True:
        if name.startswith('"', i):
            _, end = _DECODER.raw_decode(name, i)
        else:
            end = name.find(", ", i)
            end = len(name) if end < 0 else end
        out.append(name[i:end])
        if end >= len(name):
            return out
        if not name.startswith(", ", end):
            raise ValueError(f"not a segment name: {name!r}")
        i = end + 2


def values_of(name: str) -> tuple[str | None, ...]:
    """The values a segment name was made of (None: missing); the inverse of :func:`name_of`.

    >>> values_of('"a, b", (missing)'), values_of("Upper West Side")
    (('a, b', None), ('Upper West Side',))
    """
    return tuple(None if t == MISSING else json.loads(t) if t.startswith('"') else t
                 for t in _tokens(name))


def label(by: tuple[str, ...], name: str) -> str:
    """What a segment's result id puts in brackets: ``column=value`` per `by` column.

    >>> label(("listing_source",), "aggregator"), label(("a", "b"), '"x,y", (missing)')
    ('listing_source=aggregator', 'a=\"x,y\",b=(missing)')
    """
    return ",".join(f"{col}={t}" for col, t in zip(by, _tokens(name), strict=True))


def check_id(alert: str, by: tuple[str, ...], name: str) -> str:
    """A segment's result id: ``alert[column=value,...]``.

    >>> check_id("shift", ("c",), quote("x]y"))
    'shift[c="x]y"]'
    """
    return f"{alert}[{label(by, name)}]"
