"""The demo report in real headless Chromium (Debian's package, driven by Playwright): no console
errors, no network, a chart with a threshold line for every check, the injected drifts shaded,
and no sideways scrolling on a phone; a segmented alert's Segments section and chart name
the firing segment and only it. Screenshots go to ``test-artifacts/`` (gitignored)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("PLANSPEC_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo, end to end through the command line, at a small size: `check --format html`."""
    from planspec.demo import write_demo_data

    d = tmp_path_factory.mktemp("demo")
    paths = write_demo_data(d, rows=20_000)
    plan = "plans/rental_inspector.yaml"  # relative, as `make demo` names it in the report
    base = d / "baseline.json"
    out = d / "report.html"
    before = os.getcwd()
    os.chdir(ROOT)
    try:
        assert main(["baseline", plan, "--data", str(paths["baseline"]), "-o", str(base)],
                    io.StringIO()) == 0
        assert main(["check", plan, "--baseline", str(base), "--data", str(paths["scored"]),
                     "--outcomes", str(paths["inspector_audits"]), str(paths["lease_registry"]),
                     "--format", "html", "-o", str(out), "--fail-on", "never", "-q"],
                    io.StringIO()) == 0
    finally:
        os.chdir(before)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"NO BROWSER: {CHROMIUM} is missing (apt-get install chromium; .ci/run "
                    "installs it), so the HTML report was not tested in a browser")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("NO BROWSER DRIVER: the playwright package is missing (pip install "
                    "'planspec[browser]'), so the HTML report was not tested in a browser")
    # launch() starts Chromium on a fresh temporary profile (its --user-data-dir) every time.
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield b
        finally:
            b.close()


