"""Segments (`by: COLUMN`): each segment judged as if its rows were checked alone, in one pass;
unseen segments, the segment cap, the correction across segments, batches and the store; the
demo's segment-only drift."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from planspec.compile import compile_plan
from planspec.demo import write_demo_data
from planspec.engine.run import run_program, run_store
from planspec.load import load_plan
from planspec.profile import build_profile, load_profile
from planspec.render import render_runbook

from .enginekit import DAY, T0, frame, plan_with

ROOT = Path(__file__).resolve().parent.parent

SEGMENTED = {"shift": "mean(x) shift > 0.5 sd", "missing": "missing_rate(x) > 20%",
             "rate": "rate(p >= 0.5) change > 30%", "volume": "count change > 40%",
             "mean": "mean(x) > 0.3"}


def _plain(**kw: Any) -> Any:
    """The plan of every SEGMENTED alert (the rate watches a prediction: an output alert)."""
    return plan_with({k: v for k, v in SEGMENTED.items() if k != "rate"},
                     {"rate": SEGMENTED["rate"]}, **kw)


def _by(plan: Any, by: str | None = "c", **defaults: object) -> Any:
    data = plan.model_dump(by_alias=True, mode="json")
    for a in data["input_alerts"] + data["output_alerts"]:
        a["by"] = by
    data["defaults"].update(defaults)
    return type(plan).model_validate(data)


def _data(seed: int = 5) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    base = frame(rng, 6000, 28, start=T0 - 35 * DAY, missing=0.05, categories=3)
    cur = frame(rng, 6000, 28, missing=0.05, categories=3)
    k1 = cur["c"] == "k1"  # one segment moves: mean, missing values and predictions
    cur["x"][k1] += 0.8
    cur["p"][k1] = np.minimum(cur["p"][k1] * 1.6, 1.0)
    return base, cur


def _only(data: dict[str, np.ndarray], value: str | None) -> dict[str, np.ndarray]:
    keep = np.array([v == value for v in data["c"]]) if value is not None else \
        np.array([v is None for v in data["c"]])
    return {k: v[keep] for k, v in data.items()}


def test_segmented_results_equal_checking_each_segment_alone() -> None:
    base, cur = _data()
    plain = _plain(min_samples=100)
    program = compile_plan(_by(plain))
    results = program.run(cur, build_profile(program, base))
    by_id = {c.id: c for c in results.checks}
    alone = compile_plan(plain)
    for value, label in (("k0", "k0"), ("k1", "k1"), ("k2", "k2"), (None, "(missing)")):
        separate = alone.run(_only(cur, value), build_profile(alone, _only(base, value)))
        for c in separate.checks:
            seg = by_id[f"{c.id}[c={label}]"]
            assert (seg.by, seg.segment, seg.segment_baseline) == ("c", label, "segment")
            assert [w.start for w in seg.windows] == [w.start for w in c.windows]
            assert [w.status for w in seg.windows] == [w.status for w in c.windows], c.id
            assert [w.n for w in seg.windows] == [w.n for w in c.windows]
            for a, b in zip(seg.windows, c.windows, strict=True):
                assert (a.value is None) == (b.value is None)
                if a.value is not None and b.value is not None:
                    assert a.value == pytest.approx(b.value, rel=1e-12, abs=1e-12), c.id
    statuses = {c.id: {w.status for w in c.windows} for c in results.checks}
    assert "fail" in statuses["shift[c=k1]"] and "fail" not in statuses["shift[c=k0]"]
    assert results.segments is not None
    assert {(s.alert, s.tested, s.dropped) for s in results.segments} == {
        (a, 4, 0) for a in SEGMENTED}


def test_batches_and_tables_give_the_same_segments() -> None:
    base, cur = _data(6)
    program = compile_plan(_by(_plain()))
    profile = build_profile(program, base)
    whole = run_program(program, cur, profile)
    batched = run_program(program, cur, profile, batch_rows=777)
    assert [(c.id, [(w.status, w.n) for w in c.windows]) for c in whole.checks] == \
        [(c.id, [(w.status, w.n) for w in c.windows]) for c in batched.checks]
    for a, b in zip(whole.checks, batched.checks, strict=True):
        for x, y in zip(a.windows, b.windows, strict=True):
            assert (x.value is None and y.value is None) or x.value == pytest.approx(y.value)


def test_segments_through_the_store_in_two_increments_equal_one_run(tmp_path: Path) -> None:
    """Segmented sums are stored with the others: two nightly runs, each reading half of the
    days (the second with a day that overlaps the first), judge like one run over both."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    base, cur = _data(11)
    program = compile_plan(_by(_plain(correction="bh")))
    profile = build_profile(program, base)
    day = cur["ts"].astype(np.int64) // DAY
    cut = int(np.median(day))
    halves = [day < cut, day >= cut - 1]  # the day before the cut is in both halves...
    halves[1] &= ~((day == cut - 1) & (np.arange(day.size) % 2 == 0))  # ...half of its rows
    halves[0] &= ~((day == cut - 1) & (np.arange(day.size) % 2 == 1))
    paths = []
    for i, keep in enumerate(halves):
        path = tmp_path / f"part{i}.parquet"
        pq.write_table(pa.table({k: v[keep] for k, v in cur.items()}), path)
        paths.append(str(path))
    store = tmp_path / "sums"
    run_store(program, [paths[0]], profile, store)
    stored, report = run_store(program, [paths[1]], profile, store)
    assert report.late_buckets  # the shared day's buckets merged
    whole = run_program(program, cur, profile)
    assert stored.segments == whole.segments
    assert [c.id for c in stored.checks] == [c.id for c in whole.checks]
    assert any(c.segment for c in stored.checks)
    for a, b in zip(stored.checks, whole.checks, strict=True):
        assert [(w.start, w.status, w.n, w.firing) for w in a.windows] == \
            [(w.start, w.status, w.n, w.firing) for w in b.windows], a.id
        for x, y in zip(a.windows, b.windows, strict=True):
            assert (x.value is None) == (y.value is None)
            if x.value is not None and y.value is not None:
                assert x.value == pytest.approx(y.value, rel=1e-12, abs=1e-12), a.id
    assert [f.id for f in stored.firing] == [f.id for f in whole.firing]


