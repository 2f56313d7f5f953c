"""Charts as inline SVG, drawn here in Python: a statistic over time against its thresholds, and a
baseline-vs-window distribution.

The HTML report must work offline, from one file, with no script: SVG written on the server is
plain markup that every browser (and the file's own escaping) handles, that prints, and that a
test can read. Every piece of text is escaped here; the functions return :class:`Markup`.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

#: The plotting area of a time-series chart, in SVG user units (the chart scales to its box).
WIDTH, HEIGHT = 480, 200
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 16, 28
#: Window statuses that are shown but not judged (no labels yet, window not over, too few rows).
MARKED = ("immature", "partial", "insufficient_data")


@dataclass(frozen=True)
class Point:
    """One window of a check: its span (epoch seconds), value, status and firing level."""

    start: float
    end: float
    value: float | None
    status: str
    firing: str | None
    label: str
    interval: tuple[float, float] | None = None
    coverage: float | None = None


@dataclass(frozen=True)
class Line:
    """A horizontal threshold line: its level (``warn``/``fail``), value and caption."""

    level: str
    value: float
    caption: str


@dataclass(frozen=True)
class Mark:
    """A dated annotation (a drift risk): when, a short label, and a longer title."""

    at: float
    label: str
    title: str


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".") if v == v else "0"


def _fmt(v: float) -> str:
    """A tick or value label: short, and exact for round numbers.

    >>> _fmt(0.25), _fmt(1500.0), _fmt(2e-05)
    ('0.25', '1500', '2e-05')
    """
    if v == 0:
        return "0"
    if 1000 <= abs(v) < 1e7:
        return f"{v:.0f}"
    return f"{v:.3g}"


def _date(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%d")


def nice_ticks(lo: float, hi: float, count: int = 4) -> list[float]:
    """Round tick values covering ``[lo, hi]``, about ``count`` of them.

    >>> nice_ticks(0, 1)
    [0.0, 0.25, 0.5, 0.75, 1.0]
    >>> nice_ticks(-0.3, 2.9)
    [0.0, 1.0, 2.0]
    """
    span = hi - lo
    if not span > 0:
        return [lo]
    raw = span / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    out = []
    v = first
    while v <= hi + step * 1e-9:
        out.append(round(v, 12) + 0.0)
        v += step
    return out


def _range(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if lo >= 0 and lo < hi * 0.5:
        lo = 0.0
    if hi == lo:
        pad = abs(hi) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.08
    return lo - (pad if lo != 0 else 0), hi + pad


@dataclass(frozen=True)
class _Axes:
    """A time-series plot's scales: window times and values to SVG user units."""

    t0: float
    t1: float
    lo: float
    hi: float

    @classmethod
    def of(cls, points: Sequence[Point], values: Sequence[float]) -> _Axes:
        t0 = min((p.start for p in points), default=0.0)
        t1 = max((p.end for p in points), default=1.0)
        lo, hi = _range(values) if values else (0.0, 1.0)
        return cls(t0, t1 if t1 > t0 else t0 + 1, lo, hi)

    def x(self, t: float) -> float:
        return LEFT + (t - self.t0) / (self.t1 - self.t0) * (WIDTH - LEFT - RIGHT)

    def y(self, v: float) -> float:
        v = min(max(v, self.lo), self.hi)
        return TOP + (self.hi - v) / (self.hi - self.lo) * (HEIGHT - TOP - BOTTOM)

    def grid(self) -> list[str]:
        """Horizontal grid lines at round values, labelled on the left."""
        return [f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_num(self.y(t))}" '
                f'y2="{_num(self.y(t))}"/><text class="tick" x="{LEFT - 4}" '
                f'y="{_num(self.y(t) + 3.5)}" text-anchor="end">{escape(_fmt(t))}</text>'
                for t in nice_ticks(self.lo, self.hi)]

    def thresholds(self, lines: Sequence[Line]) -> list[str]:
        """Dashed threshold lines with captions: fail on the right, warn on the left, so
        close lines stay legible."""
        out = []
        for ln in lines:
            tx, anchor = (WIDTH - RIGHT - 2, "end") if ln.level == "fail" else (LEFT + 2, "start")
            out.append(f'<line class="threshold {escape(ln.level)}" '
                       f'data-level="{escape(ln.level)}" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
                       f'y1="{_num(self.y(ln.value))}" y2="{_num(self.y(ln.value))}"><title>'
                       f'{escape(ln.caption)}</title></line><text class="threshold-label '
                       f'{escape(ln.level)}" x="{tx}" y="{_num(self.y(ln.value) - 3)}" '
                       f'text-anchor="{anchor}">{escape(ln.caption)}</text>')
        return out

    def dates(self) -> list[str]:
        """The first, middle and last dates along the bottom."""
        mid = (self.t0 + self.t1) / 2
        return [f'<text class="tick" x="{_num(self.x(t))}" y="{HEIGHT - 8}" '
                f'text-anchor="{anchor}">{_date(t)}</text>'
                for t, anchor in ((self.t0, "start"), (mid, "middle"), (self.t1, "end"))]


