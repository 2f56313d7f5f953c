"""What a check's reported value is compared with, and its firing episodes, read from results.

A check's reported ``value`` is the first comparison of its ``when``. A run records the numbers
it is compared with as :class:`Thresholds`, from the compiled rule (:func:`rule_thresholds`);
results files written before runs did so carry only the condition text (``when``, ``warn``),
and for those they are read back from that text with the plan's own expression parser
(heightened copies tightened as the compiler tightened them). The HTML report, notifications
and metrics all read them here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planspec._expr import ExprError, parse_condition
from planspec.compile import Leaf, Node, tightened
from planspec.model import Between, Calibrated, Compare, Condition, Threshold
from planspec.results import (
    Action,
    CheckResult,
    Firing,
    Results,
    SegmentSummary,
    Thresholds,
    WindowResult,
    alert_of,
)


def _leaves(c: Condition) -> list[Compare | Between]:
    if isinstance(c, Compare | Between):
        return [c]
    return [leaf for t in c.terms for leaf in _leaves(t)]


def _calibrated(leaf: Compare | Between) -> bool:
    """A `calibrated(…)` threshold differs per window (each window's ``threshold``)."""
    return isinstance(leaf, Compare) and isinstance(leaf.threshold, Calibrated)


def _numbers(leaf: Compare | Between, tighten: float) -> list[float]:
    if isinstance(leaf, Compare):
        assert isinstance(leaf.threshold, Threshold)
        t = tightened(leaf.threshold, leaf.op, tighten) if tighten else leaf.threshold
        return [t.amount]
    return [leaf.low.amount, leaf.high.amount]


def _op(leaf: Compare | Between) -> str:
    if isinstance(leaf, Compare):
        return leaf.op
    return "not_between" if leaf.negated else "between"


def rule_thresholds(fail: Node, warn: Node | None) -> Thresholds | None:
    """The numbers a compiled rule's reported value is compared with: its first fail comparison,
    and the warn comparison of the same measure (thresholds as compiled, so a heightened copy's
    are already tightened); None when that comparison has no fixed number.

    >>> from planspec.compile import compile_plan
    >>> from planspec.load import load_plan
    >>> rule = compile_plan(load_plan("plans/rental_inspector.yaml").plan).rules[0]
    >>> rule_thresholds(rule.fail, rule.warn)
    Thresholds(op='>', fail=[2.0], warn=[1.5])
    """
    head = fail.leaves()[0]
    numbers = _leaf_numbers(head)
    if numbers is None:
        return None
    same = [w for w in (warn.leaves() if warn else []) if w.measure == head.measure]
    warn_numbers = next((n for n in map(_leaf_numbers, same) if n is not None), None)
    return Thresholds(op=_leaf_op(head), fail=numbers, warn=warn_numbers)


def _leaf_numbers(leaf: Leaf) -> list[float] | None:
    if leaf.threshold is not None:
        return [leaf.threshold.amount]
    if leaf.low is not None and leaf.high is not None:
        return [leaf.low.amount, leaf.high.amount]
    return None


def _leaf_op(leaf: Leaf) -> str:
    if leaf.op is not None:
        return leaf.op
    return "not_between" if leaf.negated else "between"


def check_thresholds(check: CheckResult) -> Thresholds | None:
    """The check's own ``thresholds``, or (for a results file from before runs recorded them)
    those its ``when``/``warn`` text states for the quantity it reports (the first comparison
    of ``when``); None when the text cannot be read.

    >>> from planspec.results import CheckResult
    >>> c = CheckResult(id="a", kind="input", column="x", statistic="psi", when="psi(x) > 0.25",
    ...                 warn="psi(x) > 0.1", source="p:1:1", playbook=None, severity="high",
    ...                 window="7d", windows=[])
    >>> check_thresholds(c)
    Thresholds(op='>', fail=[0.25], warn=[0.1])
    """
    if check.thresholds is not None:
        return check.thresholds
    try:
        head = _leaves(parse_condition(check.when)[0])[0]
        warn_leaves = _leaves(parse_condition(check.warn)[0]) if check.warn else []
    except ExprError:
        return None
    if _calibrated(head):
        return None
    tighten = check.tighten or 0.0
    warn = next((w for w in warn_leaves if w.measure == head.measure and not _calibrated(w)),
                None)
    return Thresholds(op=_op(head), fail=_numbers(head, tighten),
                      warn=_numbers(warn, tighten) if warn is not None else None)


def describe(t: Thresholds, level: str) -> str:
    """A threshold as a caption: ``fail > 0.25``, ``warn outside 0.1–0.3``.

    >>> describe(Thresholds(op=">", fail=[0.25]), "fail")
    'fail > 0.25'
    """
    nums = t.fail if level == "fail" else (t.warn or [])
    text = [f"{v:.4g}" for v in nums]
    if t.op == "between":
        return f"{level} inside {text[0]}–{text[1]}"
    if t.op == "not_between":
        return f"{level} outside {text[0]}–{text[1]}"
    return f"{level} {t.op} {text[0]}"


@dataclass(frozen=True)
class Episode:
    """A run of consecutive firing windows of one check: when it started, where it is now,
    its worst level, and whether it runs into the latest window (still firing)."""

    check: str
    start: str
    end: str
    level: str
    ongoing: bool
    value: float | None


def episodes_of(check: CheckResult) -> list[Episode]:
    """Every firing episode of ``check``, oldest first (``end`` is the end of its last firing
    window; ``value`` that window's value)."""
    out: list[Episode] = []
    run: list[int] = []
    windows = check.windows
    for i in [*range(len(windows)), None]:
        if i is not None and windows[i].firing is not None:
            run.append(i)
            continue
        if run:
            level = "fail" if any(windows[j].firing == "fail" for j in run) else "warn"
            last = windows[run[-1]]
            out.append(Episode(check.id, windows[run[0]].start, last.end, level,
                               ongoing=run[-1] == len(windows) - 1, value=last.value))
            run = []
    return out


def evidence_window(windows: list[WindowResult]) -> WindowResult | None:
    """The window whose evidence explains a firing episode (its ``windows``): the last one at or
    over a threshold itself (a window kept firing while clean explains nothing), else the last
    one with evidence."""
    with_evidence = [w for w in windows if w.evidence is not None]
    over = [w for w in with_evidence if w.status in ("warn", "fail")]
    chosen = over or with_evidence
    return chosen[-1] if chosen else None


def firing_window(check: CheckResult) -> WindowResult | None:
    """The latest window in which ``check`` fires (None when it never fires)."""
    return next((w for w in reversed(check.windows) if w.firing is not None), None)


def past_threshold(check: CheckResult, level: str | None = None) -> float | None:
    """How far the value of the latest firing window is past the threshold of its level
    (``level`` overrides it), as a share of the threshold: 1.0 is twice a ``> t`` threshold,
    or half a ``< t`` one; for a band, the distance to its nearer edge as a share of its width.
    None when the check does not fire, or its value or threshold is unknown.

    >>> from planspec.results import CheckResult, WindowResult
    >>> w = WindowResult(start="a", end="b", n=9, value=0.75, status="fail", firing="fail")
    >>> c = CheckResult(id="a", kind="input", column="x", statistic="psi", when="psi(x) > 0.25",
    ...                 warn=None, source="p:1:1", playbook=None, severity="high",
    ...                 window="7d", windows=[w])
    >>> past_threshold(c)
    2.0
    """
    w = firing_window(check)
    t = check_thresholds(check)
    if w is None or w.value is None or w.value != w.value or t is None:
        return None
    level = level or w.firing or "fail"
    nums = [w.threshold] if w.threshold is not None else (t.fail if level == "fail" else t.warn)
    if not nums:
        return None
    v = w.value
    if t.op in ("between", "not_between"):
        lo, hi = nums[0], nums[1]
        width = (hi - lo) or 1.0
        inside = min(v - lo, hi - v)
        return (inside if t.op == "between" else -inside) / width
    bound = nums[0]
    if math.isinf(v):
        return math.inf if (v > 0) == (t.op in (">", ">=")) else -math.inf
    if t.op in (">", ">="):
        return (v - bound) / abs(bound) if bound else v - bound
    if bound > 0 and v > 0:  # `< t`: how many times smaller than t (p-values span decades)
        return bound / v - 1
    return (bound - v) / abs(bound) if bound else bound - v


def worst_first(check: CheckResult | None, level: str) -> tuple[int, float]:
    """A sort key putting the worst firing first: fail before warn, then the farther past its
    threshold (:func:`past_threshold`; unknown last)."""
    past = past_threshold(check, level) if check is not None else None
    return (0 if level == "fail" else 1, -past if past is not None else math.inf)


def ordered_firing(results: Results) -> list[Firing]:
    """``results.firing`` with the segments of each alert together and worst first
    (:func:`worst_first`), the alerts kept in their order."""
    by_id = {c.id: c for c in results.checks}
    first: dict[str, int] = {}
    for i, f in enumerate(results.firing):
        first.setdefault(alert_of(f.id), i)
    return sorted(results.firing, key=lambda f: (first[alert_of(f.id)],
                                                 worst_first(by_id.get(f.id), f.level)))


def firing_segments(results: Results, summary: SegmentSummary
                    ) -> list[tuple[Firing, CheckResult]]:
    """The segments of the segmented alert ``summary`` describes that fire now, worst first
    (:func:`worst_first`), each with its result."""
    firing = {f.id: f for f in results.firing}
    out = [(firing[c.id], c) for c in results.checks
           if c.id in firing and c.segment is not None and c.by == summary.by
           and alert_of(c.id) == summary.alert]
    return sorted(out, key=lambda fc: worst_first(fc[1], fc[0].level))


def ordered_actions(results: Results) -> list[Action]:
    """``results.actions`` in the order of :func:`ordered_firing` (an action of no alert
    firing now, last)."""
    rank = {f.id: i for i, f in enumerate(ordered_firing(results))}
    return sorted(results.actions, key=lambda a: rank.get(a.alert, len(rank)))
