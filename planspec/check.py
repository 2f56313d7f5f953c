"""Semantic validation: small rule functions, each yielding located diagnostics about a built plan.

Every rule states itself in its docstring with a passing and a failing example. ``CHECKS`` lists
them; :func:`check_plan` runs them all and returns every finding (nothing stops at the first).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from planspec import _surface
from planspec._expr import ExprError, is_column_name, parse_derived
from planspec.diagnostics import Diagnostic, Span, did_you_mean, make, sort_key
from planspec.model import (
    Alert,
    AllOf,
    AnyOf,
    Between,
    Calibrated,
    Compare,
    Condition,
    Duration,
    Feature,
    Measure,
    OutcomeMonitor,
    Plan,
    Prediction,
    Threshold,
)
from planspec.source import Path, SourceMap
from planspec.stats import SHARE_LIKE, STATS

INF = math.inf


@dataclass(frozen=True)
class Ctx:
    """A plan with its source map, and the lookups rules share."""

    plan: Plan
    smap: SourceMap

    def span(self, *path: str | int) -> Span | None:
        return self.smap.span(path)

    def setting(self, key: str, value: str | None = None) -> str:
        """A setting as the plan's surface writes it, for hints: `playbook:` or `playbook`."""
        return _surface.setting(self.smap.surface, key, value)

    def word(self, key: str) -> str:
        """A key as the plan's surface writes it: `warn` in YAML, `warn when` in `.plan`."""
        return _surface.word(self.smap.surface, key)

    def column_type(self, name: str) -> str | None:
        """The type a column behaves as: a feature's type, or its prediction kind's."""
        return self._column_types.get(name)

    def watchers(self) -> Iterator[tuple[str, int, Alert | OutcomeMonitor]]:
        """Every alert and monitor with its section and index."""
        return iter(self._watchers)

    def conditions(self) -> Iterator[tuple[Path, Condition, Alert | OutcomeMonitor]]:
        """Every condition (`when`, `warn`) with its path and owner."""
        return iter(self._conditions)

    def leaves(self) -> Iterator[tuple[Path, Compare | Between, str]]:
        """Every comparison or zone inside every condition, with its path and section."""
        return iter(self._leaves)

    def watchers_to_check(self) -> Iterator[tuple[str, int, Alert | OutcomeMonitor]]:
        """The watchers a rule about single alerts and monitors must look at: all but those
        in which no such rule finds anything (see :func:`_plain_watcher`), in order."""
        return iter(self.scan.watchers)

    def leaves_to_check(self) -> Iterator[tuple[Path, Compare | Between, str]]:
        """The leaves a rule about single comparisons and zones must look at: all but those
        in which no such rule finds anything (see :func:`_plain_leaf`), in order."""
        return iter(self.scan.leaves)

    # A plan may hold thousands of alerts, and reading each of its parts costs more than what
    # is done with it: one pass (the scan) reads them all, and the rules look only at the few
    # it cannot clear. The full lists are made only if asked for.

    @functools.cached_property
    def _column_types(self) -> dict[str, str]:
        data = self.plan.data
        types = {name: "categorical" if p.kind == "class" else "numeric"
                 for name, p in data.predictions.items()}
        types.update((name, f.type) for name, f in data.features.items())  # a feature first
        return types

    @functools.cached_property
    def _watchers(self) -> list[tuple[str, int, Alert | OutcomeMonitor]]:
        return [(section, i, item) for section in _SECTIONS
                for i, item in enumerate(getattr(self.plan, section))]

    @functools.cached_property
    def _conditions(self) -> list[tuple[Path, Condition, Alert | OutcomeMonitor]]:
        return [((section, i, name), cond, item) for section, i, item in self._watchers
                for name in ("when", "warn") if (cond := getattr(item, name)) is not None]

    @functools.cached_property
    def _leaves(self) -> list[tuple[Path, Compare | Between, str]]:
        return [(p, leaf, str(path[0])) for path, cond, _ in self._conditions
                for p, leaf in _leaves(cond, path)]

    @functools.cached_property
    def scan(self) -> Scan:
        """What one pass over the alerts and monitors finds (see :class:`Scan`)."""
        plan, types = self.plan, self._column_types
        preds, features = plan.data.predictions, plan.data.features
        scan = Scan(self, {p.id for p in plan.playbooks})
        ids, books, columns = scan.ids, scan.playbooks, scan.columns
        watchers, leaves = scan.watchers, scan.leaves
        for section in _SECTIONS:
            for i, item in enumerate(getattr(plan, section)):
                ids.append(item.id)
                books.add(item.playbook)
                if not _plain_watcher(item, scan):
                    watchers.append((section, i, item))
                for name, cond in (("when", item.when), ("warn", item.warn)):
                    if isinstance(cond, (Compare, Between)):  # most conditions: one leaf
                        columns.add(cond.measure.column)
                        if not _plain_leaf(cond, section, types, preds, features):
                            leaves.append(((section, i, name), cond, section))
                    elif cond is not None:
                        for path, leaf in _leaves(cond, (section, i, name)):
                            columns.add(leaf.measure.column)
                            if not _plain_leaf(leaf, section, types, preds, features):
                                leaves.append((path, leaf, section))
        return scan


_SECTIONS = ("input_alerts", "output_alerts", "outcome_monitors")


