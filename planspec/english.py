"""Conditions in plain English, generated from the model, for runbooks and reports.

>>> from planspec._expr import parse_condition
>>> from planspec.model import Duration
>>> text = describe(parse_condition("mean(price) shift > 2 sd")[0], Duration(value=7, unit="d"))
>>> text.removesuffix(" of the training baseline away from the baseline mean")
'the 7-day mean of `price` is more than 2 standard deviations'
"""

from __future__ import annotations

import math
import re

from planspec._expr import format_number
from planspec.model import (
    AllOf,
    AnyOf,
    Between,
    Calibrated,
    Compare,
    Condition,
    Duration,
    Measure,
    Plan,
    RowAll,
    RowFilter,
    RowTest,
    Threshold,
)
from planspec.stats import STATS

_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month",
          "q": "quarter", "y": "year"}
_OPS = {">": "is above", ">=": "is at least", "<": "is below", "<=": "is at most"}
_MORE = {">": "more than", ">=": "at least", "<": "less than", "<=": "at most"}
_PRED = {">": ">", ">=": "≥", "<": "<", "<=": "≤", "==": "=", "!=": "≠"}


class Markdown(str):
    """Text that is already markdown (built here from escaped parts): renderers print it as is."""

    __slots__ = ()


#: Characters that end a line in some reader: folded to a space wherever one line is expected.
_BREAKS = re.compile("\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
#: Other control characters (a terminal would obey ESC): shown as escapes instead.
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x1f\x7f-\x84\x86-\x9f]")
#: Markdown punctuation that can start markup anywhere in a line: emphasis, code, links and
#: images, raw HTML and autolinks, entities, strikethrough and table pipes.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>&|~])")
#: What makes a line a block when it starts it: headings, quotes, lists, rules, setext lines.
_MD_LEAD = re.compile(r"\A(#|[-+=](?![\w.])|\d{1,9}(?=[.)](?:\s|\Z)))")


def line(text: object) -> str:
    r"""Text on one line: line breaks folded to spaces, other control characters escaped.

    >>> line("a\nb\x1b[2J")
    'a b\\x1b[2J'
    """
    s = _BREAKS.sub(" ", str(text))
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], s)


def md(text: object) -> Markdown:
    r"""Plan text made inert in markdown: on one line, markup characters backslash-escaped, so it
    reads exactly as written and no HTML, link, emphasis or block can come from it.

    >>> print(md("# <b>bold</b> | *x* [y](z)"))
    \# \<b\>bold\</b\> \| \*x\* \[y\](z)
    """
    if isinstance(text, Markdown):
        return text
    s = _MD_SPECIAL.sub(r"\\\1", line(text).strip())
    return Markdown(_MD_LEAD.sub(r"\\\1", s))


def code(name: str) -> Markdown:
    r"""A name as a markdown code span (underscores in names never turn into emphasis).

    The fence is longer than any run of backticks inside; the text is on one line, and its
    pipes are escaped so that the span can sit in a table cell.

    >>> print(code("x"), code("a`b"), code("a|b"))
    `x` ``a`b`` `a\|b`
    """
    s = line(name).replace("|", "\\|")
    longest = max((len(run) for run in re.findall("`+", s)), default=0)
    tick = "`" * (longest + 1)
    pad = " " if s.startswith(("`", " ")) or s.endswith(("`", " ")) else ""
    return Markdown(f"{tick}{pad}{s}{pad}{tick}")


def duration(d: Duration) -> str:
    """`7d` → `7-day`, `1mo` → `1-month`.

    >>> duration(Duration(value=1, unit="mo")), duration(Duration(value=1, unit="q"))
    ('1-month', '1-quarter')
    """
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
        return f'"{md(v)}"'
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
    if m.part in ("lower", "upper"):
        text = f"the {m.part} bound of the 95% confidence interval of {text}"
    return text


def calibrated(op: str, t: Calibrated) -> str:
    """`above what the baseline produces in 1% of windows of this size`."""
    side = "above" if op.startswith(">") else "below"
    return (f"{side} what the baseline produces in {format_number(t.rate * 100)}% of windows "
            "of this size")


