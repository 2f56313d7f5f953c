"""Running a compiled program: read the data, gather sums, build window grids, compute, judge
and assemble the results."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import numpy as np

from planspec.compile import (
    CheckProgram,
    StatKey,
    WindowSpec,
    window_spec,
)
from planspec.data import DataError, Frame, check_bucket_budget, load_frame
from planspec.engine.actions import annotate_risks, playbook_actions, stand_ins
from planspec.engine.evidence import dated_risks, explain
from planspec.engine.gather import Buckets, cumulative, gather
from planspec.engine.judge import adjust, judge_monitor, judge_rule
from planspec.engine.windows import Grid, compute, iso
from planspec.outcomes import (
    load_outcome_inputs,
)
from planspec.profile import (
    Profile,
    build_profile,
    check_profile,
)
from planspec.profile_check import histogram_bins
from planspec.results import (
    CheckResult,
    Firing,
    Results,
    WindowInfo,
)

Progress = Callable[[str], None]


def _as_of(as_of: Any, times: np.ndarray) -> int:
    if as_of is None:
        return int(times.max())
    if isinstance(as_of, (int, np.integer)):
        return int(as_of)
    if isinstance(as_of, str):
        try:
            as_of = datetime.datetime.fromisoformat(as_of.replace("Z", "+00:00"))
        except ValueError:
            raise DataError("PS404", f"--as-of `{as_of}` is not a time",
                            "write it as ISO 8601, e.g. 2026-11-29T00:00:00Z") from None
    if isinstance(as_of, datetime.date) and not isinstance(as_of, datetime.datetime):
        as_of = datetime.datetime(as_of.year, as_of.month, as_of.day)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=datetime.UTC)
    return int(as_of.timestamp())


def run_program(program: CheckProgram, data: Any, baseline: Any,
                progress: Progress | None = None, outcomes: Any = None,
                as_of: Any = None, judge_partial: bool = False) -> Results:
    """Run ``program`` on ``data`` against ``baseline`` (a :class:`Profile` or baseline data),
    with ``outcomes`` by source name for the outcome monitors, looking from ``as_of``.
    Windows not over at ``as_of`` (or begun before the data) are partial: shown, not judged,
    unless ``judge_partial``."""
    say = progress or (lambda _msg: None)
    if isinstance(baseline, Profile):
        profile = baseline
    else:
        say("profiling the baseline")
        profile = build_profile(program, baseline)
        if any(leaf.level is not None for r in program.rules for leaf in r.fail.leaves()
               + (r.warn.leaves() if r.warn else [])):
            from planspec.calibrate import calibrate_profile  # it imports the engine's stages

            say("replaying the baseline for calibrated thresholds")
            profile = calibrate_profile(program, profile, baseline)
    check_profile(program, profile)
    say("reading data")
    kinds: dict[str, str] = {name: need.kind for name, need in program.columns.items()}
    given = load_outcome_inputs(outcomes, program.monitors)
    for m in program.monitors:
        kinds.setdefault(m.prediction, "numeric")
        if m.source.name in given:  # the key is needed only to join outcomes
            kinds.setdefault(m.join_key, "categorical")
            for col in m.scored_columns:
                kinds.setdefault(col, "numeric")
    frame = load_frame(data, program.timestamp, kinds, "data")
    now = _as_of(as_of, frame.times)
    check_bucket_budget(int(frame.times.min()), int(frame.times.max()), program.bucket,
                        histogram_bins(program, profile), frame.where)
    tz = program.timezone
    b = Buckets.of(frame.times, program.bucket, tz)
    say(f"gathering {frame.rows:,} rows into {b.count:,} buckets")
    sums = gather(program, frame, profile, b)
    rows_cum = cumulative(b.sum())
    t_min, t_max = int(frame.times.min()), int(frame.times.max())
    specs = {*program.windows, *(m.window for m in program.monitors)}
    # -- as-of and partial windows (decisions): every grid knows which windows are complete.
    grids = {spec: Grid.of(spec, b, t_min, t_max, now, tz) for spec in specs}
    rows = {spec: g.total(rows_cum) for spec, g in grids.items()}
    say(f"computing {len(program.stats)} statistics over {len(grids)} window grids")
    computed = {key: compute(key, grids[key.window], rows[key.window], sums, profile)
                for key in program.stats}
    leaf_values: dict[int, np.ndarray] = {}
    pvalue_keys: dict[WindowSpec, list[StatKey]] = {}
    for rule in program.rules:
        for node in (rule.fail, rule.warn):
            for leaf in node.leaves() if node else []:
                if leaf.measure.part == "pvalue":
                    pvalue_keys.setdefault(leaf.key.window, [])
                    if leaf.key not in pvalue_keys[leaf.key.window]:
                        pvalue_keys[leaf.key.window].append(leaf.key)
    adjusted: dict[StatKey, np.ndarray] = {}
    for keys in pvalue_keys.values():
        p = np.stack([computed[k].pvalue for k in keys])  # type: ignore[misc]
        adj = adjust(p, program.correction)
        adjusted.update({k: adj[i] for i, k in enumerate(keys)})
    checks = [judge_rule(rule, grids[rule.window], rows[rule.window], computed, adjusted, profile,
                         leaf_values, judge_partial, program.correction)
              for rule in program.rules]
    sources: dict[str, dict[str, int]] = {}
    for m in program.monitors:
        say(f"joining outcomes for {m.id}")
        checks.append(judge_monitor(m, grids[m.window], frame, b, given.get(m.source.name),
                                     now, sources, judge_partial))
    checks = explain(program, checks, grids, rows, sums, profile, computed)
    stand_ins(checks)
    annotate_risks(program, checks)
    results = _results(program, profile, frame, grids, rows, checks)
    return results.model_copy(update={"as_of": iso(now), "outcomes": sources or None,
                                      "actions": playbook_actions(program, results.firing, checks),
                                      "risks": dated_risks(program)})


def _results(program: CheckProgram, profile: Profile, frame: Frame, grids: dict[WindowSpec, Grid],
             rows: dict[WindowSpec, np.ndarray], checks: list[CheckResult]) -> Results:
    from planspec import __version__

    default = min(grids, key=lambda s: (s != _default_spec(program), s))
    g = grids[default]
    starts, ends = g.iso()
    firing = []
    for c in checks:
        # Firing now is the state after the last judged window: partial windows never fire.
        judged = [w for w in c.windows if w.status != "partial"]
        last = judged[-1] if judged else None
        if last is None or last.firing is None:
            continue
        since = last.start
        for w in reversed(judged):
            if w.firing is None:
                break
            since = w.start
        firing.append(Firing(id=c.id, kind=c.kind, level=last.firing, since=since,
                             playbook=c.playbook, severity=c.severity))
    if frame.rows == 0:  # pragma: no cover - load_frame rejects empty data
        raise DataError("PS405", "no rows")
    return Results(
        plan=program.plan.plan, planspec_version=__version__,
        baseline={"fingerprint": profile.data_fingerprint, "plan_fingerprint":
                  profile.plan_fingerprint, "rows": profile.rows,
                  "start": profile.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "end": profile.end.strftime("%Y-%m-%dT%H:%M:%SZ")},
        data={"rows": frame.rows, "start": iso(int(frame.times.min())),
              "end": iso(int(frame.times.max()))},
        windows=[WindowInfo(start=s, end=e, rows=int(r), complete=bool(c))
                 for s, e, r, c in zip(starts, ends, rows[default], g.complete, strict=True)],
        checks=checks, firing=firing)


def _default_spec(program: CheckProgram) -> WindowSpec:
    d = program.plan.defaults
    return window_spec(d.window, d.every)
