"""Reading rendered markdown as a reader's browser would: markdown-it-py with raw HTML enabled."""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt


def tokens(text: str) -> list[Any]:
    """Block tokens of ``text`` (CommonMark with tables, raw HTML on, as GitHub renders it)."""
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"]).parse(text)


def inlines(text: str) -> list[str]:
    """The visible text of each inline run (a paragraph, heading, table cell, list item)."""
    out = []
    for t in tokens(text):
        if t.type == "inline":
            out.append("".join(" " if c.type in ("softbreak", "hardbreak") else c.content
                               for c in t.children or []))
    return out


def structure(text: str) -> list[tuple[str, str, tuple[tuple[str, object], ...]]]:
    """Every element and attribute ``text`` renders to, with the text left out."""
    out = []
    for t in tokens(text):
        out.append((t.type, t.tag, tuple(sorted(t.attrs.items()))))
        for c in t.children or []:
            if c.type not in ("text", "code_inline", "softbreak"):
                out.append((c.type, c.tag, tuple(sorted(c.attrs.items()))))
    return out