class Scan:
    """What one pass over a plan's alerts and monitors found: the few the rules must look at,
    and what rules about the whole plan need of every one."""

    def __init__(self, c: Ctx, playbook_ids: set[str]) -> None:
        self.watchers: list[tuple[str, int, Alert | OutcomeMonitor]] = []
        self.leaves: list[tuple[Path, Compare | Between, str]] = []
        self.ids: list[str] = []  # of every alert and monitor, in order
        self.playbooks: set[str | None] = set()  # that alerts and monitors name (None: none)
        self.columns: set[str | None] = set()  # that comparisons and zones read (None: none)
        # lookups for _plain_watcher
        self.playbook_ids = playbook_ids
        self.types = c._column_types
        d = c.plan.defaults
        self.cadence, self.window, self.every = c.plan.model.cadence.seconds, d.window, d.every


def _leaves(cond: Condition, path: Path) -> Iterator[tuple[Path, Compare | Between]]:
    if isinstance(cond, (AllOf, AnyOf)):
        for i, term in enumerate(cond.terms):
            yield from _leaves(term, path + ("terms", i))
    else:
        yield path, cond


def _thresholds(leaf: Compare | Between) -> list[tuple[str, Threshold]]:
    if isinstance(leaf, Compare):
        if isinstance(leaf.threshold, Calibrated):  # see check_calibrated
            return []
        return [("threshold", leaf.threshold)]
    return [("low", leaf.low), ("high", leaf.high)]


def value_range(m: Measure) -> tuple[float, float]:
    """The values the compared quantity can take (after `shift`/`change` and direction).

    >>> value_range(Measure(stat="js", column="x"))
    (0, 1)
    >>> value_range(Measure(stat="count", transform="change", direction="down"))
    (-inf, 1)
    """
    if m.part == "pvalue":
        return 0, 1
    if m.transform == "value":
        info = STATS[m.stat]
        return info.lo, info.hi
    if m.direction == "both":
        return 0, INF
    if m.transform == "shift":
        return -INF, INF
    return (-1, INF) if m.direction == "up" else (-INF, 1)


def _units(m: Measure) -> tuple[frozenset[str], str]:
    """The units a threshold of ``m`` may have, and how to say so (see check_units)."""
    if m.transform == "shift":
        return _SD, "in baseline standard deviations, e.g. `2 sd`"
    if m.transform == "change":
        return _PERCENT, "a percentage, e.g. `50%`"
    if m.part == "pvalue" or m.stat in SHARE_LIKE:
        return _SHARE, "a fraction or a percentage"
    return _PLAIN, "a plain number"


_SD, _PERCENT, _SHARE, _PLAIN = frozenset({"sd"}), frozenset({"%"}), frozenset({"", "%"}), \
    frozenset({""})


def _plain_leaf(leaf: Compare | Between, section: str, types: dict[str, str],
                preds: dict[str, Prediction], features: dict[str, Feature]) -> bool:
    """Whether no rule about single leaves can find anything in ``leaf`` (the common case,
    tested cheaply; when unsure, False: the rules look at the leaf themselves).

    ``types`` maps every declared column to the type it behaves as (``Ctx.column_type``).
    """
    m = leaf.measure
    stat, column = m.stat, m.column
    info = STATS[stat]
    if column:
        kind = types.get(column)
        if kind is None or kind not in info.types:  # check_columns, check_stat_types
            return False
        if column in preds:
            if section == "input_alerts":  # check_sides
                return False
        elif stat == "rate" or section == "output_alerts":  # check_stat_types, check_sides
            return False
    if (info.scope == "outcome") != (section == "outcome_monitors"):  # check_sides
        return False
    if stat == "out_of_range_rate" and (feature := features.get(column or "")) is not None \
            and feature.range is None:  # check_ranges
        return False
    q = m.q
    if q is not None and not 0 <= q <= 1:  # check_quantiles
        return False
    transform, part = m.transform, m.part
    if transform == "value" and part == "statistic":
        lo, hi, units = _terms()[stat]
    elif transform != "value" and not ((info.location if transform == "shift" else
                                        info.relative) and part == "statistic"):
        return False  # check_transforms
    else:
        units = _units(m)[0]
        lo, hi = value_range(m)
    # check_units, check_thresholds (inside the open range no comparison is out of reach),
    # check_zones, check_calibrated
    if isinstance(leaf, Compare):
        t = leaf.threshold
        if isinstance(t, Calibrated):
            return info.scope == "drift" and stat != "count" and 0 < t.rate < 0.5
        return t.unit in units and lo < t.amount < hi
    low, high = leaf.low, leaf.high
    return low.unit in units and high.unit in units and lo < low.amount < high.amount < hi


@functools.cache
def _terms() -> dict[str, tuple[float, float, frozenset[str]]]:
    """Per statistic, the range and the units of a threshold on its plain value."""
    out = {}
    for stat in STATS:
        m = Measure.model_construct(stat=stat)
        out[stat] = (*value_range(m), _units(m)[0])
    return out


