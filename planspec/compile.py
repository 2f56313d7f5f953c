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

from planspec._expr import (
    Derived,
    format_condition,
    format_filter,
    is_column_name,
    parse_derived,
)
from planspec.diagnostics import PlanError, Span, has_errors
from planspec.model import (
    Alert,
    AllOf,
    AnyOf,
    Between,
    Calibrated,
    Compare,
    Condition,
    Duration,
    Measure,
    OutcomeSource,
    Plan,
    RowFilter,
    RowTest,
    Threshold,
    segment_by,
)
from planspec.source import ParsedPlan, Path, SourceMap
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
    """A window grid: windows of ``length`` units starting every ``step`` units, the unit being
    seconds (``s``, fixed lengths of time), local calendar days (``d``) or months (``mo``)."""

    length: int
    step: int
    unit: Literal["s", "d", "mo"] = "s"

    @property
    def sliding(self) -> bool:
        return self.step != self.length

    @property
    def calendar(self) -> bool:
        """Whether windows follow the calendar of the plan's time zone (days, months)."""
        return self.unit != "s"

    @property
    def seconds(self) -> int:
        """The window length in seconds (a day 86,400 s, a month its average 2,629,746 s): for
        what scales with a window's typical length, such as rows per window.

        >>> WindowSpec(7, 7, "d").seconds, WindowSpec(3600, 3600).seconds
        (604800, 3600)
        """
        return self.length * {"s": 1, "d": 86400, "mo": 2629746}[self.unit]

    @property
    def step_seconds(self) -> int:
        """The step in seconds, as :attr:`seconds` counts them."""
        return self.step * {"s": 1, "d": 86400, "mo": 2629746}[self.unit]

    @property
    def text(self) -> str:
        """The window length as a duration: `7d`, `12h`, `1mo`, `1q`, `1y`."""
        return _unit_text(self.length, self.unit)

    @property
    def step_text(self) -> str:
        return _unit_text(self.step, self.unit)


def _unit_text(n: int, unit: str) -> str:
    if unit == "mo":
        return f"{n // 12}y" if n % 12 == 0 else f"{n // 3}q" if n % 3 == 0 else f"{n}mo"
    if unit == "d":
        return f"{n}d"
    for u, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if n % size == 0:
            return f"{n // size}{u}"
    return f"{n}s"


