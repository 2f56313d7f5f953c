"""The HTML report without a browser: thresholds read back from conditions, chart geometry,
evidence, outcome monitors, escaping of hostile plan text, and a self-contained page."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from planspec.charts import Line, Point, distribution_chart, series_chart
from planspec.cli import main
from planspec.report_html import render_html
from planspec.results import (
    Evidence,
    EvidenceBin,
    RiskInfo,
    Thresholds,
    WindowResult,
)
from planspec.thresholds import check_thresholds, episodes_of

from .resultskit import check, iso, results, windows


class Tags(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    t = Tags()
    t.feed(html)
    return t


@pytest.mark.parametrize(("when", "warn", "tighten", "expected"), [
    ("psi(x) > 0.25", "psi(x) > 0.1", None, Thresholds(op=">", fail=[0.25], warn=[0.1])),
    ("rate(p < 0.5) change > 50%", None, None, Thresholds(op=">", fail=[0.5])),
    ("precision < 0.65", "precision < 0.7", None,
     Thresholds(op="<", fail=[0.65], warn=[0.7])),
    # Heightened copies are tightened as the compiler tightens them.
    ("mean(x) shift > 2 sd", "mean(x) shift > 1.5 sd", 0.25,
     Thresholds(op=">", fail=[1.5], warn=[1.125])),
    ("precision < 0.65", None, 0.25, Thresholds(op="<", fail=[0.8125])),
    # A compound condition reports its first comparison; warn's comparison on that measure.
    ("js(c) > 0.1 and chi2(c).pvalue < 0.001", "chi2(c).pvalue < 0.01 and js(c) > 0.05", None,
     Thresholds(op=">", fail=[0.1], warn=[0.05])),
    ("psi(x) not between 0 and 0.1", None, None,
     Thresholds(op="not_between", fail=[0.0, 0.1])),
    # A warn on another measure gives no warn line.
    ("psi(x) > 0.25", "mean(x) shift > 1 sd", None, Thresholds(op=">", fail=[0.25])),
])
def test_thresholds_read_from_conditions(when: str, warn: str | None, tighten: float | None,
                                         expected: Thresholds) -> None:
    got = check_thresholds(check("a", [], when=when, warn=warn, tighten=tighten))
    assert got is not None
    assert got.op == expected.op and got.fail == pytest.approx(expected.fail)
    assert (got.warn is None) == (expected.warn is None)
    if expected.warn:
        assert got.warn == pytest.approx(expected.warn)


def test_recorded_thresholds_win_and_unreadable_text_gives_none() -> None:
    own = Thresholds(op=">", fail=[9.0])
    assert check_thresholds(check("a", [], thresholds=own)) == own
    assert check_thresholds(check("a", [], when="psi(x) >", warn=None)) is None


def test_episodes_merge_warn_and_fail_runs() -> None:
    c = check("a", [(0.0, "ok", None), (0.2, "warn", "warn"), (0.3, "fail", "fail"),
                    (0.0, "ok", None), (0.2, "warn", "warn")])
    eps = episodes_of(c)
    assert [(e.start, e.end, e.level, e.ongoing) for e in eps] == [
        (iso(1), iso(3), "fail", False), (iso(4), iso(5), "warn", True)]


def _num(attr: str | None) -> float:
    assert attr is not None
    return float(attr)


def test_series_chart_geometry() -> None:
    day = 86400.0
    pts = [Point(0, day, 0.0, "ok", None, "a"), Point(day, 2 * day, 1.0, "fail", "fail", "b"),
           Point(2 * day, 3 * day, None, "immature", None, "c")]
    svg = series_chart(pts, [Line("fail", 0.5, "fail > 0.5")], title="<t>")
    tags = parse(svg).tags
    circles = [a for t, a in tags if t == "circle"]
    line = next(a for t, a in tags if t == "line" and "threshold" in (a["class"] or ""))
    # The threshold sits halfway between the points at 0 and 1.
    y0, y1 = _num(circles[0]["cy"]), _num(circles[1]["cy"])
    assert _num(line["y1"]) == pytest.approx((y0 + y1) / 2, abs=0.11)
    assert line["data-level"] == "fail"
    episode = next(a for t, a in tags if t == "rect" and a["class"] == "episode fail")
    marked = next(a for t, a in tags if t == "rect" and a["class"] == "marked immature")
    # The episode covers the second third of the time axis, the unjudged window the last.
    assert _num(episode["width"]) == pytest.approx(_num(marked["width"]), abs=0.11)
    assert _num(marked["x"]) == pytest.approx(_num(episode["x"]) + _num(episode["width"]),
                                              abs=0.11)
    assert "&lt;t&gt;" in svg and "<t>" not in svg


def test_infinite_values_are_drawn_at_the_edge() -> None:
    pts = [Point(0, 1, 0.1, "ok", None, "a"), Point(1, 2, float("inf"), "fail", "fail", "b")]
    svg = series_chart(pts, [Line("fail", 0.5, "fail > 0.5")])
    cys = [_num(a["cy"]) for t, a in parse(svg).tags if t == "circle"]
    assert min(cys) == pytest.approx(16)  # the top of the plotting area


def test_distribution_chart_bars_scale_with_shares() -> None:
    svg = distribution_chart([("a", 0.1, 0.4), ("b", 0.2, 0.2)])
    bars = [(a["class"], _num(a["width"])) for t, a in parse(svg).tags
            if t == "rect" and "bar" in (a["class"] or "") and "legend" not in (a["class"] or "")]
    widths = dict(zip(["a_b", "a_w", "b_b", "b_w"], [w for _, w in bars], strict=True))
    assert widths["a_w"] == pytest.approx(4 * widths["a_b"], rel=1e-3)
    assert widths["b_b"] == pytest.approx(widths["b_w"])


def _demo() -> list[object]:
    law = RiskInfo(id="law", title="A law", kind="concept", date=iso(2))
    fired = check("shift", [(0.05, "ok", None), (0.3, "fail", "fail"), (0.4, "fail", "fail")],
                  when="mean(x) shift > 0.25 sd", warn=None)
    ev = Evidence(quantity="mean", baseline=10.0, window=13.5, baseline_sd=2.0, window_sd=2.5,
                  top=[EvidenceBin(label="D01", baseline=0.05, window=0.3, contribution=0.42)],
                  bins=[EvidenceBin(label=f"D0{i}", baseline=0.1, window=0.1 + i / 100)
                        for i in range(1, 6)])
    ws = list(fired.windows)
    ws[-1] = ws[-1].model_copy(update={"evidence": ev, "risks": ["law"]})
    fired = fired.model_copy(update={"windows": ws})
    quiet = check("quiet", [(0.01, "ok", None)] * 3)
    monitor = check("precision_drop", [], kind="outcome", when="precision < 0.65",
                    warn="precision < 0.7", windows=[
                        WindowResult(start=iso(0), end=iso(1), n=100, value=0.8, status="ok",
                                     labels=90, coverage=0.9, interval=(0.7, 0.9)),
                        WindowResult(start=iso(1), end=iso(2), n=100, value=None,
                                     status="immature", labels=10, coverage=0.1)])
    return [results(fired, quiet, monitor, risks=[law]), fired]


def test_report_shows_thresholds_episodes_evidence_and_monitors() -> None:
    res, _ = _demo()
    html = render_html(res)  # type: ignore[arg-type]
    tags = parse(html).tags
    articles = [a["data-check"] for t, a in tags if t == "article" and "data-check" in a]
    assert articles == ["shift", "quiet", "precision_drop"]  # firing first
    assert html.count('class="threshold fail"') == 3
    assert html.count('class="threshold warn"') == 2  # "shift" declares no warn
    assert 'class="episode fail"' in html
    assert 'class="marked immature"' in html
    assert 'class="risk"' in html and ">law<" in html
    # Evidence of the latest firing window: the compared means and SDs, the top bins, and
    # the baseline-vs-window bars of every bin.
    text = " ".join(parse(html).text)
    assert "Why it fired" in text and "13.5" in text and "2.5" in text
    assert "D01" in text and "30.0%" in text and "0.42" in text
    assert html.count('class="bar window"') == 5  # one bar per bin (the legend aside)
    # Outcome monitors: label coverage bars and the interval.
    assert 'class="coverage"' in html and 'class="interval"' in html
    assert "label coverage 10%" in text and "label coverage 90.0%" in text  # now, and hover
    # The playbook is at the top.
    assert html.index("Rule out the pipeline") < html.index('data-check="shift"')


def test_compound_conditions_show_each_comparison() -> None:
    ws = windows([(0.2, "fail", "fail")], terms=[
        {"text": "js(c) > 0.1", "value": 0.2}, {"text": "chi2(c).pvalue < 0.001", "value": 1e-9}])
    html = render_html(results(check("mix", [], windows=ws,
                                     when="js(c) > 0.1 and chi2(c).pvalue < 0.001")))
    assert "js(c) &gt; 0.1: 0.2; chi2(c).pvalue &lt; 0.001: 1e-09" in html


def test_no_evidence_no_evidence_section() -> None:
    res = results(check("a", [(0.3, "fail", "fail")]))
    assert "Why it fired" not in render_html(res)


def test_partial_windows_are_marked_not_judged() -> None:
    ws = windows([(0.1, "ok", None)]) + [WindowResult.model_construct(
        start=iso(1), end=iso(2), n=10, value=0.9, status="partial", firing=None)]
    html = render_html(results(check("a", [], windows=ws)))
    assert 'class="marked partial"' in html


HOSTILE = '"><script>alert(1)</script><img src=x onerror=alert(2)>\'"'


def test_hostile_plan_text_is_escaped_everywhere() -> None:
    bad = check("a", [(0.3, "fail", "fail")], when="psi(x) > 0.25", playbook=HOSTILE)
    bad = bad.model_copy(update={"id": "x" + HOSTILE, "source": HOSTILE, "severity": HOSTILE})
    res = results(bad, plan=HOSTILE, risks=[RiskInfo(id=HOSTILE, title=HOSTILE, kind=HOSTILE,
                                                     date=iso(0))])
    action = res.actions[0]
    playbook = action.playbook.model_copy(update={  # type: ignore[union-attr]
        "title": HOSTILE, "owner": HOSTILE, "steps": [HOSTILE], "notify": [HOSTILE]})
    res = res.model_copy(update={"actions": [action.model_copy(update={
        "alert": HOSTILE, "playbook": playbook})]})
    html = render_html(res)
    tags = parse(html).tags
    assert {t for t, _ in tags} <= {
        "html", "head", "meta", "title", "style", "body", "main", "header", "h1", "h2", "h3",
        "p", "code", "section", "div", "article", "span", "a", "ol", "li", "strong", "svg",
        "rect", "line", "text", "g", "polyline", "circle", "details", "summary", "ul",
        "footer", "table", "thead", "tbody", "tr", "th", "td"}
    assert not [k for _, a in tags for k in a if k.startswith("on")]
    assert "<script" not in html and "<img" not in html
    assert html.count("&lt;script&gt;") >= 8  # the text is still shown, as text
    # Attribute-breaking quotes stay inside their attribute.
    assert any(a.get("data-check") == "x" + HOSTILE for t, a in tags if t == "article")


def test_page_is_self_contained() -> None:
    res, _ = _demo()
    html = render_html(res)  # type: ignore[arg-type]
    tags = parse(html).tags
    assert not [t for t, _ in tags if t in ("script", "link", "img", "iframe", "object")]
    refs = [v for _, a in tags for k, v in a.items() if k in ("src", "href") and v]
    assert all(v.startswith("#") for v in refs)
    assert not re.search(r"url\(|@import|@font-face", html)
    csp = next(a for t, a in tags if t == "meta" and a.get("http-equiv"))
    assert "default-src 'none'" in (csp["content"] or "")


def test_report_command_writes_html(tmp_path: Path) -> None:
    res, _ = _demo()
    src = tmp_path / "results.json"
    src.write_text(res.model_dump_json())  # type: ignore[attr-defined]
    out = tmp_path / "report.html"
    assert main(["report", str(src), "--format", "html", "-o", str(out)], io.StringIO()) == 0
    assert out.read_text().startswith("<!DOCTYPE html>")
    buf = io.StringIO()
    assert main(["report", str(src)], buf) == 0 and buf.getvalue().startswith("# Monitoring")
    (tmp_path / "bad.json").write_text("{")
    assert main(["report", str(tmp_path / "bad.json"), "--format", "html", "-o",
                 str(out)], io.StringIO()) == 2
    assert out.read_text().startswith("<!DOCTYPE html>")  # the earlier report is kept
