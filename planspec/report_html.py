"""The HTML report of a run: one self-contained, offline file with a chart per check.

The view model is built here from :class:`Results`; charts are SVG from :mod:`planspec.charts`;
the template (``renderers/report.html.j2``, CSS inline) escapes every value (jinja autoescape), so
plan text (ids, titles, ``why``, playbook steps) can never become markup.
"""

from __future__ import annotations

import datetime
import functools
import math
from typing import Any

import jinja2

from planspec._resources import templates_dir
from planspec.charts import (
    MARKED,
    MAX_SERIES,
    Line,
    Mark,
    Point,
    Series,
    distribution_chart,
    segments_chart,
    series_chart,
)
from planspec.render import quiet_segments, segments_view
from planspec.results import CheckResult, Evidence, Results, WindowResult
from planspec.thresholds import (
    check_thresholds,
    describe,
    episodes_of,
    evidence_window,
    ordered_actions,
    ordered_firing,
)


@functools.lru_cache(maxsize=1)
def html_environment() -> jinja2.Environment:
    """The HTML template environment: autoescaping everything, strict about undefined values."""
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                              undefined=jinja2.StrictUndefined, autoescape=True,
                              trim_blocks=True, lstrip_blocks=True)


def _epoch(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _v(x: float | None) -> str:
    if x is None:
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    return f"{x:.4g}"


def _label(w: WindowResult) -> str:
    state = f"firing {w.firing}" if w.firing else w.status.replace("_", " ")
    extra = f", {w.coverage:.0%} labelled" if w.coverage is not None else ""
    return f"{w.start[:10]} to {w.end[:10]}: {_v(w.value)} ({state}; n={w.n}{extra})"


def _risk_dates(results: Results) -> dict[str, tuple[str, str]]:
    """Drift risk id → (date, title), from every place the results name one."""
    out: dict[str, tuple[str, str]] = {}
    for r in results.risks or []:
        out[r.id] = (r.date, r.title)
    for a in results.actions:
        for r in a.risks:
            out.setdefault(r.id, (r.date, r.title))
    for c in results.checks:
        if c.risk and c.active_from:
            out.setdefault(c.risk, (c.active_from, c.risk))
    return out


def _marks(c: CheckResult, risks: dict[str, tuple[str, str]]) -> list[Mark]:
    ids = {r for w in c.windows for r in (w.risks or [])}
    if c.risk:
        ids.add(c.risk)
    out = []
    for rid in sorted(ids):
        if rid in risks:
            date, title = risks[rid]
            out.append(Mark(_epoch(date if "T" in date else date + "T00:00:00Z"), rid,
                            f"drift risk {rid} ({title}) from {date[:10]}"))
    return out


def _evidence_view(e: Evidence) -> dict[str, Any]:
    rows = []
    if e.baseline is not None or e.window is not None:
        rows.append({"what": e.quantity or "value", "baseline": _v(e.baseline),
                     "window": _v(e.window)})
    if e.baseline_sd is not None or e.window_sd is not None:
        rows.append({"what": "SD", "baseline": _v(e.baseline_sd), "window": _v(e.window_sd)})
    top = [{"label": b.label, "baseline": f"{b.baseline:.1%}", "window": f"{b.window:.1%}",
            "contribution": _v(b.contribution)} for b in e.top or []]
    bins = e.bins or e.top or []
    return {"rows": rows, "top": top,
            "chart": distribution_chart([(b.label, b.baseline, b.window) for b in bins],
                                        "baseline against window") if bins else None}


def _check_view(c: CheckResult, risks: dict[str, tuple[str, str]]) -> dict[str, Any]:
    t = check_thresholds(c)
    lines = []
    if t is not None:
        for level, nums in (("warn", t.warn), ("fail", t.fail)):
            lines += [Line(level, v, describe(t, level)) for v in nums or []
                      if math.isfinite(v)]
    points = [Point(_epoch(w.start), _epoch(w.end), w.value, w.status, w.firing, _label(w),
                    w.interval, w.coverage) for w in c.windows]
    outcome = c.kind == "outcome"
    eps = episodes_of(c)
    last = c.windows[-1] if c.windows else None
    firing_windows = [w for w in c.windows if w.firing is not None]
    latest_firing = evidence_window(firing_windows)  # the last one over its threshold
    evidence = (_evidence_view(latest_firing.evidence)
                if latest_firing is not None and latest_firing.evidence is not None else None)
    return {
        "id": c.id, "anchor": "check-" + c.id, "kind": c.kind, "when": c.when,
        "warn": c.warn or "", "source": c.source, "playbook": c.playbook or "",
        "severity": c.severity,
        "window": c.window + (f" every {c.every}" if c.every else ""),
        "now": (last.firing or last.status).replace("_", " ") if last else "no windows",
        "now_class": (last.firing or last.status) if last else "none",
        "value": _v(last.value) if last else "–",
        "thresholds": [ln.caption for ln in lines[::-1]] if lines else [],
        "chart": series_chart(points, lines, _marks(c, risks), title=f"{c.id} over time",
                              show_coverage=outcome),
        "episodes": [{"from": e.start[:10], "to": e.end[:10], "level": e.level,
                      "ongoing": e.ongoing} for e in eps],
        "marked": sum(w.status in MARKED for w in c.windows),
        "evidence": evidence,
        "evidence_window": (f"{latest_firing.start[:10]} to {latest_firing.end[:10]}"
                            if latest_firing is not None else ""),
        "coverage": (f"{last.coverage:.0%}" if outcome and last and last.coverage is not None
                     else ""),
        "interval": (f"{_v(last.interval[0])} to {_v(last.interval[1])}"
                     if last and last.interval else ""),
        "risk": c.risk or "", "tighten": f"{c.tighten:.0%}" if c.tighten else "",
        # A compound condition: each comparison's value in the latest window.
        "terms": [f"{t.text}: {_v(t.value)}" for t in (last.terms or [])] if last else [],
    }


def _segment_view(s: dict[str, Any], results: Results) -> dict[str, Any]:
    """A segmented alert's summary, its firing segments worst first (each linked to its own
    card), and a chart of the worst :data:`~planspec.charts.MAX_SERIES` of them."""
    by_id = {c.id: c for c in results.checks}
    firing = [{**f, "anchor": f"check-{f['id']}"} for f in s["firing"]]
    chart = None
    if firing:
        shown = firing[:MAX_SERIES]
        head = by_id[shown[0]["id"]]
        t = check_thresholds(head)
        lines = [] if t is None else [
            Line(level, v, describe(t, level))
            for level, nums in (("warn", t.warn), ("fail", t.fail))
            for v in nums or [] if math.isfinite(v)]
        series = [Series(f"{s['by']}={f['segment']}", [
            Point(_epoch(w.start), _epoch(w.end), w.value, w.status, w.firing, _label(w))
            for w in by_id[f["id"]].windows], f"{f['level']}: {f['value']}") for f in shown]
        more = len(firing) - len(shown)
        chart = segments_chart(series, lines, more, title=f"{s['alert']} per {s['by']}: the "
                               f"{len(shown)} worst of {len(firing)} segments firing")
    return {**s, "firing": firing, "chart": chart}


def html_view(results: Results) -> dict[str, Any]:
    """Everything the HTML report shows, as plain values and ready-made SVG."""
    risks = _risk_dates(results)
    views = [_check_view(c, risks) for c in results.checks]
    # A split check's many quiet segments fold into one closed <details> (each card kept).
    quiet = quiet_segments(results)
    hidden = {i for v in quiet.values() for i in v}
    checks = [v for i, v in enumerate(views) if i not in hidden]
    order = {"fail": 0, "warn": 1}
    checks.sort(key=lambda v: order.get(v["now_class"], 2))  # firing first, plan order kept
    folded = [{"alert": name, "checks": [views[i] for i in v],
               "states": " or ".join(sorted({views[i]["now"] for i in v}))}
              for name, v in quiet.items()]
    actions = [{
        "alert": a.alert, "anchor": "check-" + a.alert, "level": a.level, "since": a.since[:10],
        "playbook": a.playbook.model_dump() if a.playbook else None,
        "escalations": [{"playbook": e.playbook.model_dump(), "why": e.why or ""}
                        for e in a.escalations],
        "risks": [r.model_dump() for r in a.risks]} for a in ordered_actions(results)]
    d, b = results.data, results.baseline
    return {
        "plan": results.plan, "version": results.planspec_version,
        "rows": f"{int(d.get('rows', 0)):,}", "start": str(d.get("start", ""))[:10],
        "end": str(d.get("end", ""))[:10], "baseline_rows": f"{int(b.get('rows', 0)):,}",
        "as_of": (results.as_of or "")[:10],
        "firing": [f.model_dump() for f in ordered_firing(results)], "actions": actions,
        "checks": checks, "folded": folded,
        "segments": [_segment_view(s, results) for s in segments_view(results)],
        "counts": {"checks": len(views), "firing": len(results.firing),
                   "fired": sum(bool(c["episodes"]) for c in checks)},
    }


def render_html(results: Results) -> str:
    """The HTML report of a run: one self-contained page (inline CSS and SVG, no script)."""
    return html_environment().get_template("report.html.j2").render(**html_view(results))
