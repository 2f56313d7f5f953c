"""Rendering with jinja2: logic-free templates in ``renderers/`` fed by view models built here."""

from __future__ import annotations

import functools
import math
from typing import Any

import jinja2
from markupsafe import Markup

from planspec import _segid, english
from planspec._expr import format_condition
from planspec._resources import templates_dir
from planspec.check import Ctx
from planspec.english import Markdown
from planspec.model import (
    Alert,
    AllOf,
    AnyOf,
    Compare,
    OutcomeMonitor,
    Plan,
    Threshold,
    segment_by,
)
from planspec.results import (
    STATUS_RANK,
    CheckResult,
    Evidence,
    Results,
    WindowResult,
)
from planspec.source import ParsedPlan, SourceMap
from planspec.thresholds import (
    check_thresholds,
    evidence_window,
    firing_segments,
    firing_window,
    ordered_actions,
    ordered_firing,
)


def _inert(value: object) -> str:
    """Every value a markdown template prints passes here, the one place plan text is escaped
    for it: markdown-escaped on one line (terminal text goes through :func:`english.line`, e.g.
    :func:`english.plan_summary`). Markup built from escaped parts
    (:class:`~planspec.english.Markdown`, e.g. a ``code`` span) is printed as it is."""
    if isinstance(value, Markup):  # a macro's output
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = english.number(value)  # every number as the command line prints it
    return Markup(english.md(value))


@functools.lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The template environment: strict about undefined values, stable whitespace, and every
    printed value made inert (:func:`_inert`). Autoescape is on only so that macro output
    counts as markup; what is escaped, and how, is decided by :func:`_inert`, not HTML rules."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             undefined=jinja2.StrictUndefined, autoescape=True,
                             finalize=_inert,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["cell"] = cell
    env.filters["code"] = english.code
    return env


# ------------------------------------------------------------------------------- run results

_MARKS = {"ok": "▁", "warn": "▅", "fail": "█", "insufficient_data": "·", "immature": "░",
          "partial": "◦"}


def _split(n: int, parts: int) -> list[range]:
    """``range(n)`` in ``parts`` consecutive groups, the first ``n % parts`` one longer (as
    numpy's ``array_split``; numpy stays unloaded for commands that only render text)."""
    size, extra = divmod(n, parts)
    bounds = [i * size + min(i, extra) for i in range(parts + 1)]
    return [range(bounds[i], bounds[i + 1]) for i in range(parts)]


def history(statuses: list[str], width: int = 52) -> str:
    """A one-line history of statuses, at most ``width`` marks (the worst status per mark).

    >>> history(["ok", "ok", "fail", "warn", "insufficient_data", "immature"])
    '▁▁█▅·░'
    """
    if not statuses:
        return ""
    groups = _split(len(statuses), min(width, len(statuses)))
    return "".join(_MARKS[max((statuses[i] for i in g), key=STATUS_RANK.__getitem__)]
                   for g in groups)


def episodes(check: CheckResult) -> list[dict[str, str]]:
    """Runs of consecutive windows in which the check fired: from, to (exclusive), worst level;
    a run still firing after the last judged window is ongoing (to: "", ongoing: "yes")."""
    out: list[dict[str, str]] = []
    judged = [w for w in check.windows if w.status != "partial"]
    for run in _episode_runs(check):
        level = "fail" if any(r.firing == "fail" for r in run) else "warn"
        known = run[0].known_at[:10] if run[0].known_at else ""
        ongoing = run[-1] is judged[-1]
        out.append({"from": run[0].start[:10], "to": "" if ongoing else run[-1].end[:10],
                    "level": level, "known": known, "ongoing": "yes" if ongoing else ""})
    return out


