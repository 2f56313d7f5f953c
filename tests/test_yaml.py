"""The YAML front end: positions of values, keys and parts of conditions; friendly shape errors."""

from __future__ import annotations

from pathlib import Path

from planspec.diagnostics import format_text
from planspec.format import format_yaml
from planspec.load import load_plan
from planspec.parse_yaml import parse_yaml

PLAN = Path(__file__).resolve().parent.parent / "plans" / "rental_inspector.yaml"


def test_source_map_points_into_conditions() -> None:
    parsed = parse_yaml(PLAN.read_text(), "rental.yaml")
    assert parsed.plan is not None
    lines = PLAN.read_text().splitlines()
    idx = next(i for i, a in enumerate(parsed.plan.input_alerts) if a.id == "neighborhood_mix")
    for rel, text in [(("terms", 1, "measure", "column"), "neighborhood"),
                      (("terms", 1, "threshold"), "0.001"),
                      (("terms", 0, "measure", "stat"), "js")]:
        span = parsed.source_map.span(("input_alerts", idx, "when", *rel))
        assert span is not None and span.line == span.end_line
        assert lines[span.line - 1][span.col - 1:span.end_col] == text


def test_source_map_points_at_values_and_keys() -> None:
    parsed = parse_yaml(PLAN.read_text(), "rental.yaml")
    lines = PLAN.read_text().splitlines()
    span = parsed.source_map.span(("data", "features", "sqft", "type"))
    assert lines[span.line - 1][span.col - 1:span.end_col] == "numeric"
    key = parsed.source_map.key_span(("model", "cadence"))
    assert lines[key.line - 1][key.col - 1:key.end_col] == "cadence"


def test_unknown_key_suggests_the_nearest_field() -> None:
    text = PLAN.read_text().replace("  - id: sqft_missing\n",
                                    "  - id: sqft_missing\n    wndow: 1d\n")
    parsed = parse_yaml(text, "p.yaml")
    [d] = [d for d in parsed.diagnostics if d.code == "PS201"]
    assert d.hint == "did you mean `window`?"


def test_unknown_key_inside_a_feature_suggests_feature_fields() -> None:
    text = PLAN.read_text().replace("      unit: square feet\n", "      unti: square feet\n")
    [d] = parse_yaml(text, "p.yaml").diagnostics
    assert (d.code, d.hint) == ("PS201", "did you mean `unit`?")


def test_text_output_has_the_line_and_a_caret() -> None:
    text = ("plan: x\nmodel: {name: m, version: '1', task: regression, deployment: batch,\n"
            "  owners: [a], cadence: 1d}\ndata:\n  timestamp: ts\n"
            "  features: {a: {type: numeric}}\n  predictions: {p: {kind: value}}\n"
            "input_alerts:\n  - id: a\n    when: meen(a) > 1\n")
    parsed = parse_yaml(text, "x.yaml")
    [d] = parsed.diagnostics
    out = format_text(d, {"x.yaml": text})
    assert "--> x.yaml:10:11" in out
    assert "10 |     when: meen(a) > 1" in out
    assert out.splitlines()[4].endswith("^^^^")


def test_empty_and_non_mapping_files() -> None:
    for text in ["", "# only a comment\n", "42\n", "- a\n- b\n", "null\n"]:
        parsed = parse_yaml(text, "x.yaml")
        assert parsed.plan is None
        assert [d.code for d in parsed.diagnostics] == ["PS205"]


def test_unreadable_value_is_reported_once() -> None:
    text = PLAN.read_text().replace("date: 2026-07-01", "date: 2026-13-45")
    codes = [d.code for d in parse_yaml(text, "p.yaml").diagnostics]
    assert codes == ["PS203"]


def test_non_utf8_file_is_a_diagnostic(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"plan: \xff\xfe\n")
    assert [d.code for d in load_plan(bad).diagnostics] == ["PS101"]


def test_worked_example_round_trips_through_yaml() -> None:
    plan = load_plan(PLAN).plan
    assert plan is not None
    again = parse_yaml(format_yaml(plan), "again.yaml")
    assert again.diagnostics == ()
    assert again.plan == plan


def test_worked_example_answers_what_reviewers_ask() -> None:
    plan = load_plan(PLAN).plan
    assert plan is not None
    stats = {a.id: a.when for a in plan.input_alerts}
    shift = stats["price_mean_shift"]
    assert (shift.measure.stat, shift.measure.transform, shift.threshold.value,
            shift.threshold.unit) == ("mean", "shift", 2.0, "sd")
    columns = {a.when.measure.column for a in plan.input_alerts if hasattr(a.when, "measure")}
    assert len(columns - {None}) >= 3
    measures = [t.measure.stat for a in plan.input_alerts
                for t in getattr(a.when, "terms", [a.when])]
    assert "missing_rate" in measures and {"js", "psi"} & set(measures)
    assert any(a.when.measure.stat == "rate" for a in plan.output_alerts)
    assert len({m.source.name for m in plan.outcome_monitors}) >= 2
    assert all(m.label_delay and m.source.biases for m in plan.outcome_monitors
               if m.source.name == "inspector_audits")
    assert {p.kind for p in plan.playbooks} >= {"recalibrate", "retrain", "restart"}
    assert sum(r.kind in ("concept", "both") for r in plan.drift_risks) >= 2