@pytest.mark.parametrize(("policy", "expected"), [
    ("insufficient_data", ({"insufficient_data", "partial"}, "none", 2)),
    ("overall", ({"ok", "fail", "partial"}, "overall", 3))])
def test_a_segment_the_baseline_never_saw(policy: str, expected: tuple[Any, ...]) -> None:
    rng = np.random.default_rng(7)
    base = frame(rng, 4000, 28, start=T0 - 35 * DAY, categories=2)
    cur = frame(rng, 4000, 14, categories=3)  # k2 is new
    cur["x"][cur["c"] == "k2"] += 2.0
    program = compile_plan(_by(plan_with({"m": "mean(x) shift > 1 sd"}),
                               unseen_segments=policy))
    results = program.run(cur, build_profile(program, base))
    new = next(c for c in results.checks if c.id == "m[c=k2]")
    statuses, baseline, tested = expected
    assert {w.status for w in new.windows} <= statuses and new.segment_baseline == baseline
    assert results.segments is not None and results.segments[0].unseen == ["k2"]
    assert results.segments[0].tested == tested


def test_the_segment_cap_keeps_the_largest() -> None:
    rng = np.random.default_rng(8)
    base = frame(rng, 4000, 28, start=T0 - 35 * DAY, categories=4)
    cur = frame(rng, 4000, 14, categories=4)
    cur["c"][np.isin(cur["c"], ["k3"]) & (rng.random(cur["c"].size) < 0.7)] = "k0"
    program = compile_plan(_by(plan_with({"m": "mean(x) shift > 1 sd"}), max_segments=2))
    results = program.run(cur, build_profile(program, base))
    counts = {v: int((cur["c"] == v).sum()) for v in ("k0", "k1", "k2", "k3")}
    top = sorted(counts, key=lambda v: (-counts[v], v))[:2]
    assert sorted(c.segment for c in results.checks) == sorted(top)  # type: ignore[type-var]
    assert results.segments is not None and results.segments[0].dropped == 2