def _episode_runs(check: CheckResult) -> list[list[WindowResult]]:
    """The windows of each firing episode of ``check``, oldest first (partial windows, not
    judged, left out)."""
    runs: list[list[WindowResult]] = [[]]
    for w in (w for w in check.windows if w.status != "partial"):
        if w.firing is not None:
            runs[-1].append(w)
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def results_view(results: Results) -> dict[str, Any]:
    """What a reader of a run needs, per check: now, value, condition, episodes, history."""
    rows = []
    for c in results.checks:
        last = c.windows[-1] if c.windows else None
        rows.append({
            "id": c.id, "kind": c.kind, "window": c.window + (f"/{c.every}" if c.every else ""),
            "now": (last.firing or last.status) if last else "–",
            "value": english.quantity(c.statistic, last.value) if last else "–",
            "statistic": english.statistic_label(c.statistic), "when": c.when, "source": c.source,
            "episodes": episodes(c), "history": history([w.status for w in c.windows]),
            "fired": sum(w.firing is not None for w in c.windows), "windows": len(c.windows),
        })
    return {"plan": results.plan, "data": results.data, "baseline": results.baseline,
            "checks": rows, "firing": [f.model_dump() for f in ordered_firing(results)],
            "as_of": results.as_of or ""}


#: More quiet segments of one split check than this fold into one line of the text table.
QUIET_SEGMENTS = 5


