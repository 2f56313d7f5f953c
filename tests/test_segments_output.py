"""Every output names the segments firing, worst first (fail before warn, then the farther past
its threshold), with how many segments were tested: the text output, the markdown report, the
HTML report's Segments section and its chart, and notifications (webhook, Slack, Alertmanager,
delivered to a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import datetime
import math
import re
from typing import Any

import numpy as np
import pytest

from planspec.compile import compile_plan
from planspec.model import Plan
from planspec.notify import (
    State,
    alertmanager_payload,
    event_payload,
    parse_target,
    pending,
    slack_payload,
)
from planspec.profile import build_profile
from planspec.render import render_report, render_results_text
from planspec.report_html import render_html
from planspec.results import Results
from planspec.thresholds import firing_window, past_threshold, worst_first

from .enginekit import DAY, T0, frame, plan_with
from .resultskit import check

#: Each segment's fall in mean: the alert is `mean(x) < 0.5` (warn below 0.7) on data of mean 1,
#: so k1 warns, k2..k7 fail, and k0 holds.
DROPS = {"k1": 0.4, "k2": 0.55, "k3": 0.65, "k4": 0.75, "k5": 0.85, "k6": 0.9, "k7": 0.95}


def segmented_results(seed: int = 3) -> Results:
    """A run of `low: mean(x) < 0.5` (warn `< 0.7`) split by `c`: 8 segments, 7 firing."""
    rng = np.random.default_rng(seed)
    base = frame(rng, 40000, 28, start=T0 - 35 * DAY, shift=1.0, categories=8)
    cur = frame(rng, 40000, 28, shift=1.0, categories=8)
    for k, d in DROPS.items():
        cur["x"][cur["c"] == k] -= d
    data = plan_with({"low": "mean(x) < 0.5"}, features={
        "x": {"type": "numeric"}, "c": {"type": "categorical"}}).model_dump(
            by_alias=True, mode="json")
    data["input_alerts"][0].update(by="c", warn="mean(x) < 0.7")
    program = compile_plan(Plan.model_validate(data))
    return program.run(cur, build_profile(program, base))


@pytest.fixture(scope="module")
def run() -> Results:
    return segmented_results()


def expected_order(r: Results) -> list[str]:
    """The firing segments worst first, computed by hand from each one's firing value: fails
    before warns, then by how many times below its threshold the value is (bound / v - 1)."""
    rows = []
    for f in r.firing:
        c = next(x for x in r.checks if x.id == f.id)
        w = [w for w in c.windows if w.firing is not None][-1]
        assert w.value is not None and w.value > 0
        bound = 0.5 if f.level == "fail" else 0.7
        rows.append((f.level != "fail", -(bound / w.value - 1), c.segment))
    return [str(s) for *_, s in sorted(rows)]


@pytest.mark.parametrize(("when", "warn", "value", "firing", "expected"), [
    ("psi(x) > 0.25", None, 0.75, "fail", 2.0),  # three times the threshold: 2 past it
    ("psi(x) > 0.25", "psi(x) > 0.1", 0.15, "warn", 0.5),  # against warn's threshold
    ("mean(x) shift > 2 sd", None, -3.0, "fail", -2.5),  # kept firing below it: negative
    ("ks(x).pvalue < 0.01", None, 0.0001, "fail", 99.0),  # a hundred times smaller
    ("mean(x) < 0.5", None, 0.25, "fail", 1.0),  # half the threshold: 1 past it
    ("mean(x) < 0", None, -0.5, "fail", 0.5),  # a zero threshold: the plain difference
    ("mean(x) not between 2 and 4", None, 5.0, "fail", 0.5),  # 1 outside a band 2 wide
    ("mean(x) not between 2 and 4", None, 1.5, "fail", 0.25),
    ("mean(x) > 1", None, math.inf, "fail", math.inf),
])
def test_past_threshold_by_hand(when: str, warn: str | None, value: float, firing: str,
                                expected: float) -> None:
    c = check("a", [(0.0, "ok", None), (value, firing, firing)], when=when, warn=warn)
    assert past_threshold(c) == pytest.approx(expected)
    quiet = check("b", [(0.0, "ok", None)], when=when, warn=warn)
    assert past_threshold(quiet) is None and worst_first(quiet, "fail") == (0, math.inf)


def test_worst_first_puts_fail_before_warn_then_the_farther_past() -> None:
    far = check("far", [(0.9, "fail", "fail")])
    near = check("near", [(0.3, "fail", "fail")])
    warn_far = check("w", [(0.24, "warn", "warn")])  # far past warn's 0.1, but only a warn
    ranked = sorted([warn_far, near, far], key=lambda c: worst_first(c, str(
        firing_window(c).firing if firing_window(c) else "")))
    assert [c.id for c in ranked] == ["far", "near", "w"]


def test_the_run_fires_seven_of_eight_segments(run: Results) -> None:
    assert run.segments is not None and [(s.alert, s.by, s.tested) for s in run.segments] == [
        ("low", "c", 8)]
    levels = {f.id: f.level for f in run.firing}
    assert set(levels) == {f"low[c={k}]" for k in DROPS}
    assert levels["low[c=k1]"] == "warn"
    order = expected_order(run)
    assert order[-1] == "k1" and order[0] == "k7"
    # A `<` alert's worst segment has the smallest value: ordering by the value's size (the
    # largest first) would put it last.
    by_size = sorted((abs(firing_window(c).value or 0), c.segment) for c in run.checks
                     if c.id in levels and levels[c.id] == "fail")
    assert next(s for _, s in by_size) == order[0]


def test_text_output_names_segments_worst_first(run: Results) -> None:
    text = render_results_text(run)
    assert "low by c: 8 segments tested; 7 firing" in text
    lines = [ln.strip() for ln in text.splitlines() if re.match(r"\s+(fail|warn) c=k", ln)]
    assert [re.search(r"c=(k\d)", ln).group(1) for ln in lines] == expected_order(run)  # type: ignore[union-attr]
    assert lines[0].endswith("(fail < 0.5) since 2026-01-05")
    assert "(warn < 0.7)" in lines[-1]
    firing_now = text[text.index("Firing now:"):]
    ids = re.findall(r"low\[c=(k\d)\] since", firing_now)
    assert ids == expected_order(run)


def test_markdown_report_names_segments_worst_first(run: Results) -> None:
    report = render_report(run)
    part = report[report.index("### `low` per `c`"):]
    assert "8 segments tested; 7 firing." in part and "(worst first)" in part
    rows = re.findall(r"^\| `(k\d)` \| \*\*(fail|warn)\*\* \|[^\n]*$", part, re.M)
    assert [k for k, _ in rows] == expected_order(run)
    assert "`fail < 0.5`" in part and "`warn < 0.7`" in part
    firing = report[report.index("## Firing now"):report.index("### `low` per `c`")]
    assert re.findall(r"`low\[c=(k\d)\]`", firing) == expected_order(run)


def test_html_segments_section_and_chart(run: Results) -> None:
    page = render_html(run)
    section = page[page.index('<section id="segments">'):page.index('<section id="checks">')]
    assert "8 segments tested; 7 firing, worst first" in section
    order = expected_order(run)
    listed = re.findall(r'<li data-segment="(k\d)">', section)
    assert listed == order
    chart = section[section.index('<svg class="chart segments"'):section.index("</svg>")]
    legend = re.findall(r'<g class="legend s\d" data-segment="c=(k\d)">', chart)
    assert legend == order[:5]  # the five worst, named, in order
    series = re.findall(r'<g class="series s(\d)" data-segment="c=(k\d)">', chart)
    assert sorted(series) == [(str(i), k) for i, k in enumerate(order[:5])]
    assert "and 2 more firing" in chart
    assert chart.count('class="threshold fail"') == 1 and chart.count('class="threshold warn"') == 1
    for k in order[5:] + ["k0"]:  # the rest are not drawn
        assert f'data-segment="c={k}"' not in chart
    for k in order:  # each firing segment links to its own card
        assert f'href="#check-low[c={k}]"' in section and f'id="check-low[c={k}]"' in page


def test_html_without_firing_segments_says_so_and_draws_no_segment_chart() -> None:
    r = segmented_results()
    quiet = r.model_copy(update={"firing": [], "actions": []})
    page = render_html(quiet)
    section = page[page.index('<section id="segments">'):page.index('<section id="checks">')]
    assert "8 segments tested; none firing." in section
    assert "chart segments" not in section


NOW = datetime.datetime(2026, 2, 3, tzinfo=datetime.UTC)
TTL = datetime.timedelta(days=1)


def test_notification_payloads_name_the_segment_and_its_rank(run: Results) -> None:
    events = pending(run, parse_target("webhook:http://127.0.0.1:9/h"), State(), NOW, TTL)
    order = expected_order(run)
    assert [e.check_id for e in events] == [f"low[c={k}]" for k in order]
    first = event_payload(run, events[0], None)
    assert (first["by"], first["segment"]) == ("c", order[0])
    assert first["segments"] == {"tested": 8, "firing": order, "rank": 1}
    assert event_payload(run, events[2], None)["segments"]["rank"] == 3
    slack = slack_payload(run, events[0], None)["text"]
    assert f"Segment c={order[0]}, the worst of 7 segments firing (8 tested): " \
           f"{', '.join(order)}" in slack
    third = slack_payload(run, events[2], None)["text"]
    assert f"Segment c={order[2]}, 3rd worst of 7 segments firing (8 tested)" in third
    am = alertmanager_payload(run, events[0], None, NOW, TTL)[0]
    assert am["labels"]["segment"] == f"c={order[0]}"
    assert am["annotations"]["segments"].startswith(f"segment c={order[0]}, the worst of 7")


def test_unsegmented_alerts_carry_no_segments_in_their_payload() -> None:
    from .resultskit import results

    r = results(check("a", [(0.3, "fail", "fail")]))
    e = pending(r, parse_target("webhook:http://127.0.0.1:9/h"), State(), NOW, TTL)[0]
    assert event_payload(r, e, None)["segments"] is None
    assert "Segment" not in slack_payload(r, e, None)["text"]
    assert "segments" not in alertmanager_payload(r, e, None, NOW, TTL)[0]["annotations"]


def payload_order(bodies: list[Any]) -> list[str]:
    return [b["alert"] for b in bodies]


@pytest.fixture(scope="module")
def twelve() -> Results:
    """Twelve segments of `low: mean(x) < 0.5` split by `c`, only `k2` failing."""
    rng = np.random.default_rng(5)
    base = frame(rng, 40000, 28, start=T0 - 35 * DAY, shift=1.0, categories=12)
    cur = frame(rng, 40000, 28, shift=1.0, categories=12)
    cur["x"][cur["c"] == "k2"] -= 0.6
    data = plan_with({"low": "mean(x) < 0.5"}, features={
        "x": {"type": "numeric"}, "c": {"type": "categorical"}}).model_dump(
            by_alias=True, mode="json")
    data["input_alerts"][0].update(by="c")
    program = compile_plan(Plan.model_validate(data))
    return program.run(cur, build_profile(program, base))


def test_text_table_folds_many_quiet_segments_into_one_line(run: Results,
                                                            twelve: Results) -> None:
    """Twelve segments, one failing: the table keeps the failing one's row and folds the eleven
    that never fired into one line; with few quiet segments (the 8-segment run's one) each keeps
    its row."""
    results = twelve
    text = render_results_text(results, width=120)
    table = text[:text.index("What fired and when")]
    assert re.search(r"^low\[c=k2\]\s+input", table, re.M)
    assert not re.search(r"^low\[c=k(0|1|[3-9]|1[01])\]", table, re.M)
    assert "low: 11 more segments never fired (now partial; each in --format json" in table
    assert len(results.checks) == 12  # folded in the table only: every result is still there
    few = render_results_text(run, width=120)
    assert re.search(r"^low\[c=k0\]\s+input", few, re.M) and "never fired" not in few


def test_html_report_folds_many_quiet_segments_into_closed_details(run: Results,
                                                                   twelve: Results) -> None:
    """The eleven quiet segments' cards sit in one closed <details> after the other checks
    (each card still on the page); the failing segment's card stays in the grid."""
    page = render_html(twelve)
    grid, rest = page.split('<details class="quiet" data-alert="low">', 1)
    folded = rest.split("</details>\n</section>", 1)[0]
    assert 'data-check="low[c=k2]"' in grid
    assert re.findall(r'<article class="check[^"]*" id="[^"]*" data-check="([^"]+)"', folded) == [
        c.id for c in twelve.checks if c.id != "low[c=k2]"]  # in the results' order
    assert "<code>low</code>: 11 segments never fired (now partial)</summary>" in folded
    assert "12 checks;" in grid  # counted with the folded ones
    assert '<details class="quiet"' not in render_html(run)  # one quiet segment: not folded
