"""The plan IR: small frozen models for everything a monitoring plan holds.

Both front ends (YAML and the ``.plan`` language) build these; every later stage reads them. Source
positions are kept beside the model (see :mod:`planspec.source`), so equal plans compare equal
whatever surface they were written in. Conditions are stored parsed and serialize back to text.

The models are :class:`planspec._node.Node` records, not pydantic models: importing pydantic and
building its validators cost more than the whole start-up budget of `planspec validate` (issue
16); ``_node`` keeps pydantic's API, coercions and error types for what the plan uses, and
:mod:`planspec._schema` derives pydantic twins of these classes for the JSON Schema.
"""

from __future__ import annotations

import datetime
import re
import sys
from typing import Annotated, Any, Literal, cast

from planspec._node import (
    After,
    Alias,
    Before,
    CustomError,
    Finite,
    Ge,
    JsonSchema,
    Le,
    MaxLen,
    MinLen,
    Node,
    Pattern,
    Serialize,
    Tag,
)
from planspec.stats import STATS

Id = Annotated[str, MaxLen(80), Pattern(r"^[a-z][a-z0-9_]*$")]
CompOp = Literal[">", ">=", "<", "<="]
PredOp = Literal[">", ">=", "<", "<=", "==", "!="]
Unit = Literal["", "%", "sd"]
Transform = Literal["value", "shift", "change"]
Direction = Literal["both", "up", "down"]
DurationUnit = Literal["s", "m", "h", "d", "w", "mo", "q", "y"]


# ----------------------------------------------------------------------------------- conditions


def _known_stat(v: str) -> str:
    if v not in STATS:
        raise ValueError(f"unknown statistic {v!r}")
    return v


class Threshold(Node):
    """A number a condition compares with, as written: `2 sd`, `5%`, `0.2`."""

    value: Annotated[float, Finite()]
    unit: Unit = ""

    @property
    def amount(self) -> float:
        """The value in the statistic's own scale (`5%` is 0.05)."""
        return self.value / 100 if self.unit == "%" else self.value


class Calibrated(Node):
    """A threshold taken from the baseline's own no-drift distribution of the compared quantity:
    `calibrated(1%)` is what the baseline exceeds in 1% of windows of the window's size."""

    kind: Literal["calibrated"] = "calibrated"
    value: Annotated[float, Finite()]
    unit: Literal["", "%"] = ""

    @property
    def rate(self) -> float:
        """The false-alarm rate per window as a fraction (`1%` is 0.01)."""
        return self.value / 100 if self.unit == "%" else self.value


class Predicate(Node):
    """The test inside `rate(...)` or `share(...)`: an operator and a value, e.g. `>= 0.5`."""

    op: PredOp
    value: Threshold | bool | str


class Measure(Node):
    """What a condition measures: a statistic of a column or a window metric, optionally as a
    `shift` (in baseline SDs) or a relative `change` from the baseline."""

    stat: Annotated[str, After(_known_stat)]
    column: str | None = None
    q: Annotated[float | None, Finite()] = None
    predicate: Predicate | None = None
    within: Threshold | None = None
    #: `.pvalue` of a test; `.lower` and `.upper` bounds of an outcome metric's 95% interval.
    part: Literal["statistic", "pvalue", "lower", "upper"] = "statistic"
    transform: Transform = "value"
    direction: Direction = "both"


class Compare(Node):
    """A measure compared with a threshold: `psi(neighborhood) > 0.2`."""

    kind: Literal["compare"] = "compare"
    measure: Measure
    op: CompOp
    threshold: Threshold | Calibrated


class Between(Node):
    """A measure inside (or, negated, outside) a zone: `js(x) between 0.1 and 0.3`."""

    kind: Literal["between"] = "between"
    measure: Measure
    low: Threshold
    high: Threshold
    negated: bool = False


