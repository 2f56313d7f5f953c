"""Judgement: the quantity each condition compares, threshold levels, multiple-testing
correction and firing (``for`` / ``keep_firing_for``), for alerts and outcome monitors."""

from __future__ import annotations

from typing import Any

import numpy as np

from planspec.compile import (
    Leaf,
    MonitorRule,
    Node,
    Rule,
    StatKey,
)
from planspec.data import Frame
from planspec.engine.gather import Buckets, cumulative, div
from planspec.engine.windows import RTOL, Grid, Values, iso
from planspec.outcomes import (
    LEVEL,
    effective_n,
    interval,
    join,
    known_at,
    metric,
    metric_sums,
)
from planspec.profile import (
    Profile,
    measure_text,
)
from planspec.results import (
    FIRING,
    CheckResult,
    TermValue,
    WindowResult,
)

LEVELS = {"ok": 0, "warn": 1, "fail": 2}
#: Every optional field of a window result with its default: passed to ``model_construct``,
#: which otherwise resolves each default per window (most of the time of judging).
_WINDOW_DEFAULTS = {name: f.default for name, f in WindowResult.model_fields.items()
                    if not f.is_required()}


# ------------------------------------------------------------------------------- judgement




def compared(leaf: Leaf, v: Values, profile: Profile, durations: np.ndarray | None = None
             ) -> np.ndarray:
    """The quantity a leaf compares: the statistic or p-value, then `shift`/`change` and
    direction. ``durations`` (seconds per window) scale the baseline's rows for `count`.

    Values equal within a relative 1e-9 differ by 0, and a baseline SD (or, for `change`, a
    baseline value) within 1e-9 of zero relative to the column's magnitude is zero: a constant
    column gives `shift` and `change` 0, not rounding noise divided by rounding noise."""
    m = leaf.measure
    x = v.pvalue if m.part == "pvalue" and v.pvalue is not None else v.value
    if m.transform != "value":
        if leaf.key.stat == "count":
            if not profile.span_seconds:
                return np.full_like(x, np.nan)
            length = durations if durations is not None else leaf.key.window.seconds
            base: Any = profile.rows * np.asarray(length, dtype=np.float64) / profile.span_seconds
        else:
            base = profile.value(leaf.key)
            if base is None:
                return np.full_like(x, np.nan)
        col = profile.columns.get(leaf.key.column or "")
        magnitude = abs(col.mean) if col is not None and col.mean is not None else 0.0
        diff = np.asarray(x - base, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            same = np.abs(diff) <= RTOL * np.maximum(np.maximum(np.abs(x), np.abs(base)),
                                                     magnitude)
        diff = np.where(same, 0.0, diff)
        if m.transform == "shift":
            scale: Any = col.std if col is not None and col.std is not None else 0.0
        else:
            scale = np.abs(base)
        scale = np.where(np.asarray(scale) <= RTOL * magnitude, 0.0, scale)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(scale > 0, diff / np.where(scale > 0, scale, 1.0),
                         np.where(diff == 0, 0.0, np.sign(diff) * np.inf))
        if m.direction == "both":
            x = np.abs(x)
        elif m.direction == "down":
            x = -x
    return np.asarray(x, dtype=np.float64)


def _holds(leaf: Leaf, x: np.ndarray, limit: np.ndarray | None = None) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if leaf.threshold is not None or limit is not None:
            t = limit if limit is not None else leaf.threshold.amount  # type: ignore[union-attr]
            out = {">": x > t, ">=": x >= t, "<": x < t, "<=": x <= t}[leaf.op or ">"]
        else:
            assert leaf.low is not None and leaf.high is not None
            inside = (x >= leaf.low.amount) & (x <= leaf.high.amount)
            out = ~inside if leaf.negated else inside
    return np.asarray(out & ~np.isnan(x))


def evaluate(node: Node, values: dict[int, np.ndarray],
             limits: dict[int, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(holds, unknown) per window: unknown where a needed value could not be computed.
    ``limits`` holds per-window thresholds of calibrated leaves."""
    if node.leaf is not None:
        x = values[id(node.leaf)]
        return _holds(node.leaf, x, (limits or {}).get(id(node.leaf))), np.isnan(x)
    parts = [evaluate(c, values, limits) for c in node.children]
    holds = np.stack([p[0] for p in parts])
    unknown = np.stack([p[1] for p in parts])
    if node.op == "all":
        decided_false = (~holds & ~unknown).any(axis=0)
        return np.asarray(holds.all(axis=0)), np.asarray(unknown.any(axis=0) & ~decided_false)
    return np.asarray(holds.any(axis=0)), np.asarray(unknown.any(axis=0) & ~holds.any(axis=0))


def adjust(p: np.ndarray, method: str) -> np.ndarray:
    """Adjust a (tests, windows) array of p-values within each window (NaN: no test)."""
    if method == "none" or p.size == 0:
        return p
    valid = ~np.isnan(p)
    m = valid.sum(axis=0)
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    filled = np.where(valid, p, np.inf)
    order = np.argsort(filled, axis=0)
    ranked = np.take_along_axis(filled, order, axis=0)
    rank = np.arange(1, p.shape[0] + 1)[:, None]
    scaled = ranked * m / rank
    scaled = np.minimum.accumulate(scaled[::-1], axis=0)[::-1]
    out = np.empty_like(p)
    np.put_along_axis(out, order, np.minimum(scaled, 1.0), axis=0)
    return np.where(valid, out, np.nan)


def fire(levels: list[int], for_: int, keep: int) -> list[int]:
    """The firing level (0 none, 1 warn, 2 fail) after each window, given each window's level
    (-1 not judged: insufficient data or a partial window; it neither extends nor breaks a
    streak, and is not clean).

    The rule, for each level L (warn, fail) on its own: the alert starts firing at L after
    ``for_`` consecutive judged windows at or above L, and stops after more than ``keep``
    consecutive judged windows below L (a window at or above L resets that count). The level
    reported is the highest one firing.

    >>> fire([2, 2, 0, 2, 0, 0], for_=2, keep=1)
    [0, 2, 2, 2, 2, 0]
    """
    machines = [_Persistence(level, for_, keep) for level in (1, 2)]
    out: list[int] = []
    for lvl in levels:
        firing = [m.step(lvl) for m in machines]
        out.append(max((m.level for m, on in zip(machines, firing, strict=True) if on),
                       default=0))
    return out


def fresh(levels: list[int], for_: int, keep: int) -> list[int]:
    """The positions (0 to ``len(levels)``) before which :func:`fire`'s state machine is as
    it starts, having been fed the ``levels`` before: no streak, no clean count, not firing. A
    run that judges windows again from such a position on needs nothing of the ones before.

    >>> fresh([2, 2, 0, 2, 0, 0, -1], for_=2, keep=1)
    [0, 6, 7]
    """
    machines = [_Persistence(level, for_, keep) for level in (1, 2)]
    out = [0]
    for i, lvl in enumerate(levels):
        for m in machines:
            m.step(lvl)
        if not any(m.run or m.clean or m.on for m in machines):
            out.append(i + 1)
    return out


class _Persistence:
    """The firing state of one level: consecutive windows at or above it (``run``) and
    consecutive judged windows below it while firing (``clean``)."""

    def __init__(self, level: int, for_: int, keep: int) -> None:
        self.level, self.for_, self.keep = level, max(for_, 1), keep
        self.run = self.clean = 0
        self.on = False

    def step(self, lvl: int) -> bool:
        if lvl < 0:  # not judged: nothing changes
            return self.on
        if lvl >= self.level:
            self.run += 1
            self.clean = 0
            self.on = self.on or self.run >= self.for_
        else:
            self.run = 0
            if self.on:
                self.clean += 1
                if self.clean > self.keep:
                    self.on, self.clean = False, 0
        return self.on


def judge_monitor(m: MonitorRule, g: Grid, frame: Frame | None, b: Buckets | None,
                  outcomes: Any, now: int, sources: dict[str, dict[str, int]],
                  predictions: np.ndarray, judge_partial: bool = False,
                  level: float = LEVEL) -> CheckResult:
    """An outcome monitor over its windows: immature until labels are in, then its metrics;
    partial windows are shown but not judged (unless ``judge_partial`` or `partial: judge`).
    ``predictions`` are cumulative per-bucket prediction counts (from the sums); ``frame`` and
    ``b`` the scored rows' narrow columns and buckets, needed only to join ``outcomes``;
    ``level`` the confidence level of the metric intervals (wider for a segmented monitor
    under a multiple-testing correction)."""
    if outcomes is None or frame is None or b is None:  # every window immature, no metric
        return _no_outcomes(m, g, g.total(predictions))
    score = frame.numbers[m.prediction]
    joined = join(m, frame.texts[m.join_key], frame.times, outcomes, now, frame.numbers)
    joined.counts["missing_score"] = int((~np.isnan(joined.label) & np.isnan(score)).sum())
    sources[m.source.name] = joined.counts
    sums = metric_sums(m, score, joined, b, cumulative)
    preds, labels = g.total(sums.predictions), g.total(sums.labels)
    coverage = div(labels, preds)
    mature = ((g.ends + m.label_delay) <= now) & (np.nan_to_num(coverage) >=
                                                 m.min_coverage) & (preds > 0)
    values: dict[int, np.ndarray] = {}
    bounds: dict[int, np.ndarray | None] = {}
    intervals: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}
    metrics: dict[int, np.ndarray] = {}  # the metric itself, where a condition reads a bound
    for leaf in m.metrics:
        x, bound = metric(leaf.measure.stat, leaf.key.within, sums, g.total)
        ci = interval(leaf.measure.stat, leaf.key.within, sums, g.total, level)
        intervals[id(leaf)], metrics[id(leaf)] = ci, x
        if leaf.measure.part in ("lower", "upper") and ci is not None:
            x = ci[0] if leaf.measure.part == "lower" else ci[1]
        values[id(leaf)], bounds[id(leaf)] = x, bound
    fail, unknown = evaluate(m.fail, values)
    warn = evaluate(m.warn, values)[0] if m.warn is not None else np.zeros_like(fail)
    ess = effective_n(g.total(sums.w), g.total(sums.w2))
    status = np.where(fail, "fail", np.where(warn, "warn", "ok")).astype(object)
    # Weighted labels count as their effective sample size (unweighted: the labels).
    few = np.nan_to_num(ess) * (1 + RTOL) < m.min_labels
    status[few | (unknown & ~fail & ~warn)] = "insufficient_data"
    status[~mature] = "immature"
    partial = ~g.complete
    if not (judge_partial or m.judge_partial):  # immature says more: its labels are not in
        status[partial & (status != "immature")] = "partial"
    firing = fire([LEVELS.get(s, -1) for s in status], m.for_, m.keep_firing_for)
    known = known_at(m, g.starts, g.ends, frame.times, joined, preds)
    head = m.fail.leaves()[0]
    starts, ends = g.iso()
    # A partial window is shown only once its labels are in and number at least `min_labels`,
    # as a whole window is judged only then.
    shown = ~np.isin(status, ("immature", "insufficient_data")) & ~(partial & (~mature | few))
    head_bound = bounds[id(head)]
    shown_values = nums(np.where(shown, metrics[id(head)], np.nan))
    shown_bounds = nums(np.where(shown, head_bound, np.nan)) if head_bound is not None \
        else [None] * len(status)
    cover, ess_list = nums(coverage), nums(ess)
    head_ci = intervals[id(head)]
    lows, highs = ((nums(np.where(shown, head_ci[0], np.nan)), nums(np.where(shown, head_ci[1],
                                                                              np.nan)))
                   if head_ci is not None else ([None] * len(status), [None] * len(status)))
    known_iso = [None if k is None else iso(k) for k in known]
    windows = [WindowResult(
        start=starts[i], end=ends[i], n=int(preds[i]), value=shown_values[i],
        bound=shown_bounds[i], lower=lows[i], upper=highs[i],
        status=status[i], firing=FIRING[firing[i]] if status[i] != "partial" else None,
        labels=int(labels[i]), coverage=cover[i],
        effective_n=ess_list[i], known_at=known_iso[i], partial=bool(partial[i]))
        for i in range(len(status))]
    first = next((w for w in windows if w.status == "fail"), None)
    return _monitor_result(m, g, windows).model_copy(update={
        "first_fail": first.start if first else None,
        "first_fail_known_at": first.known_at if first else None})


def _no_outcomes(m: MonitorRule, g: Grid, preds: np.ndarray) -> CheckResult:
    """A monitor given no outcomes: its windows, all immature, with no labels."""
    starts, ends = g.iso()
    windows = [WindowResult(start=s, end=e, n=int(n), value=None, status="immature",
                            labels=0, coverage=0.0 if n else None, partial=not c)
               for s, e, n, c in zip(starts, ends, preds.tolist(), g.complete.tolist(),
                                     strict=True)]
    return _monitor_result(m, g, windows)


def _monitor_result(m: MonitorRule, g: Grid, windows: list[WindowResult]) -> CheckResult:
    """A monitor's result: what it is and where it came from, with its windows."""
    head = m.fail.leaves()[0]
    return CheckResult(
        id=m.id, kind="outcome", column=m.prediction, statistic=head.measure.stat,
        when=m.when_text, warn=m.warn_text, source=m.source_text, playbook=m.playbook,
        severity=m.severity, window=g.spec.text, windows=windows,
        label_delay=_duration(m.label_delay) if m.label_delay else "0s",
        stand_ins=list(m.stand_ins) or None)


def leaf_bound(leaf: Leaf, v: Values, profile: Profile) -> np.ndarray | None:
    """The bound of a leaf's compared value, in its units: a statistic's bound scaled as the
    value is by `shift` (baseline SDs) or `change` (the baseline's size); none for a p-value
    (it is the p-value of the statistic at the bin edges; its own error is not bounded)."""
    m = leaf.measure
    if v.bound is None or m.part == "pvalue":
        return None
    if m.transform == "value":
        return v.bound
    col = profile.columns.get(leaf.key.column or "")
    if m.transform == "shift":
        scale = col.std if col is not None and col.std else 0.0
    else:
        base = profile.value(leaf.key)
        scale = abs(base) if base is not None else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v.bound == 0, 0.0, v.bound / scale if scale > 0 else np.inf)


def judge_rule(rule: Rule, g: Grid, rows: np.ndarray, computed: dict[StatKey, Values],
               adjusted: dict[StatKey, np.ndarray], profile: Profile,
               leaf_values: dict[int, np.ndarray], judge_partial: bool = False,
               correction: str = "none") -> CheckResult:
    """An alert over its windows: the compared values, each window's status, and firing.
    Partial windows are shown with their values but not judged (status `partial`), unless the
    alert says `partial: judge` or ``judge_partial`` is set."""
    leaves = rule.fail.leaves() + (rule.warn.leaves() if rule.warn else [])
    count = None
    limits: dict[int, np.ndarray] = {}
    for leaf in leaves:
        v = computed[leaf.key]
        # A calibrated p-value is compared unadjusted: its calibration sets its false alarms.
        if leaf.measure.part == "pvalue" and leaf.key in adjusted and leaf.level is None:
            v = Values(v.value, adjusted[leaf.key], v.bound, v.n)
        leaf_values[id(leaf)] = compared(leaf, v, profile, g.durations)
        if v.n is not None:
            count = v.n if count is None else np.minimum(count, v.n)
        if leaf.level is not None:
            cal = profile.calibrated(measure_text(leaf), rule.window.seconds, rule.window_rows)
            limits[id(leaf)] = cal.threshold(leaf.level, rows)
    fail, fail_unknown = evaluate(rule.fail, leaf_values, limits)
    if rule.warn is not None:
        warn, _ = evaluate(rule.warn, leaf_values, limits)
    else:
        warn = np.zeros_like(fail)
    short = (rows if count is None else count) < rule.min_samples
    status = np.where(fail, "fail", np.where(warn, "warn", "ok")).astype(object)
    status[short | (fail_unknown & ~fail & ~warn)] = "insufficient_data"
    partial = ~g.complete
    if not (judge_partial or rule.judge_partial):
        status[partial] = "partial"
    keep = np.ones(len(status), dtype=bool)
    if rule.active is not None:  # heightened monitoring counts only inside its period
        keep = (g.starts >= rule.active[0]) & (g.starts < rule.active[1])
    levels = [LEVELS.get(s, -1) for s in status[keep]]
    firing = np.zeros(len(status), dtype=np.int64)
    firing[keep] = fire(levels, rule.for_, rule.keep_firing_for)
    firing[status == "partial"] = 0  # a partial window never starts or extends a firing
    head = rule.fail.leaves()[0]
    # Results are built from whole columns converted once (this runs for every window, so it
    # stays out of per-value Python work), and constructed without re-validation.
    idx = np.flatnonzero(keep)
    starts, ends = g.iso()
    def bounds(leaf: Leaf) -> list[float | None]:
        v = computed[leaf.key]
        b = leaf_bound(leaf, v, profile)
        return nums(np.broadcast_to(b, v.value.shape)[idx]) if b is not None \
            else [None] * idx.size

    def limit(leaf: Leaf) -> list[float | None]:
        t = limits.get(id(leaf))
        return nums(t[idx]) if t is not None else [None] * idx.size

    shown = [(leaf.text, nums(leaf_values[id(leaf)][idx]), bounds(leaf), limit(leaf))
             for leaf in rule.fail.leaves()]
    raw = [nums(computed[leaf.key].pvalue[idx])  # type: ignore[index]
           if leaf.measure.part == "pvalue" and leaf.key in adjusted and leaf.level is None
           else None
           for leaf in rule.fail.leaves()]
    levels_text = [FIRING[f] for f in firing[idx].tolist()]
    n = rows[idx].astype(np.int64).tolist()
    part = partial[idx].tolist()
    compound = len(shown) > 1
    windows = []
    for j, i in enumerate(idx.tolist()):
        terms = [TermValue.model_construct(
            text=text, value=vals[j], bound=bounds[j], threshold=lims[j],
            raw_pvalue=r[j] if r is not None else None)
            for (text, vals, bounds, lims), r in zip(shown, raw, strict=True)] if compound else None
        windows.append(WindowResult.model_construct(**{
            **_WINDOW_DEFAULTS, "start": starts[i], "end": ends[i], "n": n[j],
            "value": shown[0][1][j], "bound": shown[0][2][j], "status": status[i],
            "firing": levels_text[j], "terms": terms, "partial": part[j],
            "raw_pvalue": raw[0][j] if raw[0] is not None else None,
            "threshold": shown[0][3][j]}))
    return CheckResult(
        id=rule.id, kind=rule.kind, column=head.key.column, statistic=_statistic(head),
        when=rule.when_text, warn=rule.warn_text, source=rule.source, playbook=rule.playbook,
        severity=rule.severity, window=g.spec.text,
        every=g.spec.step_text if g.spec.sliding else None, windows=windows,
        risk=rule.risk, tighten=rule.tighten,
        active_from=iso(rule.active[0]) if rule.active else None,
        active_to=iso(rule.active[1]) if rule.active else None,
        correction=correction if any(r is not None for r in raw) else None)


def nums(x: np.ndarray) -> list[float | None]:
    """Floats as a list with NaN as None (for results)."""
    return [None if v != v else v for v in x.tolist()]  # NaN is the only value != itself


def _statistic(leaf: Leaf) -> str:
    m = leaf.measure
    name = m.stat + ("_pvalue" if m.part == "pvalue" else "")
    return name + {"value": "", "shift": "_shift", "change": "_change"}[m.transform]


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