def quiet_segments(results: Results) -> dict[str, list[int]]:
    """Per split check with more than :data:`QUIET_SEGMENTS` segments that never fired and are
    not failing or warning now, the indexes of those segments' checks in ``results.checks``:
    the outputs fold them (twenty quiet districts would bury the rows that matter)."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(results.checks):
        last = c.windows[-1] if c.windows else None
        if c.segment is not None and all(w.firing is None for w in c.windows) and (
                last is None or last.status not in ("fail", "warn")):
            groups.setdefault(c.id.split("[", 1)[0], []).append(i)
    return {k: v for k, v in groups.items() if len(v) > QUIET_SEGMENTS}


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[:max(width - 1, 0)] + "…"


def render_results_text(results: Results, colour: bool = False, width: int = 100) -> str:
    """A compact table for a terminal ``width`` columns wide (ANSI colour when ``colour``), then
    what fired and when, and what is firing now."""
    view = results_view(results)
    paint = {"fail": "\x1b[31;1m", "warn": "\x1b[33m"} if colour else {}
    reset = "\x1b[0m" if colour else ""
    d = view["data"]
    lines = [f"{view['plan']}: {len(view['checks'])} checks on {english.number(d['rows'])} rows, "
             f"{str(d['start'])[:10]} to {str(d['end'])[:10]} "
             f"(baseline {english.number(view['baseline']['rows'])} rows)", ""]
    # A split check's many quiet segments fold into one line.
    folded = {k: [view["checks"][i] for i in v] for k, v in quiet_segments(results).items()}
    hidden = {id(r) for v in folded.values() for r in v}
    shown = [(r, c) for r, c in zip(view["checks"], results.checks, strict=True)
             if id(r) not in hidden]
    rows = [r for r, _ in shown]
    fired = [f"{r['fired']}/{r['windows']}" for r in rows]

    def w(header: str, values: list[str]) -> int:
        return max([len(header), *map(len, values)])

    kind, window = w("KIND", [r["kind"] for r in rows]), w("WINDOW", [r["window"] for r in rows])
    now, value = w("NOW", [r["now"] for r in rows]), w("VALUE", [r["value"] for r in rows])
    count = w("FIRED", fired)
    others = kind + window + now + value + count + 2 * 6
    # The history takes what is left (none below 8 marks); long check ids give way first.
    ident = min(w("CHECK", [r["id"] for r in rows]), max(12, width - others - 8))
    marks = width - others - ident
    lines.append(f"{'CHECK':<{ident}}  {'KIND':<{kind}}  {'WINDOW':<{window}}  {'NOW':<{now}}  "
                 f"{'VALUE':>{value}}  {'FIRED':>{count}}  {'HISTORY' if marks >= 8 else ''}")
    for (r, c), f in zip(shown, fired, strict=True):
        state = r["now"]
        lines.append(f"{_fit(r['id'], ident):<{ident}}  {r['kind']:<{kind}}  "
                     f"{r['window']:<{window}}  {paint.get(state, '')}{state:<{now}}{reset}  "
                     f"{r['value']:>{value}}  {f:>{count}}  "
                     f"{history([x.status for x in c.windows], marks) if marks >= 8 else ''}")
    for name, quiet in folded.items():
        states = sorted({r["now"] for r in quiet})
        more = " more" if any(c.id.startswith(name + "[") for _, c in shown) else ""
        lines.append(f"{name}: {len(quiet)}{more} segments never fired (now "
                     f"{' or '.join(states)}; each in --format json and the report)")
    episodes_ = [(r["id"], e) for r in rows for e in r["episodes"]]
    lines += ["", "What fired and when:" if episodes_ else "Nothing fired."]
    for name, e in episodes_:
        known = f" (could first be known {e['known']})" if e["known"] else ""
        span = f"since {e['from']} (ongoing)" if e["ongoing"] else f"{e['from']} to {e['to']}"
        lines.append(f"  {paint.get(e['level'], '')}{e['level']:<4}{reset} {name}: "
                     f"{span}{known}")
    for seg in segments_view(results):
        lines += ["", f"{seg['alert']} by {seg['by']}: {seg['summary']}"]
        lines += [f"  {paint.get(f['level'], '')}{f['level']:<4}{reset} "
                  f"{_segid.label(tuple(seg['by'].split(',')), f['segment'])}: {f['value']}"
                  + (f" ({f['threshold']})" if f["threshold"] else "") + f" since {f['since']}"
                  for f in seg["firing"]]
    if view["firing"]:
        lines += ["", "Firing now:"]
        by_id = {c.id: c for c in results.checks}
        for f in view["firing"]:
            lines.append(f"  {paint.get(f['level'], '')}{f['level']:<4}{reset} {f['id']} since "
                         f"{f['since'][:10]} (ongoing); playbook: {f['playbook'] or '(none)'}")
            lines += ["       " + english.line(row) for row in _evidence_text(by_id[f["id"]])]
    partial = [r["id"] for r in view["checks"] if r["now"] == "partial"]
    if partial:
        lines += ["", f"Partial windows (not over at {str(view['as_of'])[:19]}, shown but not "
                  f"judged): {', '.join(partial)}"]
    return "\n".join(line.rstrip() for line in lines) + "\n"


# ---------------------------------------------------------------------------------- evidence

_SHARES = {"missing rate", "out of range rate", "new category rate", "rate", "share"}


def _number(x: float | None, share: bool = False) -> str:
    """A number for evidence as the reports print numbers; shares as percentages."""
    if share and x is not None:
        return english.number(x * 100) + "%"
    return english.number(x)


def evidence_table(e: Evidence) -> tuple[list[str], list[list[str]]]:
    """A window's evidence as a small table of text cells: a header and rows (the top bins or
    categories with their shares and contributions, or the compared baseline and window values).

    >>> evidence_table(Evidence(quantity="mean", baseline=2310.4, window=4380.0,
    ...                         baseline_sd=610.0, window_sd=1240.0))
    (['', 'baseline', 'window'], [['mean', '2,310', '4,380'], ['SD', '610', '1,240']])
    """
    if e.top:  # KS and Wasserstein have no per-bin terms: their bins have no contribution
        parts = any(b.contribution is not None for b in e.top)
        return (["bin or category", "baseline", "window", *(["contribution"] if parts else [])],
                [[b.label, _number(b.baseline, True), _number(b.window, True),
                  *([_number(b.contribution)] if parts else [])] for b in e.top])
    share = e.quantity in _SHARES
    rows = [[e.quantity or "value", _number(e.baseline, share), _number(e.window, share)]]
    if e.baseline_sd is not None or e.window_sd is not None:
        rows.append(["SD", _number(e.baseline_sd), _number(e.window_sd)])
    return ["", "baseline", "window"], rows


def _evidence_text(check: CheckResult) -> list[str]:
    """The evidence of a check's current firing episode, as aligned lines for a terminal."""
    runs = _episode_runs(check)
    w = evidence_window(runs[-1]) if runs else None
    if w is None or w.evidence is None:
        return []
    header, rows = evidence_table(w.evidence)
    header[0] = f"{w.start[:10]} to {w.end[:10]}"
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return ["  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                      for i, c in enumerate(r)).rstrip() for r in table]


def _episode_evidence(check: CheckResult, run: list[WindowResult]) -> dict[str, Any] | None:
    """What explains one firing episode (its windows ``run``) for the report: the window, its
    value, and its evidence as table cells (bins and categories, being data, in code spans)."""
    w = evidence_window(run)
    if w is None or w.evidence is None:
        return None
    header, rows = evidence_table(w.evidence)
    cells: list[list[str]] = [[english.code(r[0]), *r[1:]] for r in rows] if w.evidence.top \
        else [list(r) for r in rows]
    return {"window": f"{w.start[:10]} to {w.end[:10]}",
            "value": english.quantity(check.statistic, w.value), "when": check.when,
            "header": header, "rows": cells}


# ----------------------------------------------------------------------------------- runbook


def cell(text: object) -> Markdown:
    """Text safe inside a markdown table cell: pipes and other markup escaped, lines joined."""
    return english.md(text)


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
        "fail": Markdown(english.describe(a.when, window)), "fail_text": format_condition(a.when),
        "warn": Markdown(english.describe(a.warn, window)) if a.warn else "",
        "warn_text": format_condition(a.warn) if a.warn else "",
        "window": f"{english.duration(window)} windows" + (
            f", sliding every {every}" if every else " (tumbling, UTC-aligned)"),
        "persistence": english.persistence(for_, keep), "severity": a.severity,
        "playbook": a.playbook or "", "why": a.why or "",
        "min_samples": (a.min_samples if a.min_samples is not None else d.min_samples)
        if isinstance(a, Alert) else "",
    }
    cols = segment_by(a.by, d.by)
    view["by"] = Markdown(", ".join(english.code(c) for c in cols))
    view["split"] = Markdown(english.split_note(cols, isinstance(a, OutcomeMonitor), d.correction,
                                                inherited=a.by is None))
    view["filter"] = Markdown(english.rows_where(a.where)) if a.where is not None else ""
    if isinstance(a, OutcomeMonitor) and cols and d.correction != "none":
        # A split monitor's interval is widened for its segments: its bounds are not 95% ones.
        for part in ("fail", "warn"):
            view[part] = Markdown(str(view[part]).replace(
                "the 95% confidence interval", "the confidence interval (95%, widened for the "
                "segments judged)"))
    if cols or a.where is not None:  # judged per segment: say so where the condition is read
        view["fail"] = Markdown(english.per_segment(str(view["fail"]), cols, a.where))
        view["warn"] = Markdown(english.per_segment(str(view["warn"]), cols, a.where)) \
            if a.warn else ""
    if isinstance(a, OutcomeMonitor):
        s = a.source
        view.update({
            "source": s.name, "join": s.join_key or plan.data.key or "",
            "time": s.time, "label": s.label, "weights": s.weights or "",
            "label_delay": english.spelled(a.label_delay) if a.label_delay else "",
            "min_coverage": f"{a.min_coverage:.0%}"
            if a.min_coverage >= 0.01 else f"{a.min_coverage:.1%}",
            "min_labels": a.min_labels, "biases": list(s.biases),
            "stand_ins": Markdown(", ".join(english.code(x) for x in a.stand_ins)),
            "interval": _interval_note(a), "widened": bool(cols) and d.correction != "none"})
    return view


