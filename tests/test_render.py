"""Runbooks and reports: goldens (rewrite with --update-goldens), completeness, plain English for
every statistic and condition form, markdown that parses as intended, and drift-risk events."""

from __future__ import annotations

import datetime
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from markdown_it import MarkdownIt

from planspec._expr import parse_condition
from planspec.cli import main
from planspec.compile import compile_plan
from planspec.english import describe, measure
from planspec.load import load_plan
from planspec.model import Duration
from planspec.render import render_report, render_runbook, report_view
from planspec.results import Results
from planspec.stats import STATS

from .enginekit import DAY, T0, day_end, frame, plan_with
from .mdkit import inlines

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
SHIPPED = ["rental_inspector.plan", "rental_inspector.yaml"]


def golden(name: str, text: str, update: bool) -> None:
    path = GOLDEN / name
    if update or not path.exists():
        path.write_text(text)
    assert text == path.read_text(), f"{name} changed: rerun with --update-goldens if intended"


@pytest.fixture
def relative_cwd() -> object:
    # Runbooks name plan files as given; goldens use paths relative to the repository.
    before = os.getcwd()
    os.chdir(ROOT)
    yield
    os.chdir(before)


@pytest.mark.parametrize("name", SHIPPED)
def test_runbook_golden(name: str, update_goldens: bool, relative_cwd: object) -> None:
    golden(f"runbook_{name.replace('.', '_')}.md",
           render_runbook(load_plan(f"plans/{name}")), update_goldens)


@pytest.fixture(scope="module")
def demo_results(tmp_path_factory: pytest.TempPathFactory) -> Results:
    from planspec.demo import write_demo_data

    d = tmp_path_factory.mktemp("demo")
    paths = write_demo_data(d, rows=60_000)
    before = os.getcwd()
    os.chdir(ROOT)
    try:
        parsed = load_plan("plans/rental_inspector.plan")
    finally:
        os.chdir(before)
    program = compile_plan(parsed.plan, parsed.source_map)  # type: ignore[arg-type]
    return program.run(str(paths["scored"]), str(paths["baseline"]), outcomes={
        n: str(paths[n]) for n in ("inspector_audits", "lease_registry")})


def test_report_golden(demo_results: Results, update_goldens: bool) -> None:
    golden("report_demo.md", render_report(demo_results), update_goldens)


@pytest.mark.parametrize("name", SHIPPED)
def test_everything_in_the_plan_appears_in_its_runbook(name: str) -> None:
    parsed = load_plan(ROOT / "plans" / name)
    plan = parsed.plan
    assert plan is not None
    text = render_runbook(parsed)
    shown = "\n".join(inlines(text))  # as a reader sees it (markup escapes resolved)
    for item in (*plan.input_alerts, *plan.output_alerts, *plan.outcome_monitors):
        assert f"### `{item.id}`" in text
        assert item.why is None or item.why.split(".")[0] in shown
    for p in plan.playbooks:
        assert f"(`{p.id}`)" in text and all(step in shown for step in p.steps)
    for r in plan.drift_risks:
        assert f"{r.title} ({r.id})" in shown
    for col in (*plan.data.features, *plan.data.predictions):
        assert f"| `{col}` |" in text
    assert f"{name}:" in text  # source locations


def _tokens(text: str) -> list[object]:
    return MarkdownIt("commonmark").enable("table").parse(text)


def _check_markdown(text: str, tables: int) -> None:
    tokens = _tokens(text)
    types = [t.type for t in tokens]  # type: ignore[attr-defined]
    assert types.count("table_open") == tables
    # Names with underscores sit in code spans: no emphasis appears by accident.
    inline = [c for t in tokens for c in (t.children or [])]  # type: ignore[attr-defined]
    assert not [c for c in inline if c.type == "em_open"]
    # Every table row has as many cells as its header.
    rows: list[int] = []
    for t in tokens:
        if t.type in ("tr_open",):  # type: ignore[attr-defined]
            rows.append(0)
        elif t.type in ("th_open", "td_open"):  # type: ignore[attr-defined]
            rows[-1] += 1
    assert rows and all(r >= 2 for r in rows)