def _compare(m: Measure, op: str, t: Threshold | Calibrated, window: Duration | None) -> str:
    what = measure(m, window)
    if isinstance(t, Calibrated):
        how = {"shift": " shift from the baseline", "change": " change from the baseline"}
        return f"{what}{how.get(m.transform, '')} is {calibrated(op, t)}"
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


#: How each outcome metric's 95% interval is computed (see planspec.outcomes.interval).
PROPORTIONS = frozenset({"precision", "recall", "accuracy", "fpr", "f1", "share_within"})


def interval_method(stat: str) -> str:
    """The method behind an outcome metric's interval, for people."""
    if stat in PROPORTIONS:
        return "Wilson score interval on the effective sample size of the weighted labels"
    if stat == "auc":
        return "Hanley–McNeil standard error on the effective numbers of positives and negatives"
    if stat == "ece":
        return "normal approximation from the per-bin variances of the outcome share"
    return "normal approximation from the weighted spread of the per-row errors"


def persistence(for_: int, keep: int) -> str:
    """`for 2 consecutive windows`, and how it resolves."""
    fires = "in a single window" if for_ <= 1 else f"for {for_} consecutive windows"
    resolves = ("it resolves at the first clean window" if keep == 0 else
                f"it keeps firing through {keep} clean window{'s' if keep != 1 else ''}")
    return f"{fires}; {resolves}"


def number(x: float | int | None) -> str:
    """A number as the command line and the reports print it: thousands separated, at most three
    significant digits below 1,000, never ``-0``; ``–`` when there is none.

    >>> [number(v) for v in (199623, 10300.4, 0.12345, -0.0, 3.0, 1.5e-8, None, float("inf"))]
    ['199,623', '10,300', '0.123', '0', '3', '1.5e-08', '–', '∞']
    """
    if x is None or x != x:
        return "–"
    if math.isinf(x):
        return "∞" if x > 0 else "-∞"
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}" if abs(x) < 1e15 else f"{x:.3e}"
    if float(x).is_integer():
        return str(int(x))
    return f"{x:.3g}"


def _split_statistic(statistic: str) -> tuple[str, str, bool]:
    for transform in ("shift", "change"):
        if statistic.endswith("_" + transform):
            statistic = statistic.removesuffix("_" + transform)
            break
    else:
        transform = "value"
    pvalue = statistic.endswith("_pvalue")
    return statistic.removesuffix("_pvalue"), transform, pvalue


def statistic_label(statistic: str) -> str:
    """What a results value is, with its unit.

    >>> statistic_label("mean_shift"), statistic_label("psi")
    ('shift of the mean, in baseline SDs', 'population stability index')
    >>> statistic_label("ks_pvalue"), statistic_label("rate_change")
    ('p-value of the Kolmogorov-Smirnov test', 'change of the share of predictions, in %')
    """
    stat, transform, pvalue = _split_statistic(statistic)
    info = STATS.get(stat)
    text = info.phrase if info else stat.replace("_", " ")
    if pvalue:
        text = "p-value of the " + text.replace(" statistic", " test")
    if transform == "shift":
        return f"shift of the {text}, in baseline SDs"
    if transform == "change":
        return f"change of the {text}, in %"
    return text


def quantity(statistic: str, x: float | None) -> str:
    """A results value in its unit: a shift in SDs, a change in percent, otherwise the number.

    >>> quantity("mean_shift", 2.345), quantity("count_change", -0.5), quantity("count", 10300.0)
    ('2.35 SD', '-50%', '10,300')
    """
    if x is None or x != x:
        return "–"
    _, transform, _ = _split_statistic(statistic)
    if transform == "shift":
        return f"{number(x)} SD"
    if transform == "change" and not math.isinf(x):
        return f"{number(x * 100)}%"
    return number(x)


_ROW_OPS = {"==": "is", "!=": "is not", ">": "is above", ">=": "is at least", "<": "is below",
            "<=": "is at most", "in": "is one of", "not in": "is none of",
            "is missing": "is missing", "is not missing": "is present"}