def _plain_watcher(item: Alert | OutcomeMonitor, s: Scan) -> bool:
    """Whether no rule about single alerts and monitors can find anything in ``item`` (the
    common case, tested cheaply; when unsure, False: the rules look at it themselves)."""
    if item.playbook not in s.playbook_ids or item.for_ == 0 or item.where is not None:
        return False  # check_playbook_refs, check_alerts_have_playbooks, check_persistence,
        # check_filters
    by = item.by
    if by and not all(s.types.get(name) in _SPLITS for name in _columns_of(by)):
        return False  # check_segments
    window, every = item.window, getattr(item, "every", None)
    if window is not None or every is not None:  # check_windows, check_calendar_steps
        length = window or s.window
        step = every or s.every
        if length.seconds < s.cadence or (step is not None and step.seconds > length.seconds):
            return False
        step = every or (s.every if window is None else None)
        if step is not None and bool(length.months) != bool(step.months):
            return False
    return item.warn is None or _misordered(item.when, item.warn) is None  # check_level_order


_SPLITS = ("categorical", "boolean")


def _misordered(fail: Condition, warn: Condition) -> tuple[bool, float, float] | None:
    """(whether the levels rise, fail, warn) when the warn level is not reached before the
    fail level; None when it is, or when they do not compare (see check_level_order)."""
    if not (isinstance(fail, Compare) and isinstance(warn, Compare)):
        return None
    if fail.op[0] != warn.op[0]:
        return None
    if isinstance(fail.threshold, Calibrated) or isinstance(warn.threshold, Calibrated):
        return None  # calibrated levels are checked by check_calibrated
    up = fail.op[0] == ">"
    f, w = fail.threshold.amount, warn.threshold.amount
    if ((up and w >= f) or (not up and w <= f)) and fail.measure == warn.measure:
        return up, f, w
    return None


# ------------------------------------------------------------------------------------ rules


def check_unique_ids(c: Ctx) -> Iterator[Diagnostic]:
    """Ids are unique among alerts and monitors, among playbooks, and among drift risks.

    Passes: alerts `price_shift` and `sqft_ks`. Fails: two input alerts both `id: price_shift`.
    """
    ids = c.scan.ids
    groups = {"alert or monitor": [(s, i, w.id) for s, i, w in c.watchers()]
              if len(set(ids)) < len(ids) else [],  # (listed only when some id repeats)
              "playbook": [("playbooks", i, p.id) for i, p in enumerate(c.plan.playbooks)],
              "drift risk": [("drift_risks", i, r.id) for i, r in enumerate(c.plan.drift_risks)]}
    for what, items in groups.items():
        seen: dict[str, tuple[str, int]] = {}
        for section, i, ident in items:
            if ident in seen:
                first = c.span(*seen[ident], "id")
                where = f" on line {first.line}" if first else ""
                yield make("PS301", f"the {what} id `{ident}` is used twice",
                           c.span(section, i, "id"), f"first used{where}; ids must be unique")
            else:
                seen[ident] = (section, i)


def check_playbook_refs(c: Ctx) -> Iterator[Diagnostic]:
    """Every playbook named by an alert, monitor, risk or escalation exists.

    Passes: `playbook: investigate_inputs` with that playbook defined.
    Fails: `playbook: investgate_inputs` (a misspelling).
    """
    ids = [p.id for p in c.plan.playbooks]
    refs: list[tuple[Path, str]] = [((s, i, "playbook"), w.playbook)
                                    for s, i, w in c.watchers_to_check() if w.playbook]
    refs += [(("drift_risks", i, "playbook"), r.playbook)
             for i, r in enumerate(c.plan.drift_risks) if r.playbook]
    refs += [(("playbooks", i, "escalate", j, "to"), e.to)
             for i, p in enumerate(c.plan.playbooks) for j, e in enumerate(p.escalate)]
    known = set(ids)
    for path, name in refs:
        if name not in known:
            yield make("PS302", f"no playbook has the id `{name}`", c.span(*path),
                       did_you_mean(name, ids) or f"define it with {c.setting('playbooks')}")


def check_alert_refs(c: Ctx) -> Iterator[Diagnostic]:
    """References to alerts and monitors (caught_by, stand_ins, escalations) name real ones.

    Passes: `caught_by: [price_shift]` with that alert defined. Fails: `caught_by: [price_shfit]`.
    """
    ids = c.scan.ids
    refs: list[tuple[Path, str]] = []
    for i, r in enumerate(c.plan.drift_risks):
        refs += [(("drift_risks", i, "caught_by", j), a) for j, a in enumerate(r.caught_by)]
    for i, m in enumerate(c.plan.outcome_monitors):
        refs += [(("outcome_monitors", i, "stand_ins", j), a) for j, a in enumerate(m.stand_ins)]
    for i, p in enumerate(c.plan.playbooks):
        for j, e in enumerate(p.escalate):
            for key in ("if_firing", "unless_firing"):
                refs += [(("playbooks", i, "escalate", j, key, k), a)
                         for k, a in enumerate(getattr(e, key))]
    known = set(ids)
    for path, name in refs:
        if name not in known:
            yield make("PS318", f"no alert or monitor has the id `{name}`", c.span(*path),
                       did_you_mean(name, ids))


def check_columns(c: Ctx) -> Iterator[Diagnostic]:
    """Every column a condition, monitor or risk names is declared in the data schema.

    Passes: `mean(listing_price)` with `listing_price` under `data.features`.
    Fails: `mean(listing_prise)`.
    """
    known = [*c.plan.data.features, *c.plan.data.predictions]
    declared = set(known)
    refs: list[tuple[Path, str]] = [(p + ("measure", "column"), column)
                                    for p, leaf, _ in c.leaves_to_check()
                                    if (column := leaf.measure.column) and column not in declared]
    refs += [(("outcome_monitors", i, "prediction"), m.prediction)
             for i, m in enumerate(c.plan.outcome_monitors) if m.prediction]
    for i, r in enumerate(c.plan.drift_risks):
        refs += [(("drift_risks", i, "affects", j), a) for j, a in enumerate(r.affects)]
    for path, name in refs:
        if name not in declared:
            yield make("PS303", f"the column `{name}` is not in the data schema", c.span(*path),
                       did_you_mean(name, known) or f"declare it in `data` with "
                       f"{c.setting('features')} or {c.setting('predictions')}")