def test_the_correction_covers_every_segment() -> None:
    rng = np.random.default_rng(9)
    base = frame(rng, 3000, 28, start=T0 - 35 * DAY, categories=3)
    cur = frame(rng, 3000, 14, categories=3)
    plain = plan_with({"k": "ks(x).pvalue < 0.05"})
    raw = compile_plan(_by(plain))
    profile = build_profile(raw, base)
    none = {c.id: c for c in raw.run(cur, profile).checks}
    bonf = compile_plan(_by(plain, correction="bonferroni"))
    adjusted = {c.id: c for c in bonf.run(cur, profile).checks}
    assert set(none) == set(adjusted) == {"k[c=k0]", "k[c=k1]", "k[c=k2]"}
    for cid, c in none.items():
        for w, a in zip(c.windows, adjusted[cid].windows, strict=True):
            assert w.value is not None and a.value is not None
            assert a.value == pytest.approx(min(1.0, w.value * 3))  # 3 segments, one test each


def test_profile_with_segments_round_trips_through_json() -> None:
    base, _ = _data()
    program = compile_plan(_by(_plain()))
    profile = build_profile(program, base)
    assert set(profile.segments["c"]) == {"k0", "k1", "k2", "(missing)"}
    assert sum(p.rows for p in profile.segments["c"].values()) == profile.rows
    assert load_profile(profile.model_dump_json(), "b.json") == profile


def test_runbook_says_what_an_alert_is_split_by() -> None:
    parsed = load_plan(ROOT / "plans" / "rental_inspector.plan")
    text = render_runbook(parsed)
    part = text[text.index("### `source_sqft_change`"):]
    part = part[:part.index("\n### ")]
    assert "per `listing_source`" in part and "| split by | `listing_source`" in part


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("segdemo")
    paths = write_demo_data(d, rows=120_000)
    return {"paths": paths, "injected": json.loads(paths["injected"].read_text())}


def test_demo_segment_drift_fires_only_for_its_segment(demo: dict[str, Any]) -> None:
    event = next(e for e in demo["injected"] if e["id"] == "aggregator_gross_area")
    parsed = load_plan(ROOT / "plans" / "rental_inspector.yaml")
    assert parsed.plan is not None
    alert = next(a for a in parsed.plan.input_alerts if a.id == "source_sqft_change")
    assert alert.by == "listing_source"
    data = parsed.plan.model_dump(by_alias=True, mode="json")
    data["input_alerts"] = [{**a, "by": None} if a["id"] == alert.id else a
                            for a in data["input_alerts"]]
    data["input_alerts"].append({**next(a for a in data["input_alerts"] if a["id"] == alert.id),
                                 "id": "source_sqft_change_segmented", "by": "listing_source"})
    plan = type(parsed.plan).model_validate(data)
    program = compile_plan(plan)
    results = program.run(str(demo["paths"]["scored"]), str(demo["paths"]["baseline"]))
    inside = [c for c in results.checks if c.id.startswith("source_sqft_change")]
    start, end = event["start"] + "T00:00:00Z", event["end"] + "T00:00:00Z"

    def fails(cid: str) -> list[str]:
        c = next(x for x in inside if x.id == cid)
        return [w.start for w in c.windows if w.status == "fail"]

    seg = "source_sqft_change_segmented[listing_source=aggregator]"
    assert fails(seg) and all(start <= s < end for s in fails(seg))
    assert fails("source_sqft_change") == []  # diluted across all feeds: never fires
    for other in ("broker_portal", "owner_site"):
        assert fails(f"source_sqft_change_segmented[listing_source={other}]") == []
    firing = [f.id for f in results.firing]
    assert "source_sqft_change" not in firing


