"""OpenMetrics export of a run: per check, the latest complete window's value, level and firing
state, as text a Prometheus textfile collector (or any OpenMetrics parser) reads."""

from __future__ import annotations

import datetime
import math

from planspec.results import CheckResult, Results, WindowResult, alert_of
from planspec.thresholds import check_thresholds

#: Window status → the ``planspec_check_level`` gauge (-1: not judged).
LEVEL = {"ok": 0, "warn": 1, "fail": 2}
#: Statuses of windows that are not over yet (set by runs that keep the newest, open window).
INCOMPLETE: tuple[str, ...] = ("partial",)
FAMILIES = (
    ("planspec_check_value", "The value the check's condition compares, in its latest complete "
     "window (NaN when it has none)."),
    ("planspec_check_level", "Status of the latest complete window: 0 ok, 1 warn, 2 fail, "
     "-1 not judged (too few rows or outcomes not mature)."),
    ("planspec_check_firing", "Whether the check fires in its latest complete window: 0 no, "
     "1 at warn, 2 at fail."),
    ("planspec_check_threshold", "The warn and fail thresholds the value is compared with."),
    ("planspec_check_window_end_seconds", "End of the check's latest complete window "
     "(Unix time)."),
)


def _label(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(v: float | None) -> str:
    if v is None or math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


def _epoch(iso: str) -> float:
    return datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def latest_complete(check: CheckResult, data_end: str | None = None) -> WindowResult | None:
    """The newest window that is over: not ``partial``, not flagged incomplete, and (given the
    newest row's time ``data_end``) ending at most a second after it, as the engine's grids
    define a complete window."""
    limit = _epoch(data_end) + 1 if data_end else float("inf")
    for w in reversed(check.windows):
        if (w.status not in INCOMPLETE and getattr(w, "complete", True) is not False
                and _epoch(w.end) <= limit):
            return w
    return None


def render_openmetrics(results: Results) -> str:
    """The run's metrics as OpenMetrics text (ending with ``# EOF``).

    >>> from planspec.results import Results
    >>> print(render_openmetrics(Results(plan="p", planspec_version="0", baseline={},
    ...       data={}, windows=[], checks=[], firing=[])).splitlines()[-1])
    # EOF
    """
    samples: dict[str, list[str]] = {name: [] for name, _ in FAMILIES}
    end = results.data.get("end")
    for c in results.checks:
        w = latest_complete(c, str(end) if end else None)
        labels = (f'plan="{_label(results.plan)}",check="{_label(c.id)}",kind="{c.kind}",'
                  f'statistic="{_label(c.statistic)}"')
        if c.segment is not None:  # a segment's own labels: `sum by (alert)` and the like
            labels += (f',alert="{_label(alert_of(c.id))}",by="{_label(c.by or "")}",'
                       f'segment="{_label(c.segment)}"')
        firing = {"warn": 1, "fail": 2}.get(w.firing or "", 0) if w else 0
        samples["planspec_check_value"].append(
            f"planspec_check_value{{{labels}}} {_number(w.value if w else None)}")
        samples["planspec_check_level"].append(
            f"planspec_check_level{{{labels}}} {LEVEL.get(w.status, -1) if w else -1}")
        samples["planspec_check_firing"].append(f"planspec_check_firing{{{labels}}} {firing}")
        t = check_thresholds(c)
        if t is not None and len(t.fail) == 1:
            for level, nums in (("warn", t.warn), ("fail", t.fail)):
                if nums:
                    samples["planspec_check_threshold"].append(
                        f'planspec_check_threshold{{{labels},level="{level}"}} '
                        f"{_number(nums[0])}")
        if w is not None:
            samples["planspec_check_window_end_seconds"].append(
                f"planspec_check_window_end_seconds{{{labels}}} {_number(_epoch(w.end))}")
    lines = []
    for name, help_text in FAMILIES:
        lines += [f"# TYPE {name} gauge", f"# HELP {name} {help_text}", *samples[name]]
    return "\n".join([*lines, "# EOF"]) + "\n"