def check_stat_types(c: Ctx) -> Iterator[Diagnostic]:
    """A statistic applies only to the column types it is defined for; rates are of predictions.

    Passes: `chi2(neighborhood)` on a categorical column. Fails: `chi2(sqft)` on a numeric one,
    `psi(listing_text)` on free text, `rate(sqft >= 500)` on a feature.
    """
    for path, leaf, _ in c.leaves_to_check():
        m = leaf.measure
        kind = c.column_type(m.column) if m.column else None
        if kind is None:
            continue
        info = STATS[m.stat]
        if m.stat == "rate" and m.column not in c.plan.data.predictions:
            yield make("PS304", f"`rate` is a share of predictions; `{m.column}` is a feature",
                       c.span(*path, "measure", "stat"),
                       f"use `share({m.column} ...)` for a feature")
        elif kind not in info.types:
            fits = sorted(s for s, i in STATS.items() if kind in i.types)
            yield make("PS304", f"`{m.stat}` does not apply to the {kind} column `{m.column}`",
                       c.span(*path, "measure", "stat"),
                       f"for a {kind} column use one of: {', '.join(fits)}" if fits
                       else f"a {kind} column supports no drift statistic but missing_rate")


def check_sides(c: Ctx) -> Iterator[Diagnostic]:
    """Input alerts watch features, output alerts watch predictions, outcome monitors use quality
    metrics; drift statistics stay out of monitors and quality metrics out of alerts.

    Passes: an input alert on `psi(neighborhood)`. Fails: an input alert on `psi(p_within_10pct)`,
    an output alert on `precision < 0.8`.
    """
    preds = c.plan.data.predictions
    for path, leaf, section in c.leaves_to_check():
        m = leaf.measure
        scope = STATS[m.stat].scope
        if section == "outcome_monitors":
            if scope != "outcome":
                yield make("PS317", f"`{m.stat}` is a drift statistic, not a quality metric",
                           c.span(*path, "measure"), f"move it to {c.setting('input_alerts')} "
                           f"or {c.setting('output_alerts')}")
        elif scope == "outcome":
            yield make("PS317", f"`{m.stat}` needs outcomes", c.span(*path, "measure"),
                       f"quality metrics belong in {c.setting('outcome_monitors')}")
        elif m.column and section == "input_alerts" and m.column in preds:
            yield make("PS317", f"`{m.column}` is a prediction; input alerts watch features",
                       c.span(*path, "measure"), f"move this to {c.setting('output_alerts')}")
        elif m.column and section == "output_alerts" and m.column not in preds:
            yield make("PS317", f"`{m.column}` is a feature; output alerts watch predictions",
                       c.span(*path, "measure"), f"move this to {c.setting('input_alerts')}")


def check_units(c: Ctx) -> Iterator[Diagnostic]:
    """A `shift` threshold is in baseline SDs, a `change` threshold is a percentage, and `%` only
    fits shares.

    Passes: `mean(x) shift > 2 sd`, `count change down > 50%`, `missing_rate(x) > 5%`.
    Fails: `mean(x) shift > 2`, `psi(x) > 20%`, `rate(p >= 0.5) change > 0.5`.
    """
    for path, leaf, _ in c.leaves_to_check():
        want, say = _units(leaf.measure)
        for name, t in _thresholds(leaf):
            if t.unit not in want:
                got = f"`{t.unit}`" if t.unit else "no unit"
                yield make("PS314", f"this threshold has {got}; it should be {say}",
                           c.span(*path, name))


def check_thresholds(c: Ctx) -> Iterator[Diagnostic]:
    """A threshold lies where the statistic can reach, so the condition can hold and can fail.

    Passes: `js(x) > 0.1`, `psi(x) > 0.2`, `ks(x).pvalue < 0.01`, `missing_rate(x) > 5%`.
    Fails: `js(x) > 1.5`, `psi(x) < 0`, `ks(x).pvalue < 2`, `missing_rate(x) > 150%`.
    """
    for path, leaf, _ in c.leaves_to_check():
        lo, hi = value_range(leaf.measure)
        for name, t in _thresholds(leaf):
            v = t.amount
            op = leaf.op if isinstance(leaf, Compare) else None
            outside = v < lo or v > hi
            never = (op in (">", ">=") and (v > hi or (op == ">" and v >= hi))) or \
                    (op in ("<", "<=") and (v < lo or (op == "<" and v <= lo)))
            if outside or never:
                rng = f"[{_num(lo)}, {_num(hi)}]"
                yield make("PS305", f"`{leaf.measure.stat}` here lies in {rng}, so "
                           f"{'this threshold is out of range' if outside else 'this never holds'}",
                           c.span(*path, name), _threshold_hint(leaf.measure, t))


def _num(v: float) -> str:
    return "∞" if v == INF else "-∞" if v == -INF else f"{v:g}"


