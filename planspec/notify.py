"""Notifications of firing alerts: what to send (deduplicated against a state), the payload of each
kind of target, and delivery over HTTP with retries, backoff and a timeout.

An *episode* is a run of firing windows of one check, named ``CHECK@SINCE`` (``since`` is the
start of its first firing window, as in ``Results.firing``). Each target is told about an episode
once when it starts firing, again if it escalates from warn to fail, and once when it resolves
(it no longer fires in the latest window). The state records, per episode and target, only what
that target acknowledged (HTTP 2xx); a failed delivery is tried again on the next run.

Targets (``KIND:URL``):

- ``webhook:URL``: ``POST`` of one JSON object per event (see :func:`event_payload`);
- ``slack:URL``: a Slack incoming-webhook message (``text`` and ``blocks``);
- ``alertmanager:URL``: Alertmanager's v2 API, ``POST URL/api/v2/alerts`` with a list of one
  alert (labels ``alertname``, ``severity``, ``plan``, ``check``, ``kind``; annotations with the
  summary, description, runbook URL; ``startsAt``, and ``endsAt`` when resolved). Alertmanager
  resolves an alert by itself at ``endsAt``, so a firing alert carries
  ``endsAt = now + alertmanager_ttl`` and is re-sent once half of that has passed.
"""

from __future__ import annotations

import datetime
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from planspec import _segid
from planspec.results import Action, CheckResult, Results, alert_of
from planspec.thresholds import (
    check_thresholds,
    describe,
    episodes_of,
    firing_segments,
    worst_first,
)

KINDS = ("webhook", "slack", "alertmanager")
STATE_VERSION = 1
PAYLOAD_VERSION = 1


class NotifyError(Exception):
    """A bad target or state file: a message for the user."""


@dataclass(frozen=True)
class Target:
    """Where to send: the kind of receiver and its URL, as written (``slack:https://…``)."""

    kind: Literal["webhook", "slack", "alertmanager"]
    url: str

    @property
    def name(self) -> str:
        """The target as written on the command line (the key in the state file)."""
        return f"{self.kind}:{self.url}"


def parse_target(text: str) -> Target:
    """A ``KIND:URL`` target.

    >>> parse_target("webhook:http://127.0.0.1:9/hook")
    Target(kind='webhook', url='http://127.0.0.1:9/hook')
    >>> parse_target("pager:http://x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    planspec.notify.NotifyError: 'pager:http://x': a target is KIND:URL with KIND one of ...
    """
    kind, _, url = text.partition(":")
    if kind not in KINDS:
        raise NotifyError(f"{text!r}: a target is KIND:URL with KIND one of {', '.join(KINDS)}")
    if not url.startswith(("http://", "https://")):
        raise NotifyError(f"{text!r}: the URL must start with http:// or https://")
    return Target(kind, url)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Event:
    """One thing to tell a target: an episode that started firing, escalated or resolved."""

    key: str
    status: Literal["firing", "resolved"]
    reason: Literal["new", "escalated", "resolved", "refresh"]
    check: CheckResult | None
    check_id: str
    level: str
    since: str
    ends: str | None


@dataclass
class State:
    """What each target acknowledged: episode key → target name → ``{"level", "until"}``."""

    episodes: dict[str, dict[str, dict[str, str | None]]] = field(default_factory=dict)

    @classmethod
    def loads(cls, text: str) -> State:
        """Read a state file's text; :class:`NotifyError` if it is not one."""
        try:
            data = json.loads(text)
            if data.get("version") != STATE_VERSION or not isinstance(data["episodes"], dict):
                raise ValueError("not a planspec notify state (version 1)")
            return cls({str(k): {str(t): dict(v) for t, v in targets.items()}
                        for k, targets in data["episodes"].items()})
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise NotifyError(f"the state file cannot be read: {e}") from None

    def dumps(self) -> str:
        """The state as JSON text."""
        return json.dumps({"version": STATE_VERSION, "episodes": self.episodes},
                          indent=1, sort_keys=True) + "\n"


