"""The compiler: a valid plan becomes a :class:`CheckProgram`.

Statistics are gathered and deduplicated (two alerts on `mean(listing_price)` over the same windows
compute it once) apart from the threshold rules that judge them, and every rule keeps the plan path
and source span it came from.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from planspec._expr import Derived, format_condition, is_column_name, parse_derived
from planspec.diagnostics import Span
from planspec.model import (
    Alert,
    AllOf,
    AnyOf,
    Between,
    Compare,
    Condition,
    Measure,
    OutcomeSource,
    Plan,
    Threshold,
)
from planspec.source import Path, SourceMap
from planspec.stats import STATS

if TYPE_CHECKING:
    from planspec.profile import Profile
    from planspec.results import Results

#: Windows align on multiples of their length from this Monday, 00:00 UTC: days start at
#: midnight, 7-day windows on Mondays (ISO weeks), 12-hour windows at 00:00 and 12:00.
EPOCH = 4 * 86400  # 1970-01-05T00:00:00Z, a Monday

ColumnKind = Literal["numeric", "categorical"]


@dataclass(frozen=True, order=True)
class WindowSpec:
    """A window grid: windows of ``length`` seconds starting every ``step`` seconds."""

    length: int
    step: int

    @property
    def sliding(self) -> bool:
        return self.step != self.length


@dataclass(frozen=True)
class StatKey:
    """One statistic to compute per window: what, on which column, over which windows.

    The compared part (`.pvalue`) and the baseline transform (`shift`, `change`) are not part of
    the key: they are applied when thresholds are judged, so `ks(x)` and `ks(x).pvalue` share one
    computation.
    """

    stat: str
    column: str | None
    window: WindowSpec
    q: float | None = None
    predicate: tuple[str, object] | None = None  # (op, value)
    within: float | None = None
    #: Computed per value of this column (a segmented alert's statistic), else over all rows.
    by: str | None = None

    def baseline_key(self) -> tuple[object, ...]:
        """The key of the same statistic on the baseline (no window)."""
        return (self.stat, self.column, self.q, self.predicate, self.within)


@dataclass(frozen=True)
class Leaf:
    """One comparison of a rule: a computed statistic, how it is compared, and where it is."""

    key: StatKey
    measure: Measure
    op: str | None
    threshold: Threshold | None
    low: Threshold | None = None
    high: Threshold | None = None
    negated: bool = False
    text: str = ""
    span: Span | None = None


@dataclass(frozen=True)
class Node:
    """A condition over leaves: a leaf, or `all`/`any` of nodes."""

    op: Literal["leaf", "all", "any"]
    leaf: Leaf | None = None
    children: tuple[Node, ...] = ()

    def leaves(self) -> list[Leaf]:
        return [self.leaf] if self.leaf else [x for c in self.children for x in c.leaves()]


@dataclass(frozen=True)
class Rule:
    """A compiled alert: its fail and warn conditions, windows, persistence and provenance."""

    id: str
    kind: Literal["input", "output"]
    fail: Node
    warn: Node | None
    window: WindowSpec
    for_: int
    keep_firing_for: int
    min_samples: int
    severity: str
    playbook: str | None
    path: Path
    source: str
    when_text: str
    warn_text: str | None
    #: For heightened monitoring after a drift risk: the risk, and the period [from, to) in
    #: seconds during which this rule's windows count.
    risk: str | None = None
    active: tuple[int, int] | None = None
    tighten: float | None = None
    #: Judged per value of this column: one result per segment.
    by: str | None = None


@dataclass(frozen=True)
class MonitorRule:
    """A compiled outcome monitor: the metric conditions, the outcome source and how it joins,
    the prediction it scores, and the maturity rule (label delay, coverage, minimum labels)."""

    id: str
    fail: Node
    warn: Node | None
    window: WindowSpec
    source: OutcomeSource
    join_key: str
    prediction: str
    threshold: float
    flag: Literal["above", "below"]
    label_delay: int
    min_coverage: float
    min_labels: int
    for_: int
    keep_firing_for: int
    severity: str
    playbook: str | None
    stand_ins: tuple[str, ...]
    path: Path
    source_text: str
    when_text: str
    warn_text: str | None
    #: A derived label, and the columns it reads from the outcome table and the scored data.
    derived: Derived | None = None
    outcome_columns: tuple[str, ...] = ()
    scored_columns: tuple[str, ...] = ()

    @property
    def metrics(self) -> list[Leaf]:
        return self.fail.leaves() + (self.warn.leaves() if self.warn else [])


@dataclass(frozen=True)
class ColumnNeed:
    """What the engine must gather about one column, from the union of the plan's statistics."""

    name: str
    kind: ColumnKind
    moments: bool = False
    extremes: bool = False
    deciles: bool = False
    fine: bool = False
    categories: bool = False
    out_of_range: tuple[float, float] | None = None
    predicates: tuple[tuple[str, object], ...] = ()


