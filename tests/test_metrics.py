"""OpenMetrics export, read back with prometheus_client's OpenMetrics parser."""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from planspec.cli import main
from planspec.metrics import render_openmetrics
from planspec.results import WindowResult

from .resultskit import check, iso, results, windows

ROOT = Path(__file__).resolve().parent.parent


def samples(text: str) -> dict[tuple[str, str], float]:
    """(metric, check[/level]) → value, after a strict parse."""
    out = {}
    for fam in text_string_to_metric_families(text):
        assert fam.type == "gauge"
        for s in fam.samples:
            key = s.labels["check"] + (f"/{s.labels['level']}" if "level" in s.labels else "")
            out[(s.name, key)] = s.value
    return out


def test_latest_complete_window_per_check() -> None:
    firing = check("drift", [(0.0, "ok", None), (0.3, "fail", "fail")])
    warn = check("warned", [(0.2, "warn", "warn"), (0.15, "warn", None)])
    # The newest window is still open: the one before it is reported.
    ws = windows([(0.5, "fail", "fail")]) + [WindowResult.model_construct(
        start=iso(1), end=iso(2), n=3, value=0.0, status="partial", firing=None)]
    open_ = check("open", [], windows=ws)
    immature = check("quality", [], kind="outcome", when="precision < 0.6", warn=None,
                     windows=windows([(None, "immature", None)]))
    inf = check("gone", [(float("inf"), "fail", "fail")], when="count change down > 50%",
                warn=None)
    text = render_openmetrics(results(firing, warn, open_, immature, inf))
    assert text.endswith("# EOF\n")
    s = samples(text)
    assert s[("planspec_check_value", "drift")] == 0.3
    assert s[("planspec_check_level", "drift")] == 2
    assert s[("planspec_check_firing", "drift")] == 2
    assert s[("planspec_check_level", "warned")] == 1
    assert s[("planspec_check_firing", "warned")] == 0
    assert s[("planspec_check_value", "open")] == 0.5
    assert s[("planspec_check_window_end_seconds", "open")] == 1767657600.0  # 2026-01-06
    assert math.isnan(s[("planspec_check_value", "quality")])
    assert s[("planspec_check_level", "quality")] == -1
    assert s[("planspec_check_value", "gone")] == math.inf
    assert s[("planspec_check_threshold", "drift/fail")] == 0.25
    assert s[("planspec_check_threshold", "drift/warn")] == 0.1
    assert s[("planspec_check_threshold", "quality/fail")] == 0.6


def test_a_window_past_the_newest_row_is_not_complete() -> None:
    res = results(check("a", [(0.1, "ok", None), (0.9, "fail", "fail")]))
    res = res.model_copy(update={"data": {**res.data, "end": "2026-01-06T18:00:00Z"}})
    s = samples(render_openmetrics(res))  # data ends inside the second window
    assert s[("planspec_check_value", "a")] == 0.1
    assert s[("planspec_check_firing", "a")] == 0


def test_a_segment_has_its_alert_column_and_value_as_labels() -> None:
    seg = check('low[c="a, b"]', [(0.3, "fail", "fail")]).model_copy(
        update={"by": "c", "segment": "a, b"})
    text = render_openmetrics(results(seg, check("plain", [(0.1, "ok", None)])))
    labels = {s.labels["check"]: s.labels for fam in text_string_to_metric_families(text)
              if fam.name == "planspec_check_level" for s in fam.samples}
    own = labels['low[c="a, b"]']
    assert (own["alert"], own["by"], own["segment"]) == ("low", "c", "a, b")
    assert not {"alert", "by", "segment"} & set(labels["plain"])


def test_label_values_are_escaped() -> None:
    nasty = 'a"b\\c\nd'
    text = render_openmetrics(results(check("x", [(0.1, "ok", None)]), plan=nasty))
    fam = next(iter(text_string_to_metric_families(text)))
    assert fam.samples[0].labels["plan"] == nasty


def test_check_writes_openmetrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from planspec.demo import write_demo_data

    paths = write_demo_data(tmp_path, rows=3000)
    plan = str(ROOT / "plans" / "rental_inspector.yaml")
    base = tmp_path / "baseline.json"
    assert main(["baseline", plan, "--data", str(paths["baseline"]), "-o", str(base)],
                io.StringIO()) == 0
    metrics = tmp_path / "metrics.prom"
    out = tmp_path / "results.json"
    argv = ["check", plan, "--baseline", str(base), "--data", str(paths["scored"]),
            "--fail-on", "never"]
    assert main([*argv, "--format", "json", "-o", str(out), "--metrics", str(metrics)],
                io.StringIO()) == 0
    text = metrics.read_text()
    assert len(samples(text)) > 3 * 20
    buf = io.StringIO()
    assert main([*argv, "--format", "openmetrics"], buf) == 0
    assert buf.getvalue() == text
    assert "metrics written" in capsys.readouterr().err