def _iso(t: datetime.datetime) -> str:
    return t.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pending(results: Results, target: Target, state: State, now: datetime.datetime,
            ttl: datetime.timedelta) -> list[Event]:
    """What ``target`` has not been told yet: episodes firing now that it never heard of (or
    heard of at warn and that now fail), and episodes it heard of that no longer fire."""
    by_id = {c.id: c for c in results.checks}
    out: list[Event] = []
    firing_keys = set()
    # Worst first (fail before warn, then the farther past its threshold): the segments of
    # one alert are separate episodes, told in that order too.
    for f in sorted(results.firing, key=lambda f: worst_first(by_id.get(f.id), f.level)):
        key = f"{f.id}@{f.since}"
        firing_keys.add(key)
        sent = state.episodes.get(key, {}).get(target.name)
        reason: Literal["new", "escalated", "refresh"] | None = None
        if sent is None or sent.get("level") == "resolved":
            reason = "new"
        elif sent.get("level") == "warn" and f.level == "fail":
            reason = "escalated"
        elif target.kind == "alertmanager" and sent.get("until") and \
                now >= _parse(str(sent["until"])) - ttl / 2:
            reason = "refresh"
        if reason:
            out.append(Event(key, "firing", reason, by_id.get(f.id), f.id, f.level, f.since,
                             None))
    for key, targets in state.episodes.items():
        sent = targets.get(target.name)
        if key in firing_keys or sent is None or sent.get("level") == "resolved":
            continue
        check_id, _, since = key.rpartition("@")
        check = by_id.get(check_id)
        episode = next((e for e in episodes_of(check) if e.start == since), None) \
            if check else None
        ends = episode.end if episode is not None else _iso(now)
        out.append(Event(key, "resolved", "resolved", check, check_id,
                         str(sent.get("level")), since, ends))
    return out


