"""`defaults.by` splits every alert and outcome monitor (`by: []` opts one out), in both
surfaces, the formatter, the schema, the runbook and the engine; a split monitor's intervals
widen to Bonferroni's level under the plan's correction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from planspec.format import format_plan, format_yaml
from planspec.model import Plan, segment_by
from planspec.parse import parse_plan
from planspec.parse_yaml import parse_yaml
from planspec.render import render_runbook

from .enginekit import DAY, T0, compile_plan, plan_with
from .test_outcomes import dataset, monitors

ROOT = Path(__file__).resolve().parent.parent


def _plan(defaults_by: Any, alert_by: Any = None, monitor_by: Any = None,
          correction: str = "none", min_labels: int = 5) -> Plan:
    """Two input alerts (the second with its own `by`), a precision and a recall monitor
    (the second with its own `by`), and `defaults.by`."""
    mons = monitors(False, min_labels=min_labels)[:2]
    mons = [{**m, "when": m["when"].replace("> 1e9", "< 0.5")} for m in mons]
    if monitor_by is not None:
        mons[1]["by"] = monitor_by
    plan = plan_with({"a": "mean(x) shift > 1 sd", "b": "mean(x) shift > 2 sd"},
                     correction=correction, extra={"outcome_monitors": mons}, features={
                         "x": {"type": "numeric"}, "c": {"type": "categorical"},
                         "g": {"type": "categorical"}})
    data = plan.model_dump(by_alias=True, mode="json", exclude_none=True)
    data["defaults"]["by"] = defaults_by
    if alert_by is not None:
        data["input_alerts"][1]["by"] = alert_by
    return Plan.model_validate(data)


def test_defaults_by_splits_alerts_and_monitors_and_the_empty_list_opts_out() -> None:
    program = compile_plan(_plan("c", alert_by=[], monitor_by=[]))
    assert {r.id: r.by for r in program.rules} == {"a": "c", "b": None}
    assert {m.id: m.by for m in program.monitors} == {"m0": "c", "m1": None}
    own = compile_plan(_plan("c", alert_by=["g"], monitor_by="g"))
    assert {m.id: m.by for m in own.monitors} == {"m0": "c", "m1": "g"}
    assert {r.id: r.by for r in own.rules} == {"a": "c", "b": "g"}
    none = compile_plan(_plan(None))
    assert {r.by for r in none.rules} | {m.by for m in none.monitors} == {None}
    assert segment_by(None, ("c", "d")) == ("c", "d") and segment_by([], "c") == ()  # type: ignore[arg-type]


def test_the_engine_splits_a_monitor_by_defaults_by() -> None:
    rng = np.random.default_rng(3)
    scored, outcomes = dataset(rng, 4000, 0.6, False)
    scored["c"] = np.where(rng.random(4000) < 0.5, "u", "v").astype(object)
    program = compile_plan(_plan("c", monitor_by=[]))
    results = program.run(scored, scored, outcomes={"cls": outcomes}, as_of=T0 + 60 * DAY)
    ids = {c.id for c in results.checks}
    assert {"m0[c=u]", "m0[c=v]", "m1", "a[c=u]", "a[c=v]", "b[c=u]", "b[c=v]"} <= ids
    assert "m0" not in ids and not any(i.startswith("m1[") for i in ids)
    split = [c for c in results.checks if c.id.startswith("m0[")]
    assert {c.by for c in split} == {"c"} and {c.segment for c in split} == {"u", "v"}
    assert results.segments is not None
    assert {(s.alert, s.by, s.tested, s.dropped) for s in results.segments} == {
        ("a", "c", 2, 0), ("b", "c", 2, 0), ("m0", "c", 2, 0)}
    assert {c.interval_level for c in split} == {None}  # no correction: 95% intervals


def test_both_surfaces_and_the_formatter_carry_the_opt_out() -> None:
    plan = _plan("c", alert_by=[], monitor_by=[])
    text = format_plan(plan)
    assert "  by c\n" in text and text.count("  by []\n") == 2
    back = parse_plan(text, "x.plan")
    assert not back.diagnostics and back.plan == plan and format_plan(back.plan) == text
    yaml_text = format_yaml(plan)
    assert "  by: c\n" in yaml_text and yaml_text.count("    by: []\n") == 2
    again = parse_yaml(yaml_text, "x.yaml")
    assert not again.diagnostics and again.plan == plan and format_yaml(again.plan) == yaml_text
    assert again.plan.input_alerts[1].by == () and again.plan.outcome_monitors[0].by is None


def test_the_schema_allows_the_empty_list() -> None:
    import jsonschema

    from planspec._schema import plan_schema

    schema = plan_schema()
    alert = schema["$defs"]["Alert"]["properties"]["by"]
    text = str(alert)
    assert "defaults.by" in text and "minItems" not in text
    data = _plan("c", alert_by=[], monitor_by=[]).model_dump(mode="json", by_alias=True,
                                                               exclude_none=True)
    jsonschema.validate(data, schema)


def test_the_runbook_says_which_items_inherit_the_split() -> None:
    plan = _plan("c", alert_by=[], correction="bonferroni")
    text = render_runbook(parse_yaml(format_yaml(plan), "x.yaml"))
    assert "every alert and outcome monitor split by `c` (one that says `by: []` is not " \
        "split)" in text

    def part(head: str) -> str:
        p = text[text.index(f"### `{head}`"):]
        return p[:p.index("\n### ", 1)] if "\n### " in p[1:] else p

    assert "| split by | `c` (from `defaults.by`): one result per value, each against" in part("a")
    assert "split by" not in part("b")
    m0 = part("m0")
    assert "| split by | `c` (from `defaults.by`): one result per value, from that segment's " \
        "scored rows" in m0 and "widened to 1 − 5%/k" in m0 and "`bonferroni`" in m0
    plain = render_runbook(parse_yaml(format_yaml(_plan("c")), "x.yaml"))
    assert "widened" not in plain and "Unless an alert says otherwise" in plain
    assert "split by `c`" not in render_runbook(parse_yaml(format_yaml(_plan(None)), "x.yaml"))


@pytest.mark.parametrize(("correction", "segments"), [("none", 3), ("bonferroni", 3),
                                                       ("bh", 4), ("bonferroni", 1)])
def test_a_split_monitors_intervals_widen_to_bonferronis_level(correction: str,
                                                              segments: int) -> None:
    """Each segment's precision interval equals scipy's Wilson interval at the level
    1 − 5%/k (k segments judged) under a correction, and at 95% without one."""
    rng = np.random.default_rng(17)
    scored, outcomes = dataset(rng, 5000, 0.7, False)
    names = np.array([f"s{i}" for i in range(segments)], dtype=object)
    scored["c"] = names[rng.integers(0, segments, 5000)]
    plan = _plan("c", monitor_by=[], correction=correction)
    data = plan.model_dump(by_alias=True, mode="json", exclude_none=True)
    data["outcome_monitors"][0]["when"] = "precision.upper < 0.5"
    plan = Plan.model_validate(data)
    as_of = T0 + 60 * DAY
    results = compile_plan(plan).run(scored, scored, outcomes={"cls": outcomes}, as_of=as_of)
    level = 0.95 if correction == "none" or segments == 1 else 1 - 0.05 / segments
    split = [c for c in results.checks if c.id.startswith("m0[")]
    assert {c.interval_level for c in split} == {None if level == 0.95 else level}
    known = dict(zip(outcomes["id"].tolist(), outcomes["known"].astype(np.int64).tolist(),
                     strict=True))
    label = dict(zip(outcomes["id"].tolist(), outcomes["y"].tolist(), strict=True))
    checked = 0
    for name in names:
        check = next(c for c in results.checks
                     if c.id == f"m0[c={name}]")
        for w in check.windows:
            if w.upper is None:
                continue
            lo = np.datetime64(w.start.replace("Z", ""), "s").astype(np.int64)
            hi = np.datetime64(w.end.replace("Z", ""), "s").astype(np.int64)
            ts = scored["ts"].astype(np.int64)
            rows = (ts >= lo) & (ts < hi) & (scored["p"] >= 0.5)
            rows &= scored["c"] == name
            ids = [i for i in scored["id"][rows].tolist() if i in known and known[i] < as_of]
            tp = sum(label[i] > 0.5 for i in ids)
            ci = sps.binomtest(int(tp), len(ids)).proportion_ci(level, method="wilson")
            assert (w.lower, w.upper) == pytest.approx((ci.low, ci.high), rel=1e-9), name
            checked += 1
    assert checked >= 3 * segments
