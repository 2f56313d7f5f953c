"""Rendering with jinja2: logic-free templates in ``renderers/`` fed by view models built here."""

from __future__ import annotations

import functools
from typing import Any

import jinja2

from planspec._resources import templates_dir
from planspec.check import watched_columns
from planspec.model import Plan
from planspec.source import ParsedPlan


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template environment: strict about undefined values, stable whitespace."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                              undefined=jinja2.StrictUndefined, autoescape=False,
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def summary_view(plan: Plan) -> dict[str, Any]:
    """What a plan holds, counted, and which declared columns no alert watches."""
    watched = watched_columns(plan)
    columns = [*plan.data.features, *plan.data.predictions]
    return {
        "plan": plan.plan, "model": plan.model.name, "version": plan.model.version,
        "counts": [_count(len(plan.input_alerts), "input alert"),
                   _count(len(plan.output_alerts), "output alert"),
                   _count(len(plan.outcome_monitors), "outcome monitor"),
                   _count(len(plan.playbooks), "playbook"),
                   _count(len(plan.drift_risks), "drift risk")],
        "watched": len([c for c in columns if c in watched]), "columns": len(columns),
        "unwatched": [c for c in columns if c not in watched],
    }


def _count(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def render_summary(parsed: ParsedPlan) -> str:
    """A few lines saying what a valid plan holds (printed by ``planspec validate``)."""
    assert parsed.plan is not None
    view = summary_view(parsed.plan)
    return environment().get_template("summary.txt.j2").render(file=parsed.source_map.file, **view)
