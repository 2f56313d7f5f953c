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
from planspec.engine.windows import Grid, Values, iso
from planspec.outcomes import (
    effective_n,
    join,
    known_at,
    metric,
    metric_sums,
)
from planspec.profile import (
    Profile,
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


def compared(leaf: Leaf, v: Values, profile: Profile) -> np.ndarray:
    """The quantity a leaf compares: the statistic or p-value, then `shift`/`change` and
    direction."""
    m = leaf.measure
    x = v.pvalue if m.part == "pvalue" and v.pvalue is not None else v.value
    if m.transform != "value":
        base = profile.value(leaf.key)
        if base is None:
            return np.full_like(x, np.nan)
        if m.transform == "shift":
            sd = profile.columns[leaf.key.column or ""].std or 0.0
            scale = sd
        else:
            scale = abs(base)
        diff = x - base
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(scale > 0, diff / (scale or 1.0),
                         np.where(diff == 0, 0.0, np.sign(diff) * np.inf))
        if m.direction == "both":
            x = np.abs(x)
        elif m.direction == "down":
            x = -x
    return np.asarray(x, dtype=np.float64)


def _holds(leaf: Leaf, x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if leaf.threshold is not None:
            t = leaf.threshold.amount
            out = {">": x > t, ">=": x >= t, "<": x < t, "<=": x <= t}[leaf.op or ">"]
        else:
            assert leaf.low is not None and leaf.high is not None
            inside = (x >= leaf.low.amount) & (x <= leaf.high.amount)
            out = ~inside if leaf.negated else inside
    return np.asarray(out & ~np.isnan(x))


def evaluate(node: Node, values: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(holds, unknown) per window: unknown where a needed value could not be computed."""
    if node.leaf is not None:
        x = values[id(node.leaf)]
        return _holds(node.leaf, x), np.isnan(x)
    parts = [evaluate(c, values) for c in node.children]
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
    (-1 insufficient data: it neither extends nor breaks a streak, and is not clean).

    An alert fires at a level after ``for_`` consecutive windows at or above it, and resolves
    after more than ``keep`` consecutive windows below the level it fires at.

    >>> fire([2, 2, 0, 0, 0], for_=2, keep=1)
    [0, 2, 2, 0, 0]
    """
    out: list[int] = []
    state = clean = warn_run = fail_run = 0
    for lvl in levels:
        if lvl >= 0:
            fail_run = fail_run + 1 if lvl >= 2 else 0
            warn_run = warn_run + 1 if lvl >= 1 else 0
            target = 2 if fail_run >= for_ else 1 if warn_run >= for_ else 0
            if target >= state:
                state, clean = target, 0
            else:
                clean += 1
                if clean > keep:
                    state, clean = target, 0
        out.append(state)
    return out


def judge_monitor(m: MonitorRule, g: Grid, frame: Frame | None, b: Buckets | None,
                  outcomes: Any, now: int, sources: dict[str, dict[str, int]],
                  predictions: np.ndarray) -> CheckResult:
    """An outcome monitor over its windows: immature until labels are in, then its metrics.
    ``predictions`` are cumulative per-bucket prediction counts (from the sums); ``frame`` and
    ``b`` the scored rows' narrow columns and buckets, needed only to join ``outcomes``."""
    if outcomes is None or frame is None or b is None:  # every window immature, no metric
        return _no_outcomes(m, g, g.total(predictions))
    score = frame.numbers[m.prediction]
    joined = join(m, frame.texts[m.join_key], frame.times, outcomes, now, frame.numbers)
    sources[m.source.name] = joined.counts
    sums = metric_sums(m, score, joined, b, cumulative)
    preds, labels = g.total(sums.predictions), g.total(sums.labels)
    coverage = div(labels, preds)
    length = g.spec.length
    mature = ((g.starts + length + m.label_delay) <= now) & (np.nan_to_num(coverage) >=
                                                            m.min_coverage) & (preds > 0)
    values: dict[int, np.ndarray] = {}
    bounds: dict[int, np.ndarray | None] = {}
    for leaf in m.metrics:
        x, bound = metric(leaf.measure.stat, leaf.key.within, sums, g.total)
        values[id(leaf)], bounds[id(leaf)] = x, bound
    fail, unknown = evaluate(m.fail, values)
    warn = evaluate(m.warn, values)[0] if m.warn is not None else np.zeros_like(fail)
    status = np.where(fail, "fail", np.where(warn, "warn", "ok")).astype(object)
    status[(labels < m.min_labels) | (unknown & ~fail & ~warn)] = "insufficient_data"
    status[~mature] = "immature"
    firing = fire([LEVELS.get(s, -1) for s in status], m.for_, m.keep_firing_for)
    ess = effective_n(g.total(sums.w), g.total(sums.w2))
    known = known_at(m, g.starts, length, frame.times, joined, preds)
    head = m.fail.leaves()[0]
    starts, ends = g.iso()
    shown = ~np.isin(status, ("immature", "insufficient_data"))
    head_bound = bounds[id(head)]
    shown_values = nums(np.where(shown, values[id(head)], np.nan))
    shown_bounds = nums(np.where(shown, head_bound, np.nan)) if head_bound is not None \
        else [None] * len(status)
    cover, ess_list = nums(coverage), nums(ess)
    known_iso = [None if k is None else iso(k) for k in known]
    windows = [WindowResult(
        start=starts[i], end=ends[i], n=int(preds[i]), value=shown_values[i],
        bound=shown_bounds[i],
        status=status[i], firing=FIRING[firing[i]], labels=int(labels[i]), coverage=cover[i],
        effective_n=ess_list[i], known_at=known_iso[i])
        for i in range(len(status))]
    first = next((w for w in windows if w.status == "fail"), None)
    return _monitor_result(m, g, windows).model_copy(update={
        "first_fail": first.start if first else None,
        "first_fail_known_at": first.known_at if first else None})


def _no_outcomes(m: MonitorRule, g: Grid, preds: np.ndarray) -> CheckResult:
    """A monitor given no outcomes: its windows, all immature, with no labels."""
    starts, ends = g.iso()
    windows = [WindowResult(start=s, end=e, n=int(n), value=None, status="immature",
                            labels=0, coverage=0.0 if n else None)
               for s, e, n in zip(starts, ends, preds.tolist(), strict=True)]
    return _monitor_result(m, g, windows)


def _monitor_result(m: MonitorRule, g: Grid, windows: list[WindowResult]) -> CheckResult:
    """A monitor's result: what it is and where it came from, with its windows."""
    head = m.fail.leaves()[0]
    return CheckResult(
        id=m.id, kind="outcome", column=m.prediction, statistic=head.measure.stat,
        when=m.when_text, warn=m.warn_text, source=m.source_text, playbook=m.playbook,
        severity=m.severity, window=_duration(g.spec.length), windows=windows,
        label_delay=_duration(m.label_delay) if m.label_delay else "0s",
        stand_ins=list(m.stand_ins) or None)


def judge_rule(rule: Rule, g: Grid, rows: np.ndarray, computed: dict[StatKey, Values],
           adjusted: dict[StatKey, np.ndarray], profile: Profile,
           leaf_values: dict[int, np.ndarray]) -> CheckResult:
    leaves = rule.fail.leaves() + (rule.warn.leaves() if rule.warn else [])
    for leaf in leaves:
        v = computed[leaf.key]
        if leaf.measure.part == "pvalue" and leaf.key in adjusted:
            v = Values(v.value, adjusted[leaf.key], v.bound)
        leaf_values[id(leaf)] = compared(leaf, v, profile)
    fail, fail_unknown = evaluate(rule.fail, leaf_values)
    if rule.warn is not None:
        warn, _ = evaluate(rule.warn, leaf_values)
    else:
        warn = np.zeros_like(fail)
    short = rows < rule.min_samples
    status = np.where(fail, "fail", np.where(warn, "warn", "ok")).astype(object)
    status[short | (fail_unknown & ~fail & ~warn)] = "insufficient_data"
    keep = np.ones(len(status), dtype=bool)
    if rule.active is not None:  # heightened monitoring counts only inside its period
        keep = (g.starts >= rule.active[0]) & (g.starts < rule.active[1])
    levels = [LEVELS.get(s, -1) for s in status[keep]]
    firing = np.zeros(len(status), dtype=np.int64)
    firing[keep] = fire(levels, rule.for_, rule.keep_firing_for)
    head = rule.fail.leaves()[0]
    # Results are built from whole columns converted once (this runs for every window, so it
    # stays out of per-value Python work), and constructed without re-validation.
    idx = np.flatnonzero(keep)
    starts, ends = g.iso()
    def bounds(leaf: Leaf) -> list[float | None]:
        b = computed[leaf.key].bound
        return nums(b[idx]) if b is not None else [None] * idx.size

    shown = [(leaf.text, nums(leaf_values[id(leaf)][idx]), bounds(leaf))
             for leaf in rule.fail.leaves()]
    levels_text = [FIRING[f] for f in firing[idx].tolist()]
    n = rows[idx].astype(np.int64).tolist()
    compound = len(shown) > 1
    windows = []
    for j, i in enumerate(idx.tolist()):
        terms = [TermValue.model_construct(text=text, value=vals[j], bound=bounds[j])
                 for text, vals, bounds in shown] if compound else None
        windows.append(WindowResult.model_construct(**{
            **_WINDOW_DEFAULTS, "start": starts[i], "end": ends[i], "n": n[j],
            "value": shown[0][1][j], "bound": shown[0][2][j], "status": status[i],
            "firing": levels_text[j], "terms": terms}))
    return CheckResult(
        id=rule.id, kind=rule.kind, column=head.key.column, statistic=_statistic(head),
        when=rule.when_text, warn=rule.warn_text, source=rule.source, playbook=rule.playbook,
        severity=rule.severity, window=_duration(g.spec.length),
        every=_duration(g.spec.step) if g.spec.sliding else None, windows=windows,
        risk=rule.risk, tighten=rule.tighten,
        active_from=iso(rule.active[0]) if rule.active else None,
        active_to=iso(rule.active[1]) if rule.active else None)


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
