"""Rendering with jinja2: logic-free templates in ``renderers/`` fed by view models built here."""

from __future__ import annotations

import functools
from typing import Any

import jinja2
import numpy as np

from planspec import english
from planspec._expr import format_condition
from planspec._resources import templates_dir
from planspec.check import Ctx, watched_columns
from planspec.model import Alert, OutcomeMonitor, Plan
from planspec.results import STATUS_RANK, CheckResult, Results, WindowResult
from planspec.source import ParsedPlan, SourceMap


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template environment: strict about undefined values, stable whitespace."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             undefined=jinja2.StrictUndefined, autoescape=False,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["cell"] = cell
    env.filters["code"] = english.code
    return env


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


def history(statuses: list[str], width: int = 52) -> str:
    """A one-line history of statuses, at most ``width`` marks (the worst status per mark).

    >>> history(["ok", "ok", "fail", "warn", "insufficient_data", "immature"])
    '▁▁█▅·░'
    """
    if not statuses:
        return ""
    groups = np.array_split(np.arange(len(statuses)), min(width, len(statuses)))
    return "".join(_MARKS[max((statuses[i] for i in g), key=STATUS_RANK.__getitem__)]
                   for g in groups)


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
    for seg in segments_view(results):
        lines += ["", f"{seg['alert']} by {seg['by']}: {seg['summary']}"]
        lines += [f"  {paint.get(f['level'], '')}{f['level']:<4}{reset} {seg['by']}="
                  f"{f['segment']}: {f['value']}" for f in seg["firing"]]
    if view["firing"]:
        lines += ["", "Firing now:"]
        lines += [f"  {paint.get(f['level'], '')}{f['level']:<4}{reset} {f['id']} since "
                  f"{f['since'][:10]}; playbook: {f['playbook'] or '(none)'}"
                  for f in view["firing"]]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------- runbook