def _row_value(v: bool | float | str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return code(f'"{v}"') if isinstance(v, str) else format_number(v)


def rows_where(f: RowFilter, nested: bool = False) -> str:
    """A `where` row filter in English.

    >>> from planspec._expr import parse_filter
    >>> rows_where(parse_filter('source == "agg" and (sqft > 0 or sqft is missing)')[0])
    '`source` is `"agg"` and (`sqft` is above 0 or `sqft` is missing)'
    """
    if isinstance(f, RowTest):
        values = ", ".join(_row_value(v) for v in f.values)
        return f"{code(f.column)} {_ROW_OPS[f.op]}" + (f" {values}" if values else "")
    if isinstance(f, RowAll):
        return " and ".join(rows_where(t, True) for t in f.terms)
    text = " or ".join(rows_where(t) for t in f.terms)
    return f"({text})" if nested else text


def per_segment(text: str, by: str | tuple[str, ...] | None,
                where: RowFilter | None = None) -> str:
    """A condition's English with its segments and filter: `… per `listing_source``.

    >>> per_segment("the 7-day mean of `x` is above 2", "listing_source")
    'the 7-day mean of `x` is above 2, per `listing_source`'
    >>> per_segment("it is above 2", ("a", "b"))
    'it is above 2, per combination of `a` and `b`'
    """
    cols = (by,) if isinstance(by, str) else tuple(by or ())
    if len(cols) == 1:
        text += f", per {code(cols[0])}"
    elif cols:
        text += f", per combination of {', '.join(code(c) for c in cols[:-1])} and " \
            f"{code(cols[-1])}"
    if where is not None:
        text += f", on the rows where {rows_where(where)}"
    return text


def split_note(by: tuple[str, ...], monitor: bool, correction: str, inherited: bool) -> str:
    """What splitting by ``by`` means for an alert or outcome monitor, after its columns in the
    runbook's `split by` line (empty when not split).

    >>> split_note(("a",), False, "none", False)
    ": one result per value, each against that segment's baseline"
    >>> split_note(("a",), True, "bh", True)[:60]
    ' (from `defaults.by`): one result per value, from that segme'
    """
    if not by:
        return ""
    note = " (from `defaults.by`)" if inherited else ""
    if not monitor:
        return f"{note}: one result per value, each against that segment's baseline"
    note += (": one result per value, from that segment's scored rows and their outcomes, "
             "each needing its own minimum labels")
    if correction != "none":
        note += ("; the 95% intervals (`.lower`, `.upper`) are widened to 1 − 5%/k for the k "
                 f"segments judged (Bonferroni, for the plan's correction `{correction}`)")
    return note


def plan_summary(plan: Plan, file: str) -> str:
    """What a valid plan holds, in three lines for a terminal (what ``planspec validate``
    prints): its name, model and version, how many of each item, and which declared columns no
    alert watches. Plain text without a template engine, so `validate` stays light; each plan
    value passes :func:`line` (one line, no control characters), each count :func:`number`."""
    from planspec.check import watched_columns

    def count(n: int, what: str) -> str:
        return f"{number(n)} {what}{'' if n == 1 else 's'}"

    watched = watched_columns(plan)
    columns = [*plan.data.features, *plan.data.predictions]
    unwatched = [c for c in columns if c not in watched]
    counts = ", ".join([count(len(plan.input_alerts), "input alert"),
                        count(len(plan.output_alerts), "output alert"),
                        count(len(plan.outcome_monitors), "outcome monitor"),
                        count(len(plan.playbooks), "playbook"),
                        count(len(plan.drift_risks), "drift risk")])
    rest = f"; not watched: {', '.join(line(c) for c in unwatched)}" if unwatched else ""
    return (f"{line(file)}: valid plan `{line(plan.plan)}` for {line(plan.model.name)} "
            f"{line(plan.model.version)}\n  {counts}\n"
            f"  {number(len(columns) - len(unwatched))} of {number(len(columns))} declared "
            f"columns watched{rest}\n")
