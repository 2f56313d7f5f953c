"""Judging only what a new run can change: a store keeps its last run's judged alerts beside
its sums, and the next run re-judges, per window grid, only the windows from the first one the
run can change (the rest are taken from the store as they were judged).

What a run can change, per window grid:

- windows over a bucket that received rows (the new day, late rows for an old bucket, a live
  source's held-back bucket judged last time and read again now), including every sliding
  window over it;
- windows whose completeness changed with the as-of clock, and windows the grid did not have;
- every later window whose firing may follow from them (``for`` N windows, ``keep_firing_for``):
  firing is a state machine run forward over the windows, so the re-judged stretch starts at a
  window the state machine enters as it starts (no streak, no clean count, not firing: found by
  running it over the stored statuses) and runs to the end.

The correction across a window's tests holds within one window, and every test of a window is
judged again together.

Outcome monitors are judged whole on every run (late outcomes reach any old window, and their
maturity moves with the clock). Anything else (the plan, the baseline, the events' risk dates,
planspec's own code, the judged segments) changes the key the judgement was stored under, and
the run judges everything.
"""

from __future__ import annotations

import gc
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from pydantic import TypeAdapter, ValidationError
from pydantic_core import to_json

from planspec.compile import CheckProgram, Rule, WindowSpec
from planspec.data import DataError
from planspec.engine import store as st
from planspec.engine.gather import cumulative
from planspec.engine.judge import LEVELS, fresh
from planspec.engine.windows import Grid
from planspec.profile import Profile, plan_fingerprint
from planspec.results import CheckResult

JUDGED = st.JUDGED
_CHECKS = TypeAdapter(list[CheckResult])


@dataclass
class Prior:
    """A run's judgement as the next run reuses it: the key it is valid under, each window
    grid's windows (starts, ends, complete), every check's result, and the buckets it judged
    that the store does not hold (a live source's held-back bucket: it changes next run)."""

    key: str
    grids: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    checks: list[CheckResult]
    provisional: np.ndarray


def spec_key(spec: WindowSpec) -> str:
    """A window grid's name in a stored judgement."""
    return f"{spec.length}{spec.unit}/{spec.step}"