class AllOf(Node):
    """Conditions that must all hold: an effect size *and* a significance gate."""

    kind: Literal["all_of"] = "all_of"
    terms: Annotated[tuple[Condition, ...], MinLen(2)]


class AnyOf(Node):
    """Conditions of which at least one must hold."""

    kind: Literal["any_of"] = "any_of"
    terms: Annotated[tuple[Condition, ...], MinLen(2)]


Condition = Annotated[Compare | Between | AllOf | AnyOf, Tag("kind")]


def _expr() -> Any:
    """:mod:`planspec._expr` (which imports this module), imported when first needed: a
    look-up, not an import statement, per value validated."""
    module = sys.modules.get("planspec._expr")
    if module is None:
        import planspec._expr as module
    return module


def _parse_condition(v: Any) -> Any:
    if isinstance(v, Node):  # parsed already (by a front end)
        return v
    return _expr().coerce_condition(v)


def _format_condition(c: Any) -> str:
    from planspec import _expr

    return _expr.format_condition(c)


ConditionText = Annotated[
    Condition,
    Before(_parse_condition, keeps_nodes=True),
    Serialize(_format_condition),
    JsonSchema({"type": "string", "description": "A condition in the planspec expression "
                    "language, e.g. `psi(neighborhood) > 0.2`.",
                    "examples": ["mean(listing_price) shift > 2 sd", "ks(sqft).pvalue < 0.01"]}),
]


# ------------------------------------------------------------------------------- row filters


RowOp = Literal["==", "!=", ">", ">=", "<", "<=", "in", "not in", "is missing", "is not missing"]


class RowTest(Node):
    """One test of a row's column in a `where` filter: `listing_source == "aggregator"`,
    `sqft > 0`, `neighborhood in ["Astoria", "Harlem"]`, `sqft is missing`."""

    kind: Literal["row_test"] = "row_test"
    column: str
    op: RowOp
    #: The compared value (one), the listed values (`in`), or none (`is missing`).
    values: tuple[bool | float | str, ...] = ()


class RowAll(Node):
    """Row tests that must all hold."""

    kind: Literal["row_all"] = "row_all"
    terms: Annotated[tuple[RowFilter, ...], MinLen(2)]


class RowAny(Node):
    """Row tests of which at least one must hold."""

    kind: Literal["row_any"] = "row_any"
    terms: Annotated[tuple[RowFilter, ...], MinLen(2)]


RowFilter = Annotated[RowTest | RowAll | RowAny, Tag("kind")]


def _parse_filter(v: Any) -> Any:
    if isinstance(v, Node):  # parsed already (by a front end)
        return v
    return _expr().coerce_filter(v)


def _format_filter(f: Any) -> str:
    from planspec import _expr

    return _expr.format_filter(f)


FilterText = Annotated[
    RowFilter,
    Before(_parse_filter, keeps_nodes=True),
    Serialize(_format_filter),
    JsonSchema({"type": "string", "description": "Which rows an alert or monitor reads: "
                    "comparisons of a column with a value, `in [...]`, `is missing`, joined by "
                    "`and` / `or`.",
                    "examples": ['listing_source == "aggregator"',
                                 'sqft > 0 and neighborhood in ["Astoria", "Harlem"]']}),
]

