"""Formatting round trips all text (#17 item 5) and carries comments across surfaces (#16 item 3).

Any string in any text field survives `fmt` unchanged in both surfaces, `fmt --check` passes on
`fmt`'s own output, YAML → `.plan` → YAML gives the same plan, and `fmt --to plan` refuses a plan
with errors rather than write a `.plan` that does not parse.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planspec.cli import main
from planspec.format import format_parsed, format_plan, format_yaml
from planspec.load import load_plan
from planspec.model import Plan
from planspec.parse import parse_plan
from planspec.parse_yaml import parse_yaml, yaml_comments

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_YAML = ROOT / "plans" / "rental_inspector.yaml"
SHIPPED_PLAN = ROOT / "plans" / "rental_inspector.plan"

#: Line breaks YAML 1.1 or Python's splitlines know, controls, quotes, escapes and comment marks.
TRICKY = ["\x85", "\u2028", "\u2029", "\r", "\r\n", "\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e",
          "\x00", "\x07", "\x1b", "\x7f", "\x9f", "\t", "\ufeff", "\ufffe", "\uffff", "\u00a0",
          '"', "'", "\\", "\\n", "\\x85", "#", " #", "# ", ": ", "- ", "`", "{", "}", "[", "]",
          "&a", "*a", "!!str ", "%", "@", "|", ">", " ", "  ", "\U0001f600", "\U0010ffff",
          "yes", "null", "~", "1_000", "0o17", "1e3", ".inf", "2026-01-01", "---", "..."]


#: A small plan with every kind of item and every free-text field once (the shipped plan takes
#: ten times longer to format, for no more fields).
SMALL_YAML = """\
plan: p
description: d
model:
  name: m
  version: '1'
  task: binary_classification
  deployment: batch
  owners: [o]
  cadence: 1d
  description: d
data:
  timestamp: t
  key: k
  features:
    x: {type: numeric, unit: u, description: d, range: [0, 10]}
  predictions:
    s: {kind: probability, threshold: 0.5, description: d}
input_alerts:
  - id: a
    when: mean(x) > 1
    playbook: pb
    why: w
output_alerts:
  - id: b
    when: mean(s) > 0.9
    playbook: pb
    why: w
outcome_monitors:
  - id: c
    when: precision < 0.5
    source: {name: src, join_key: k, time: t2, label: y, biases: [b]}
    label_delay: 7d
    playbook: pb
    why: w
playbooks:
  - id: pb
    title: t
    kind: investigate
    owner: o
    response_time: 1d
    notify: [n]
    steps: [s]
    escalate:
      - {to: pb2, if_firing: [a], why: w}
  - id: pb2
    title: t
    kind: retrain
    owner: o
    response_time: 1d
    steps: [s]
drift_risks:
  - id: r
    title: t
    kind: feature
    affects: [x]
    caught_by: [a]
    why: w