def test_runbook_is_valid_markdown(relative_cwd: object) -> None:
    parsed = load_plan("plans/rental_inspector.plan")
    plan = parsed.plan
    assert plan is not None
    alerts = len(plan.input_alerts) + len(plan.output_alerts) + len(plan.outcome_monitors)
    _check_markdown(render_runbook(parsed), 3 + alerts + len(plan.playbooks))


def test_report_is_valid_markdown(demo_results: Results) -> None:
    text = render_report(demo_results)
    explained = sum(e["evidence"] is not None for e in report_view(demo_results)["fired"])
    # one per firing episode with evidence, and the per-segment firing table
    _check_markdown(text, 6 + explained)
    assert "## Firing now" in text and "could first be known" in text


FORMS = {
    "mean(x) shift > 2 sd": "the 7-day mean of `x` is more than 2 standard deviations of the "
    "training baseline away from the baseline mean",
    "mean(x) shift up >= 1 sd": "the 7-day mean of `x` is at least 1 standard deviation of the "
    "training baseline above the baseline mean",
    "quantile(x, 0.9) shift down > 1.5 sd": "the 7-day 90th percentile of `x` is more than 1.5 "
    "standard deviations of the training baseline below the baseline quantile",
    "std(x) change > 50%": "the 7-day standard deviation of `x` has changed by more than 50% "
    "relative to the baseline's",
    "count change down > 50%": "the number of rows in the 7-day window has fallen by more than "
    "50% relative to the baseline's rows per window",
    "rate(p < 0.5) change up > 25%": "the 7-day share of predictions with `p` < 0.5 has risen by "
    "more than 25% relative to the baseline's",
    'share(c == "a") <= 10%': 'the 7-day share of rows with `c` = "a" is at most 10%',
    "share(f == true) < 0.3": "the 7-day share of rows with `f` = true is below 0.3",
    "psi(x) between 0.1 and 0.2": "the 7-day population stability index of `x` against the "
    "baseline is between 0.1 and 0.2",
    "js(x) not between 0 and 0.1": "the 7-day Jensen-Shannon distance of `x` against the "
    "baseline is outside 0 to 0.1",
    "ks(x) > 0.1 and ks(x).pvalue < 0.01": "both the 7-day Kolmogorov-Smirnov distance of `x` "
    "against the baseline is above 0.1 and the 7-day p-value of the Kolmogorov-Smirnov test of "
    "`x` against the baseline is below 0.01",
    "chi2(c) > 30 or missing_rate(c) > 5%": "the 7-day chi-squared statistic of `c` against the "
    "baseline is above 30 or the 7-day share of missing values of `c` is above 5%",
    "(psi(x) > 1 or js(x) > 0.5) and count > 10": "both (the 7-day population stability index of "
    "`x` against the baseline is above 1 or the 7-day Jensen-Shannon distance of `x` against the "
    "baseline is above 0.5) and the number of rows in the 7-day window is above 10",
    "precision < 0.8": "the 7-day precision is below 0.8",
    "share_within(10%) < 80%": "the 7-day share of predictions within 10% of the outcome is "
    "below 80%",
}


@pytest.mark.parametrize("text", FORMS)
def test_plain_english_of_condition_forms(text: str) -> None:
    assert describe(parse_condition(text)[0], Duration(value=7, unit="d")) == FORMS[text]


@pytest.mark.parametrize("stat", sorted(STATS))
def test_plain_english_of_every_statistic(stat: str) -> None:
    forms = {"column": "{}(col_name) > 0", "quantile": "{}(col_name, 0.5) > 0",
             "predicate": "{}(col_name >= 0.5) > 0", "within": "{}(10%) > 0", "none": "{} > 0"}
    cond = parse_condition(forms[STATS[stat].args].format(stat))[0]
    text = measure(cond.measure)  # type: ignore[union-attr]
    assert text.startswith("the ") and "{" not in text and "None" not in text
    if STATS[stat].args != "none" and STATS[stat].args != "within":
        assert "`col_name`" in text
    assert STATS[stat].phrase.split()[0] in text or stat in ("quantile", "rate", "share",
                                                              "count", "missing_rate")


