"""The results of a run: a pydantic model that serializes to the stable results JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

Status = Literal["ok", "warn", "fail", "insufficient_data", "immature", "partial"]
#: How bad each status is, for "the worst status over a span" (not judged counts as least).
STATUS_RANK: dict[str, int] = {"immature": 0, "insufficient_data": 0, "partial": 0, "ok": 1,
                               "warn": 2, "fail": 3}
#: A firing level (0 none, 1 warn, 2 fail) as it appears in results.
FIRING: tuple[None, Literal["warn"], Literal["fail"]] = (None, "warn", "fail")


if TYPE_CHECKING:
    import pyarrow as pa

#: The columns of :meth:`Results.to_arrow`, one row per check and window, in this order.
TABLE_COLUMNS = ("check", "kind", "column", "statistic", "window", "every", "start", "end",
                 "n", "value", "bound", "status", "firing", "labels", "coverage",
                 "effective_n", "known_at", "risks", "severity", "playbook", "source")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TermValue(_Model):
    """The value of one comparison of a compound condition in one window."""

    text: str
    value: float | None
    bound: float | None = None
    #: With a multiple-testing correction: the p-value before it (``value`` is corrected).
    raw_pvalue: float | None = None
    #: The calibrated threshold used in this window (for `calibrated(…)` comparisons).
    threshold: float | None = None


class EvidenceBin(_Model):
    """One bin or category of a distribution: baseline share, window share, and its part of the
    statistic (PSI's ``(w - b)·ln(w / b)``, JS's or χ²'s term), when known."""

    label: str
    baseline: float
    window: float
    contribution: float | None = None


class Evidence(_Model):
    """Why a window's value is what it is: the baseline and window quantities it compares.

    Shape, by statistic (every field optional, filled where it applies):

    - a ``shift`` (``mean(x) shift > 2 sd``): ``baseline``/``window`` are the means,
      ``baseline_sd``/``window_sd`` the SDs;
    - a ``change`` or a rate (``rate(p < 0.5) change > 50%``, ``missing_rate``, ``count``):
      ``baseline``/``window`` are the rates (or counts per window);
    - a quantile (``quantile(x, 0.5) change``): ``baseline``/``window`` are the quantile pair;
    - a distance over bins (PSI, JS, χ², KS, Wasserstein): ``top`` holds the (up to 5) bins or
      categories contributing most, and ``bins`` the whole baseline-vs-window distribution.

    ``quantity`` names what ``baseline`` and ``window`` are (``"mean"``, ``"rate"``,
    ``"quantile 0.5"``).
    """

    quantity: str | None = None
    baseline: float | None = None
    window: float | None = None
    baseline_sd: float | None = None
    window_sd: float | None = None
    top: list[EvidenceBin] | None = None
    bins: list[EvidenceBin] | None = None


class Thresholds(_Model):
    """The numbers a check's reported ``value`` is compared with, on the value's own scale
    (``5%`` is 0.05, thresholds already tightened for heightened monitoring): ``op`` is a
    comparison (``fail``/``warn`` hold one number) or ``between``/``not_between`` (two: the
    zone's low and high)."""

    op: Literal[">", ">=", "<", "<=", "between", "not_between"]
    fail: list[float]
    warn: list[float] | None = None


class WindowResult(_Model):
    """One check in one window `[start, end)`: rows, value, status, and whether it fires."""

    start: str
    end: str
    n: int
    value: float | None
    bound: float | None = None
    #: With a multiple-testing correction: the p-value before it (``value`` is corrected).
    raw_pvalue: float | None = None
    status: Status
    firing: Literal["warn", "fail"] | None = None
    #: The window is not over at `as_of`, or began before the data: unless the check judges
    #: partial windows, its status is `partial` and it never fires.
    partial: bool = False
    terms: list[TermValue] | None = None
    #: The calibrated threshold the (first) comparison used in this window, if calibrated.
    threshold: float | None = None
    #: Outcome monitors: the 95% confidence interval of the metric (see outcomes.interval).
    lower: float | None = None
    upper: float | None = None
    # Outcome monitors: labels joined, their share of predictions, the weighted labels'
    # effective sample size, when the window's result could first be known, and (while it
    # cannot be scored) the statuses of the output alerts that stand in for it.
    labels: int | None = None
    coverage: float | None = None
    effective_n: float | None = None
    known_at: str | None = None
    stand_ins: dict[str, str] | None = None
    #: Drift risks dated before this window that could explain it firing.
    risks: list[str] | None = None
    #: The baseline and window quantities behind ``value`` (see :class:`Evidence`).
    evidence: Evidence | None = None
    #: A confidence interval ``[low, high]`` for ``value``, where one is computed.
    interval: tuple[float, float] | None = None


def alert_of(check_id: str) -> str:
    """The alert or monitor a result's id is of: without a drift risk's `@risk` copy and a
    segment's `[column=value]`.

    >>> alert_of("source_sqft_change[listing_source=aggregator]"), alert_of("price@law")
    ('source_sqft_change', 'price')
    """
    return check_id.split("@")[0].split("[")[0]


class CheckResult(_Model):
    """One alert over all its windows, with where it came from in the plan."""

    id: str
    kind: Literal["input", "output", "outcome"]
    column: str | None
    statistic: str
    when: str
    warn: str | None
    source: str
    playbook: str | None
    severity: str
    window: str
    every: str | None = None
    windows: list[WindowResult]
    label_delay: str | None = None
    stand_ins: list[str] | None = None
    #: The first window that failed, and when that could first have been known.
    first_fail: str | None = None
    first_fail_known_at: str | None = None
    #: Heightened monitoring: the drift risk, how much thresholds were tightened, and the
    #: period in which this copy of the alert runs.
    risk: str | None = None
    tighten: float | None = None
    active_from: str | None = None
    active_to: str | None = None
    #: The multiple-testing correction of the p-values compared (`bonferroni`, `bh`): values
    #: are corrected p-values, ``raw_pvalue`` the uncorrected ones.
    correction: str | None = None
    #: The warn/fail numbers ``value`` is compared with (renderers derive them from ``when``
    #: and ``warn`` when absent).
    thresholds: Thresholds | None = None
    #: Segments: the column this alert is split by, this result's value of it (the id is
    #: ``alert[column=value]``), and the baseline it was judged against (``segment``: the
    #: segment's own rows; ``overall``: a segment the baseline never saw, judged against the
    #: whole baseline; ``none``: not judged, every window ``insufficient_data``).
    by: str | None = None
    segment: str | None = None
    segment_baseline: Literal["segment", "overall", "none"] | None = None
    #: A segment's calibrated thresholds: from its own baseline rows (``segment``), or the
    #: whole baseline's (``overall``: its baseline was too small to stand for it, or it is a
    #: segment the baseline never saw); absent without calibrated thresholds.
    segment_calibration: Literal["segment", "overall"] | None = None
    #: An outcome monitor's interval level when it is not 95%: a monitor split into k
    #: segments under a correction reads intervals at 1 − 5%/k.
    interval_level: float | None = None


class SegmentSummary(_Model):
    """How a segmented alert was split: segments tested (their p-values counted in the
    correction), those the baseline never saw, and how many were left out by the cap."""

    alert: str
    by: str
    tested: int
    unseen: list[str]
    dropped: int


class Firing(_Model):
    """An alert firing in its latest window: at which level, since when, and what to do."""

    id: str
    kind: Literal["input", "output", "outcome"]
    level: Literal["warn", "fail"]
    since: str
    playbook: str | None
    severity: str
    #: The end of the last judged window it fires in: firing goes on (an episode never ends
    #: after the data).
    ongoing: bool = True


class PlaybookInfo(_Model):
    """A playbook as responders need it: who, how fast, what to do."""

    id: str
    title: str
    kind: str
    owner: str
    response_time: str
    notify: list[str]
    steps: list[str]


class Escalated(_Model):
    """A more severe playbook that applies, and why (as the plan declares)."""

    playbook: PlaybookInfo
    why: str | None


class RiskInfo(_Model):
    """A drift risk whose date has passed and that could explain what fired."""

    id: str
    title: str
    kind: str
    date: str


class Action(_Model):
    """What to do about one firing alert: its playbook, escalations, and candidate causes."""

    alert: str
    level: Literal["warn", "fail"]
    since: str
    playbook: PlaybookInfo | None
    escalations: list[Escalated]
    risks: list[RiskInfo]


class WindowInfo(_Model):
    """A window of the plan's default grid and its rows."""

    start: str
    end: str
    rows: int
    complete: bool


class Results(_Model):
    """Everything a run found (the results JSON)."""

    plan: str
    planspec_version: str
    baseline: dict[str, str | int]
    data: dict[str, str | int]
    windows: list[WindowInfo]
    checks: list[CheckResult]
    firing: list[Firing]
    as_of: str | None = None
    #: Per outcome source: rows read and how many were used or left out, and why.
    outcomes: dict[str, dict[str, int]] | None = None
    #: For each alert firing now: the playbook to follow, escalations, and drift risks.
    actions: list[Action] = []
    #: Every drift risk with a date (from the plan or ``--events``), for annotating charts.
    risks: list[RiskInfo] | None = None
    #: Per segmented alert: how many segments were tested (see :class:`SegmentSummary`).
    segments: list[SegmentSummary] | None = None

    def exit_code(self, fail_on: Literal["warn", "fail", "never"] = "fail") -> int:
        """0 when nothing fires at or above ``fail_on`` in the latest window, else 1."""
        if fail_on == "never":
            return 0
        levels = {"warn": 1, "fail": 2}
        return int(any(levels[f.level] >= levels[fail_on] for f in self.firing))

    def to_arrow(self) -> pa.Table:
        """The results as a table, one row per check and window (columns ``TABLE_COLUMNS``).

        Window bounds are UTC timestamps; a value that was not computed is null.

        >>> r = Results(plan="p", planspec_version="0", baseline={}, data={}, windows=[],
        ...             firing=[], checks=[CheckResult(
        ...     id="a", kind="input", column="x", statistic="psi", when="psi(x) > 0.2",
        ...     warn=None, source="p.yaml:3", playbook=None, severity="page", window="7d",
        ...     windows=[WindowResult(start="2026-01-05T00:00:00Z", end="2026-01-12T00:00:00Z",
        ...                           n=10, value=0.3, status="fail", firing="fail")])])
        >>> t = r.to_arrow()
        >>> t.num_rows, t.column("value").to_pylist(), str(t.schema.field("start").type)
        (1, [0.3], 'timestamp[s, tz=UTC]')
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        rows: dict[str, list[Any]] = {name: [] for name in TABLE_COLUMNS}
        for c in self.checks:
            for w in c.windows:
                for name, value in (
                        ("check", c.id), ("kind", c.kind), ("column", c.column),
                        ("statistic", c.statistic), ("window", c.window), ("every", c.every),
                        ("start", w.start), ("end", w.end), ("n", w.n), ("value", w.value),
                        ("bound", w.bound), ("status", w.status), ("firing", w.firing),
                        ("labels", w.labels), ("coverage", w.coverage),
                        ("effective_n", w.effective_n), ("known_at", w.known_at),
                        ("risks", w.risks), ("severity", c.severity),
                        ("playbook", c.playbook), ("source", c.source)):
                    rows[name].append(value)
        time = pa.timestamp("s", tz="UTC")
        types = {"n": pa.int64(), "labels": pa.int64(), "value": pa.float64(),
                 "bound": pa.float64(), "coverage": pa.float64(), "effective_n": pa.float64(),
                 "risks": pa.list_(pa.string())}
        columns = {}
        for name, values in rows.items():
            if name in ("start", "end", "known_at"):
                text = pa.array(values, pa.string())
                columns[name] = pc.strptime(text, "%Y-%m-%dT%H:%M:%SZ", "s").cast(time)
            else:
                columns[name] = pa.array(values, types.get(name, pa.string()))
        return pa.table(columns)

    def to_pandas(self) -> Any:
        """The table of :meth:`to_arrow` as a pandas DataFrame (needs pandas installed)."""
        import importlib.util

        if importlib.util.find_spec("pandas") is None:
            raise ImportError("Results.to_pandas needs pandas, which is not installed: "
                              "`pip install pandas`, or use Results.to_arrow()")
        return self.to_arrow().to_pandas()