"""


def _shipped() -> Plan:
    plan = load_plan(SHIPPED_YAML).plan
    assert plan is not None
    return plan


def _small() -> Plan:
    plan = parse_yaml(SMALL_YAML).plan
    assert plan is not None
    return plan


def _with_text(plan: Plan, text: str) -> Plan:
    """The plan with ``text`` in every free-text field (and variants of it, so fields differ)."""
    def put(node: Any, **fields: Any) -> Any:
        return node.model_copy(update=fields)

    model = put(plan.model, name=text or "m", version=text, owners=(text, text + "2"),
                description=text)
    features = {name: put(f, unit=text, description=text) for name, f in
                plan.data.features.items()}
    predictions = {name: put(p, description=text) for name, p in plan.data.predictions.items()}
    data = put(plan.data, features=features, predictions=predictions)
    alerts = {s: tuple(put(a, why=text) for a in getattr(plan, s))
              for s in ("input_alerts", "output_alerts")}
    monitors = tuple(put(m, why=text, source=put(m.source, biases=(text, "x" + text)))
                     for m in plan.outcome_monitors)
    playbooks = tuple(put(p, title=text, owner=text, notify=(text,), steps=(text, text + "!"),
                          escalate=tuple(put(e, why=text) for e in p.escalate))
                      for p in plan.playbooks)
    risks = tuple(put(r, title=text, why=text) for r in plan.drift_risks)
    return put(plan, description=text, model=model, data=data, **alerts,
               outcome_monitors=monitors, playbooks=playbooks, drift_risks=risks)


def _assert_round_trips(plan: Plan) -> None:
    # YAML, as `fmt --to yaml` writes it: loads back the same, and is its own canonical form.
    y = format_yaml(plan)
    from_yaml = parse_yaml(y, "p.yaml")
    assert from_yaml.plan == plan, from_yaml.diagnostics
    assert format_parsed(from_yaml, "yaml") == y
    # .plan: the same, and `fmt` on it changes nothing.
    p = format_parsed(from_yaml, "plan")
    from_plan = parse_plan(p, "p.plan")
    assert from_plan.plan == plan, from_plan.diagnostics
    assert format_parsed(from_plan, "plan") == p
    # ... and back to YAML, which is the YAML above.
    assert format_parsed(from_plan, "yaml") == y


def _tricky_strings() -> list[str]:
    every = "".join(TRICKY)
    mixed = [f"a{t}b {u}\n{v}{w}" for t, u, v, w in zip(*[iter(TRICKY)] * 4, strict=False)]
    return [every, f" {every} ", f"a{every}b\n{every}", *mixed]


def test_every_text_field_keeps_tricky_strings() -> None:
    for text in _tricky_strings():
        _assert_round_trips(_with_text(_small(), text))


texts = st.lists(st.one_of(st.text(st.characters(exclude_categories=["Cs"]), max_size=6),
                           st.sampled_from(TRICKY)), max_size=8).map("".join)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(texts)
def test_any_unicode_string_round_trips_in_every_text_field(text: str) -> None:
    _assert_round_trips(_with_text(_small(), text))


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(list(args), out=out)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("char", ["\x85", "\u2028", "\u2029", "\r", "\x0b", "\x0c", "\x1e"])
def test_fmt_keeps_line_break_like_characters_in_both_surfaces(tmp_path: Path,
                                                               char: str) -> None:
    plan = _with_text(_small(), f"one{char}two")
    for suffix, text in ((".yaml", format_yaml(plan)), (".plan", format_plan(plan))):
        path = tmp_path / f"p{suffix}"
        path.write_bytes(text.encode())  # as written: no newline translation
        assert _run("fmt", "--check", str(path))[0] == 0
        assert _run("fmt", "-w", str(path))[0] == 0
        assert path.read_bytes() == text.encode()
        assert load_plan(path).plan == plan
    # A double-quoted YAML escape that ruamel would otherwise write out raw, folding it.
    path = tmp_path / "quoted.yaml"
    escape = {"\x85": "\\N", "\u2028": "\\L", "\u2029": "\\P", "\r": "\\r", "\x0b": "\\v",
              "\x0c": "\\f", "\x1e": "\\x1e"}[char]
    path.write_text(SMALL_YAML.replace("unit: u,", f'unit: "u{escape}u",'))
    before = load_plan(path).plan
    code, out, _ = _run("fmt", str(path))
    assert code == 0 and parse_yaml(out).plan == before
    path.write_text(out)
    assert _run("fmt", "--check", str(path))[0] == 0


def test_fmt_to_plan_refuses_a_plan_with_errors(tmp_path: Path) -> None:
    src = tmp_path / "bad.yaml"
    src.write_text(SHIPPED_YAML.read_text().replace("- to: ", "- to: not a name  # was "))
    target = tmp_path / "bad.plan"
    code, out, err = _run("fmt", "--to", "plan", str(src), "-o", str(target))
    assert code == 1 and out == ""
    assert "PS302" in err and "cannot be converted until it is valid" in err
    assert not target.exists()
    assert _run("fmt", "--to", "plan", str(src))[1] == ""  # nothing on stdout either
    # Formatting it in its own surface still works: the YAML can hold what it says.
    assert _run("fmt", str(src))[0] == 0


def test_fmt_to_yaml_refuses_a_plan_with_errors(tmp_path: Path) -> None:
    src = tmp_path / "bad.plan"
    src.write_text(SHIPPED_PLAN.read_text().replace("playbook quality_drop", "playbook nope", 1))
    code, out, err = _run("fmt", "--to", "yaml", str(src))
    assert (code, out) == (1, "") and "PS302" in err


def test_fmt_to_plan_converts_a_valid_plan_to_a_plan_that_parses(tmp_path: Path) -> None:
    code, out, err = _run("fmt", "--to", "plan", str(SHIPPED_YAML))
    assert code == 0 and err == ""
    assert parse_plan(out).plan == _shipped()


# ------------------------------------------------------------------ comments across surfaces


def _lines_with(text: str, comment: str) -> list[str]:
    return [line for line in text.splitlines() if comment in line]


def test_shipped_yaml_comments_reach_the_plan_beside_their_items() -> None:
    code, out, _ = _run("fmt", "--to", "plan", str(SHIPPED_YAML))
    assert code == 0
    source = SHIPPED_YAML.read_text()
    for c in yaml_comments(source):
        assert c.text in out, c.text
    lines = out.splitlines()
    # The header block stays the file's head.
    assert lines[0].startswith("# Monitoring plan for the city housing")
    # An end-of-line comment ends the line of the setting it annotated.
    assert _lines_with(out, "# a day with few rows") == [
        "  min_samples 0  # a day with few rows is exactly what this alert is for"]
    # A comment above a setting goes above it, at its indentation, in each monitor.
    at = [i for i, line in enumerate(lines) if "# The registry reports rents" in line]
    assert len(at) == 2
    for i in at:
        assert lines[i] == "    # The registry reports rents, not verdicts: out of line when the " \
            "asking rent is more"
        assert lines[i + 2].startswith("    label ")
    # The converted file is canonical, and goes back to YAML with the same comments.
    parsed = parse_plan(out, "x.plan")
    assert format_parsed(parsed, "plan") == out
    back = format_parsed(parsed, "yaml")
    assert [c.text for c in yaml_comments(back)] == [c.text for c in yaml_comments(source)]
    assert parse_yaml(back).plan == _shipped()


def test_shipped_plan_comments_reach_yaml_beside_their_items(tmp_path: Path) -> None:
    code, out, _ = _run("fmt", "--to", "yaml", str(SHIPPED_PLAN))
    assert code == 0
    lines = out.splitlines()
    plan_comments = [line.strip() for line in SHIPPED_PLAN.read_text().splitlines()
                     if line.strip().startswith("#") or "  # " in line]
    yaml_found = [c.text for c in yaml_comments(out)]
    assert len(yaml_found) == len(plan_comments)
    # A section heading above the first alert of a section lands above that alert's item.
    i = lines.index("  # ---- Feature drift: the inputs the FMV comparison depends on.")
    assert lines[i - 1] == "input_alerts:" and lines[i + 1] == "  - id: price_mean_shift"
    i = lines.index("# Columns of the nightly scored table.")
    assert lines[i + 1] == "data:"
    assert _lines_with(out, "# a day with few rows") == [
        "    min_samples: 0  # a day with few rows is exactly what this alert is for"]
    # Items are spaced like the shipped YAML, and the result is canonical YAML.
    assert "\n\ninput_alerts:\n" in out and "\n\n  - id: price_distribution\n" in out
    path = tmp_path / "converted.yaml"
    path.write_text(out)
    assert _run("fmt", "--check", str(path))[0] == 0
    assert load_plan(path).plan == _shipped()


YAML_HEAD = """\
plan: p
model: {name: m, version: '1', task: regression, deployment: batch, owners: [o], cadence: 1d}
data:
  timestamp: t
  features: {x: {type: numeric}}
