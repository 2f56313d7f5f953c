"""Hand-made results for renderer, metrics and notification tests: a check's windows are given as
``(value, status, firing)`` triples, one per day from Monday 2026-01-05."""

from __future__ import annotations

import datetime
from typing import Any

from planspec.results import (
    Action,
    CheckResult,
    Firing,
    PlaybookInfo,
    Results,
    RiskInfo,
    WindowResult,
)
from planspec.thresholds import episodes_of

START = datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC)


def iso(day: int) -> str:
    return (START + datetime.timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ")


def windows(rows: list[tuple[float | None, str, str | None]], **extra: Any
            ) -> list[WindowResult]:
    return [WindowResult.model_validate({"start": iso(i), "end": iso(i + 1), "n": 100,
                                         "value": v, "status": s, "firing": f, **extra})
            for i, (v, s, f) in enumerate(rows)]


def check(id: str, rows: list[tuple[float | None, str, str | None]], *,
          when: str = "psi(x) > 0.25", warn: str | None = "psi(x) > 0.1", kind: str = "input",
          playbook: str | None = "triage", **fields: Any) -> CheckResult:
    ws = fields.pop("windows", None) or windows(rows)
    return CheckResult.model_validate({
        "id": id, "kind": kind, "column": "x", "statistic": "psi", "when": when, "warn": warn,
        "source": "plans/t.plan:3:5", "playbook": playbook, "severity": "high", "window": "1d",
        "windows": ws, **fields})


PLAYBOOK = PlaybookInfo(id="triage", title="Triage feature drift", kind="investigate",
                        owner="model on-call", response_time="1d", notify=["#oncall"],
                        steps=["Rule out the pipeline", "Decide real-world vs artefact"])


def results(*checks: CheckResult, plan: str = "t", risks: list[RiskInfo] | None = None
            ) -> Results:
    """Results whose ``firing`` and ``actions`` follow from the checks' latest windows."""
    firing, actions = [], []
    for c in checks:
        ongoing = [e for e in episodes_of(c) if e.ongoing]
        if not ongoing:
            continue
        last, since = c.windows[-1], ongoing[0].start
        assert last.firing is not None
        firing.append(Firing(id=c.id, kind=c.kind, level=last.firing, since=since,
                             playbook=c.playbook, severity=c.severity))
        actions.append(Action(alert=c.id, level=last.firing, since=since,
                              playbook=PLAYBOOK if c.playbook else None, escalations=[],
                              risks=risks or []))
    n = max((len(c.windows) for c in checks), default=0)
    return Results(plan=plan, planspec_version="0.0", baseline={"rows": 1000},
                   data={"rows": 100 * n, "start": iso(0), "end": iso(n)}, windows=[],
                   checks=list(checks), firing=firing, actions=actions)
