"""Hypothesis strategies that build plans from the model (not from text)."""

from __future__ import annotations

import datetime
import string

from hypothesis import strategies as st

from planspec.model import (
    Alert,
    AllOf,
    AnyOf,
    Between,
    Calibrated,
    Compare,
    DataSchema,
    Defaults,
    DriftRisk,
    Duration,
    Escalation,
    Feature,
    Heighten,
    Measure,
    ModelInfo,
    OutcomeMonitor,
    OutcomeSource,
    Plan,
    Playbook,
    Predicate,
    Prediction,
    Threshold,
)
from planspec.stats import STATS

ids = st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True)
columns = st.one_of(ids, st.text(string.ascii_letters + " -.", min_size=1, max_size=10).filter(
    lambda s: s.strip() == s))
numbers = st.floats(allow_nan=False, allow_infinity=False, width=64)
texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
                max_size=30)
thresholds = st.builds(Threshold, value=numbers, unit=st.sampled_from(["", "%", "sd"]))
durations = st.builds(Duration, value=st.integers(1, 5_000),  # at most 36,500 days
                      unit=st.sampled_from(["s", "m", "h", "d", "w"]))
ratios = st.floats(0, 1)


@st.composite
def measures(draw: st.DrawFn) -> Measure:
    name = draw(st.sampled_from(sorted(STATS)))
    info = STATS[name]
    fields: dict[str, object] = {"stat": name}
    if info.args != "none" and info.args != "within":
        fields["column"] = draw(columns)
    if info.args == "quantile":
        fields["q"] = draw(numbers)
    if info.args == "predicate":
        value = draw(st.one_of(thresholds.filter(lambda t: t.unit != "sd"), st.booleans(),
                               st.text(string.printable.replace("\x0b", "").replace("\x0c", ""),
                                       max_size=8)))
        fields["predicate"] = Predicate(op=draw(st.sampled_from([">", ">=", "<", "<=", "==",
                                                                 "!="])), value=value)
    if info.args == "within":
        fields["within"] = draw(thresholds.filter(lambda t: t.unit != "sd"))
    if info.tests:
        fields["part"] = draw(st.sampled_from(["statistic", "pvalue"]))
    if info.scope == "outcome":
        fields["part"] = draw(st.sampled_from(["statistic", "lower", "upper"]))
    transform = draw(st.sampled_from(["value", "shift", "change"]))
    fields["transform"] = transform
    if transform != "value":
        fields["direction"] = draw(st.sampled_from(["both", "up", "down"]))
    return Measure(**fields)


leaves = st.one_of(
    st.builds(Compare, measure=measures(), op=st.sampled_from([">", ">=", "<", "<="]),
              threshold=thresholds | st.builds(Calibrated, value=numbers,
                                               unit=st.sampled_from(["", "%"]))),
    st.builds(Between, measure=measures(), low=thresholds, high=thresholds, negated=st.booleans()),
)