def _threshold_hint(m: Measure, t: Threshold) -> str | None:
    if t.unit == "" and t.value > 1 and (m.stat in SHARE_LIKE or m.part == "pvalue"):
        return f"shares are fractions; did you mean `{t.value:g}%`?"
    if m.transform != "value" and m.direction == "both" and t.amount < 0:
        word = "shift" if m.transform == "shift" else "change"
        return f"without a direction `{word}` is a magnitude; write `{word} down` for a fall"
    return None


def check_level_order(c: Ctx) -> Iterator[Diagnostic]:
    """The warn level is reached before the fail level (`when`).

    Passes: `when: psi(x) > 0.2`, `warn: psi(x) > 0.1`. Fails: `warn: psi(x) > 0.3` (warns after
    failing), or `when: precision < 0.7`, `warn: precision < 0.6`.
    """
    for section, i, item in c.watchers_to_check():
        found = _misordered(item.when, item.warn) if item.warn is not None else None
        if found is not None:
            up, f, w = found
            yield make("PS306", f"`{c.word('warn')}` at {_num(w)} is not reached before "
                       f"`when` at {_num(f)}",
                       c.span(section, i, "warn", "threshold"),
                       f"the warn threshold should be {'below' if up else 'above'} {_num(f)}")


def check_calibrated(c: Ctx) -> Iterator[Diagnostic]:
    """A calibrated threshold names a false-alarm rate in (0, 50%) and a statistic the baseline
    can be replayed for (a drift statistic other than `count`).

    Passes: `psi(x) > calibrated(1%)`, `ks(x).pvalue < calibrated(0.5%)`.
    Fails: `precision < calibrated(5%)`, `count < calibrated(1%)`, `psi(x) > calibrated(60%)`.
    """
    for path, leaf, _ in c.leaves_to_check():
        if not (isinstance(leaf, Compare) and isinstance(leaf.threshold, Calibrated)):
            continue
        m = leaf.measure
        if STATS[m.stat].scope != "drift" or m.stat == "count":
            what = ("the row count is the window's size itself" if m.stat == "count" else
                    "the baseline holds no outcomes")
            yield make("PS360", f"`{m.stat}` cannot be calibrated on the baseline: {what}",
                       c.span(*path, "threshold"), "compare it with a number instead")
        rate = leaf.threshold.rate
        if not 0 < rate < 0.5:
            yield make("PS361", f"a calibrated false-alarm rate lies strictly between 0 and "
                       f"50%; this one is {rate:.4g}", c.span(*path, "threshold", "value"),
                       "write a small share, e.g. `calibrated(1%)`")


def check_zones(c: Ctx) -> Iterator[Diagnostic]:
    """A between zone has its low bound below its high bound.

    Passes: `psi(x) between 0.1 and 0.3`. Fails: `psi(x) between 0.3 and 0.1`.
    """
    for path, leaf, _ in c.leaves_to_check():
        if isinstance(leaf, Between) and leaf.low.amount >= leaf.high.amount:
            yield make("PS316", "the zone is empty: its low bound is not below its high bound",
                       c.span(*path, "low"), "write the smaller bound first")


def check_transforms(c: Ctx) -> Iterator[Diagnostic]:
    """`shift` applies to location statistics, `change` to values with a baseline; divergences
    (PSI, JS, KS, chi², Wasserstein) and p-values already compare with the baseline.

    Passes: `mean(x) shift > 2 sd`, `rate(p >= 0.5) change > 50%`.
    Fails: `psi(x) change > 10%`, `missing_rate(x) shift > 2 sd`.
    """
    for path, leaf, _ in c.leaves_to_check():
        m = leaf.measure
        info = STATS[m.stat]
        transform = m.transform
        ok = transform == "value" or ((info.location if transform == "shift" else
                                      info.relative) and m.part == "statistic")
        if not ok:
            yield make("PS319", f"`{m.transform}` does not apply to `{m.stat}`",
                       c.span(*path, "measure"),
                       "compare the statistic itself with a threshold" if not info.relative
                       else "use `change` for a relative difference from the baseline")


def check_ranges(c: Ctx) -> Iterator[Diagnostic]:
    """`out_of_range_rate` needs the column's `range`, and a declared range is not empty.

    Passes: `out_of_range_rate(sqft)` with `sqft: {type: numeric, range: [100, 10000]}`.
    Fails: the same with no `range`, or `range: [10000, 100]`.
    """
    for name, f in c.plan.data.features.items():
        if f.range and f.range[0] >= f.range[1]:
            yield make("PS316", f"the range of `{name}` is empty",
                       c.span("data", "features", name, "range"), "write the low bound first: "
                       + c.setting("range", f"{_num(f.range[1])}, {_num(f.range[0])}"))
    features = c.plan.data.features
    for path, leaf, _ in c.leaves_to_check():
        m = leaf.measure
        if m.stat != "out_of_range_rate":
            continue
        feature = features.get(m.column or "")
        if feature is not None and feature.range is None:
            yield make("PS315", f"`{m.column}` has no declared range",
                       c.span(*path, "measure", "column"),
                       f"add {c.setting('range', 'low, high')} to `{m.column}` in the data "
                       "schema")


def _window(c: Ctx, item: Alert | OutcomeMonitor) -> Duration:
    return item.window or c.plan.defaults.window