def series_chart(points: Sequence[Point], lines: Sequence[Line], marks: Sequence[Mark] = (),
                 title: str = "", show_coverage: bool = False) -> Markup:
    """The statistic over time: firing episodes shaded, threshold lines, unjudged windows
    hatched, dated annotations, a point per window (hover shows its value), and, for outcome
    monitors, label coverage as bars along the bottom.

    >>> svg = series_chart([Point(0, 86400, 0.1, "ok", None, "day 1"),
    ...                     Point(86400, 172800, 0.4, "fail", "fail", "day 2")],
    ...                    [Line("fail", 0.25, "fail > 0.25")])
    >>> 'class="threshold fail"' in svg and 'class="episode fail"' in svg
    True
    """
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    finite = [p.value for p in points if p.value is not None and math.isfinite(p.value)]
    finite += [v for p in points if p.interval for v in p.interval if math.isfinite(v)]
    finite += [ln.value for ln in lines]
    axes = _Axes.of(points, finite)
    x, y, t0, t1 = axes.x, axes.y, axes.t0, axes.t1

    out = [f'<svg class="chart series" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
           f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}"/>']
    # Runs of firing windows and of unjudged windows, merged into one rectangle each.
    for kind, key in (("episode", lambda p: p.firing), ("marked", _marked)):
        for first, last, level in _runs(points, key):
            w = max(x(last.end) - x(first.start), 1.0)
            what = (f"firing ({level}) {_date(first.start)} to {_date(last.end)}"
                    if kind == "episode" else
                    f"{level.replace('_', ' ')}: {_date(first.start)} to {_date(last.end)}")
            out.append(f'<rect class="{kind} {level}" x="{_num(x(first.start))}" y="{TOP}" '
                       f'width="{_num(w)}" height="{ph}"><title>{escape(what)}</title></rect>')
    if show_coverage:
        for p in points:
            if p.coverage is None:
                continue
            h = max(0.0, min(p.coverage, 1.0)) * ph * 0.3
            out.append(f'<rect class="coverage" x="{_num(x(p.start) + 0.5)}" '
                       f'y="{_num(TOP + ph - h)}" width="{_num(max(x(p.end) - x(p.start) - 1, 1))}"'
                       f' height="{_num(h)}"><title>label coverage {p.coverage:.1%}'
                       f'</title></rect>')
    out += axes.grid()
    for m in marks:
        if not t0 <= m.at <= t1:
            continue
        out.append(f'<g class="risk"><line x1="{_num(x(m.at))}" x2="{_num(x(m.at))}" '
                   f'y1="{TOP}" y2="{TOP + ph}"/><text x="{_num(x(m.at) + 3)}" '
                   f'y="{TOP + 10}">{escape(m.label)}</text><title>{escape(m.title)}</title></g>')
    out += axes.thresholds(lines)
    for p in points:
        if p.interval is not None:
            xm = _num((x(p.start) + x(p.end)) / 2)
            out.append(f'<line class="interval" x1="{xm}" x2="{xm}" '
                       f'y1="{_num(y(p.interval[0]))}" y2="{_num(y(p.interval[1]))}"/>')
    for segment in _segments(points):
        coords = " ".join(f"{_num((x(p.start) + x(p.end)) / 2)},{_num(y(_clip(p.value)))}"
                          for p in segment)
        out.append(f'<polyline class="value" points="{coords}"/>')
    few = len(points) <= 60
    for p in points:
        if p.value is None or not (few or p.status != "ok" or p.firing):
            continue
        r = 2.6 if few else 2.0
        cls = "pt " + p.status + (" marked" if p.status in MARKED else "")
        out.append(f'<circle class="{escape(cls)}" cx="{_num((x(p.start) + x(p.end)) / 2)}" '
                   f'cy="{_num(y(_clip(p.value)))}" r="{r}"><title>{escape(p.label)}</title>'
                   f'</circle>')
    if points:
        out += axes.dates()
    else:
        out.append(f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" '
                   f'text-anchor="middle">no windows</text>')
    out.append("</svg>")
    return Markup("".join(out))


