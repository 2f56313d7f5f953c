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
                    "--plan-sizes", "20,40"],
                   check=True, capture_output=True, text=True, timeout=600)
    text = out.read_text()
    for figure in ("engine weekly / floor", "daily / weekly", "sliding / weekly",
                   "peak RSS growth (read + engine) / (one batch's columns + sums)",
                   "nightly incremental run", "profile / floor", "by hand / planspec",
                   "larger / smaller", "cores", "## The engine from each source",
                   "| 6,000 | DuckDB table |", "| 6,000 | Dask, 2 local workers, Parquet file",
                   "| 6,000 | Dask, 2 local workers, DuckDB table (time ranges) |"):
        assert figure in text, figure
    assert "| 3,000 |" in text and "| 6,000 |" in text
    assert "## Segments" in text and "segmented / unsplit" in text
    for figure in ("validate / `python -c pass`", "| 40 |", "within 1.2× of linear"):
        assert figure in text, figure


def test_bench_sources_section_alone(tmp_path: Path) -> None:
    out = tmp_path / "sources.md"
    subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--sizes", "3000",
                    "--reps", "1", "--out", str(out), "--cache", str(tmp_path / "cache"),
                    "--only-sources", "--postgres", "never", "--dask", "never"],
                   check=True, capture_output=True, text=True, timeout=600)
    text = out.read_text()
    assert "| 3,000 | Parquet file, local engine | 1.00" in text
    assert "| 3,000 | DuckDB table |" in text and "| 3,000 | Parquet dataset directory |" in text
    assert "| 3,000 | Dask, 2 local workers, Parquet file (row-group runs) | not run |" in text