@cache
def _code() -> str:
    """A digest of planspec's own source: a judgement is reused only by the code that made it."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parents[1]
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def judgement_key(program: CheckProgram, profile: Profile, since: dict[str, dict[str, int]],
                  judge_partial: bool) -> str:
    """What a stored judgement must have been made with to be reused."""
    parts = {"code": _code(), "plan": plan_fingerprint(program),
             "profile": hashlib.sha256(profile.model_dump_json().encode()).hexdigest(),
             "risk_dates": program.risk_dates, "since": since, "judge_partial": judge_partial}
    return "sha256:" + hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def encode(prior: Prior) -> bytes:
    """A judgement as the bytes of the store's ``judged.json`` (floats exact, inf and NaN
    kept)."""
    grids = {k: [s.tolist(), e.tolist(), c.tolist()] for k, (s, e, c) in prior.grids.items()}
    head = json.dumps({"key": prior.key, "grids": grids,
                       "provisional": prior.provisional.tolist()})
    checks = to_json(prior.checks, inf_nan_mode="constants")
    return b'{"head": ' + head.encode() + b', "checks": ' + checks + b"}\n"


def decode(data: bytes, where: str) -> Prior:
    """The judgement in ``data`` (a store's ``judged.json`` at ``where``); a damaged one is a
    located PS431."""
    enabled = gc.isenabled()
    gc.disable()  # thousands of small objects and no garbage: a full collection would cost
    try:          # more than the decoding (0.1-0.4 s against 0.03 s, measured in a nightly run)
        split = data.index(b', "checks": ')
        head = json.loads(data[len(b'{"head": '):split])
        checks = _CHECKS.validate_json(data[split + len(b', "checks": '):data.rindex(b"}")])
        grids = {k: (np.asarray(s, dtype=np.int64), np.asarray(e, dtype=np.int64),
                     np.asarray(c, dtype=bool)) for k, (s, e, c) in head["grids"].items()}
        return Prior(str(head["key"]), grids, checks,
                     np.asarray(head["provisional"], dtype=np.int64))
    except (ValueError, KeyError, TypeError, ValidationError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DataError("PS431", f"{where}: cannot read the stored judgement: {first}",
                        "the store is damaged; delete this file and the next run judges "
                        "every window again") from None
    finally:
        if enabled:
            gc.enable()


def _first_changed(g: Grid, old: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
                   touched: np.ndarray) -> int:
    """The first window of ``g`` a run can change: one the last run did not judge the same way
    (another start, end or completeness, or new), or one over a ``touched`` bucket (local
    bucket indexes)."""
    n = g.starts.size
    if old is None:
        return 0
    starts, ends, complete = old
    m = min(n, starts.size)
    same = (starts[:m] == g.starts[:m]) & (ends[:m] == g.ends[:m]) & \
        (complete[:m] == g.complete[:m])
    first = m if same.all() else int(np.argmin(same))
    if touched.size:
        size = int(max(touched.max(), g.hi.max(initial=0))) + 1
        marks = np.zeros(size)
        marks[touched[touched >= 0]] = 1.0
        hit = np.flatnonzero(g.total(cumulative(marks)) > 0)
        if hit.size:
            first = min(first, int(hit[0]))
    return first


def _fresh_by(check: CheckResult, rule: Rule, index: dict[str, int], wanted: int) -> int:
    """The latest grid window at or before ``wanted`` from which ``check``'s firing state
    machine runs as from the start, given its windows as judged (see
    :func:`planspec.engine.judge.fresh`). Windows outside an alert's active period are not in
    its result and never reach its state machine."""
    at = [index[w.start] for w in check.windows]
    before = int(np.searchsorted(np.asarray(at, dtype=np.int64), wanted))  # windows before it
    levels = [LEVELS.get(w.status, -1) for w in check.windows[:before]]
    k = fresh(levels, rule.for_, rule.keep_firing_for)[-1]
    return wanted if k == before else (0 if k == 0 else at[k - 1] + 1)


def cuts(program: CheckProgram, prior: Prior, grids: dict[WindowSpec, Grid],
         touched: np.ndarray) -> dict[WindowSpec, int] | None:
    """Per window grid, the first window to judge again (the ones before it are the prior's),
    or None when the prior cannot be used (a check it does not know)."""
    rules = {r.id: r for r in program.rules}
    first = {spec: min(_first_changed(g, prior.grids.get(spec_key(spec)), touched),
                       max(g.starts.size - 1, 0)) for spec, g in grids.items()}
    out = dict(first)
    index: dict[WindowSpec, dict[str, int]] = {}
    for check in prior.checks:
        if check.kind == "outcome":
            continue
        rule = rules.get(check.id.split("[")[0])
        if rule is None:
            return None
        spec = rule.window
        if spec not in index:
            index[spec] = {s: i for i, s in enumerate(grids[spec].iso()[0])}
        if any(w.start not in index[spec] for w in check.windows):
            return None
        out[spec] = min(out[spec], _fresh_by(check, rule, index[spec], first[spec]))
    return out


def sub_grid(g: Grid, start: int) -> Grid:
    """The windows of ``g`` from ``start`` on."""
    return Grid(g.spec, g.lo[start:], g.hi[start:], g.starts[start:], g.ends[start:],
                g.complete[start:])


def splice(prior: Prior, fresh: list[CheckResult], grids: dict[WindowSpec, Grid],
           at: dict[WindowSpec, int], program: CheckProgram) -> list[CheckResult] | None:
    """The alerts' results: each prior result's windows before its grid's cut, then the
    windows judged now. None when the alerts judged now are not the prior's (another choice of
    segments): then everything is judged again."""
    old = [c for c in prior.checks if c.kind != "outcome"]
    if [c.id for c in old] != [c.id for c in fresh]:
        return None
    rules = {r.id: r for r in program.rules}
    out = []
    for before, now in zip(old, fresh, strict=True):
        spec = rules[now.id.split("[")[0]].window
        g = grids[spec]
        if at[spec] == 0:
            out.append(now)
            continue
        cut = g.iso()[0][at[spec]]
        kept = [w for w in before.windows if w.start < cut]
        out.append(now.model_copy(update={"windows": kept + list(now.windows)}))
    return out


def grid_record(grids: dict[WindowSpec, Grid]) -> dict[str, tuple[np.ndarray, np.ndarray,
                                                                 np.ndarray]]:
    """Each grid's windows as a stored judgement records them."""
    return {spec_key(s): (g.starts, g.ends, g.complete) for s, g in grids.items()}