def window_spec(window: Duration, every: Duration | None = None) -> WindowSpec:
    """The grid of a window and its step: months when both are months, quarters or years;
    local days when both are whole days or weeks; else fixed lengths of time.

    >>> window_spec(Duration(value=1, unit="q"))
    WindowSpec(length=3, step=3, unit='mo')
    >>> window_spec(Duration(value=7, unit="d"), Duration(value=12, unit="h")).unit
    's'
    """
    step = every or window
    if window.months and step.months:
        return WindowSpec(window.months, step.months, "mo")
    if window.unit in ("d", "w") and step.unit in ("d", "w"):
        return WindowSpec(window.seconds // 86400, step.seconds // 86400, "d")
    return WindowSpec(window.seconds, step.seconds)


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
    #: A threshold from the baseline's no-drift distribution (``threshold`` is then None).
    calibrated: Calibrated | None = None

    @property
    def level(self) -> float | None:
        """The quantile of the no-drift distribution a calibrated leaf compares with: the
        upper tail for `>`/`>=`, the lower tail for `<`/`<=` (None when not calibrated)."""
        if self.calibrated is None:
            return None
        rate = self.calibrated.rate
        return 1 - rate if (self.op or ">").startswith(">") else rate


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
    #: `partial: judge`: partial windows are judged like complete ones.
    judge_partial: bool = False
    #: Calibrated thresholds: the expected rows per window (a hint) and the method.
    window_rows: int | None = None
    calibrate: str | None = None
    #: Judged on a slice of the rows (key into :attr:`CheckProgram.slices`): one result per
    #: segment of its `by` columns, of the rows its `where` keeps.
    by: str | None = None


@dataclass(frozen=True)
class Slice:
    """Rows judged apart: those a `where` filter keeps, split by the values of the `by`
    columns (none: one slice of the filtered rows). ``key`` names it in profiles and stores."""

    key: str
    by: tuple[str, ...]
    where: RowFilter | None = None
    where_text: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the slice reads to place a row: its `by` columns and filter columns."""
        return tuple(dict.fromkeys([*self.by, *filter_columns(self.where)]))


def filter_columns(f: RowFilter | None) -> list[str]:
    """The columns a row filter reads, in order."""
    if f is None:
        return []
    if isinstance(f, RowTest):
        return [f.column]
    return [c for t in f.terms for c in filter_columns(t)]


def slice_of(by: str | tuple[str, ...] | None, where: RowFilter | None) -> Slice | None:
    """The slice of an alert or monitor's `by` and `where` (None: every row, unsplit).

    >>> slice_of(("a", "b"), None).key, slice_of(None, None)
    ('a,b', None)
    """
    cols = (by,) if isinstance(by, str) else tuple(by or ())
    if not cols and where is None:
        return None
    text = format_filter(where) if where is not None else None
    key = ",".join(cols) + (f" where {text}" if text else "")
    return Slice(key.strip(), cols, where, text)


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
    judge_partial: bool = False
    #: Labels are 0/1 flags (a classifier), not numbers (a regression target).
    binary: bool = True
    #: With `known_at: prediction + D` (no time column): D in seconds.
    known_after: int | None = None
    #: Judged per slice (key into :attr:`CheckProgram.slices`): `by` and `where`.
    by: str | None = None
    #: The plan's multiple-testing correction: with one, a monitor split into k segments
    #: reads its intervals' bounds at the Bonferroni level 1 − 5%/k.
    correction: str = "none"

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
    #: Every slice a rule or monitor is judged on, by key.
    slices: dict[str, Slice] = field(default_factory=dict)

    @property
    def segment_columns(self) -> list[str]:
        """The keys of the slices some rule is judged on, sorted."""
        return sorted({r.by for r in self.rules if r.by is not None})

    def __post_init__(self) -> None:
        # Buckets: the largest length of time every window is a whole number of. Calendar
        # windows (days, months) need days; in a zone other than UTC, with windows shorter than a
        # day too, a divisor of 15 minutes (local midnight is a multiple of 15 minutes from UTC).
        grids = [*self.windows, *(m.window for m in self.monitors)]
        fixed = {w.length for w in grids if not w.calendar} | {w.step for w in grids
                                                                if not w.calendar}
        if any(w.calendar for w in grids):
            fixed |= {86400} | ({900} if fixed and self.timezone != "UTC" else set())
        self.bucket = math.gcd(*fixed) if fixed else 86400

    @property
    def timezone(self) -> str:
        """The IANA time zone where the plan's days, weeks and months begin."""
        return self.plan.timezone

    @property
    def windows(self) -> list[WindowSpec]:
        return sorted({s.window for s in self.stats})

    def run(self, data: object, baseline: Profile | object,
            outcomes: dict[str, object] | None = None, as_of: object = None,
            judge_partial: bool = False, engine: str = "local", scheduler: object = None
            ) -> Results:
        """Run every check over every window of ``data`` against ``baseline``.

        ``data`` is a pyarrow table, a pandas or polars frame, or a dict of numpy arrays;
        ``baseline`` a :class:`~planspec.profile.Profile` or baseline data of the same kinds;
        ``outcomes`` maps outcome source names to tables of the same kinds (or file paths);
        ``as_of`` (a datetime or ISO text) is when the run looks from: by default the newest
        timestamp in ``data``. Windows not over at ``as_of`` (or begun before the data) are
        partial, shown but not judged, unless ``judge_partial``. ``engine="dask"`` gathers the
        sums of files, globs, Parquet dataset directories, DuckDB/PostgreSQL sources or a dask
        DataFrame on the Dask cluster at ``scheduler`` (an address or a ``distributed.Client``;
        None starts a local one for the run).
        """
        from planspec.engine import run_program

        return run_program(self, data, baseline, outcomes=outcomes, as_of=as_of,
                           judge_partial=judge_partial, engine=engine, scheduler=scheduler)

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


#: Quality metrics of a classifier: their labels are flags (0/1 or booleans).
FLAG_METRICS = frozenset({"precision", "recall", "f1", "accuracy", "fpr", "brier", "auc", "ece"})


def _measures(*conditions: Condition | None) -> list[Measure]:
    out: list[Measure] = []
    for c in conditions:
        if isinstance(c, (AllOf, AnyOf)):
            out += _measures(*c.terms)
        elif c is not None:
            out.append(c.measure)
    return out


def _epoch(d: datetime.date) -> int:
    return int(datetime.datetime(d.year, d.month, d.day, tzinfo=datetime.UTC).timestamp())


def _valid(plan: Plan | ParsedPlan, source_map: SourceMap | None, check: bool = True
           ) -> tuple[Plan, SourceMap]:
    """The plan to compile and its source map, or :class:`PlanError` with every diagnostic.

    A bare :class:`Plan` may have been built in code or parsed without checks, so it is
    checked here: the compiler relies on what the semantic checks guarantee.
    """
    from planspec.check import check_plan

    if isinstance(plan, ParsedPlan):
        smap = source_map or plan.source_map
        if plan.plan is None or has_errors(plan.diagnostics):
            raise PlanError(plan.diagnostics, smap.file)
        plan = plan.plan
    elif not isinstance(plan, Plan):
        raise TypeError("compile_plan takes a Plan or what load_plan returns, not "
                        f"{type(plan).__name__} (a plan that did not parse has no Plan: pass "
                        "load_plan's result to get its diagnostics)")
    smap = source_map or SourceMap(plan.plan)
    if not check:
        return plan, smap
    found = check_plan(plan, smap)
    if has_errors(found):
        raise PlanError(found, smap.file)
    return plan, smap


def compile_plan(plan: Plan | ParsedPlan, source_map: SourceMap | None = None,
                 events: dict[str, datetime.date] | None = None, *,
                 check: bool = True) -> CheckProgram:
    """Compile a valid plan's alerts and outcome monitors into a :class:`CheckProgram`.

    ``plan`` is a :class:`Plan` or what :func:`~planspec.load.load_plan` returns. A plan with
    errors raises :class:`~planspec.diagnostics.PlanError`, which carries every diagnostic.
    ``check=False`` skips the semantic checks: for tests that need thresholds no valid plan
    would use (a plan with errors may then fail anywhere in the compiler or the engine).

    ``events`` gives (or overrides) the dates of drift risks: alerts a risk names in
    `caught_by` get heightened copies for its `heighten` period (tighter thresholds, shorter
    windows), active only from the date on.

    >>> from planspec.load import load_plan
    >>> program = compile_plan(load_plan("plans/rental_inspector.yaml").plan)
    >>> len(program.rules), len(program.monitors), program.bucket
    (21, 4, 86400)
    >>> [r.id for r in program.rules if r.risk]
    ['price_mean_shift@rent_stabilization_law', 'flag_rate_change@rent_stabilization_law']
    """
    plan, smap = _valid(plan, source_map, check)
    d = plan.defaults
    stats: dict[StatKey, None] = {}
    needs: dict[str, dict[str, object]] = {}
    slices: dict[str, Slice] = {}

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
            t = cmp.threshold
            if isinstance(t, Calibrated):
                return Leaf(key, m, cmp.op, None, text=text, span=span, calibrated=t)
            return Leaf(key, m, cmp.op, t, text=text, span=span)
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
            every = a.every or (d.every if a.window is None else None)
            window = window_spec(a.window or d.window, every)
            path: Path = (section, i)
            span = smap.span((*path, "when")) or smap.span(path)
            source = (f"{span.file}:{span.line}:{span.col}" if span
                      else f"{plan.plan}:{section}[{i}]")
            found = slice_of(segment_by(a.by, d.by), a.where)
            split = found.key if found else None
            if found is not None:
                slices[found.key] = found
                for col in found.columns:
                    need(col)  # read to place each row in its slice
            rules.append(Rule(
                a.id, kind, node(a.when, window, (*path, "when"), split),  # type: ignore[arg-type]
                node(a.warn, window, (*path, "warn"), split) if a.warn else None, window,
                a.for_ if a.for_ is not None else d.for_,
                a.keep_firing_for if a.keep_firing_for is not None else d.keep_firing_for,
                a.min_samples if a.min_samples is not None else d.min_samples,
                a.severity, a.playbook, path, source, format_condition(a.when),
                format_condition(a.warn) if a.warn else None,
                judge_partial=a.partial == "judge", window_rows=a.window_rows,
                calibrate=a.calibrate, by=split))
    monitors: list[MonitorRule] = []
    for i, m in enumerate(plan.outcome_monitors):
        window = window_spec(m.window or d.window)
        path = ("outcome_monitors", i)
        prediction = m.prediction or next(iter(plan.data.predictions))
        pred = plan.data.predictions[prediction]
        span = smap.span((*path, "when")) or smap.span(path)
        found = slice_of(segment_by(m.by, d.by), m.where)
        if found is not None:
            slices[found.key] = found
            for col in found.columns:
                need(col)
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
            *_label_columns(plan, m.source.label), judge_partial=m.partial == "judge",
            binary=bool({t.stat for t in _measures(m.when, m.warn)} & FLAG_METRICS),
            known_after=m.source.known_after.seconds if m.source.known_after else None,
            by=found.key if found else None, correction=d.correction))
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
            window = window_spec(h.window) if h.window else \
                dataclasses.replace(base.window, step=base.window.length)
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
    program.slices = slices
    return program