@dataclass
class CheckProgram:
    """A compiled plan: deduplicated statistics, the rules that judge them, and column needs."""

    plan: Plan
    rules: list[Rule]
    stats: list[StatKey]
    columns: dict[str, ColumnNeed]
    timestamp: str
    correction: str
    monitors: list[MonitorRule] = field(default_factory=list)
    #: When each drift risk happened (from the plan, or an events file): id → seconds.
    risk_dates: dict[str, int] = field(default_factory=dict)
    bucket: int = field(init=False)
    #: Segments: at most this many per column (the largest by rows), and how a segment the
    #: baseline never saw is judged.
    max_segments: int = 50
    unseen_segments: str = "insufficient_data"

    @property
    def segment_columns(self) -> list[str]:
        """The columns some rule is split by, sorted."""
        return sorted({r.by for r in self.rules if r.by is not None})

    def __post_init__(self) -> None:
        grids = [*self.windows, *(m.window for m in self.monitors)]
        sizes = {w.length for w in grids} | {w.step for w in grids}
        self.bucket = math.gcd(*sizes) if sizes else 86400

    @property
    def windows(self) -> list[WindowSpec]:
        return sorted({s.window for s in self.stats})

    def run(self, data: object, baseline: Profile | object,
            outcomes: dict[str, object] | None = None, as_of: object = None) -> Results:
        """Run every check over every window of ``data`` against ``baseline``.

        ``data`` is a pyarrow table, a pandas or polars frame, or a dict of numpy arrays;
        ``baseline`` a :class:`~planspec.profile.Profile` or baseline data of the same kinds;
        ``outcomes`` maps outcome source names to tables of the same kinds (or file paths);
        ``as_of`` (a datetime or ISO text) is when the run looks from: by default the newest
        timestamp in ``data``.
        """
        from planspec.engine import run_program

        return run_program(self, data, baseline, outcomes=outcomes, as_of=as_of)

    def data_columns(self) -> list[str]:
        """The columns the checks read, timestamp first."""
        return [self.timestamp, *self.columns]


NUMERIC = "numeric"


def _column_kind(plan: Plan, name: str) -> ColumnKind:
    if name in plan.data.features:
        t = plan.data.features[name].type
        return "numeric" if t in ("numeric", "integer") else "categorical"
    return "categorical" if plan.data.predictions[name].kind == "class" else "numeric"


def _predicate(m: Measure) -> tuple[str, object] | None:
    if m.predicate is None:
        return None
    v = m.predicate.value
    value: object = v.amount if isinstance(v, Threshold) else v
    return (m.predicate.op, value)


def tightened(t: Threshold, op: str, by: float) -> Threshold:
    """A threshold moved towards firing by ``by`` of its size: `> 0.2` by 25% is `> 0.15`,
    `< 0.65` by 25% is `< 0.8125`."""
    step = abs(t.value) * by
    return Threshold(value=t.value - step if op in (">", ">=") else t.value + step, unit=t.unit)


def _tighten(n: Node, by: float) -> Node:
    if n.leaf is not None:
        leaf = n.leaf
        if leaf.threshold is None or leaf.op is None:
            return n
        return Node("leaf", leaf=Leaf(leaf.key, leaf.measure, leaf.op,
                                      tightened(leaf.threshold, leaf.op, by), text=leaf.text,
                                      span=leaf.span))
    return Node(n.op, children=tuple(_tighten(c, by) for c in n.children))