def _parse(iso: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _latest_firing(check: CheckResult | None) -> tuple[float | None, str]:
    if check is None:
        return None, ""
    w = next((w for w in reversed(check.windows) if w.firing is not None), None)
    return (w.value, f"{w.start} to {w.end}") if w else (None, "")


def _threshold(check: CheckResult | None, level: str) -> str:
    t = check_thresholds(check) if check is not None else None
    if t is None or (level == "warn" and not t.warn):
        return ""
    return describe(t, level)


def event_payload(results: Results, e: Event, runbook_url: str | None) -> dict[str, Any]:
    """The documented JSON of a ``webhook:`` event (``version`` 1)::

        {"version": 1, "plan": "...", "status": "firing" | "resolved",
         "reason": "new" | "escalated" | "resolved" | "refresh",
         "alert": "CHECK", "episode": "CHECK@SINCE", "kind": "input" | "output" | "outcome",
         "level": "warn" | "fail", "severity": "...", "since": "...", "ends": null | "...",
         "window": "START to END", "value": 2.8, "threshold": "fail > 2",
         "when": "...", "warn": "...", "source": "plan:line:col",
         "by": null | "COLUMN", "segment": null | "VALUE",
         "segments": null | {"tested": 4, "firing": ["VALUE", ...], "rank": 1},
         "playbook": null | {"id", "title", "kind", "owner", "response_time", "notify", "steps"},
         "escalations": [...], "risks": [...], "runbook_url": null | "..."}
    """
    c = e.check
    value, window = _latest_firing(c)
    action: Action | None = next((a for a in results.actions if a.alert == e.check_id), None)
    return {
        "version": PAYLOAD_VERSION, "plan": results.plan, "status": e.status,
        "reason": e.reason, "alert": e.check_id, "episode": e.key,
        "kind": c.kind if c else None, "level": e.level, "severity": c.severity if c else None,
        "since": e.since, "ends": e.ends, "window": window,
        "value": value if value is None or abs(value) != float("inf") else str(value),
        "threshold": _threshold(c, e.level), "when": c.when if c else None,
        "warn": c.warn if c else None, "source": c.source if c else None,
        "by": c.by if c else None, "segment": c.segment if c else None,
        "segments": _segments(results, c),
        "playbook": action.playbook.model_dump() if action and action.playbook else None,
        "escalations": [x.model_dump() for x in action.escalations] if action else [],
        "risks": [r.model_dump() for r in action.risks] if action else [],
        "runbook_url": _runbook(runbook_url, e.check_id),
    }


def _segments(results: Results, c: CheckResult | None) -> dict[str, Any] | None:
    """For a segment of a segmented alert: how many segments were tested, those firing now
    (worst first) and where this one ranks among them (None when it does not fire now)."""
    if c is None or c.segment is None:
        return None
    summary = next((s for s in results.segments or []
                    if s.by == c.by and s.alert == alert_of(c.id)), None)
    if summary is None:
        return None
    firing = [x.segment for _, x in firing_segments(results, summary)]
    return {"tested": summary.tested, "firing": firing,
            "rank": firing.index(c.segment) + 1 if c.segment in firing else None}


def _segment_line(p: dict[str, Any]) -> str:
    """A segment's place among its alert's firing segments, as a line of a message:
    ``segment c=k2, the worst of 2 segments firing (4 tested): k2, k1``."""
    seg = p["segments"]
    if seg is None:
        return ""
    head = _segid.label(tuple(p["by"].split(",")), p["segment"])
    shown = ", ".join(seg["firing"][:10]) + (f" and {len(seg['firing']) - 10} more"
                                             if len(seg["firing"]) > 10 else "")
    n = len(seg["firing"])
    if seg["rank"] is None:
        where = f"no longer firing; {n} of {seg['tested']} segments tested fire now"
    elif n == 1:
        where = f"the only one of {seg['tested']} segments tested firing"
    else:
        rank = "the" if seg["rank"] == 1 else _ordinal(seg["rank"])
        where = f"{rank} worst of {n} segments firing ({seg['tested']} tested)"
    return f"segment {head}, {where}" + (f": {shown}" if n > 1 else "")


def _ordinal(n: int) -> str:
    """1st, 2nd, 3rd, 11th, 22nd.

    >>> [_ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22)]
    ['1st', '2nd', '3rd', '4th', '11th', '12th', '13th', '21st', '22nd']
    """
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _runbook(url: str | None, check: str) -> str | None:
    return url.replace("{check}", check) if url else None


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_payload(results: Results, e: Event, runbook_url: str | None) -> dict[str, Any]:
    """A Slack incoming-webhook message: the alert, its value against the threshold, and the
    playbook's owner and steps (plan text escaped as Slack requires)."""
    p = event_payload(results, e, runbook_url)
    esc = _slack_escape
    if e.status == "resolved":
        head = f"✅ *Resolved*: `{esc(e.check_id)}` ({esc(results.plan)}) stopped firing " \
               f"({esc(e.since[:10])} to {esc((e.ends or '')[:10])})"
    else:
        word = "Escalated to fail" if e.reason == "escalated" else f"Firing ({e.level})"
        head = f"{'🔴' if e.level == 'fail' else '🟠'} *{word}*: `{esc(e.check_id)}` " \
               f"({esc(results.plan)}) since {esc(e.since[:10])}"
    lines = [head]
    if e.status == "firing":
        value = p["value"]
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        window = " to ".join(t[:10] for t in p["window"].split(" to "))
        lines.append(f"Value {esc(shown)} in {esc(window)}; "
                     f"{esc(p['threshold'] or p['when'] or '')}")
        if p["segments"] is not None:
            lines.append(esc(_segment_line(p)[0].upper() + _segment_line(p)[1:]))
        pb = p["playbook"]
        if pb:
            lines.append(f"Playbook *{esc(pb['title'])}*: owner {esc(pb['owner'])}, respond "
                         f"within {esc(pb['response_time'])}")
            lines += [f"{i}. {esc(s)}" for i, s in enumerate(pb["steps"], 1)]
    if p["runbook_url"]:
        lines.append(f"<{p['runbook_url']}|Runbook>")
    text = "\n".join(lines)
    return {"text": text, "blocks": [{"type": "section",
                                      "text": {"type": "mrkdwn", "text": text[:3000]}}]}


def alertmanager_payload(results: Results, e: Event, runbook_url: str | None,
                         now: datetime.datetime, ttl: datetime.timedelta) -> list[dict[str, Any]]:
    """Alertmanager v2 ``PostableAlert`` list (``POST /api/v2/alerts``) of one alert."""
    p = event_payload(results, e, runbook_url)
    labels = {"alertname": e.check_id, "severity": p["severity"] or "none",
              "plan": results.plan, "check": e.check_id, "kind": p["kind"] or "unknown"}
    if p["segment"] is not None:  # a segment of a segmented alert: routable by its value
        labels["segment"] = _segid.label(tuple(p["by"].split(",")), p["segment"])
    summary = (f"{e.check_id} fires at {e.level} since {e.since[:10]}" if e.status == "firing"
               else f"{e.check_id} resolved")
    description = "; ".join(x for x in (
        f"value {p['value']} in {p['window']}" if p["value"] is not None else "",
        p["threshold"] or "", f"condition {p['when']}" if p["when"] else "",
        f"playbook {p['playbook']['title']} (owner {p['playbook']['owner']})"
        if p["playbook"] else "") if x)
    annotations = {"summary": summary, "description": description, "level": e.level}
    if p["segments"] is not None:
        annotations["segments"] = _segment_line(p)
    if p["runbook_url"]:
        annotations["runbook_url"] = p["runbook_url"]
    alert: dict[str, Any] = {"labels": labels, "annotations": annotations, "startsAt": e.since,
                             "endsAt": e.ends if e.status == "resolved" else _iso(now + ttl)}
    if p["runbook_url"]:
        alert["generatorURL"] = p["runbook_url"]
    return [alert]


def _post(url: str, body: Any, timeout: float, retries: int, backoff: float,
          sleep: Callable[[float], None]) -> str | None:
    """POST JSON; None on a 2xx answer, else why it failed after ``retries`` more tries (only
    network errors, timeouts, 429 and 5xx are tried again)."""
    data = json.dumps(body).encode()
    why = ""
    for attempt in range(retries + 1):
        if attempt:
            sleep(backoff * 2 ** (attempt - 1))
        req = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "planspec-notify"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                r.read()
                return None
        except urllib.error.HTTPError as err:
            why = f"HTTP {err.code} {err.reason}"
            if err.code != 429 and err.code < 500:
                return why
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            reason = getattr(err, "reason", err)
            why = f"no answer ({reason})" if isinstance(reason, TimeoutError | str) \
                else f"{type(reason).__name__}: {reason}"
    return f"{why} after {retries + 1} tries"


@dataclass(frozen=True)
class Delivery:
    """The outcome of sending one event to one target: ``error`` is None when delivered."""

    target: Target
    event: Event
    error: str | None


def notify(results: Results, targets: list[Target], state: State, *,
           runbook_url: str | None = None, now: datetime.datetime | None = None,
           timeout: float = 10.0, retries: int = 3, backoff: float = 1.0,
           alertmanager_ttl: datetime.timedelta = datetime.timedelta(days=7),
           sleep: Callable[[float], None] = time.sleep) -> list[Delivery]:
    """Send every pending event to every target, recording in ``state`` what each delivered.

    A failing target does not stop the others; its events stay pending for the next run.
    """
    now = now or datetime.datetime.now(datetime.UTC)
    out: list[Delivery] = []
    for target in targets:
        for e in pending(results, target, state, now, alertmanager_ttl):
            url = target.url
            body: Any
            if target.kind == "webhook":
                body = event_payload(results, e, runbook_url)
            elif target.kind == "slack":
                body = slack_payload(results, e, runbook_url)
            else:
                url = target.url.rstrip("/") + "/api/v2/alerts"
                body = alertmanager_payload(results, e, runbook_url, now, alertmanager_ttl)
            error = _post(url, body, timeout, retries, backoff, sleep)
            out.append(Delivery(target, e, error))
            if error is None:
                _record(state, target, e, now, alertmanager_ttl)
    return out


def _record(state: State, target: Target, e: Event, now: datetime.datetime,
            ttl: datetime.timedelta) -> None:
    targets = state.episodes.setdefault(e.key, {})
    if e.status == "resolved":
        targets[target.name] = {"level": "resolved", "until": None}
        if all(v.get("level") == "resolved" for v in targets.values()):
            del state.episodes[e.key]  # every target has heard the end of it
        return
    until = _iso(now + ttl) if target.kind == "alertmanager" else None
    targets[target.name] = {"level": e.level, "until": until}