def cell(text: object) -> str:
    """Text safe inside a markdown table cell: pipes escaped, lines joined."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def _where(smap: SourceMap, path: tuple[str | int, ...]) -> str:
    span = smap.span(path)
    return f"{span.file}:{span.line}" if span else smap.file


def _alert_view(a: Alert | OutcomeMonitor, kind: str, path: tuple[str | int, ...], plan: Plan,
                smap: SourceMap) -> dict[str, Any]:
    d = plan.defaults
    window = a.window or d.window
    every = getattr(a, "every", None) or (d.every if a.window is None else None)
    for_ = a.for_ if a.for_ is not None else d.for_
    keep = a.keep_firing_for if a.keep_firing_for is not None else d.keep_firing_for
    view: dict[str, Any] = {
        "id": a.id, "kind": kind, "where": _where(smap, path),
        "fail": english.describe(a.when, window), "fail_text": format_condition(a.when),
        "warn": english.describe(a.warn, window) if a.warn else "",
        "warn_text": format_condition(a.warn) if a.warn else "",
        "window": f"{english.duration(window)} windows" + (
            f", sliding every {every}" if every else " (tumbling, UTC-aligned)"),
        "persistence": english.persistence(for_, keep), "severity": a.severity,
        "playbook": a.playbook or "", "why": a.why or "",
        "min_samples": (a.min_samples if a.min_samples is not None else d.min_samples)
        if isinstance(a, Alert) else "",
    }
    by = (a.by or d.by) if isinstance(a, Alert) else None
    view["by"] = english.code(by) if by else ""
    if by:  # each segment is judged on its own: say so where the condition is read
        view["fail"] = english.per_segment(view["fail"], by)
        view["warn"] = english.per_segment(view["warn"], by) if view["warn"] else ""
    if isinstance(a, OutcomeMonitor):
        s = a.source
        view.update({
            "source": s.name, "join": s.join_key or plan.data.key or "",
            "time": s.time, "label": s.label, "weights": s.weights or "",
            "label_delay": english.spelled(a.label_delay) if a.label_delay else "",
            "min_coverage": f"{a.min_coverage:.0%}"
            if a.min_coverage >= 0.01 else f"{a.min_coverage:.1%}",
            "min_labels": a.min_labels, "biases": list(s.biases),
            "stand_ins": [english.code(x) for x in a.stand_ins]})
    return view


def runbook_view(parsed: ParsedPlan) -> dict[str, Any]:
    """Everything the runbook shows, as plain values: the template only lays it out."""
    plan, smap = parsed.plan, parsed.source_map
    assert plan is not None
    m, data = plan.model, plan.data
    ctx = Ctx(plan, smap)
    watched: dict[str, list[str]] = {}
    for path, leaf, section in ctx.leaves():
        ident = getattr(plan, section)[int(path[1])].id
        if leaf.measure.column and ident not in watched.get(leaf.measure.column, []):
            watched.setdefault(leaf.measure.column, []).append(ident)
    for mon in plan.outcome_monitors:
        col = mon.prediction or next(iter(data.predictions))
        if mon.id not in watched.get(col, []):
            watched.setdefault(col, []).append(mon.id)
    schema = [{"name": english.code(data.timestamp), "role": "timestamp", "type": "time",
               "unit": "UTC", "range": "", "description": ""}]
    if data.key:
        schema.append({"name": english.code(data.key), "role": "row key", "type": "text",
                       "unit": "", "range": "", "description": ""})
    schema += [{"name": english.code(n), "role": "feature", "type": f.type,
                "unit": cell(f.unit or ""), "range": f"{f.range[0]:g} to {f.range[1]:g}"
                if f.range else "", "description": cell(f.description or "")}
               for n, f in data.features.items()]
    schema += [{"name": english.code(n), "role": "prediction", "type": p.kind,
                "unit": "", "range": f"flags {'below' if p.flag == 'below' else 'at or above'} "
                f"{p.threshold:g}" if p.threshold is not None else "",
                "description": cell(p.description or "")} for n, p in data.predictions.items()]
    coverage = [{"column": english.code(c), "role": role,
                 "watched_by": ", ".join(english.code(a) for a in watched.get(c, [])) or
                 "**not watched**"}
                for c, role in [*((n, "feature") for n in data.features),
                                *((n, "prediction") for n in data.predictions)]]
    triggers: dict[str, list[str]] = {}
    for _s, _i, item in ctx.watchers():
        if item.playbook:
            triggers.setdefault(item.playbook, []).append(english.code(item.id))
    for r in plan.drift_risks:
        if r.playbook:
            triggers.setdefault(r.playbook, []).append(f"risk {english.code(r.id)}")
    for p in plan.playbooks:
        for e in p.escalate:
            triggers.setdefault(e.to, []).append(f"escalation from {english.code(p.id)}")
    playbooks = [{
        "id": p.id, "title": p.title, "kind": p.kind,
        "owner": p.owner, "response_time": english.spelled(p.response_time),
        "notify": ", ".join(p.notify), "steps": list(p.steps),
        "where": _where(smap, ("playbooks", i)),
        "escalations": [{"to": e.to, "when": _escalation_text(e), "why": e.why or ""}
                        for e in p.escalate],
        "triggered_by": ", ".join(triggers.get(p.id, [])) or "nothing (see PS311)"}
        for i, p in enumerate(plan.playbooks)]
    risks = [{
        "id": r.id, "title": r.title, "kind": r.kind, "where": _where(smap, ("drift_risks", i)),
        "affects": ", ".join(english.code(a) for a in r.affects),
        "caught_by": ", ".join(english.code(a) for a in r.caught_by) or "nothing declared",
        "playbook": r.playbook or "", "date": r.date.isoformat() if r.date else "",
        "heighten": _heighten_text(r), "why": r.why or ""}
        for i, r in enumerate(plan.drift_risks)]
    return {
        "plan": plan.plan, "description": plan.description or "", "model": {
            "name": m.name, "version": m.version, "task": m.task.replace("_", " "),
            "deployment": m.deployment, "owners": ", ".join(m.owners),
            "cadence": english.spelled(m.cadence),
            "description": m.description or ""},
        "source": smap.file, "schema": schema, "coverage": coverage,
        "unwatched": [english.code(c["column"].strip("`")) for c in coverage
                      if c["watched_by"] == "**not watched**"],
        "defaults": {"window": english.duration(plan.defaults.window),
                     "min_samples": plan.defaults.min_samples,
                     "correction": plan.defaults.correction},
        "input_alerts": [_alert_view(a, "input", ("input_alerts", i), plan, smap)
                         for i, a in enumerate(plan.input_alerts)],
        "output_alerts": [_alert_view(a, "output", ("output_alerts", i), plan, smap)
                          for i, a in enumerate(plan.output_alerts)],
        "monitors": [_alert_view(a, "outcome", ("outcome_monitors", i), plan, smap)
                     for i, a in enumerate(plan.outcome_monitors)],
        "playbooks": playbooks, "risks": risks}


def _escalation_text(e: Any) -> str:
    parts = []
    if e.if_firing:
        parts.append("any of " + ", ".join(english.code(x) for x in e.if_firing) +
                     " is also firing")
    if e.unless_firing:
        parts.append("none of " + ", ".join(english.code(x) for x in e.unless_firing) +
                     " is firing")
    return " and ".join(parts) or "always"


def _heighten_text(r: Any) -> str:
    h = r.heighten
    if h is None:
        return ""
    parts = [f"for {english.spelled(h.period)} after the date"]
    if h.window:
        parts.append(f"{english.duration(h.window)} windows")
    if h.tighten:
        parts.append(f"thresholds tightened by {h.tighten:.0%}")
    return ", ".join(parts) + " on the alerts that should catch it"


def render_runbook(parsed: ParsedPlan) -> str:
    """The reviewers' runbook of a valid plan, as markdown."""
    return environment().get_template("runbook.md.j2").render(**runbook_view(parsed))


# ------------------------------------------------------------------------------------ report

