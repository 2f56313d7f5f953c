"""Run-time actions from judged checks: playbooks and escalations for what fires, drift risks
that could explain a firing, and stand-in alerts for monitors whose labels are not in."""

from __future__ import annotations

import datetime
from typing import Any

from planspec.compile import (
    CheckProgram,
)
from planspec.engine.windows import iso
from planspec.results import (
    STATUS_RANK,
    Action,
    CheckResult,
    Escalated,
    Firing,
    PlaybookInfo,
    RiskInfo,
    alert_of,
)


def annotate_risks(program: CheckProgram, checks: list[CheckResult]) -> None:
    """Mark firing windows that start after a drift risk's date with the risks that could
    explain them: those naming the alert in `caught_by` or its column in `affects`."""
    risks = [(r, program.risk_dates[r.id]) for r in program.plan.drift_risks
             if r.id in program.risk_dates]
    for c in checks:
        base = alert_of(c.id)
        related = [(r.id, when) for r, when in risks
                   if base in r.caught_by or (c.column is not None and c.column in r.affects)]
        if not related:
            continue
        for i, w in enumerate(c.windows):
            if w.firing is None:
                continue
            start = int(datetime.datetime.fromisoformat(w.start.replace("Z", "+00:00"))
                        .timestamp())
            names = [rid for rid, when in related if start >= when]
            if names:
                c.windows[i] = w.model_copy(update={"risks": names})


def _playbook_info(p: Any) -> PlaybookInfo:
    return PlaybookInfo(id=p.id, title=p.title, kind=p.kind, owner=p.owner,
                        response_time=str(p.response_time), notify=list(p.notify),
                        steps=list(p.steps))


def playbook_actions(program: CheckProgram, firing: list[Firing], checks: list[CheckResult]
             ) -> list[Action]:
    """For each alert firing now, its playbook and the escalations its plan declares: an
    escalation applies when one of its `if_firing` alerts fires too (or it names none) and none
    of its `unless_firing` alerts do."""
    plan = program.plan
    books = {p.id: p for p in plan.playbooks}
    risks = {r.id: r for r in plan.drift_risks}
    firing_ids = {alert_of(f.id) for f in firing}
    by_id = {c.id: c for c in checks}
    out = []
    for f in firing:
        book = books.get(f.playbook or "")
        escalations = []
        for e in book.escalate if book else ():
            if (not e.if_firing or firing_ids & set(e.if_firing)) and \
                    not firing_ids & set(e.unless_firing) and e.to in books:
                escalations.append(Escalated(playbook=_playbook_info(books[e.to]), why=e.why))
        latest = by_id[f.id].windows[-1] if by_id[f.id].windows else None
        named = latest.risks if latest and latest.risks else []
        info = [RiskInfo(id=r.id, title=r.title, kind=r.kind,
                         date=iso(program.risk_dates[r.id])[:10])
                for r in (risks[n] for n in named)]
        out.append(Action(alert=f.id, level=f.level, since=f.since,
                          playbook=_playbook_info(book) if book else None,
                          escalations=escalations, risks=info))
    return out


def stand_ins(checks: list[CheckResult]) -> None:
    """For monitor windows that cannot be scored yet (immature, or too few labels), the worst
    status of each stand-in alert over the same period."""
    by_id = {c.id: c for c in checks}
    for c in checks:
        if c.kind != "outcome" or not c.stand_ins:
            continue
        for i, w in enumerate(c.windows):
            if w.status not in ("immature", "insufficient_data"):
                continue
            seen = {}
            for sid in c.stand_ins:
                other = by_id.get(sid)
                overlapping = [x.status for x in other.windows
                               if x.start < w.end and x.end > w.start] if other else []
                if overlapping:
                    seen[sid] = max(overlapping, key=STATUS_RANK.__getitem__)
            c.windows[i] = w.model_copy(update={"stand_ins": seen or None})
