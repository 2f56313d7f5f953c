"""bench/same_results.py, which `make demo` uses to compare the DuckDB run with the Parquet run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _compare(tmp: Path, a: object, b: object) -> subprocess.CompletedProcess[str]:
    (tmp / "a.json").write_text(json.dumps(a))
    (tmp / "b.json").write_text(json.dumps(b))
    return subprocess.run([sys.executable, str(ROOT / "bench" / "same_results.py"),
                           str(tmp / "a.json"), str(tmp / "b.json")],
                          capture_output=True, text=True, check=False)


def test_last_bits_agree_and_real_changes_do_not(tmp_path: Path) -> None:
    base = {"checks": [{"id": "x", "windows": [{"value": 1367.4197708595061, "status": "ok"}]}]}
    bits = {"checks": [{"id": "x", "windows": [{"value": 1367.4197708595054, "status": "ok"}]}]}
    assert _compare(tmp_path, base, bits).returncode == 0
    moved = {"checks": [{"id": "x", "windows": [{"value": 1367.5, "status": "ok"}]}]}
    r = _compare(tmp_path, base, moved)
    assert r.returncode == 1 and "$.checks[0].windows[0].value" in r.stderr
    status = {"checks": [{"id": "x", "windows": [{"value": 1367.4197708595061,
                                                  "status": "fail"}]}]}
    assert _compare(tmp_path, base, status).returncode == 1
    assert _compare(tmp_path, base, {"checks": []}).returncode == 1