def check_windows(c: Ctx) -> Iterator[Diagnostic]:
    """A window is at least the cadence long, and a sliding window moves by no more than itself.

    Passes: cadence `1d`, window `7d`, every `1d`. Fails: cadence `7d` with window `1d` (six days
    in seven are never checked), or window `7d` with every `14d`.
    """
    cadence = c.plan.model.cadence
    places: list[tuple[Path, Duration, Duration | None]] = [
        (("defaults",), c.plan.defaults.window, c.plan.defaults.every)]
    for section, i, item in c.watchers_to_check():
        every = getattr(item, "every", None)
        if item.window is not None or every is not None:
            places.append(((section, i), _window(c, item), every or c.plan.defaults.every))
    for path, window, every in places:
        if window.seconds < cadence.seconds:
            yield make("PS307", f"the window {window} is shorter than the cadence {cadence}",
                       c.span(*path, "window"), f"use a window of at least {cadence}")
        if every is not None and every.seconds > window.seconds:
            yield make("PS320", f"the window {window} slides by {every}, more than its length",
                       c.span(*path, "every"), f"slide by at most {window}")


def check_timezone(c: Ctx) -> Iterator[Diagnostic]:
    """The plan's `timezone` is an IANA time zone.

    Passes: `timezone: America/New_York`. Fails: `timezone: America/New_Yrok`.
    """
    name = c.plan.timezone
    if name == "UTC" or name in _zones():  # UTC (the default) without listing the zone files
        return
    yield make("PS324", f"`{name}` is not a time zone", c.span("timezone"),
               did_you_mean(name, _zones()) or "use an IANA name such as `Europe/Paris`")


@functools.lru_cache(maxsize=1)
def _zones() -> tuple[str, ...]:
    import zoneinfo

    return tuple(sorted(zoneinfo.available_timezones()))


def check_calendar_steps(c: Ctx) -> Iterator[Diagnostic]:
    """A window in months, quarters or years slides by them; other windows do not.

    Passes: `window: 1mo`, `window: 1y  every: 1q`. Fails: `window: 1mo  every: 1d`.
    """
    places: list[tuple[Path, Duration, Duration | None]] = [
        (("defaults",), c.plan.defaults.window, c.plan.defaults.every)]
    for section, i, item in c.watchers_to_check():
        every = getattr(item, "every", None)
        if item.window is not None or every is not None:
            places.append(((section, i), _window(c, item),
                           every or (c.plan.defaults.every if item.window is None else None)))
    for path, window, every in places:
        if every is not None and bool(window.months) != bool(every.months):
            yield make("PS325", f"the window {window} slides by {every}",
                       c.span(*path, "every") or c.span(*path, "window"),
                       "slide a calendar window by months, quarters or years"
                       if window.months else "slide it by days or hours")


def check_predictions(c: Ctx) -> Iterator[Diagnostic]:
    """Output alerts and outcome monitors need a prediction to watch; outcome monitors score a
    probability, score or value (not a `class`) and say when outcomes became known.

    Passes: `predictions: {p: {kind: probability}}` with an output alert on `p`. Fails: no
    `predictions` with an output alert; a monitor over a `class` output; a source with
    neither `time` nor `known_at`.
    """
    preds = c.plan.data.predictions
    if not preds:
        for section in ("output_alerts", "outcome_monitors"):
            for i, item in enumerate(getattr(c.plan, section)):
                yield make("PS326", f"`{item.id}` watches predictions, and the plan declares none",
                           c.span(section, i, "id"), "declare the model's outputs in `data` "
                           f"({c.setting('predictions')}), or remove it")
    for i, m in enumerate(c.plan.outcome_monitors):
        name = m.prediction or next(iter(preds), None)
        if name in preds and preds[name].kind == "class":
            yield make("PS327", f"`{m.id}` scores the class output `{name}`",
                       c.span("outcome_monitors", i, "prediction") or
                       c.span("outcome_monitors", i, "id"),
                       f"monitor a probability or score output ({c.setting('prediction')}), "
                       "or declare one")
        src = m.source
        if (src.time is None) == (src.known_at is None):
            yield make("PS328", f"`{m.id}`'s source `{src.name}` " +
                       ("has both `time` and `known_at`" if src.time else
                        "does not say when outcomes became known"),
                       c.span("outcome_monitors", i, "source"),
                       "give the outcome table's `time` column, or "
                       f"{c.setting('known_at', 'prediction + 30d')}")


def check_persistence(c: Ctx) -> Iterator[Diagnostic]:
    """`for` counts windows before an alert fires and is at least 1.

    Passes: `for: 2`. Fails: `for: 0`.
    """
    message = f"{c.setting('for', '0')} would fire before any window breached"
    hint = f"use {c.setting('for', '1')} to fire on the first breach"
    if c.plan.defaults.for_ == 0:
        yield make("PS308", message, c.span("defaults", "for"), hint)
    for section, i, item in c.watchers_to_check():
        if item.for_ == 0:
            yield make("PS308", message, c.span(section, i, "for"), hint)


def check_outcome_monitors(c: Ctx) -> Iterator[Diagnostic]:
    """An outcome monitor says how late its labels arrive and how they join the predictions.

    Passes: `label_delay: 30d` and `source: {join_key: listing_id, …}`.
    Fails: no `label_delay`, or no `source.join_key`.
    """
    for i, m in enumerate(c.plan.outcome_monitors):
        if m.label_delay is None:
            yield make("PS309", f"`{m.id}` does not say how late its labels arrive",
                       c.span("outcome_monitors", i, "id"),
                       f"add {c.setting('label_delay', '30d')} (how late, at most)")
        if m.source.join_key is None:
            yield make("PS310", f"`{m.id}` does not say how outcomes join predictions",
                       c.span("outcome_monitors", i, "source"),
                       f"add {c.setting('join_key')} (e.g. the row key) to `source`")


