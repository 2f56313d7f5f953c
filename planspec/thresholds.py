"""What a check's reported value is compared with, and its firing episodes, read from results.

Results carry each check's condition as text (``when``, ``warn``) and its reported ``value`` is
the first comparison of ``when``; when a run did not record :class:`Thresholds`, they are read
back from that text with the plan's own expression parser (heightened copies tightened as the
compiler tightened them). The HTML report, notifications and metrics all read them here.
"""

from __future__ import annotations

from dataclasses import dataclass

from planspec._expr import ExprError, parse_condition
from planspec.compile import tightened
from planspec.model import Between, Compare, Condition
from planspec.results import CheckResult, Thresholds


def _leaves(c: Condition) -> list[Compare | Between]:
    if isinstance(c, Compare | Between):
        return [c]
    return [leaf for t in c.terms for leaf in _leaves(t)]


def _numbers(leaf: Compare | Between, tighten: float) -> list[float]:
    if isinstance(leaf, Compare):
        t = tightened(leaf.threshold, leaf.op, tighten) if tighten else leaf.threshold
        return [t.amount]
    return [leaf.low.amount, leaf.high.amount]


def _op(leaf: Compare | Between) -> str:
    if isinstance(leaf, Compare):
        return leaf.op
    return "not_between" if leaf.negated else "between"


def check_thresholds(check: CheckResult) -> Thresholds | None:
    """The check's own ``thresholds``, or those its ``when``/``warn`` text states for the
    quantity it reports (the first comparison of ``when``); None when the text cannot be read.

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
    tighten = check.tighten or 0.0
    warn = next((w for w in warn_leaves if w.measure == head.measure), None)
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