"""
ALERTS = """\
input_alerts:
  # above a
  - id: a       # a's id
    when: mean(x) > 1   # a's condition
    # above b's window
    window: 7d
  - id: b
    when: mean(x) > 2
    severity: medium  # a default the .plan form leaves out
# at the end
"""


def test_small_yaml_comments_attach_to_items_and_settings() -> None:
    parsed = parse_yaml(YAML_HEAD + ALERTS, "p.yaml")
    assert parsed.plan is not None
    out = format_parsed(parsed, "plan")
    assert "# above a\ninput alert a {  # a's id\n  when mean(x) > 1  # a's condition\n" \
        "  # above b's window\n  window 7d\n}" in out
    # The default `severity medium` is not written: its comment ends the nearest line shown.
    assert "input alert b {  # a default the .plan form leaves out\n" in out
    assert out.endswith("}\n\n# at the end\n")
    again = parse_plan(out, "p.plan")
    assert again.plan == parsed.plan and format_parsed(again, "plan") == out


def test_small_plan_comments_attach_to_items_and_settings() -> None:
    text = format_plan(parse_yaml(YAML_HEAD + "input_alerts:\n  - {id: a, when: mean(x) > 1}\n"
                                  "  - {id: b, when: mean(x) > 2, window: 7d}\n").plan)  # type: ignore[arg-type]
    text = text.replace("input alert a {", "# above a\ninput alert a {  # on a's line") \
        .replace("  when mean(x) > 2", "  # above b's condition\n  when mean(x) > 2  # b's") \
        .replace("model m {", "model m {  # the model").rstrip("\n") + "\n# the end\n"
    parsed = parse_plan(text, "p.plan")
    assert parsed.plan is not None, parsed.diagnostics
    out = format_parsed(parsed, "yaml")
    assert "model:  # the model\n" in out
    assert "\n  # above a\n  - id: a  # on a's line\n" in out
    assert "\n    # above b's condition\n    when: mean(x) > 2  # b's\n" in out
    assert out.endswith("# the end\n")
    assert parse_yaml(out).plan == parsed.plan
    back = parse_yaml(out, "p.yaml")
    assert format_parsed(back, "yaml") == out  # canonical
    assert format_parsed(back, "plan") == format_parsed(parsed, "plan")  # and back again


def test_comments_with_line_breaks_of_their_own_stay_comments_in_yaml() -> None:
    text = format_plan(parse_yaml(YAML_HEAD).plan)  # type: ignore[arg-type]
    text = text.replace("model m {", "model m {  # NEL\x85here, LS\u2028there, NUL\x00")
    parsed = parse_plan(text, "p.plan")
    assert parsed.plan is not None
    out = format_parsed(parsed, "yaml")
    assert "model:  # NEL\\u0085here, LS\\u2028there, NUL\\u0000\n" in out
    assert yaml.safe_load(out) == yaml.safe_load(format_yaml(parsed.plan))
