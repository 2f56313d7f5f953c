"""Evidence: each bin's term of PSI, JS and chi-squared against hand computations and scipy (the
terms sum to the statistic), the top bins, bin labels, and the evidence a run records."""

from __future__ import annotations

import datetime
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from planspec.cli import main
from planspec.compile import compile_plan
from planspec.demo import write_demo_data
from planspec.engine.evidence import (
    UNSEEN,
    category_labels,
    chi2_terms,
    decile_labels,
    distance_evidence,
    js_terms,
    moved_evidence,
    psi_terms,
    quantity_name,
    shares,
    top_bins,
    value_evidence,
)
from planspec.engine.windows import chi2, psi_js
from planspec.load import load_plan
from planspec.render import episodes, render_report
from planspec.report_html import render_html
from planspec.results import CheckResult, Evidence, Results, Thresholds, WindowResult
from planspec.thresholds import check_thresholds, evidence_window

from .enginekit import DAY, T0, frame, plan_with, window_rows

ROOT = Path(__file__).resolve().parents[1]


def _counts(rng: np.random.Generator, windows: int, bins: int, zeros: bool = True
            ) -> tuple[np.ndarray, np.ndarray]:
    w = rng.integers(0, 400, (windows, bins)).astype(float)
    base = rng.integers(1, 4000, bins).astype(float)
    if zeros:  # bins empty in the window, in the baseline, and in both
        w[:, 0] = 0
        base[1] = 0
        w[:, 2] = 0
        base[2] = 0
        w[0, 3] = 0
    return w, base