def _label_columns(plan: Plan, label: str
                   ) -> tuple[Derived | None, tuple[str, ...], tuple[str, ...]]:
    """A label column, or a derived label with the columns it reads: those the data schema
    declares come from the scored data, the rest from the outcome table."""
    if is_column_name(label):
        return None, (label.strip("`"),), ()
    derived = parse_derived(label)
    scored = {*plan.data.features, *plan.data.predictions}
    return (derived, tuple(c for c in derived.columns if c not in scored),
            tuple(c for c in derived.columns if c in scored))


def _epoch(d: datetime.date) -> int:
    return int(datetime.datetime(d.year, d.month, d.day, tzinfo=datetime.UTC).timestamp())


def compile_plan(plan: Plan, source_map: SourceMap | None = None,
                 events: dict[str, datetime.date] | None = None) -> CheckProgram:
    """Compile a valid plan's alerts and outcome monitors into a :class:`CheckProgram`.

    ``events`` gives (or overrides) the dates of drift risks: alerts a risk names in
    `caught_by` get heightened copies for its `heighten` period (tighter thresholds, shorter
    windows), active only from the date on.

    >>> from planspec.load import load_plan
    >>> program = compile_plan(load_plan("plans/rental_inspector.yaml").plan)
    >>> len(program.rules), len(program.monitors), program.bucket
    (21, 3, 86400)
    >>> [r.id for r in program.rules if r.risk]
    ['price_mean_shift@rent_stabilization_law', 'flag_rate_change@rent_stabilization_law']
    """
    smap = source_map or SourceMap(plan.plan)
    d = plan.defaults
    stats: dict[StatKey, None] = {}
    needs: dict[str, dict[str, object]] = {}

    def need(column: str, **what: object) -> None:
        entry = needs.setdefault(column, {"kind": _column_kind(plan, column)})
        for k, v in what.items():
            if k == "predicates":
                known: tuple[object, ...] = entry.get("predicates", ())  # type: ignore[assignment]
                entry["predicates"] = tuple(dict.fromkeys([*known, v]))
            else:
                entry[k] = v

    def leaf(m: Measure, cmp: Compare | Between, window: WindowSpec, path: Path,
             by: str | None = None) -> Leaf:
        info = STATS[m.stat]
        key = StatKey(m.stat, m.column, window, m.q, _predicate(m),
                      m.within.amount if m.within else None, by)
        stats[key] = None
        col = m.column
        if col is not None:
            kind = _column_kind(plan, col)
            if m.stat in ("mean", "std"):  # shift and wasserstein scale by the baseline's SD
                need(col, moments=True)
            if m.stat in ("min", "max", "quantile"):
                need(col, extremes=True, fine=True)
            if m.stat in ("psi", "js"):
                need(col, **({"deciles": True} if kind == NUMERIC else {"categories": True}))
            if m.stat in ("ks", "wasserstein"):
                need(col, fine=True, extremes=True)
            if m.stat in ("chi2", "new_category_rate"):
                need(col, categories=True)
            if m.stat == "out_of_range_rate":
                rng = plan.data.features[col].range
                assert rng is not None
                need(col, out_of_range=rng)
            if info.args == "predicate":
                need(col, predicates=_predicate(m))
            if m.stat == "missing_rate":
                need(col)
        text = format_condition(cmp)
        span = smap.span(path)
        if isinstance(cmp, Compare):
            return Leaf(key, m, cmp.op, cmp.threshold, text=text, span=span)
        return Leaf(key, m, None, None, cmp.low, cmp.high, cmp.negated, text, span)

    def node(c: Condition, window: WindowSpec, path: Path, by: str | None = None) -> Node:
        if isinstance(c, (AllOf, AnyOf)):
            return Node("all" if isinstance(c, AllOf) else "any", children=tuple(
                node(t, window, (*path, "terms", i), by) for i, t in enumerate(c.terms)))
        return Node("leaf", leaf=leaf(c.measure, c, window, path, by))

    rules: list[Rule] = []
    for section, kind in (("input_alerts", "input"), ("output_alerts", "output")):
        alerts: tuple[Alert, ...] = getattr(plan, section)
        for i, a in enumerate(alerts):
            length = (a.window or d.window).seconds
            every = a.every or (d.every if a.window is None else None)
            window = WindowSpec(length, every.seconds if every else length)
            path: Path = (section, i)
            span = smap.span((*path, "when")) or smap.span(path)
            source = (f"{span.file}:{span.line}:{span.col}" if span
                      else f"{plan.plan}:{section}[{i}]")
            split = a.by or d.by
            if split is not None:
                need(split)  # its values split the rows: gathered as a category
            rules.append(Rule(
                a.id, kind, node(a.when, window, (*path, "when"), split),  # type: ignore[arg-type]
                node(a.warn, window, (*path, "warn"), split) if a.warn else None, window,
                a.for_ if a.for_ is not None else d.for_,
                a.keep_firing_for if a.keep_firing_for is not None else d.keep_firing_for,
                a.min_samples if a.min_samples is not None else d.min_samples,
                a.severity, a.playbook, path, source, format_condition(a.when),
                format_condition(a.warn) if a.warn else None, by=split))
    monitors: list[MonitorRule] = []
    for i, m in enumerate(plan.outcome_monitors):
        length = (m.window or d.window).seconds
        window = WindowSpec(length, length)
        path = ("outcome_monitors", i)
        prediction = m.prediction or next(iter(plan.data.predictions))
        pred = plan.data.predictions[prediction]
        span = smap.span((*path, "when")) or smap.span(path)
        monitors.append(MonitorRule(
            m.id, node(m.when, window, (*path, "when")),
            node(m.warn, window, (*path, "warn")) if m.warn else None, window, m.source,
            m.source.join_key or plan.data.key or "", prediction,
            pred.threshold if pred.threshold is not None else 0.5, pred.flag,
            m.label_delay.seconds if m.label_delay else 0, m.min_coverage, m.min_labels,
            m.for_ if m.for_ is not None else d.for_,
            m.keep_firing_for if m.keep_firing_for is not None else d.keep_firing_for,
            m.severity, m.playbook, m.stand_ins, path,
            f"{span.file}:{span.line}:{span.col}" if span else f"{plan.plan}:{path}",
            format_condition(m.when), format_condition(m.warn) if m.warn else None,
            *_label_columns(plan, m.source.label)))
    dates = {r.id: r.date for r in plan.drift_risks if r.date is not None}
    dates.update(events or {})
    by_id = {r.id: r for r in rules}
    for risk in plan.drift_risks:
        when = dates.get(risk.id)
        if risk.heighten is None or when is None:
            continue
        start = _epoch(when)
        h = risk.heighten
        for alert_id in risk.caught_by:
            base = by_id.get(alert_id)
            if base is None:  # an outcome monitor: maturity, not windows, limits it
                continue
            length = h.window.seconds if h.window else base.window.length
            window = WindowSpec(length, length)
            by = h.tighten or 0.0
            alert = getattr(plan, str(base.path[0]))[int(base.path[1])]
            fail = node(alert.when, window, (*base.path, "when"), base.by)
            warn = node(alert.warn, window, (*base.path, "warn"), base.by) if alert.warn else None
            rules.append(dataclasses.replace(
                base, id=f"{base.id}@{risk.id}", fail=_tighten(fail, by),
                warn=_tighten(warn, by) if warn else None, window=window, for_=1,
                risk=risk.id, active=(start, start + h.period.seconds), tighten=by))
    # Outcome metrics are computed from outcomes, not from the drift statistics.
    drift = [k for k in stats if STATS[k.stat].scope == "drift"]
    columns = {name: ColumnNeed(name, **spec) for name, spec in needs.items()}  # type: ignore[arg-type]
    program = CheckProgram(plan, rules, drift, columns, plan.data.timestamp, d.correction,
                           monitors, {k: _epoch(v) for k, v in dates.items()})
    program.max_segments, program.unseen_segments = d.max_segments, d.unseen_segments
    return program