#: The most series a segments chart draws; the rest are counted ("and N more").
MAX_SERIES = 5


@dataclass(frozen=True)
class Series:
    """One segment's values over time in a segments chart, and its legend entry."""

    name: str
    points: Sequence[Point]
    caption: str = ""


def segments_chart(series: Sequence[Series], lines: Sequence[Line], more: int = 0,
                   title: str = "") -> Markup:
    """Several segments of one alert over time on one chart, one line each (in the order
    given: worst first), against the alert's thresholds, with a legend naming each segment
    and, when ``more`` segments were left out, "and N more".

    >>> svg = segments_chart([Series("c=k2", [Point(0, 86400, 2.0, "fail", "fail", "d1")]),
    ...                       Series("c=k1", [Point(0, 86400, 1.0, "fail", "fail", "d1")])],
    ...                      [Line("fail", 0.5, "fail > 0.5")], more=3)
    >>> svg.count('class="series '), 'c=k2' in svg, 'and 3 more' in svg
    (2, True, True)
    """
    pw, ph = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    legend = len(series) + (1 if more else 0)
    height = HEIGHT + 6 + 15 * legend
    every = [p for one in series for p in one.points]
    finite = [p.value for p in every if p.value is not None and math.isfinite(p.value)]
    axes = _Axes.of(every, finite + [ln.value for ln in lines])
    x, y = axes.x, axes.y

    out = [f'<svg class="chart segments" viewBox="0 0 {WIDTH} {height}" role="img" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
           f'<rect class="plot" x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}"/>',
           *axes.grid(), *axes.thresholds(lines)]
    # The worst segment is drawn last, so it is on top.
    for i, one in reversed(list(enumerate(series))):
        cls = f"s{i % MAX_SERIES}"
        out.append(f'<g class="series {cls}" data-segment="{escape(one.name)}">'
                   f'<title>{escape(one.name)}</title>')
        for run in _segments(one.points):
            coords = " ".join(f"{_num((x(p.start) + x(p.end)) / 2)},{_num(y(_clip(p.value)))}"
                              for p in run)
            out.append(f'<polyline class="value" points="{coords}"/>')
        for p in one.points:
            if p.value is None or not p.firing:
                continue  # firing windows are marked: the segment's fill, the level's ring
            out.append(f'<circle class="pt firing {escape(p.firing)}" '
                       f'cx="{_num((x(p.start) + x(p.end)) / 2)}" cy="{_num(y(_clip(p.value)))}" '
                       f'r="2.8"><title>{escape(one.name)}: {escape(p.label)}</title></circle>')
        out.append("</g>")
    if every:
        out += axes.dates()
    for i, one in enumerate(series):
        ly = HEIGHT + 6 + 15 * i
        text = one.name + (f" ({one.caption})" if one.caption else "")
        out.append(f'<g class="legend s{i % MAX_SERIES}" data-segment="{escape(one.name)}">'
                   f'<line x1="{LEFT}" x2="{LEFT + 16}" y1="{ly}" y2="{ly}"/>'
                   f'<text class="legend-label" x="{LEFT + 22}" y="{ly + 3.5}">{escape(text)}'
                   f'</text></g>')
    if more:
        out.append(f'<text class="legend-more" x="{LEFT + 22}" '
                   f'y="{HEIGHT + 6 + 15 * len(series) + 3.5}">and {more} more firing</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _marked(p: Point) -> str | None:
    return p.status if p.status in MARKED else None


def _clip(v: float | None) -> float:
    """Infinite values are drawn at the edge of the chart (``y`` clamps them)."""
    assert v is not None
    return v if math.isfinite(v) else (1e300 if v > 0 else -1e300)


def _runs(points: Sequence[Point], key: Callable[[Point], str | None]
          ) -> list[tuple[Point, Point, str]]:
    """Maximal runs of consecutive points with the same non-empty key: (first, last, key)."""
    out: list[tuple[Point, Point, str]] = []
    run: list[Point] = []
    level = ""

    def close() -> None:
        if run:
            worst = "fail" if any(p.firing == "fail" for p in run) else level
            out.append((run[0], run[-1], worst if level in ("warn", "fail") else level))

    for p in points:
        k = key(p)
        if k and run and (k == level or (k in ("warn", "fail") and level in ("warn", "fail"))):
            run.append(p)
            continue
        close()
        run, level = ([p], k) if k else ([], "")
    close()
    return out


def _segments(points: Sequence[Point]) -> list[list[Point]]:
    """Consecutive points with a value: a gap in the line where a window has none."""
    out: list[list[Point]] = [[]]
    for p in points:
        if p.value is None or (isinstance(p.value, float) and math.isnan(p.value)):
            if out[-1]:
                out.append([])
        else:
            out[-1].append(p)
    return [s for s in out if s]


def distribution_chart(bins: Sequence[tuple[str, float, float]], title: str = "",
                       window_label: str = "window") -> Markup:
    """Baseline against window shares, two bars per bin or category (horizontal, so long
    category names and phones both fit).

    >>> svg = distribution_chart([("D01", 0.05, 0.2), ("D02", 0.05, 0.04)])
    >>> svg.count('class="bar baseline"'), svg.count('class="bar window"')
    (2, 2)
    """
    row, label_w, right = 22, 118, 52
    height = TOP + 18 + row * len(bins) + 6
    bar_w = WIDTH - label_w - right
    top = max((max(b, w) for _, b, w in bins), default=1.0) or 1.0
    out = [f'<svg class="chart distribution" viewBox="0 0 {WIDTH} {height}" role="img" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
           f'<rect class="bar baseline legend" x="{label_w}" y="4" width="10" height="8"/>'
           f'<text class="tick" x="{label_w + 14}" y="12">baseline</text>'
           f'<rect class="bar window legend" x="{label_w + 80}" y="4" width="10" height="8"/>'
           f'<text class="tick" x="{label_w + 94}" y="12">{escape(window_label)}</text>']
    for i, (label, b, w) in enumerate(bins):
        y0 = TOP + 18 + i * row
        short = label if len(label) <= 18 else label[:17] + "…"
        out.append(f'<text class="tick" x="{label_w - 6}" y="{y0 + 13}" text-anchor="end">'
                   f'{escape(short)}<title>{escape(label)}</title></text>')
        for j, (cls, share) in enumerate((("baseline", b), ("window", w))):
            width = max(share, 0.0) / top * bar_w
            out.append(f'<rect class="bar {cls}" x="{label_w}" y="{y0 + 2 + j * 9}" '
                       f'width="{_num(width)}" height="8"><title>{escape(label)}: {cls} '
                       f'{share:.1%}</title></rect>')
        out.append(f'<text class="tick" x="{label_w + bar_w + 4}" y="{y0 + 13}">'
                   f'{b:.0%}→{w:.0%}</text>')
    out.append("</svg>")
    return Markup("".join(out))