@pytest.mark.parametrize("seed", range(5))
def test_psi_terms_by_hand_and_sum_to_psi(seed: int) -> None:
    rng = np.random.default_rng(seed)
    w, base = _counts(rng, 6, 11)
    terms = psi_terms(w, base)
    for i in range(w.shape[0]):
        total = 0.0
        for j in range(w.shape[1]):
            c = max(w[i, j] / w[i].sum(), 1e-4)
            b = max(base[j] / base.sum(), 1e-4)
            assert terms[i, j] == pytest.approx((c - b) * math.log(c / b), rel=1e-12, abs=1e-15)
            total += (c - b) * math.log(c / b)
        assert terms[i].sum() == pytest.approx(total, rel=1e-12)
    assert (terms >= 0).all()
    np.testing.assert_allclose(terms.sum(axis=1), psi_js(w, base, "psi").value, rtol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_js_terms_sum_to_scipy_distance(seed: int) -> None:
    rng = np.random.default_rng(seed)
    w, base = _counts(rng, 6, 11)
    terms = js_terms(w, base)
    assert (terms >= 0).all()
    for i in range(w.shape[0]):
        p, b = w[i] / w[i].sum(), base / base.sum()
        distance = jensenshannon(p, b, base=2)
        assert terms[i].sum() == pytest.approx(distance, rel=1e-10)
        # Each bin's part is its share of the divergence, by hand.
        div = []
        for pj, bj in zip(p, b, strict=True):
            mj = (pj + bj) / 2
            d = (pj * math.log(pj / mj) if pj > 0 else 0.0) + (bj * math.log(bj / mj) if bj > 0
                                                                 else 0.0)
            div.append(d / 2)
        np.testing.assert_allclose(terms[i], np.array(div) / sum(div) * distance, rtol=1e-10,
                                   atol=1e-15)
    np.testing.assert_allclose(terms.sum(axis=1), psi_js(w, base, "js").value, rtol=1e-10)


def test_js_terms_of_identical_distributions_are_zero() -> None:
    base = np.array([10.0, 20.0, 0.0])
    assert js_terms(np.array([[1.0, 2.0, 0.0]]), base).tolist() == [[0.0, 0.0, 0.0]]


@pytest.mark.parametrize("seed", range(5))
def test_chi2_terms_are_scipy_cells(seed: int) -> None:
    rng = np.random.default_rng(seed)
    w, base = _counts(rng, 6, 9)
    terms = chi2_terms(w, base)
    for i in range(w.shape[0]):
        used = (w[i] + base) > 0
        table = np.stack([base[used], w[i][used]])
        stat, _p, _dof, expected = sps.chi2_contingency(table, correction=False)
        cells = ((table - expected) ** 2 / expected).sum(axis=0)
        np.testing.assert_allclose(terms[i][used], cells, rtol=1e-10)
        assert (terms[i][~used] == 0).all()
        assert terms[i].sum() == pytest.approx(stat, rel=1e-10)
    np.testing.assert_allclose(terms.sum(axis=1), chi2(w, base).value, rtol=1e-12)


def test_shares_of_empty_rows_are_nan() -> None:
    out = shares(np.array([[0.0, 0.0], [2.0, 6.0]]))
    assert np.isnan(out[0]).all() and out[1].tolist() == [0.25, 0.75]


@pytest.mark.parametrize("seed", range(5))
def test_top_bins_are_the_largest_terms(seed: int) -> None:
    rng = np.random.default_rng(seed)
    terms = np.round(rng.random((8, 12)), 1)  # rounding makes ties
    used = rng.random((8, 12)) < 0.7
    top = top_bins(terms, used, 5)
    for i in range(8):
        expected = sorted((j for j in range(12) if used[i, j]), key=lambda j: (-terms[i, j], j))
        got = [j for j in top[i].tolist() if j >= 0]
        assert got == expected[:5]
        assert (top[i][len(got):] == -1).all()


def test_decile_labels_name_the_bins_values_fall_in() -> None:
    rng = np.random.default_rng(3)
    edges = np.unique(np.round(rng.normal(1000, 300, 9), 2))
    labels = decile_labels(edges.tolist())
    assert len(labels) == edges.size + 1
    assert labels[0].startswith("(-∞, ") and labels[-1].endswith(", ∞)")
    x = np.concatenate([edges, rng.normal(1000, 400, 500)])
    bins = np.searchsorted(edges, x, side="left")  # as the engine bins them
    for v, j in zip(x.tolist(), bins.tolist(), strict=True):
        lo, hi = labels[j][1:-1].split(", ")
        assert (lo == "-∞" or v > float(lo)) and (hi == "∞" or v <= float(hi))


def test_decile_labels_keep_close_edges_apart() -> None:
    labels = decile_labels([1.0000001, 1.0000002])
    assert len(set(labels)) == 3


def test_category_labels_end_with_the_unseen_bin() -> None:
    assert category_labels(["a"]) == ["a", UNSEEN]


@pytest.mark.parametrize("stat", ["psi", "js", "chi2"])
def test_distance_evidence(stat: str) -> None:
    rng = np.random.default_rng(7)
    w, base = _counts(rng, 5, 7, zeros=False)
    w[3] = 0  # an empty window
    labels = [f"k{i}" for i in range(7)]
    ev = distance_evidence(stat, w[[1, 3, 4]], base, labels)
    assert len(ev) == 3 and ev[1] is None
    value = {"psi": psi_js(w, base, "psi").value, "js": psi_js(w, base, "js").value,
             "chi2": chi2(w, base).value}[stat]
    for e, i in ((ev[0], 1), (ev[2], 4)):
        assert e is not None and e.bins is not None and e.top is not None
        # The whole distribution: shares by hand, terms summing to the window's statistic.
        assert [b.label for b in e.bins] == labels
        np.testing.assert_allclose([b.window for b in e.bins], w[i] / w[i].sum())
        np.testing.assert_allclose([b.baseline for b in e.bins], base / base.sum())
        assert sum(b.contribution or 0 for b in e.bins) == pytest.approx(value[i], rel=1e-10)
        # The top five are the largest of those terms, in order.
        by_size = sorted(e.bins, key=lambda b: -(b.contribution or 0))[:5]
        assert [b.label for b in e.top] == [b.label for b in by_size]


def test_moved_evidence_ranks_bins_by_moved_share() -> None:
    w = np.array([[10.0, 45.0, 45.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    base = np.array([30.0, 30.0, 40.0, 0.0])
    ev = moved_evidence(w, base, ["a", "b", "c", "d"])
    assert ev[1] is None and ev[0] is not None and ev[0].top is not None
    assert [(b.label, b.contribution) for b in ev[0].top] == [("a", None), ("b", None),
                                                              ("c", None)]
    assert ev[0].bins is not None and [b.window for b in ev[0].bins] == [0.1, 0.45, 0.45, 0.0]


def test_value_evidence() -> None:
    ev = value_evidence("mean", 10.0, np.array([12.0, np.nan, 9.0]), 2.0,
                        np.array([2.5, np.nan, np.nan]))
    assert ev[1] is None
    assert ev[0] is not None and (ev[0].baseline, ev[0].window, ev[0].baseline_sd,
                                  ev[0].window_sd) == (10.0, 12.0, 2.0, 2.5)
    assert ev[2] is not None and ev[2].window_sd is None and ev[2].quantity == "mean"


def test_quantity_names() -> None:
    assert quantity_name("count") == "rows"
    assert quantity_name("quantile", 0.9) == "quantile 0.9"
    assert quantity_name("share") == "share"


# ------------------------------------------------------------------------- end to end: the demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("demo")
    paths = write_demo_data(d, rows=150_000)
    parsed = load_plan(ROOT / "plans" / "rental_inspector.plan")
    assert parsed.plan is not None
    program = compile_plan(parsed.plan, parsed.source_map)
    results = program.run(str(paths["scored"]), str(paths["baseline"]), outcomes={
        n: str(paths[n]) for n in ("inspector_audits", "lease_registry")})
    scored = pq.read_table(paths["scored"])
    times = scored.column("scored_at").cast(pa.timestamp("s", "UTC")).cast(pa.int64())
    return {"results": results, "program": program, "paths": paths, "parsed": parsed,
            "times": times.to_numpy(), "scored": scored,
            "baseline": pq.read_table(paths["baseline"])}


def _epoch(iso: str) -> int:
    return int(datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def _in_window(demo: dict[str, Any], column: str, w: WindowResult) -> np.ndarray:
    t = demo["times"]
    keep = (t >= _epoch(w.start)) & (t < _epoch(w.end))
    return np.asarray(demo["scored"].column(column).to_numpy(zero_copy_only=False))[keep]


def _check(results: Results, ident: str) -> CheckResult:
    return next(c for c in results.checks if c.id == ident)


def _between(ws: list[WindowResult], start: str, end: str) -> list[WindowResult]:
    return [w for w in ws if w.start[:10] >= start and w.end[:10] <= end]


def test_demo_price_shift_evidence_names_the_shifted_means(demo: dict[str, Any]) -> None:
    c = _check(demo["results"], "price_mean_shift")
    base = np.asarray(demo["baseline"].column("listing_price").to_numpy(zero_copy_only=False))
    base = base[~np.isnan(base)]
    shifted = _between(c.windows, "2026-03-09", "2026-03-30")
    assert shifted and all(w.status == "fail" for w in shifted)
    for w in c.windows:
        if w.status not in ("ok", "warn", "fail"):
            continue
        e = w.evidence
        assert e is not None and e.quantity == "mean" and e.top is None
        x = _in_window(demo, "listing_price", w)
        x = x[~np.isnan(x)]
        # Baseline and window means and SDs, by numpy on the raw rows.
        assert e.baseline == pytest.approx(base.mean(), rel=1e-9)
        assert e.baseline_sd == pytest.approx(base.std(ddof=1), rel=1e-9)
        assert e.window == pytest.approx(x.mean(), rel=1e-9)
        assert e.window_sd == pytest.approx(x.std(ddof=1), rel=1e-9)
        # And they are what the reported value compares.
        assert w.value == pytest.approx(abs(e.window - e.baseline) / e.baseline_sd, rel=1e-9)
    for w in shifted:  # prices read 1.9× too high
        assert w.evidence is not None and w.evidence.window is not None
        assert 1.7 < w.evidence.window / (w.evidence.baseline or 1) < 2.1


def test_demo_neighborhood_mix_evidence_names_the_injected_districts(
        demo: dict[str, Any]) -> None:
    c = _check(demo["results"], "neighborhood_mix")
    base = demo["baseline"].column("neighborhood").drop_null().to_numpy(zero_copy_only=False)
    cats, counts = np.unique(base, return_counts=True)
    base_share = dict(zip(cats.tolist(), (counts / counts.sum()).tolist(), strict=True))
    mixed = [w for w in _between(c.windows, "2026-05-11", "2026-06-29") if w.status == "fail"]
    assert mixed
    for w in mixed:
        e = w.evidence
        assert e is not None and e.top is not None and e.bins is not None
        assert {b.label for b in e.top[:4]} == {"D01", "D02", "D03", "D04"}
        assert all(b.window > b.baseline for b in e.top[:4])
        # Shares by hand from the raw rows; the JS parts sum to the reported distance.
        x = _in_window(demo, "neighborhood", w)
        x = x[x != None]  # noqa: E711 - object arrays compare element-wise
        for b in e.bins:
            if b.label == UNSEEN:
                assert b.baseline == 0
                continue
            assert b.baseline == pytest.approx(base_share[b.label], rel=1e-12)
            assert b.window == pytest.approx(np.mean(x == b.label), rel=1e-12)
        assert sum(b.contribution or 0 for b in e.bins) == pytest.approx(w.value, rel=1e-9)
    # Quiet windows carry no distribution (it would only weigh down the results).
    quiet = [w for w in c.windows if w.status == "ok" and w.firing is None]
    assert quiet and all(w.evidence is None for w in quiet)


def test_demo_distribution_evidence_for_psi_ks_and_wasserstein(demo: dict[str, Any]) -> None:
    results = demo["results"]
    for ident in ("price_distribution", "score_distribution", "source_mix",
                  "sqft_distribution", "bedrooms_distribution"):
        c = _check(results, ident)
        loud = [w for w in c.windows if w.status in ("warn", "fail")]
        assert loud, ident
        for w in loud:
            e = w.evidence
            assert e is not None and e.bins is not None and e.top is not None, ident
            assert sum(b.window for b in e.bins) == pytest.approx(1.0)
            assert sum(b.baseline for b in e.bins) == pytest.approx(1.0)
            if c.statistic == "psi":
                assert sum(b.contribution or 0 for b in e.bins) == pytest.approx(w.value)
    # The price feed's prices land in the top decile bin: its largest PSI term.
    c = _check(results, "price_distribution")
    for w in _between(c.windows, "2026-03-09", "2026-03-30"):
        assert w.evidence is not None and w.evidence.top is not None
        assert w.evidence.top[0].label.endswith(", ∞)")


def test_demo_rate_and_count_evidence(demo: dict[str, Any]) -> None:
    results = demo["results"]
    c = _check(results, "sqft_missing")
    w = next(w for w in c.windows if w.status == "fail")
    assert w.evidence is not None and w.evidence.quantity == "missing rate"
    x = _in_window(demo, "sqft", w)
    assert w.evidence.window == pytest.approx(np.mean(np.isnan(x)), rel=1e-12)
    assert w.value == w.evidence.window
    c = _check(results, "listing_volume_drop")
    w = next(w for w in c.windows if w.status == "fail")
    assert w.evidence is not None and w.evidence.quantity == "rows"
    assert w.evidence.window == len(_in_window(demo, "sqft", w)) == w.n
    assert w.value == pytest.approx(1 - w.evidence.window / (w.evidence.baseline or 1))
    c = _check(results, "flag_rate_change")
    for w in c.windows:
        if w.evidence is not None:
            assert w.value == pytest.approx(
                abs((w.evidence.window or 0) / (w.evidence.baseline or 1) - 1), rel=1e-9)
    c = _check(results, "days_on_market_change")
    e = next(w.evidence for w in reversed(c.windows) if w.status in ("ok", "warn", "fail"))
    assert e is not None and e.quantity == "quantile 0.5"


def test_demo_thresholds_are_the_compiled_rules(demo: dict[str, Any]) -> None:
    for c in demo["results"].checks:
        if c.kind == "outcome":
            continue
        assert c.thresholds is not None, c.id
        # The same numbers a renderer reads back from the condition text (tightened copies too).
        assert c.thresholds == check_thresholds(c.model_copy(update={"thresholds": None})), c.id
    heightened = _check(demo["results"], "price_mean_shift@rent_stabilization_law")
    assert heightened.thresholds == Thresholds(op=">", fail=[1.5], warn=[1.125])


def test_demo_results_list_the_dated_risks(demo: dict[str, Any]) -> None:
    results, plan = demo["results"], demo["parsed"].plan
    dated = {r.id: r.date.isoformat() for r in plan.drift_risks if r.date is not None}
    assert dated
    assert {r.id: r.date for r in results.risks or []} == dated


def test_demo_markdown_report_explains_every_firing_episode(demo: dict[str, Any]) -> None:
    results = demo["results"]
    text = render_report(results)
    start = text.index("## What fired and when")
    section = text[start:text.index("\n## ", start + 1)]
    items = section.split("\n- ")[1:]
    drift = [(c, e) for c in results.checks if c.kind != "outcome" for e in episodes(c)]
    assert drift
    for c, e in drift:  # every episode of a drift check, with a table of its evidence
        when = f"since {e['from']} (ongoing)" if e["ongoing"] else f"{e['from']} to {e['to']}"
        item = next(i for i in items if i.startswith(f"**{e['level']}** `{c.id}`: {when}"))
        assert "Why: in " in item and "\n  |---|---|" in item, c.id
    assert section.count("Why: in ") == len(drift)
    w = _between(_check(results, "price_mean_shift").windows, "2026-03-23", "2026-03-30")[0]
    assert w.evidence is not None and w.evidence.window is not None
    assert f"| mean | {w.evidence.baseline:,.0f} | {w.evidence.window:,.0f} |" in section
    mix = next(i for i in items if "`neighborhood_mix`" in i)
    assert sorted(line.split("`")[1] for line in mix.splitlines()
                  if line.startswith("  | `"))[:4] == ["D01", "D02", "D03", "D04"]


def test_check_text_shows_evidence_for_firing_alerts(demo: dict[str, Any],
                                                     tmp_path: Path) -> None:
    # The data cut in the middle of the price-feed event: the price alerts fire now.
    scored = demo["scored"]
    cut = scored.filter(pa.array(demo["times"] < _epoch("2026-03-30T00:00:00Z")))
    path = tmp_path / "cut.parquet"
    pq.write_table(cut, path)
    out = io.StringIO()
    main(["check", str(ROOT / "plans" / "rental_inspector.plan"), "--baseline",
          str(demo["paths"]["baseline"]), "--data", str(path), "--format", "text"], out)
    text = out.getvalue()
    now = text[text.index("Firing now:"):]
    block = now[now.index("price_mean_shift"):].splitlines()
    start, to, end, *header = block[1].split()
    assert to == "to" and header == ["baseline", "window"] and "2026-03-09" <= start < end
    assert block[2].split()[0] == "mean" and block[3].split()[0] == "SD"
    results = demo["results"]  # the same window of the whole run
    w = next(w for w in _check(results, "price_mean_shift").windows if w.start[:10] == start)
    assert w.status == "fail"
    assert w.evidence is not None and w.evidence.window is not None
    assert f"{w.evidence.window:,.0f}" in block[2]
    mix = now[now.index("price_distribution"):].splitlines()
    assert mix[1].split()[-3:] == ["baseline", "window", "contribution"]
    assert mix[2].strip().split("  ")[0].endswith(", ∞)")  # the top decile: inflated prices


def test_evidence_window_skips_windows_kept_firing_while_clean() -> None:
    def w(day: int, status: str, ev: bool) -> WindowResult:
        return WindowResult(start=f"2026-01-{day:02d}", end=f"2026-01-{day + 1:02d}", n=1,
                            value=0.0, status=status, firing="fail",  # type: ignore[arg-type]
                            evidence=Evidence(quantity="rate", window=day) if ev else None)

    run = [w(1, "fail", True), w(2, "warn", True), w(3, "ok", True)]
    assert evidence_window(run) is run[1]
    assert evidence_window([run[2]]) is run[2]
    assert evidence_window([w(4, "fail", False)]) is None


def test_demo_html_report_shows_the_episode_evidence(demo: dict[str, Any]) -> None:
    html = render_html(demo["results"])
    article = html[html.index('id="check-neighborhood_mix"'):]
    article = article[:article.index("</article>")]
    table = article[article.index("<th>bin or category</th>"):]
    rows = table.split("<tr>")[1:5]  # the four largest parts
    assert sorted(r.split("<td>")[1].split("<")[0] for r in rows) == ["D01", "D02", "D03",
                                                                       "D04"]


# -------------------------------------------------------- every statistic's evidence, by hand

ALWAYS = {  # thresholds every window crosses, so every window carries its full evidence
    "mean": "mean(x) shift > 0 sd", "std": "std(x) change > 0%",
    "q90": "quantile(x, 0.9) shift > 0 sd", "min": "min(x) change > 0%",
    "missing": "missing_rate(x) >= 0", "oor": "out_of_range_rate(x) >= 0",
    "share": 'share(c == "k1") change > 0%', "count": "count change > 0%",
    "new": "new_category_rate(c) >= 0", "psi": "psi(x) >= 0", "js_c": "js(c) >= 0",
    "chi2_p": "chi2(c).pvalue <= 1", "ks": "ks(x) >= 0", "wass": "wasserstein(x) >= 0",
}


@pytest.mark.parametrize("seed", range(3))
def test_every_statistic_evidence_against_the_raw_rows(seed: int) -> None:
    rng = np.random.default_rng(seed)
    base = frame(rng, 3000, 35, start=T0 - 40 * DAY, missing=0.02)
    cur = frame(rng, 2500, 21, shift=0.4, missing=0.05, unseen=0.05)
    cur["x"][rng.random(cur["x"].size) < 0.03] = 1.5  # out of the declared range
    program = compile_plan(plan_with(ALWAYS, {"rate": "rate(p >= 0.5) change > 0%"}))
    results = program.run(cur, base)
    bx = base["x"][~np.isnan(base["x"])]
    bc = base["c"][base["c"] != None]  # noqa: E711 - object arrays compare element-wise
    edges = np.unique(np.quantile(bx, np.linspace(0.1, 0.9, 9)))
    span = (int(base["ts"].astype(np.int64).max()) // DAY + 1
            - int(base["ts"].astype(np.int64).min()) // DAY) * DAY
    by_id = {c.id: c for c in results.checks}
    assert by_id["rate"].thresholds == Thresholds(op=">", fail=[0.0])
    assert by_id["chi2_p"].thresholds == Thresholds(op="<=", fail=[1.0])
    for ident, c in by_id.items():
        judged = [w for w in c.windows if w.status != "partial"]  # a window not over yet
        assert judged and all(w.evidence is not None for w in judged), ident
        for w in judged:
            e = w.evidence
            assert e is not None
            rows = window_rows(cur, w.start, w.end)
            x, cats = rows["x"], rows["c"]
            wx = x[~np.isnan(x)]
            wc = cats[cats != None]  # noqa: E711
            if ident in ("mean", "std", "q90", "min"):
                ref, ref_base = {
                    "mean": (wx.mean(), bx.mean()), "std": (wx.std(ddof=1), bx.std(ddof=1)),
                    "q90": (np.quantile(wx, 0.9), np.quantile(bx, 0.9)),
                    "min": (wx.min(), bx.min())}[ident]
                assert e.baseline == pytest.approx(ref_base, rel=1e-9)
                assert abs((e.window or 0) - ref) <= (w.bound or 0) + 1e-9 * abs(ref), ident
                if ident in ("mean", "q90"):  # shifts: the SD they are measured in
                    assert e.baseline_sd == pytest.approx(bx.std(ddof=1), rel=1e-9)
                if ident == "mean":
                    assert e.window_sd == pytest.approx(wx.std(ddof=1), rel=1e-9)
            elif ident in ("missing", "oor", "share", "count", "new", "rate"):
                ref, ref_base = {
                    "missing": (np.isnan(x).mean(), np.isnan(base["x"]).mean()),
                    "oor": (np.mean(np.abs(wx) > 1), np.mean(np.abs(bx) > 1)),
                    "share": (np.mean(wc == "k1"), np.mean(bc == "k1")),
                    "count": (x.size, base["x"].size * 7 * DAY / span),
                    "new": (np.isin(cats, ["new1", "new2"]).mean(), 0.0),
                    "rate": (np.mean(rows["p"] >= 0.5), np.mean(base["p"] >= 0.5))}[ident]
                assert (e.window, e.baseline) == (pytest.approx(ref, rel=1e-12),
                                                  pytest.approx(ref_base, rel=1e-12)), ident
            else:
                assert e.bins is not None and e.top is not None
                if ident in ("psi", "ks", "wass"):  # the decile bins, by searchsorted
                    labels = decile_labels(edges.tolist())
                    wb = np.bincount(np.searchsorted(edges, wx), minlength=edges.size + 1)
                    bb = np.bincount(np.searchsorted(edges, bx), minlength=edges.size + 1)
                else:
                    labels = [b.label for b in e.bins]  # by baseline count, then unseen
                    assert sorted(labels[:-1]) == [f"k{i}" for i in range(5)]
                    assert labels[-1] == UNSEEN
                    names = np.array([*labels[:-1], "new1"], dtype=object)
                    known = np.where(np.isin(wc, labels[:-1]), wc, "new1")
                    wb = (known[:, None] == names).sum(axis=0)
                    bb = (bc[:, None] == names).sum(axis=0)
                assert [b.label for b in e.bins] == labels
                np.testing.assert_allclose([b.window for b in e.bins], wb / wb.sum())
                np.testing.assert_allclose([b.baseline for b in e.bins], bb / bb.sum())
                total = sum(b.contribution or 0 for b in e.bins)
                if ident == "chi2_p":  # the statistic behind the p-value
                    used = (wb + bb) > 0
                    stat = sps.chi2_contingency(np.stack([bb[used], wb[used]]),
                                                correction=False)[0]
                    assert total == pytest.approx(stat, rel=1e-9)
                elif ident in ("psi", "js_c"):
                    assert total == pytest.approx(w.value, rel=1e-9)
                else:  # KS and Wasserstein: the bins that moved most, no per-bin terms
                    moved = sorted(e.bins, key=lambda b: -abs(b.window - b.baseline))
                    assert {b.label for b in e.top} == {b.label for b in moved[:5]}
                    assert all(b.contribution is None for b in e.bins)