def test_text_and_report_name_firing_segments_worst_first() -> None:
    from planspec.render import render_report, render_results_text

    base, cur = _data()
    cur["x"][cur["c"] == "k2"] += 1.6  # k2 moves twice as far as k1
    program = compile_plan(_by(plan_with({"shift": "mean(x) shift > 0.5 sd"})))
    results = program.run(cur, build_profile(program, base))
    assert {f.id for f in results.firing} == {"shift[c=k1]", "shift[c=k2]"}
    text = render_results_text(results)
    assert "shift by c: 4 segments tested; 2 firing" in text
    assert text.index("c=k2:") < text.index("c=k1:")
    # Notifications: each firing segment is its own episode, told worst first, named.
    import datetime

    from planspec.notify import State, alertmanager_payload, event_payload, parse_target, pending

    now = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    ttl = datetime.timedelta(hours=1)
    events = pending(results, parse_target("webhook:http://127.0.0.1:9/h"), State(), now, ttl)
    assert [e.check_id for e in events] == ["shift[c=k2]", "shift[c=k1]"]
    body = event_payload(results, events[0], None)
    assert (body["alert"], body["by"], body["segment"]) == ("shift[c=k2]", "c", "k2")
    labels = alertmanager_payload(results, events[0], None, now, ttl)[0]["labels"]
    assert labels["segment"] == "c=k2"
    from planspec.report_html import render_html

    page = render_html(results)
    html = page[page.index('<section id="segments">'):page.index('<section id="checks">')]
    assert "4 segments tested; 2 firing" in html
    assert html.index('href="#check-shift[c=k2]"') < html.index('href="#check-shift[c=k1]"')
    assert 'id="check-shift[c=k2]"' in page
    report = render_report(results)
    part = report[report.index("### `shift` per `c`"):]
    assert "4 segments tested; 2 firing." in part
    assert part.index("| `k2` | **fail**") < part.index("| `k1` | **fail**")


# ---------------------------------------------------------------------------- row filters


FILTERS = ['c == "k1"', 'c in ["k0", "k2"] and x > -0.5', 'c is missing or x <= 0',
           'c != "k0" and x is not missing', 'c not in ["k1"]']


def _hand(data: dict[str, np.ndarray], text: str) -> dict[str, np.ndarray]:
    """The rows a filter keeps, computed by hand in Python (None and NaN are missing)."""
    from planspec._expr import parse_filter
    from planspec.model import RowAll, RowAny, RowTest

    def keep(f: Any, i: int) -> bool:
        if isinstance(f, RowAll):
            return all(keep(t, i) for t in f.terms)
        if isinstance(f, RowAny):
            return any(keep(t, i) for t in f.terms)
        assert isinstance(f, RowTest)
        v = data[f.column][i]
        missing = v is None or (isinstance(v, float) and np.isnan(v))
        if f.op == "is missing":
            return missing
        if f.op == "is not missing":
            return not missing
        if missing:
            return False
        if f.op == "in":
            return v in f.values
        if f.op == "not in":
            return v not in f.values
        w = f.values[0]
        return {"==": v == w, "!=": v != w, ">": v > w, ">=": v >= w, "<": v < w,
                "<=": v <= w}[f.op]

    mask = np.array([keep(parse_filter(text)[0], i) for i in range(data["x"].size)])
    return {k: v[mask] for k, v in data.items()}


def _where(plan: Any, text: str, by: Any = None) -> Any:
    data = plan.model_dump(by_alias=True, mode="json")
    for a in data["input_alerts"] + data["output_alerts"]:
        a["where"] = text
        a["by"] = by
    return type(plan).model_validate(data)


@pytest.mark.parametrize("text", FILTERS)
def test_a_filter_equals_filtering_by_hand(text: str) -> None:
    base, cur = _data(12)
    plain = _plain(min_samples=50, correction="bonferroni")
    program = compile_plan(_where(plain, text))
    results = program.run(cur, build_profile(program, base))
    alone = compile_plan(plain)
    hand = alone.run(_hand(cur, text), build_profile(alone, _hand(base, text)))
    assert [c.id for c in results.checks] == [c.id for c in hand.checks]
    for a, b in zip(results.checks, hand.checks, strict=True):
        assert [(w.start, w.status, w.n) for w in a.windows] == \
            [(w.start, w.status, w.n) for w in b.windows], a.id
        for x, y in zip(a.windows, b.windows, strict=True):
            assert (x.value is None) == (y.value is None)
            if x.value is not None and y.value is not None:
                assert x.value == pytest.approx(y.value, rel=1e-12, abs=1e-12), a.id