def _interval_note(a: OutcomeMonitor) -> str:
    """How the monitor's metric interval is computed, and for a proportion how wide it is at
    the threshold with `min_labels` unweighted labels."""
    import numpy as np

    from planspec.outcomes import wilson

    head = a.when
    while isinstance(head, (AllOf, AnyOf)):
        head = head.terms[0]
    stat = head.measure.stat
    note = english.interval_method(stat)
    t = head.threshold if isinstance(head, Compare) else head.low
    if stat in english.PROPORTIONS and isinstance(t, Threshold) and 0 <= t.amount <= 1:
        lo, hi = wilson(np.array([t.amount]), np.array([float(a.min_labels)]))
        note += (f"; at {english.number(t.amount)} with {a.min_labels} labels it spans "
                 f"{english.number(float(lo[0]))} to {english.number(float(hi[0]))}")
    return note


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
                 "watched_by": Markdown(", ".join(english.code(a) for a in watched.get(c, [])) or
                                        "**not watched**")}
                for c, role in [*((n, "feature") for n in data.features),
                                *((n, "prediction") for n in data.predictions)]]
    triggers: dict[str, list[str]] = {}
    for _s, _i, item in ctx.watchers():
        if item.playbook:
            triggers.setdefault(item.playbook, []).append(english.code(item.id))
    for r in plan.drift_risks:
        if r.playbook:
            triggers.setdefault(r.playbook, []).append(Markdown(f"risk {english.code(r.id)}"))
    for p in plan.playbooks:
        for e in p.escalate:
            triggers.setdefault(e.to, []).append(
                Markdown(f"escalation from {english.code(p.id)}"))
    playbooks = [{
        "id": p.id, "title": p.title, "kind": p.kind,
        "owner": p.owner, "response_time": english.spelled(p.response_time),
        "notify": ", ".join(p.notify), "steps": list(p.steps),
        "where": _where(smap, ("playbooks", i)),
        "escalations": [{"to": e.to, "when": Markdown(_escalation_text(e)), "why": e.why or ""}
                        for e in p.escalate],
        "triggered_by": Markdown(", ".join(triggers.get(p.id, [])) or "nothing (see PS311)")}
        for i, p in enumerate(plan.playbooks)]
    risks = [{
        "id": r.id, "title": r.title, "kind": r.kind, "where": _where(smap, ("drift_risks", i)),
        "affects": Markdown(", ".join(english.code(a) for a in r.affects)),
        "caught_by": Markdown(", ".join(english.code(a) for a in r.caught_by) or
                              "nothing declared"),
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
        "unwatched": Markdown(", ".join(english.code(c) for c in [*data.features, *data.predictions]
                                        if not watched.get(c))),
        "defaults": {"window": english.duration(plan.defaults.window),
                     "min_samples": plan.defaults.min_samples,
                     "correction": plan.defaults.correction,
                     "by": Markdown(", ".join(english.code(c) for c in
                                              segment_by(None, plan.defaults.by)))},
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


def render_runbook(parsed: ParsedPlan, power: list[Any] | None = None) -> str:
    """The reviewers' runbook of a valid plan, as markdown; with ``power`` (a table from
    :func:`planspec.power.analyze_power`) each alert also shows what the baseline says it does.
    """
    view = runbook_view(parsed)
    if power:
        from planspec.power import power_cells

        cells = {row.id: power_cells(row) for row in power}
        for group in ("input_alerts", "output_alerts", "monitors"):
            for a in view.get(group, []):
                a["power"] = cells.get(a["id"])
    return environment().get_template("runbook.md.j2").render(**view)


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
    groups = _split(len(values), min(width, len(values)))
    picked = [values[g[-1]] for g in groups]
    finite = [v for v in picked if v is not None and math.isfinite(v)]
    if not finite:
        return " " * len(picked)
    lo, hi = min(finite), max(finite)
    out = []
    for v in picked:
        if v is None or not math.isfinite(v):
            out.append(" " if v is None else _SPARK[-1])
        else:
            out.append(_SPARK[0 if hi == lo else int((v - lo) / (hi - lo) * 7)])
    return "".join(out)


def report_view(results: Results) -> dict[str, Any]:
    """What fired, since when, what to do, why it might have happened, and every history."""
    base = results_view(results)
    by_id = {c.id: c for c in results.checks}
    firing = []
    for f in ordered_firing(results):
        c = by_id[f.id]
        last = next((w for w in reversed(c.windows)
                     if w.value is not None and w.status != "partial"), None)
        firing.append({"id": f.id, "level": f.level, "since": f.since[:10],
                       "value": english.quantity(c.statistic, last.value) if last else "–",
                       "statistic": english.statistic_label(c.statistic),
                       "window": f"{last.start[:10]} to {last.end[:10]}" if last else "",
                       "when": c.when, "playbook": f.playbook or "–"})
    actions = [{
        "alert": a.alert, "level": a.level, "since": a.since[:10],
        "playbook": a.playbook.model_dump() if a.playbook else None,
        "escalations": [{"playbook": e.playbook.model_dump(), "why": e.why or ""}
                        for e in a.escalations],
        "risks": [r.model_dump() for r in a.risks]} for a in ordered_actions(results)]
    # The per-check rows results_view built (history, fired, windows), with the value trend.
    histories = [{**row, "window": c.window, "statuses": row["history"],
                  "trend": sparkline([w.value for w in c.windows]), "latest": row["value"]}
                 for row, c in zip(base["checks"], results.checks, strict=True)]
    monitors = [{
        "id": c.id, "first_fail": c.first_fail[:10] if c.first_fail else "",
        "known": c.first_fail_known_at[:10] if c.first_fail_known_at else "",
        "latest": next(({"window": f"{w.start[:10]} to {w.end[:10]}",
                         "value": english.quantity(c.statistic, w.value),
                         "interval": f"{english.number(w.lower)} to {english.number(w.upper)}"
                         + (f" ({c.interval_level:.2%})" if c.interval_level else "")
                         if w.lower is not None and w.upper is not None else "–",
                         "labels": w.labels, "coverage": f"{(w.coverage or 0):.1%}",
                         "ess": english.number(w.effective_n)}
                        for w in reversed(c.windows) if w.value is not None), None),
        "immature": sum(w.status == "immature" for w in c.windows),
        "stand_ins": Markdown(", ".join(f"{english.code(k)}: {english.md(v)}" for k, v in
                                        (c.windows[-1].stand_ins or {}).items()))
        if c.windows else ""}
        for c in results.checks if c.kind == "outcome"]
    heightened = [{"id": c.id, "risk": c.risk, "from": (c.active_from or "")[:10],
                   "to": (c.active_to or "")[:10], "tighten": f"{(c.tighten or 0):.0%}",
                   "fired": sum(w.firing is not None for w in c.windows)}
                  for c in results.checks if c.risk]
    outcomes = [{"source": name, **counts} for name, counts in (results.outcomes or {}).items()]
    fired = [{"id": r["id"], **e, "evidence": _episode_evidence(c, run)}
             for r, c in zip(base["checks"], results.checks, strict=True)
             for e, run in zip(r["episodes"], _episode_runs(c), strict=True)]
    return {**base, "as_of": (results.as_of or "")[:10], "firing_rows": firing, "fired": fired,
            "segments": segments_view(results),
            "actions": actions, "history": histories, "monitors": monitors,
            "heightened": heightened, "outcome_counts": outcomes}


def _threshold_text(c: CheckResult, level: str) -> str:
    """The threshold of ``level`` in the unit values are shown in: ``fail > 10%``, ``warn
    outside 2 SD–4 SD`` (empty when unknown)."""
    t = check_thresholds(c)
    nums = (t.fail if level == "fail" else t.warn) if t is not None else None
    if t is None or not nums:
        return ""
    shown = [english.quantity(c.statistic, v) for v in nums]
    if t.op in ("between", "not_between"):
        return f"{level} {'inside' if t.op == 'between' else 'outside'} {shown[0]}–{shown[1]}"
    return f"{level} {t.op} {shown[0]}"


def segments_view(results: Results) -> list[dict[str, Any]]:
    """Per segmented alert: how many segments were tested, unseen or left out, and the
    segments firing now, worst first (fail before warn, then the farther past its threshold:
    :func:`~planspec.thresholds.worst_first`), each with its value in the window it fires in
    and the threshold it is past."""
    out = []
    for s in results.segments or []:
        rows: list[dict[str, Any]] = []
        for f, c in firing_segments(results, s):
            w = firing_window(c)
            rows.append({"id": c.id, "segment": c.segment, "level": f.level,
                         "since": f.since[:10],
                         "value": english.quantity(c.statistic, w.value if w else None),
                         "threshold": _threshold_text(c, f.level)})
        summary = f"{s.tested} segment{'s' if s.tested != 1 else ''} tested"
        if s.unseen:
            summary += f", {len(s.unseen)} unseen in the baseline ({', '.join(s.unseen)})"
        if s.dropped:
            summary += f", {s.dropped} left out by the segment cap"
        summary += f"; {len(rows)} firing" if rows else "; none firing"
        out.append({"alert": s.alert, "by": s.by, "tested": s.tested, "summary": summary,
                    "firing": rows})
    return out


def render_report(results: Results) -> str:
    """The readable report of a run, as markdown."""
    return environment().get_template("report.md.j2").render(**report_view(results))