def test_events_annotate_and_heighten_only_after_the_date(tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    base = frame(rng, 6000, 30, start=T0 - 40 * DAY)
    cur = frame(rng, 6000, 28)
    week = (cur["ts"].astype(np.int64) - T0) // (7 * DAY)
    # Shifts in baseline SDs per week: the alert fires above 0.6, its heightened copy above 0.45.
    cur["x"] = cur["x"] + np.choose(week, [0.8, 0.52, 0.0, 0.8])
    extra = {
        "playbooks": [{"id": "pb", "title": "T", "kind": "investigate", "owner": "o",
                       "response_time": "1d", "steps": ["Look"]}],
        "drift_risks": [{"id": "law", "title": "A law", "kind": "concept", "affects": ["x"],
                         "caught_by": ["shift"], "playbook": "pb",
                         "heighten": {"period": "14d", "tighten": 0.25}}]}
    plan = plan_with({"shift": "mean(x) shift > 0.6 sd"}, extra=extra)
    events = tmp_path / "events.json"
    events.write_text(json.dumps([{"risk": "law", "date": "2026-01-19"}]))
    from planspec.data import read_events

    program = compile_plan(plan, events=read_events(str(events), ["law"]))
    results = program.run(cur, base, as_of=day_end(cur))
    checks = {c.id: c for c in results.checks}
    plain, heightened = checks["shift"], checks["shift@law"]
    assert [w.status for w in plain.windows] == ["fail", "ok", "ok", "fail"]
    # Firing before the event is not put down to it; firing after it is.
    assert [w.risks for w in plain.windows] == [None, None, None, ["law"]]
    # The heightened copy (threshold 0.45 sd) runs only from 2026-01-19, for 14 days: week 2's
    # 0.52 SD, before the date, is not judged by it.
    assert heightened.active_from == "2026-01-19T00:00:00Z"
    assert [w.start[:10] for w in heightened.windows] == ["2026-01-19", "2026-01-26"]
    assert [w.status for w in heightened.windows] == ["ok", "fail"]
    assert heightened.windows[1].risks == ["law"]
    # Without the event, no heightened copy and no annotation.
    bare = compile_plan(plan).run(cur, base)
    assert [c.id for c in bare.checks] == ["shift"]


def test_report_and_render_commands(tmp_path: Path, demo_results: Results) -> None:
    results = tmp_path / "results.json"
    results.write_text(demo_results.model_dump_json())
    out = tmp_path / "report.md"
    assert main(["report", str(results), "-o", str(out)], io.StringIO()) == 0
    assert out.read_text().startswith("# Monitoring report")
    book = tmp_path / "runbook.md"
    assert main(["render", str(ROOT / "plans" / "rental_inspector.yaml"), "-o", str(book)],
                io.StringIO()) == 0
    assert book.read_text().startswith("# Runbook: `rental_fmv_inspector`")
    bad = tmp_path / "bad.json"
    bad.write_text('{"plan": 1}')
    assert main(["report", str(bad)], io.StringIO()) == 2


def test_bad_events_file_is_a_data_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                         ) -> None:
    events = tmp_path / "events.csv"
    events.write_text("risk,date\nrent_stabilisation_law,2026-07-01\n")
    code = main(["check", str(ROOT / "plans" / "rental_inspector.yaml"), "--baseline",
                 str(tmp_path / "b.parquet"), "--data", str(tmp_path / "d.parquet"),
                 "--events", str(events)], io.StringIO())
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error[PS409]") and "rent_stabilization_law" in err


def test_date_helper_is_utc() -> None:
    assert datetime.datetime.fromtimestamp(T0, datetime.UTC).weekday() == 0