def test_by_a_list_of_columns_equals_each_combination_alone() -> None:
    base, cur = _data(13)
    rng = np.random.default_rng(0)
    for d in (base, cur):
        d["p"] = np.round(d["p"])  # a second categorical column below: `g`
        d["g"] = np.where(rng.random(d["x"].size) < 0.5, "u", "v").astype(object)
    plain = plan_with({"shift": "mean(x) shift > 0.5 sd", "miss": "missing_rate(x) > 20%"},
                      features={"x": {"type": "numeric"}, "c": {"type": "categorical"},
                                "g": {"type": "categorical"}}, min_samples=30)
    program = compile_plan(_where(plain, "x is not missing or c is missing", ["c", "g"]))
    results = program.run(cur, build_profile(program, base))
    by_id = {c.id: c for c in results.checks}
    alone = compile_plan(plain)
    for c_value in ("k0", "k1"):
        for g_value in ("u", "v"):
            def only(d: dict[str, np.ndarray], c_value: str = c_value,
                     g_value: str = g_value) -> dict[str, np.ndarray]:
                d = _hand(d, "x is not missing or c is missing")
                keep = (d["c"] == c_value) & (d["g"] == g_value)
                return {k: v[keep] for k, v in d.items()}
            separate = alone.run(only(cur), build_profile(alone, only(base)))
            for c in separate.checks:
                seg = by_id[f"{c.id}[c={c_value},g={g_value}]"]
                assert (seg.by, seg.segment) == ("c,g", f"{c_value}, {g_value}")
                assert [(w.status, w.n) for w in seg.windows] == \
                    [(w.status, w.n) for w in c.windows]
                for a, b in zip(seg.windows, c.windows, strict=True):
                    assert (a.value is None) == (b.value is None)
                    if a.value is not None and b.value is not None:
                        assert a.value == pytest.approx(b.value, rel=1e-12, abs=1e-12)
    assert results.segments is not None and results.segments[0].by == "c,g"
    assert results.segments[0].tested == 8  # 3 values of c and a missing one, times 2 of g


PLAN_WITH_FILTER = ROOT / "plans" / "rental_inspector.plan"


@pytest.mark.parametrize("text", [*FILTERS, '`in` == true', 'x >= 1e-05 or x < -2'])
def test_filters_round_trip_through_both_surfaces(text: str) -> None:
    from planspec.format import format_plan, format_yaml
    from planspec.parse import parse_plan
    from planspec.parse_yaml import parse_yaml

    plan = _where(plan_with({"m": "mean(x) shift > 1 sd"}), text, ["c"])
    as_plan = format_plan(plan)
    assert "where " in as_plan and "by [c]" in as_plan
    again = parse_plan(as_plan, "x.plan")
    assert again.plan == plan and format_plan(again.plan) == as_plan
    as_yaml = format_yaml(plan)
    back = parse_yaml(as_yaml, "x.yaml")
    assert back.plan == plan and format_yaml(back.plan) == as_yaml


def test_valid_filters_and_segments_raise_nothing() -> None:
    from planspec.check import check_plan

    plan = _where(plan_with({"m": "mean(x) shift > 1 sd"}, features={
        "x": {"type": "numeric"}, "c": {"type": "categorical"}, "b": {"type": "boolean"}}),
        'c in ["k0", "k1"] and (x > 0 or x is missing) and b == true', ["c", "b"])
    assert [d.code for d in check_plan(plan) if d.code >= "PS380"] == []


@pytest.mark.parametrize(("text", "code"), [
    ('cc == "k1"', "PS382"), ("c == 3", "PS383"), ('x == "3"', "PS383"),
    ("c in [1, 2]", "PS383"), ('c > "k1"', "PS384")])