def check_playbooks_used(c: Ctx) -> Iterator[Diagnostic]:
    """Every playbook is triggered by something (warning).

    Passes: a playbook named by an alert. Fails: a playbook nothing names.
    """
    used = c.scan.playbooks | {r.playbook for r in c.plan.drift_risks}
    used |= {e.to for p in c.plan.playbooks for e in p.escalate}
    for i, p in enumerate(c.plan.playbooks):
        if p.id not in used:
            yield make("PS311", f"no alert, monitor, risk or escalation triggers `{p.id}`",
                       c.span("playbooks", i, "id"),
                       f"name it in an alert: {c.setting('playbook', p.id)}")


def check_alerts_have_playbooks(c: Ctx) -> Iterator[Diagnostic]:
    """Every alert and monitor names the playbook its responders follow (warning).

    Passes: `playbook: investigate_inputs`. Fails: an alert with no `playbook`.
    """
    for section, i, item in c.watchers_to_check():
        if item.playbook is None:
            yield make("PS312", f"`{item.id}` has no playbook", c.span(section, i, "id"),
                       f"add {c.setting('playbook')} so whoever is paged knows what to do")


def check_risk_coverage(c: Ctx) -> Iterator[Diagnostic]:
    """Every column a drift risk affects is watched by some alert or monitor (warning).

    Passes: `affects: [listing_price]` with an alert on `mean(listing_price)`.
    Fails: `affects: [bedrooms]` with no alert on `bedrooms`.
    """
    watched = _watched(c.plan, c.scan.columns)
    declared = {*c.plan.data.features, *c.plan.data.predictions}
    for i, r in enumerate(c.plan.drift_risks):
        for j, col in enumerate(r.affects):
            if col in declared and col not in watched:
                yield make("PS313", f"`{r.id}` affects `{col}`, which no alert watches",
                           c.span("drift_risks", i, "affects", j),
                           f"add an alert on `{col}` or explain the gap in `why`")


def check_outcome_labels(c: Ctx) -> Iterator[Diagnostic]:
    """A derived outcome label is a comparison of arithmetic over columns.

    Passes: `label: out_of_line`, `label: abs(listing_price - lease_rent) / lease_rent > 10%`.
    Fails: `label: abs(listing_price - lease_rent) >`.
    """
    for i, m in enumerate(c.plan.outcome_monitors):
        if is_column_name(m.source.label):
            continue
        try:
            parse_derived(m.source.label)
        except ExprError as e:
            yield make(e.code, f"the derived label does not parse: {e.message}",
                       c.span("outcome_monitors", i, "source", "label"), e.hint)


def watched_columns(plan: Plan) -> set[str]:
    """The columns some alert or monitor watches (a monitor watches the prediction it scores).

    >>> from planspec.load import load_plan
    >>> "listing_price" in watched_columns(load_plan("plans/rental_inspector.yaml").plan)
    True
    """
    leaves = Ctx(plan, SourceMap(plan.plan)).leaves()
    return _watched(plan, {leaf.measure.column for _, leaf, _ in leaves})


def _watched(plan: Plan, columns: set[str | None]) -> set[str]:
    watched = {column for column in columns if column}
    for m in plan.outcome_monitors:
        if m.prediction:
            watched.add(m.prediction)
        elif len(plan.data.predictions) == 1:
            watched |= set(plan.data.predictions)
    return watched


def check_schema_names(c: Ctx) -> Iterator[Diagnostic]:
    """A column is declared once: not both a feature and a prediction, nor the timestamp or key.

    Passes: `timestamp: scored_at` with features `sqft`, `neighborhood`.
    Fails: `p_within_10pct` under both features and predictions.
    """
    d = c.plan.data
    names = Counter([*d.features, *d.predictions])
    for name in d.predictions:
        if names[name] > 1:
            yield make("PS323", f"`{name}` is both a feature and a prediction",
                       c.smap.key_span(("data", "predictions", name)))
    for role in ("timestamp", "key"):
        name = getattr(d, role)
        if name and name in names:
            yield make("PS323", f"the {role} column `{name}` is also declared as a feature or "
                       "prediction", c.span("data", role))


def check_decision_thresholds(c: Ctx) -> Iterator[Diagnostic]:
    """A probability's decision threshold lies in [0, 1].

    Passes: `p_within_10pct: {kind: probability, threshold: 0.5}`. Fails: `threshold: 50`.
    """
    for name, p in c.plan.data.predictions.items():
        if p.kind == "probability" and p.threshold is not None and not 0 <= p.threshold <= 1:
            yield make("PS321", f"the decision threshold of `{name}` is {p.threshold:g}",
                       c.span("data", "predictions", name, "threshold"),
                       "probabilities lie in [0, 1]")


def check_quantiles(c: Ctx) -> Iterator[Diagnostic]:
    """A quantile's level lies in [0, 1].

    Passes: `quantile(sqft, 0.9)` or `quantile(sqft, 90%)`. Fails: `quantile(sqft, 90)`.
    """
    for path, leaf, _ in c.leaves_to_check():
        q = leaf.measure.q
        if q is not None and not 0 <= q <= 1:
            yield make("PS322", f"the quantile level {q:g} is outside [0, 1]",
                       c.span(*path, "measure", "q"), f"did you mean `{q:g}%`?")