#: `by`: one column, or a list of columns whose value combinations are the segments; on an
#: alert or monitor, the empty list `[]` opts out of `defaults.by` (judged over all rows).
SegmentBy = Annotated[str | tuple[str, ...], JsonSchema({
    "description": "Judge per value of a categorical column (or per combination of several). "
    "On an alert or outcome monitor, `[]` opts out of `defaults.by`: judged over all rows.",
    "oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})]


def segment_by(own: str | tuple[str, ...] | None, default: str | tuple[str, ...] | None
               ) -> tuple[str, ...]:
    """The columns an alert or outcome monitor is split by: its own `by` (the empty list: not
    split), else the plan's `defaults.by`.

    >>> segment_by(None, "a"), segment_by((), "a"), segment_by(("b", "c"), "a")
    (('a',), (), ('b', 'c'))
    """
    by = default if own is None else own
    return (by,) if isinstance(by, str) else tuple(by or ())


# ------------------------------------------------------------------------------ scalar types


#: Seconds per unit of a duration (for months, quarters and years, their average length).
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "mo": 2629746, "q": 7889238,
            "y": 31556952}


class Duration(Node):
    """A length of time with its unit, as written: `7d`, `12h`, `2w`."""

    value: Annotated[int, Ge(1)]
    unit: DurationUnit

    @property
    def seconds(self) -> int:
        """The duration in seconds (for months, quarters and years, their average length)."""
        return self.value * _SECONDS[self.unit]

    @property
    def months(self) -> int:
        """The duration in calendar months (0 for a duration in s, m, h, d or w)."""
        return self.value * {"mo": 1, "q": 3, "y": 12}.get(self.unit, 0)

    def __str__(self) -> str:
        return f"{self.value}{self.unit}"


def _parse_duration(v: Any) -> Any:
    if isinstance(v, Node):  # parsed already (by a front end)
        return v
    return _expr().coerce_duration(v)


DurationText = Annotated[
    Duration,
    Before(_parse_duration, keeps_nodes=True),
    Serialize(str),
    JsonSchema({"type": "string", "pattern": r"^\d+(s|m|h|d|w|mo|q|y)$",
                    "description": "A duration with a unit: s, m, h, d, w, or the calendar's "
                    "mo, q and y (e.g. `7d`, `1mo`)."}),
]


def _parse_ratio(v: Any) -> Any:
    return _expr().coerce_ratio(v)


Ratio = Annotated[
    float,
    Before(_parse_ratio),
    Ge(0),
    Le(1),
    JsonSchema({"anyOf": [{"type": "number", "minimum": 0, "maximum": 1},
                              {"type": "string", "pattern": r"^\d+(\.\d+)?%$"}],
                    "description": "A share: a fraction (0.8) or a percentage (`80%`)."}),
]


# -------------------------------------------------------------------------------- the plan


class ModelInfo(Node):
    """The monitored model: what it is, how it is deployed, who owns it, how often it is checked."""

    name: str
    version: str
    task: Literal["binary_classification", "multiclass_classification", "regression", "ranking"]
    deployment: Literal["batch", "rest", "streaming", "on_device"]
    owners: Annotated[tuple[str, ...], MinLen(1)]
    cadence: DurationText
    description: str | None = None


class Feature(Node):
    """A model input column: its type, and optionally its unit, valid range and meaning."""

    type: Literal["numeric", "integer", "categorical", "boolean", "text"]
    unit: str | None = None
    range: tuple[float, float] | None = None
    description: str | None = None


class Prediction(Node):
    """A model output column: a probability, score, class or value, with its decision threshold."""

    kind: Literal["probability", "score", "class", "value"]
    threshold: Annotated[float | None, Finite()] = None
    #: Which side of the threshold the model flags: the positive class for quality metrics.
    flag: Literal["above", "below"] = "above"
    description: str | None = None


def _no_password(v: Any) -> Any:
    from planspec.diagnostics import mask_passwords

    if isinstance(v, str) and mask_passwords(v) != v:
        raise CustomError("planspec", "{message}", {
            "code": "PS203", "message": "a plan's data source must not hold a password",
            "hint": "drop it from the URI: planspec reads PGPASSWORD or ~/.pgpass"})
    return v


SourceURI = Annotated[str, Before(_no_password), JsonSchema({
    "type": "string", "description": "Where the scored rows live: files or a glob, a Parquet "
    "dataset directory, `duckdb:FILE?table=T` or `postgresql://USER@HOST/DB?table=T` (no "
    "password: it comes from PGPASSWORD or ~/.pgpass).",
    "examples": ["duckdb:demo-out/demo.duckdb?table=scored"]})]


class DataSchema(Node):
    """The scored data's columns: timestamp, row key, features, predictions and the label's name,
    and optionally where the rows live (a source URI, so a scheduler passes no paths)."""

    source: SourceURI | None = None
    timestamp: str
    key: str | None = None
    features: Annotated[dict[str, Feature], MinLen(1)]
    #: None for a data feed without a model (then no output alerts or outcome monitors).
    predictions: dict[str, Prediction] = {}  # noqa: RUF012 (each node gets its own copy)
    label: str | None = None


class Defaults(Node):
    """Settings every alert and monitor inherits unless it overrides them."""

    window: DurationText = Duration(value=7, unit="d")
    every: DurationText | None = None
    min_samples: Annotated[int, Ge(0)] = 100
    for_: Annotated[int, Alias("for"), Ge(0)] = 1
    keep_firing_for: Annotated[int, Ge(0)] = 0
    correction: Literal["none", "bonferroni", "bh"] = "none"
    #: Segments: every alert and outcome monitor is watched per value of this categorical
    #: column (see `Alert.by`); one with its own `by` overrides it, `by: []` opts out.
    by: SegmentBy | None = None
    #: A segment the baseline never saw: judged against the whole baseline (`overall`) or not
    #: judged (`insufficient_data`, the default: its own baseline is unknown).
    unseen_segments: Literal["overall", "insufficient_data"] = "insufficient_data"
    #: At most this many segments per alert, the largest by rows in the data; the rest are
    #: counted in the results but not judged.
    max_segments: Annotated[int, Ge(1), Le(10000)] = 50


Severity = Literal["low", "medium", "high", "critical"]
Partial = Literal["skip", "judge"]


class Alert(Node):
    """An input (feature drift) or output (prediction drift) alert: when it fails, when it warns,
    over which windows, how persistent, and what it triggers."""

    id: Id
    when: ConditionText
    warn: ConditionText | None = None
    #: Watch the alert per value of this categorical column (one result per segment, each
    #: against that segment's baseline); overrides `defaults.by` (`[]`: not split).
    by: SegmentBy | None = None
    #: Only rows for which this holds are read (before any statistic, in the baseline too).
    where: FilterText | None = None
    window: DurationText | None = None
    every: DurationText | None = None
    for_: Annotated[int | None, Alias("for"), Ge(0)] = None
    keep_firing_for: Annotated[int | None, Ge(0)] = None
    min_samples: Annotated[int | None, Ge(0)] = None
    severity: Severity = "medium"
    playbook: str | None = None
    #: Partial windows (not yet over, or begun before the data): shown but not judged
    #: (the default), or `judge`d like any other window.
    partial: Partial | None = None
    why: str | None = None
    #: Calibrated thresholds: the rows a window is expected to hold (default: the baseline's
    #: rows per window length), and whether the baseline's own consecutive windows also count.
    window_rows: Annotated[int | None, Ge(1)] = None
    calibrate: Literal["subsamples", "consecutive"] | None = None


_KNOWN_AT = re.compile(r"\s*prediction\s*\+\s*([0-9]+)(s|m|h|d|w)\s*")


def _known_at(v: str | None) -> str | None:
    m = _KNOWN_AT.fullmatch(v) if v is not None else None
    if v is not None and m is None:
        raise ValueError(f"known_at `{v}` is not `prediction + DURATION` (e.g. "
                         "`prediction + 30d`)")
    return f"prediction + {m.group(1)}{m.group(2)}" if m else None


class OutcomeSource(Node):
    """Where outcomes come from: a table joined to predictions by key, with the time each outcome
    became known, the label (a column, or derived from values, e.g.
    `abs(listing_price - lease_rent) / lease_rent > 10%`), optional sampling weights, and the
    proxy's known biases."""

    name: Id
    join_key: str | None = None
    time: str | None = None
    #: When an outcome without a time column became known: `prediction + 30d`.
    known_at: Annotated[str | None, After(_known_at)] = None
    label: str
    weights: str | None = None
    biases: tuple[str, ...] = ()

    @property
    def known_after(self) -> Duration | None:
        """With `known_at: prediction + D`, D: how long after its prediction an outcome is
        known."""
        m = _KNOWN_AT.fullmatch(self.known_at or "")
        return Duration(value=int(m.group(1)), unit=cast(Any, m.group(2))) if m else None


class OutcomeMonitor(Node):
    """Prediction quality against real or proxy outcomes that arrive late."""

    id: Id
    when: ConditionText
    warn: ConditionText | None = None
    source: OutcomeSource
    prediction: str | None = None
    label_delay: DurationText | None = None
    min_coverage: Ratio = 0.8
    min_labels: Annotated[int, Ge(1)] = 30
    window: DurationText | None = None
    for_: Annotated[int | None, Alias("for"), Ge(0)] = None
    keep_firing_for: Annotated[int | None, Ge(0)] = None
    severity: Severity = "high"
    playbook: str | None = None
    stand_ins: tuple[str, ...] = ()
    partial: Partial | None = None
    #: Judged per value of this categorical column (each segment's scored rows and outcomes);
    #: overrides `defaults.by` (`[]`: not split).
    by: SegmentBy | None = None
    #: Only scored rows for which this holds are joined and judged.
    where: FilterText | None = None
    why: str | None = None


class Escalation(Node):
    """A move to a more severe playbook when other alerts fire (or do not) at the same time."""

    to: str
    if_firing: tuple[str, ...] = ()
    unless_firing: tuple[str, ...] = ()
    why: str | None = None


class Playbook(Node):
    """Who responds, how fast, with which ordered steps, and where it escalates."""

    id: Id
    title: str
    kind: Literal["investigate", "data_fix", "recalibrate", "retrain", "rollback", "restart"]
    owner: str
    response_time: DurationText
    notify: tuple[str, ...] = ()
    steps: Annotated[tuple[str, ...], MinLen(1)]
    escalate: tuple[Escalation, ...] = ()


class Heighten(Node):
    """Closer monitoring for a period after a risk's date: shorter windows, tighter thresholds."""

    period: DurationText
    window: DurationText | None = None
    tighten: Ratio | None = None


def _risk_date(v: datetime.date | None) -> datetime.date | None:
    if v is not None and not 1000 <= v.year < 9000:  # the events file's range (data.read_events)
        raise CustomError("planspec", "{message}", {
            "code": "PS203", "message": f"the date {v.isoformat()} is outside the years 1000–8999",
            "hint": "give the day the risk takes effect, or leave `date` out until it is known"})
    return v


class DriftRisk(Node):
    """A real-world event likely to cause drift, what it affects and what should catch it."""

    id: Id
    title: str
    kind: Literal["concept", "feature", "both"]
    affects: Annotated[tuple[str, ...], MinLen(1)]
    caught_by: tuple[str, ...] = ()
    playbook: str | None = None
    date: Annotated[datetime.date | None, After(_risk_date)] = None
    heighten: Heighten | None = None
    why: str | None = None


class Plan(Node):
    """A whole monitoring plan."""

    plan: Id
    description: str | None = None
    #: The IANA time zone where days, weeks, months, quarters and years begin.
    timezone: str = "UTC"
    model: ModelInfo
    data: DataSchema
    defaults: Defaults = Defaults()
    input_alerts: tuple[Alert, ...] = ()
    output_alerts: tuple[Alert, ...] = ()
    outcome_monitors: tuple[OutcomeMonitor, ...] = ()
    playbooks: tuple[Playbook, ...] = ()
    drift_risks: tuple[DriftRisk, ...] = ()


#: Where conditions sit in a plan: (section, field). The front ends parse these with the grammar.
CONDITION_FIELDS = tuple((section, f) for section in ("input_alerts", "output_alerts",
                                                      "outcome_monitors") for f in ("when", "warn"))