def test_bad_filters_are_located(text: str, code: str, tmp_path: Path) -> None:
    from planspec.format import format_yaml

    yaml_text = format_yaml(plan_with({"m": "mean(x) shift > 1 sd"})).replace(
        "    when: mean(x) shift > 1 sd\n",
        f"    when: mean(x) shift > 1 sd\n    where: '{text}'\n")
    (tmp_path / "x.yaml").write_text(yaml_text)
    found = [d for d in load_plan(tmp_path / "x.yaml").diagnostics if d.code != "PS312"]
    assert [d.code for d in found] == [code]
    line = yaml_text.splitlines().index(f"    where: '{text}'") + 1
    assert found[0].span is not None and found[0].span.line == line
    if code == "PS382":
        assert found[0].span.col == len("    where: '") + 1 and "`c`" in (found[0].hint or "")


def test_outcome_monitors_by_segment_and_filter_equal_each_segment_alone() -> None:
    """A monitor with `by` (and `where`) is judged per segment of the scored rows: each as the
    same monitor over that segment's rows alone."""
    from .test_outcomes import dataset, monitors

    rng = np.random.default_rng(21)
    scored, outcomes = dataset(rng, 6000, 0.6, False)
    scored["c"] = np.where(rng.random(6000) < 0.4, "a", "b").astype(object)
    plain = [{**m, "when": m["when"].replace("> 1e9", "< 0.5")}  # precision, recall, f1, accuracy
             for m in monitors(False, min_labels=5)[:4]]
    split = [{**m, "by": "c", "where": "x > -1"} for m in plain]
    program = compile_plan(plan_with({"m": "mean(x) > 1e9"}, extra={"outcome_monitors": split}))
    as_of = T0 + 60 * DAY
    results = program.run(scored, scored, outcomes={"cls": outcomes}, as_of=as_of)
    by_id = {c.id: c for c in results.checks}
    alone = compile_plan(plan_with({"m": "mean(x) > 1e9"}, extra={"outcome_monitors": plain}))
    for value in ("a", "b"):
        keep = (scored["c"] == value) & (scored["x"] > -1)
        rows = {k: v[keep] for k, v in scored.items()}
        separate = alone.run(rows, scored, outcomes={"cls": outcomes}, as_of=as_of)
        for c in separate.checks:
            if c.kind != "outcome":
                continue
            seg = by_id[f"{c.id}[c={value}]"]
            assert (seg.by, seg.segment) == ("c", value)
            assert [(w.start, w.status, w.n, w.value) for w in seg.windows] == \
                [(w.start, w.status, w.n, w.value) for w in c.windows], c.id
    assert any(w.value is not None for w in by_id["m0[c=a]"].windows)



def test_demo_district_recall_is_judged_per_district(demo: dict[str, Any]) -> None:
    """The worked example's per-`neighborhood` monitor: one result per district, each window
    judged only with at least `min_labels` labels (else insufficient_data), intervals at the
    Bonferroni level for the districts judged, and nothing firing on the demo's districts."""
    outcomes = demo["paths"]["lease_registry"]
    program = compile_plan(load_plan(ROOT / "plans" / "rental_inspector.yaml"))
    results = program.run(str(demo["paths"]["scored"]), str(demo["paths"]["baseline"]),
                          outcomes={"lease_registry": str(outcomes)})
    split = [c for c in results.checks if c.id.startswith("district_recall[")]
    assert sorted(c.segment for c in split) == [f"D{i:02d}" for i in range(1, 21)]  # type: ignore[type-var]
    assert [c.interval_level for c in split] == [pytest.approx(1 - 0.05 / 20)] * 20
    summary = next(s for s in results.segments or [] if s.alert == "district_recall")
    assert (summary.by, summary.tested, summary.dropped) == ("neighborhood", 20, 0)
    statuses = [w.status for c in split for w in c.windows]
    assert "insufficient_data" in statuses and "ok" in statuses and "fail" not in statuses
    for c in split:
        for w in c.windows:
            if w.status in ("ok", "warn"):
                assert w.labels is not None and w.labels >= 200
            if w.status == "insufficient_data":
                assert (w.effective_n or 0) < 200
    assert not any(f.id.startswith("district_recall") for f in results.firing)
