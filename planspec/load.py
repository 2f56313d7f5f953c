"""Loading a plan file: pick the front end by suffix, then run semantic validation.

This is the library's edge for plan files: it never raises for a bad plan, only returns diagnostics.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path as FsPath

from planspec.check import check_plan
from planspec.diagnostics import has_errors, make, sort_key
from planspec.parse import parse_plan
from planspec.parse_yaml import parse_yaml
from planspec.source import ParsedPlan, SourceMap

YAML_SUFFIXES = (".yaml", ".yml")
PLAN_SUFFIXES = (".plan",)


class PlanFileError(Exception):
    """A plan file that cannot be read at all (missing, unreadable, unknown suffix)."""


@contextlib.contextmanager
def _no_gc_pauses() -> Iterator[None]:
    """Loading builds many small objects and no garbage worth collecting; the cyclic
    collector's full passes over them made big plans load in more than linear time (measured:
    1.24 ms per alert at 5,000 alerts, 0.94 at 1,000, with it; 0.96 and 0.81 without). It is
    switched off while loading and back on after, as it was.

    Switched back on, the collector's next pass would still walk every object the load made
    (they are all young: about 0.05 ms per alert, a tenth of a big plan's load) only to find
    them alive. A loaded plan is long-lived data, so the objects go straight to the oldest
    generation instead (``gc.freeze()`` then ``gc.unfreeze()``: moving lists, no walk), where
    full collections see them as they see any old object. Only when nothing else is frozen:
    ``unfreeze`` would release what the program froze itself (e.g. before forking)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def parse_text(text: str, file: str) -> ParsedPlan:
    """Parse plan text with the front end its file name calls for (no semantic checks)."""
    if file.endswith(YAML_SUFFIXES):
        return parse_yaml(text, file)
    if file.endswith(PLAN_SUFFIXES):
        return parse_plan(text, file)
    raise PlanFileError(f"{file}: planspec reads plans ending in "
                        f"{', '.join(PLAN_SUFFIXES + YAML_SUFFIXES)}")


def load_plan(path: str | FsPath) -> ParsedPlan:
    """Parse and validate a plan file; every finding is in ``diagnostics``.

    Raises :class:`PlanFileError` only when the file cannot be read at all.

    >>> parsed = load_plan("plans/rental_inspector.yaml")
    >>> parsed.plan.plan, parsed.diagnostics
    ('rental_fmv_inspector', ())
    """
    file = str(path)
    try:
        raw = FsPath(path).read_bytes()
    except OSError as e:
        raise PlanFileError(f"{file}: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        code = "PS110" if file.endswith(PLAN_SUFFIXES) else "PS101"  # syntax, as the file's
        return ParsedPlan(None, SourceMap(file), (make(
            code, f"the file is not UTF-8 text (byte {e.start})"),), "")
    with _no_gc_pauses():
        parsed = parse_text(text, file)
        if parsed.plan is None or has_errors(parsed.diagnostics):
            return parsed
        found = (*parsed.diagnostics, *check_plan(parsed.plan, parsed.source_map))
    return ParsedPlan(parsed.plan, parsed.source_map, tuple(sorted(found, key=sort_key)),
                      parsed.text)