_SPARK = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float | None], width: int = 52) -> str:
    """Values as a unicode sparkline, at most ``width`` marks (the latest value per mark);
    missing values are spaces.

    >>> sparkline([0, 1, 2, 3, None, 7])
    '▁▂▃▄ █'
    """
    if not values:
        return ""
    groups = np.array_split(np.arange(len(values)), min(width, len(values)))
    picked = [values[g[-1]] for g in groups]
    finite = [v for v in picked if v is not None and np.isfinite(v)]
    if not finite:
        return " " * len(picked)
    lo, hi = min(finite), max(finite)
    out = []
    for v in picked:
        if v is None or not np.isfinite(v):
            out.append(" " if v is None else _SPARK[-1])
        else:
            out.append(_SPARK[0 if hi == lo else int((v - lo) / (hi - lo) * 7)])
    return "".join(out)


def report_view(results: Results) -> dict[str, Any]:
    """What fired, since when, what to do, why it might have happened, and every history."""
    base = results_view(results)
    by_id = {c.id: c for c in results.checks}
    firing = []
    for f in results.firing:
        c = by_id[f.id]
        last = next((w for w in reversed(c.windows) if w.value is not None), None)
        firing.append({"id": f.id, "level": f.level, "since": f.since[:10],
                       "value": _value(last.value) if last else "–",
                       "window": f"{last.start[:10]} to {last.end[:10]}" if last else "",
                       "when": cell(c.when), "playbook": f.playbook or "–"})
    actions = [{
        "alert": a.alert, "level": a.level, "since": a.since[:10],
        "playbook": a.playbook.model_dump() if a.playbook else None,
        "escalations": [{"playbook": e.playbook.model_dump(), "why": e.why or ""}
                        for e in a.escalations],
        "risks": [r.model_dump() for r in a.risks]} for a in results.actions]
    # The per-check rows results_view built (history, fired, windows), with the value trend.
    histories = [{**row, "window": c.window, "statuses": row["history"],
                  "trend": sparkline([w.value for w in c.windows]), "latest": row["value"]}
                 for row, c in zip(base["checks"], results.checks, strict=True)]
    monitors = [{
        "id": c.id, "first_fail": c.first_fail[:10] if c.first_fail else "",
        "known": c.first_fail_known_at[:10] if c.first_fail_known_at else "",
        "latest": next(({"window": f"{w.start[:10]} to {w.end[:10]}", "value": _value(w.value),
                         "labels": w.labels, "coverage": f"{(w.coverage or 0):.1%}",
                         "ess": _value(w.effective_n)}
                        for w in reversed(c.windows) if w.value is not None), None),
        "immature": sum(w.status == "immature" for w in c.windows),
        "stand_ins": ", ".join(f"{english.code(k)}: {v}" for k, v in
                               (c.windows[-1].stand_ins or {}).items()) if c.windows else ""}
        for c in results.checks if c.kind == "outcome"]
    heightened = [{"id": c.id, "risk": c.risk, "from": (c.active_from or "")[:10],
                   "to": (c.active_to or "")[:10], "tighten": f"{(c.tighten or 0):.0%}",
                   "fired": sum(w.firing is not None for w in c.windows)}
                  for c in results.checks if c.risk]
    outcomes = [{"source": name, **counts} for name, counts in (results.outcomes or {}).items()]
    return {**base, "as_of": (results.as_of or "")[:10], "firing_rows": firing,
            "segments": segments_view(results),
            "actions": actions, "history": histories, "monitors": monitors,
            "heightened": heightened, "outcome_counts": outcomes}


def segments_view(results: Results) -> list[dict[str, Any]]:
    """Per segmented alert: how many segments were tested, unseen or left out, and the
    segments firing now, worst first (fail before warn, then the larger latest value's size)."""
    out = []
    firing = {f.id: f for f in results.firing}
    for s in results.segments or []:
        rows: list[dict[str, Any]] = []
        for c in results.checks:
            f = firing.get(c.id)
            if f is None or c.by != s.by or c.id.split("[")[0] != s.alert:
                continue
            last = next((w.value for w in reversed(c.windows) if w.value is not None), None)
            rows.append({"segment": c.segment, "level": f.level, "since": f.since[:10],
                         "value": _value(last), "rank": (f.level == "fail",
                                                         abs(last) if last is not None else 0.0)})
        rows.sort(key=lambda r: r["rank"], reverse=True)
        summary = f"{s.tested} segment{'s' if s.tested != 1 else ''} tested"
        if s.unseen:
            summary += f", {len(s.unseen)} unseen in the baseline ({', '.join(s.unseen)})"
        if s.dropped:
            summary += f", {s.dropped} left out by the segment cap"
        summary += f"; {len(rows)} firing" if rows else "; none firing"
        out.append({"alert": s.alert, "by": s.by, "summary": summary, "firing": rows})
    return out


def render_report(results: Results) -> str:
    """The readable report of a run, as markdown."""
    return environment().get_template("report.md.j2").render(**report_view(results))