def _open(browser: Any, report: Path, width: int, height: int = 900
          ) -> tuple[Any, Any, list[str], list[str]]:
    context = browser.new_context(viewport={"width": width, "height": height},
                                  device_scale_factor=1)
    page = context.new_page()
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(f"{m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(report.as_uri(), wait_until="load")
    return context, page, problems, requests


def test_report_in_chromium_desktop(browser: Any, report: Path) -> None:
    context, page, problems, requests = _open(browser, report, 1280, 1500)
    try:
        checks = page.eval_on_selector_all(
            "article[data-check]",
            """els => els.map(a => ({
                id: a.dataset.check,
                charts: a.querySelectorAll('svg.chart.series').length,
                thresholds: a.querySelectorAll('svg.chart.series line.threshold').length,
                lineWidth: Math.max(0, ...[...a.querySelectorAll('line.threshold')]
                                    .map(l => l.getBoundingClientRect().width)),
                episodes: [...a.querySelectorAll('rect.episode title')].map(t => t.textContent),
            }))""")
        assert len(checks) == 46  # 23 checks, 3 segments of source_sqft_change, 20 districts
        for c in checks:
            assert c["charts"] == 1 and c["thresholds"] >= 1, c["id"]
            assert c["lineWidth"] > 100, c["id"]  # drawn across the chart, not collapsed
        shaded = {c["id"]: c["episodes"] for c in checks}
        # The injected events (planspec/demo.py) are shaded where they happened.
        assert any("2026-03" in e for e in shaded["price_mean_shift"])
        assert any("2026-05" in e or "2026-06" in e for e in shaded["neighborhood_mix"])
        assert any("2026-10-14" in e for e in shaded["listing_volume_drop"])
        assert problems == []
        assert requests == [report.as_uri()]  # nothing fetched but the file itself
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-desktop.png"))
        page.screenshot(path=str(ARTIFACTS / "report-desktop-full.png"), full_page=True)
        # The 20 districts never fired: their cards are folded into one closed <details>,
        # hidden until it is opened.
        folded = page.locator("details.quiet[data-alert='district_recall']")
        assert folded.get_attribute("open") is None
        assert "20 segments never fired" in folded.locator("summary").inner_text()
        card = folded.locator("article[data-check]").first
        assert not card.is_visible()
        folded.locator("summary").click()
        assert card.is_visible() and folded.locator("article[data-check]").count() == 20
    finally:
        context.close()


def test_report_in_chromium_phone(browser: Any, report: Path) -> None:
    context, page, problems, _ = _open(browser, report, 390)
    try:
        overflow = page.evaluate("document.documentElement.scrollWidth")
        assert overflow <= 390, "the page scrolls sideways on a phone"
        widths = page.eval_on_selector_all("svg.chart", "els => els.map(e => e.clientWidth)")
        assert widths and min(widths) > 300 and max(widths) <= 390
        assert problems == []
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-phone.png"))
        page.screenshot(path=str(ARTIFACTS / "report-phone-full.png"), full_page=True)
    finally:
        context.close()


@pytest.fixture(scope="module")
def segment_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run where one segment of four fires (`shift` split by `c`, only `k2` moved), beside an
    unsegmented alert that stays quiet, as an HTML report."""
    import numpy as np

    from planspec.compile import compile_plan
    from planspec.model import Plan
    from planspec.profile import build_profile
    from planspec.report_html import render_html

    from .enginekit import DAY, T0, frame, plan_with

    rng = np.random.default_rng(21)
    base = frame(rng, 8000, 28, start=T0 - 35 * DAY, categories=4)
    cur = frame(rng, 8000, 28, categories=4)
    cur["x"][cur["c"] == "k2"] += 1.0
    data = plan_with({"shift": "mean(x) shift > 0.5 sd", "overall": "mean(x) shift > 2 sd"},
                     features={"x": {"type": "numeric"}, "c": {"type": "categorical"}}
                     ).model_dump(by_alias=True, mode="json")
    data["input_alerts"][0]["by"] = "c"
    program = compile_plan(Plan.model_validate(data))
    results = program.run(cur, build_profile(program, base))
    assert [f.id for f in results.firing] == ["shift[c=k2]"]
    out = tmp_path_factory.mktemp("segments") / "report.html"
    out.write_text(render_html(results))
    return out


def test_segments_in_chromium(browser: Any, segment_report: Path) -> None:
    context, page, problems, requests = _open(browser, segment_report, 1280, 1200)
    try:
        section = page.locator("section#segments")
        assert section.is_visible()
        text = section.inner_text()
        assert "shift per c" in text and "4 segments tested; 1 firing" in text
        listed = page.eval_on_selector_all("section#segments li[data-segment]",
                                           "els => els.map(e => e.innerText)")
        assert len(listed) == 1 and listed[0].startswith("fail c=k2: ")
        chart = page.eval_on_selector(
            "section#segments svg.chart.segments",
            """svg => ({
                width: svg.getBoundingClientRect().width,
                series: [...svg.querySelectorAll('g.series')].map(g => ({
                    name: g.dataset.segment,
                    width: g.getBoundingClientRect().width,
                    stroke: getComputedStyle(g.querySelector('polyline')).stroke,
                    firing: g.querySelectorAll('circle.pt.firing.fail').length})),
                legend: [...svg.querySelectorAll('g.legend')].map(g => g.textContent),
                thresholds: [...svg.querySelectorAll('line.threshold')]
                    .map(l => l.getBoundingClientRect().width),
                more: svg.querySelectorAll('text.legend-more').length})""")
        assert chart["width"] > 400
        assert [s["name"] for s in chart["series"]] == ["c=k2"]  # only the firing segment
        assert chart["series"][0]["width"] > 200 and chart["series"][0]["firing"] >= 1
        assert chart["series"][0]["stroke"] not in ("none", "")
        assert len(chart["legend"]) == 1 and chart["legend"][0].startswith("c=k2 (fail: ")
        assert chart["thresholds"] and min(chart["thresholds"]) > 200
        assert chart["more"] == 0
        # The link leads to the segment's own card, which is on the page with its chart.
        page.click("section#segments a[href='#check-shift[c=k2]']")
        card = page.locator("article[data-check='shift[c=k2]']")
        assert card.is_visible() and card.locator("svg.chart.series").count() == 1
        assert page.evaluate("location.hash") == "#check-shift[c=k2]"
        assert page.locator("article[data-check='shift[c=k0]']").count() == 1  # quiet ones too
        assert problems == []
        assert requests == [segment_report.as_uri()]
        ARTIFACTS.mkdir(exist_ok=True)
        section.screenshot(path=str(ARTIFACTS / "report-segments.png"))
    finally:
        context.close()


def test_segments_chart_fits_a_phone(browser: Any, segment_report: Path) -> None:
    context, page, problems, _ = _open(browser, segment_report, 390)
    try:
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        width = page.eval_on_selector("section#segments svg.chart.segments",
                                      "e => e.clientWidth")
        assert 300 < width <= 390
        assert problems == []
    finally:
        context.close()