def _columns_of(by: str | tuple[str, ...] | None) -> tuple[str, ...]:
    return (by,) if isinstance(by, str) else tuple(by or ())


def check_segments(c: Ctx) -> Iterator[Diagnostic]:
    """`by` names declared columns with a fixed set of values: categorical, boolean or a
    class prediction (one column, or a list whose value combinations are the segments).

    Passes: `by: listing_source`, `by: [listing_source, neighborhood]`. Fails:
    `by: listing_sorce` (unknown), `by: listing_price` (numeric: no fixed values to split by).
    """
    known = [*c.plan.data.features, *c.plan.data.predictions]
    refs: list[tuple[Path, str | tuple[str, ...]]] = [(("defaults", "by"), c.plan.defaults.by)] \
        if c.plan.defaults.by else []
    for section, i, item in c.watchers_to_check():
        by = getattr(item, "by", None)
        if by:
            refs.append(((section, i, "by"), by))
    for path, by in refs:
        listed = not isinstance(by, str)
        for j, name in enumerate(_columns_of(by)):
            kind = c.column_type(name)
            if kind in ("categorical", "boolean"):
                continue
            span = (c.span(*path, j) if listed else None) or c.span(*path)
            if kind is None:
                yield make("PS380", f"the segment column `{name}` is not in the data schema",
                           span, did_you_mean(name, known) or "declare it under `data.features`")
            else:
                fits = [n for n in known if c.column_type(n) in ("categorical", "boolean")]
                yield make("PS381", f"`{name}` is a {kind} column: segments split by a "
                           "categorical or boolean column", span,
                           f"split by one of: {', '.join(fits)}" if fits else
                           "bin it into a categorical column upstream")


def _row_tests(f: Any, path: Path) -> Iterator[tuple[Path, Any]]:
    if f.kind == "row_test":
        yield path, f
    else:
        for i, t in enumerate(f.terms):
            yield from _row_tests(t, (*path, "terms", i))


def check_filters(c: Ctx) -> Iterator[Diagnostic]:
    """A `where` filter reads declared columns and compares each with values of its type:
    numbers with a numeric column, text or `true`/`false` with a categorical or boolean one,
    and orders (`<`, `>`) only numbers.

    Passes: `where: listing_source == "aggregator" and sqft > 0`. Fails:
    `where: listing_sorce == "aggregator"` (PS382), `where: listing_source == 3` (PS383),
    `where: listing_source > "a"` (PS384).
    """
    known = [*c.plan.data.features, *c.plan.data.predictions]
    for section, i, item in c.watchers_to_check():
        f = getattr(item, "where", None)
        if f is None:
            continue
        for path, t in _row_tests(f, (section, i, "where")):
            kind = c.column_type(t.column)

            def at(path: Path = path, i: int = i, section: str = section) -> Span | None:
                return c.span(*path) or c.span(section, i, "where")

            if kind is None:
                yield make("PS382", f"the filter reads `{t.column}`, which is not in the data "
                           "schema", c.span(*path, "column") or at(),
                           did_you_mean(t.column, known) or "declare it under `data.features`")
                continue
            numeric = kind in ("numeric", "integer")
            for v in t.values:
                is_number = isinstance(v, (int, float)) and not isinstance(v, bool)
                if numeric != is_number:
                    want = "a number" if numeric else (
                        "`true` or `false`" if kind == "boolean" else "a quoted value")
                    shown = v if not isinstance(v, str) else f'"{v}"'
                    yield make("PS383", f"`{t.column}` is a {kind} column, compared here with "
                               f"{str(shown).lower() if isinstance(v, bool) else shown}", at(),
                               f"compare it with {want}")
                    break
            else:
                if not numeric and t.op in ("<", "<=", ">", ">="):
                    yield make("PS384", f"`{t.column}` is a {kind} column: its values have no "
                               f"order for `{t.op}`", at(),
                               "use `==`, `!=` or `in [...]`")


CHECKS: tuple[Callable[[Ctx], Iterator[Diagnostic]], ...] = (
    check_unique_ids,
    check_playbook_refs,
    check_alert_refs,
    check_columns,
    check_stat_types,
    check_sides,
    check_units,
    check_thresholds,
    check_calibrated,
    check_level_order,
    check_zones,
    check_transforms,
    check_ranges,
    check_windows,
    check_timezone,
    check_calendar_steps,
    check_predictions,
    check_persistence,
    check_outcome_monitors,
    check_playbooks_used,
    check_alerts_have_playbooks,
    check_risk_coverage,
    check_schema_names,
    check_decision_thresholds,
    check_quantiles,
    check_outcome_labels,
    check_segments,
    check_filters,
)


def check_plan(plan: Plan, source_map: SourceMap | None = None) -> list[Diagnostic]:
    """Run every semantic rule; return all findings in source order.

    >>> from planspec.parse_yaml import parse_yaml
    >>> check_plan(parse_yaml(open("plans/rental_inspector.yaml").read()).plan)
    []
    """
    ctx = Ctx(plan, source_map or SourceMap("<plan>"))
    return sorted((d for rule in CHECKS for d in rule(ctx)), key=sort_key)
