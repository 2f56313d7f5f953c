"""The one door to package data: the grammar and the renderer templates.

In a wheel they are inside the package (``planspec/_data/``, mapped there by the build); in a source
checkout they are the top-level ``grammar/`` and ``renderers/`` folders.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _dir(name: str) -> Path:
    packaged = Path(str(resources.files("planspec"))) / "_data" / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / name


def grammar_path() -> Path:
    """The path of the lark grammar."""
    return _dir("grammar") / "planspec.lark"


def templates_dir() -> Path:
    """The folder of jinja2 templates."""
    return _dir("renderers")
