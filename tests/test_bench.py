"""The benchmark script runs end to end on tiny data, so it cannot rot (no timing is asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_runs_on_tiny_data(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--sizes", "3000,6000",
                    "--reps", "1", "--out", str(out), "--cache", str(tmp_path / "cache"),
                    "--plan-sizes", "5,10"],
                   check=True, capture_output=True, text=True, timeout=600)
    text = out.read_text()
    for figure in ("engine weekly / floor", "daily / weekly", "sliding / weekly",
                   "peak RSS growth (read + engine) / (one batch's columns + sums)",
                   "nightly incremental run", "profile / floor", "by hand / planspec",
                   "larger / smaller", "cores"):
        assert figure in text, figure
    assert "| 3,000 |" in text and "| 6,000 |" in text
    assert "## Segments" in text and "segmented / unsplit" in text
    for figure in ("validate / `python -c pass`", "| 10 |", "within 1.2× of linear"):
        assert figure in text, figure
