"""Rendering with jinja2: logic-free templates in ``renderers/`` fed by view models built here."""

from __future__ import annotations

import functools
from typing import Any

import jinja2
import numpy as np

from planspec._resources import templates_dir
from planspec.check import watched_columns
from planspec.model import Plan
from planspec.results import CheckResult, Results, WindowResult
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


# ------------------------------------------------------------------------------- run results

_MARKS = {"ok": "▁", "warn": "▅", "fail": "█", "insufficient_data": "·", "immature": "░"}
_RANK = {"immature": 0, "insufficient_data": 0, "ok": 1, "warn": 2, "fail": 3}


def history(statuses: list[str], width: int = 52) -> str:
    """A one-line history of statuses, at most ``width`` marks (the worst status per mark).

    >>> history(["ok", "ok", "fail", "warn", "insufficient_data", "immature"])
    '▁▁█▅·░'
    """
    if not statuses:
        return ""
    groups = np.array_split(np.arange(len(statuses)), min(width, len(statuses)))
    return "".join(_MARKS[max((statuses[i] for i in g), key=_RANK.__getitem__)] for g in groups)


def episodes(check: CheckResult) -> list[dict[str, str]]:
    """Runs of consecutive windows in which the check fired: from, to (exclusive), worst level."""
    out: list[dict[str, str]] = []
    run: list[WindowResult] = []
    for w in [*check.windows, None]:
        if w is not None and w.firing is not None:
            run.append(w)
            continue
        if run:
            level = "fail" if any(r.firing == "fail" for r in run) else "warn"
            known = run[0].known_at[:10] if run[0].known_at else ""
            out.append({"from": run[0].start[:10], "to": run[-1].end[:10], "level": level,
                        "known": known})
            run = []
    return out


def _value(x: float | None) -> str:
    if x is None:
        return "–"
    if x in (float("inf"), float("-inf")):
        return "∞" if x > 0 else "-∞"
    return f"{x:.3g}" if abs(x) < 1e5 else f"{x:.3e}"


def results_view(results: Results) -> dict[str, Any]:
    """What a reader of a run needs, per check: now, value, condition, episodes, history."""
    rows = []
    for c in results.checks:
        last = c.windows[-1] if c.windows else None
        rows.append({
            "id": c.id, "kind": c.kind, "window": c.window + (f"/{c.every}" if c.every else ""),
            "now": (last.firing or last.status) if last else "–",
            "value": _value(last.value) if last else "–", "when": c.when, "source": c.source,
            "episodes": episodes(c), "history": history([w.status for w in c.windows]),
            "fired": sum(w.firing is not None for w in c.windows), "windows": len(c.windows),
        })
    return {"plan": results.plan, "data": results.data, "baseline": results.baseline,
            "checks": rows, "firing": [f.model_dump() for f in results.firing]}


def render_results_text(results: Results, colour: bool = False) -> str:
    """A compact table for a terminal (ANSI colour when ``colour``), then what fired and when."""
    view = results_view(results)
    paint = {"fail": "\x1b[31;1m", "warn": "\x1b[33m"} if colour else {}
    reset = "\x1b[0m" if colour else ""
    d = view["data"]
    lines = [f"{view['plan']}: {len(view['checks'])} checks on {d['rows']:,} rows, "
             f"{str(d['start'])[:10]} to {str(d['end'])[:10]} "
             f"(baseline {view['baseline']['rows']:,} rows)", ""]
    width = max(len(r["id"]) for r in view["checks"]) if view["checks"] else 5
    lines.append(f"{'CHECK':<{width}}  {'KIND':<6} {'WINDOW':<7} {'NOW':<17} {'VALUE':>9}  "
                 f"{'FIRED':>7}  HISTORY")
    for r in view["checks"]:
        now = r["now"]
        lines.append(f"{r['id']:<{width}}  {r['kind']:<6} {r['window']:<7} "
                     f"{paint.get(now, '')}{now:<17}{reset} {r['value']:>9}  "
                     f"{r['fired']:>3}/{r['windows']:<3}  {r['history']}")
    fired = [(r["id"], e) for r in view["checks"] for e in r["episodes"]]
    lines += ["", "What fired and when:" if fired else "Nothing fired."]
    for ident, e in fired:
        known = f" (could first be known {e['known']})" if e["known"] else ""
        lines.append(f"  {paint.get(e['level'], '')}{e['level']:<4}{reset} {ident}: "
                     f"{e['from']} to {e['to']}{known}")
    if view["firing"]:
        lines += ["", "Firing now:"]
        lines += [f"  {paint.get(f['level'], '')}{f['level']:<4}{reset} {f['id']} since "
                  f"{f['since'][:10]}; playbook: {f['playbook'] or '(none)'}"
                  for f in view["firing"]]
    return "\n".join(lines) + "\n"


def render_results_markdown(results: Results) -> str:
    """The run as a markdown summary (the full report comes with `planspec report`)."""
    return environment().get_template("check.md.j2").render(**results_view(results))