def _combine(children: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    terms = st.lists(children, min_size=2, max_size=3)
    # Nested groups of the same kind flatten when written as text, so generate only mixed nesting.
    return st.one_of(
        st.builds(AllOf, terms=terms.filter(lambda ts: not any(isinstance(t, AllOf) for t in ts))
                  .map(tuple)),
        st.builds(AnyOf, terms=terms.filter(lambda ts: not any(isinstance(t, AnyOf) for t in ts))
                  .map(tuple)),
    )


conditions = st.recursive(leaves, _combine, max_leaves=5)
optional = st.none


def alerts() -> st.SearchStrategy[Alert]:
    return st.builds(Alert, id=ids, when=conditions, warn=st.none() | conditions,
                     window=st.none() | durations, every=st.none() | durations,
                     for_=st.none() | st.integers(0, 9),
                     keep_firing_for=st.none() | st.integers(0, 9),
                     min_samples=st.none() | st.integers(0, 10**6),
                     severity=st.sampled_from(["low", "medium", "high", "critical"]),
                     playbook=st.none() | ids, why=st.none() | texts,
                     window_rows=st.none() | st.integers(1, 10**6),
                     calibrate=st.none() | st.sampled_from(["subsamples", "consecutive"]))


monitors = st.builds(
    OutcomeMonitor, id=ids, when=conditions, warn=st.none() | conditions,
    source=st.builds(OutcomeSource, name=ids, join_key=st.none() | columns, time=columns,
                     label=columns, weights=st.none() | columns,
                     biases=st.lists(texts, max_size=2).map(tuple)),
    prediction=st.none() | columns, label_delay=st.none() | durations, min_coverage=ratios,
    min_labels=st.integers(1, 1000), window=st.none() | durations,
    stand_ins=st.lists(ids, max_size=2).map(tuple), playbook=st.none() | ids)

playbooks = st.builds(
    Playbook, id=ids, title=texts, owner=texts, response_time=durations,
    kind=st.sampled_from(["investigate", "data_fix", "recalibrate", "retrain", "rollback",
                          "restart"]),
    notify=st.lists(texts, max_size=2).map(tuple),
    steps=st.lists(texts, min_size=1, max_size=3).map(tuple),
    escalate=st.lists(st.builds(Escalation, to=ids, if_firing=st.lists(ids, max_size=2).map(tuple),
                                unless_firing=st.lists(ids, max_size=2).map(tuple),
                                why=st.none() | texts), max_size=2).map(tuple))

risks = st.builds(
    DriftRisk, id=ids, title=texts, kind=st.sampled_from(["concept", "feature", "both"]),
    affects=st.lists(columns, min_size=1, max_size=3).map(tuple),
    caught_by=st.lists(ids, max_size=2).map(tuple), playbook=st.none() | ids,
    date=st.none() | st.dates(datetime.date(1990, 1, 1), datetime.date(2100, 1, 1)),
    heighten=st.none() | st.builds(Heighten, period=durations, window=st.none() | durations,
                                   tighten=st.none() | ratios),
    why=st.none() | texts)

features = st.builds(Feature, type=st.sampled_from(["numeric", "integer", "categorical",
                                                    "boolean", "text"]),
                     unit=st.none() | texts,
                     range=st.none() | st.tuples(numbers, numbers), description=st.none() | texts)

plans = st.builds(
    Plan, plan=ids, description=st.none() | texts,
    model=st.builds(ModelInfo, name=texts, version=texts,
                    task=st.sampled_from(["binary_classification", "regression"]),
                    deployment=st.sampled_from(["batch", "rest", "streaming", "on_device"]),
                    owners=st.lists(texts, min_size=1, max_size=2).map(tuple), cadence=durations),
    data=st.builds(DataSchema, timestamp=columns, key=st.none() | columns,
                   features=st.dictionaries(columns, features, min_size=1, max_size=3),
                   predictions=st.dictionaries(columns, st.builds(
                       Prediction, kind=st.sampled_from(["probability", "score", "class", "value"]),
                       threshold=st.none() | numbers, flag=st.sampled_from(["above", "below"])),
                       min_size=1, max_size=2),
                   label=st.none() | columns),
    defaults=st.builds(Defaults, window=durations, every=st.none() | durations,
                       min_samples=st.integers(0, 10**6), for_=st.integers(0, 5),
                       keep_firing_for=st.integers(0, 5),
                       correction=st.sampled_from(["none", "bonferroni", "bh"])),
    input_alerts=st.lists(alerts(), max_size=2).map(tuple),
    output_alerts=st.lists(alerts(), max_size=2).map(tuple),
    outcome_monitors=st.lists(monitors, max_size=2).map(tuple),
    playbooks=st.lists(playbooks, max_size=2).map(tuple),
    drift_risks=st.lists(risks, max_size=2).map(tuple),
)
