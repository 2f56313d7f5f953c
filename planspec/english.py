"""Conditions in plain English, generated from the model, for runbooks and reports.

>>> from planspec._expr import parse_condition
>>> from planspec.model import Duration
>>> text = describe(parse_condition("mean(price) shift > 2 sd")[0], Duration(value=7, unit="d"))
>>> text.removesuffix(" of the training baseline away from the baseline mean")
'the 7-day mean of `price` is more than 2 standard deviations'
"""

from __future__ import annotations

from planspec._expr import format_number
from planspec.model import AllOf, AnyOf, Between, Compare, Condition, Duration, Measure, Threshold
from planspec.stats import STATS

_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}
_OPS = {">": "is above", ">=": "is at least", "<": "is below", "<=": "is at most"}
_MORE = {">": "more than", ">=": "at least", "<": "less than", "<=": "at most"}
_PRED = {">": ">", ">=": "≥", "<": "<", "<=": "≤", "==": "=", "!=": "≠"}


def code(name: str) -> str:
    """A name as a markdown code span (underscores in names never turn into emphasis)."""
    tick = "``" if "`" in name else "`"
    return f"{tick}{name}{tick}"


def duration(d: Duration) -> str:
    """`7d` → `7-day`."""
    return f"{d.value}-{_UNITS[d.unit]}"


def spelled(d: Duration) -> str:
    """`4h` → `4 hours`, `1d` → `1 day`."""
    return f"{d.value} {_UNITS[d.unit]}{'s' if d.value != 1 else ''}"


def amount(t: Threshold) -> str:
    """A threshold as written for people: `5%`, `2 standard deviations`, `0.2`."""
    if t.unit == "sd":
        return f"{format_number(t.value)} standard deviation{'s' if t.value != 1 else ''}"
    return format_number(t.value) + ("%" if t.unit == "%" else "")


def _value(v: Threshold | bool | str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return f'"{v}"'
    return amount(v)


def measure(m: Measure, window: Duration | None = None) -> str:
    """What is measured: `the 7-day mean of `x``, `the p-value of the KS test of `x``."""
    span = f"{duration(window)} " if window else ""
    col = code(m.column) if m.column else ""
    stat = m.stat
    if stat == "quantile":
        q = (m.q or 0) * 100
        text = f"the {span}{format_number(q)}th percentile of {col}"
    elif stat in ("mean", "std", "min", "max"):
        text = f"the {span}{STATS[stat].phrase} of {col}"
    elif stat == "missing_rate":
        text = f"the {span}share of missing values of {col}"
    elif stat == "out_of_range_rate":
        text = f"the {span}share of values of {col} outside its declared range"
    elif stat == "new_category_rate":
        text = f"the {span}share of rows whose {col} was never seen in the baseline"
    elif stat in ("psi", "js", "wasserstein"):
        text = f"the {span}{STATS[stat].phrase} of {col} against the baseline"
    elif stat in ("ks", "chi2"):
        test = "Kolmogorov-Smirnov" if stat == "ks" else "chi-squared"
        text = (f"the {span}p-value of the {test} test of {col} against the baseline"
                if m.part == "pvalue" else
                f"the {span}{test} {'distance' if stat == 'ks' else 'statistic'} of {col} "
                "against the baseline")
    elif stat in ("rate", "share"):
        assert m.predicate is not None
        what = "predictions" if stat == "rate" else "rows"
        text = (f"the {span}share of {what} with {col} {_PRED[m.predicate.op]} "
                f"{_value(m.predicate.value)}")
    elif stat == "count":
        text = f"the number of rows in the {duration(window)} window" if window \
            else "the number of rows in the window"
    elif stat == "share_within":
        assert m.within is not None
        text = f"the {span}share of predictions within {amount(m.within)} of the outcome"
    else:
        text = f"the {span}{STATS[stat].phrase}"
    return text


def _compare(m: Measure, op: str, t: Threshold, window: Duration | None) -> str:
    what = measure(m, window)
    if m.transform == "shift":
        side = {"both": "away from", "up": "above", "down": "below"}[m.direction]
        return (f"{what} is {_MORE[op]} {amount(t)} of the training baseline {side} "
                f"the baseline {STATS[m.stat].phrase}")
    if m.transform == "change":
        verb = {"both": "changed", "up": "risen", "down": "fallen"}[m.direction]
        base = "the baseline's" if m.stat != "count" else "the baseline's rows per window"
        return f"{what} has {verb} by {_MORE[op]} {amount(t)} relative to {base}"
    return f"{what} {_OPS[op]} {amount(t)}"


def describe(c: Condition, window: Duration | None = None) -> str:
    """The plain-English form of a condition."""
    if isinstance(c, Compare):
        return _compare(c.measure, c.op, c.threshold, window)
    if isinstance(c, Between):
        what = measure(c.measure, window)
        if c.negated:
            return f"{what} is outside {amount(c.low)} to {amount(c.high)}"
        return f"{what} is between {amount(c.low)} and {amount(c.high)}"
    joiner = " and " if isinstance(c, AllOf) else " or "
    parts = [describe(t, window) for t in c.terms]
    if isinstance(c, AllOf) and any(isinstance(t, AnyOf) for t in c.terms):
        parts = [f"({p})" if isinstance(t, AnyOf) else p for p, t in zip(parts, c.terms,
                                                                          strict=True)]
    return ("both " if isinstance(c, AllOf) and len(parts) == 2 else "") + joiner.join(parts)


def persistence(for_: int, keep: int) -> str:
    """`for 2 consecutive windows`, and how it resolves."""
    fires = "in a single window" if for_ <= 1 else f"for {for_} consecutive windows"
    resolves = ("it resolves at the first clean window" if keep == 0 else
                f"it keeps firing through {keep} clean window{'s' if keep != 1 else ''}")
    return f"{fires}; {resolves}"


def per_segment(text: str, by: str | None) -> str:
    """A condition's English with its segments: `… per `listing_source``.

    >>> per_segment("the 7-day mean of `x` is above 2", "listing_source")
    'the 7-day mean of `x` is above 2, per `listing_source`'
    """
    return f"{text}, per {code(by)}" if by else text
