"""Start-up: the commands a pre-commit hook runs load no numerical stack, and the grammar's
parser tables come from a cache after the first run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "scipy", "pyarrow", "pandas", "polars")

_PROBE = f"""
import io, json, sys
from planspec.cli import main
rc = main(sys.argv[1:], out=io.StringIO())
print(json.dumps({{"rc": rc, "loaded": [m for m in {HEAVY!r} if m in sys.modules]}}))
"""


def _run(args: list[str], env_cache: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True,
                          cwd=ROOT, env={"PLANSPEC_CACHE_DIR": str(env_cache),
                                         "PATH": "/usr/bin:/bin"}, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("args", [
    ["validate", "plans/rental_inspector.yaml", "plans/rental_inspector.plan"],
    ["validate", "tests/cases/PS303_unknown_column.yaml"],
    ["fmt", "plans/rental_inspector.plan"],
    ["fmt", "--check", "plans/rental_inspector.yaml"],
    ["fmt", "--to", "plan", "plans/rental_inspector.yaml"],
    ["schema"],
    ["explain", "PS303"],
])
def test_light_commands_load_no_numerical_stack(args: list[str], tmp_path: Path) -> None:
    result = _run(args, tmp_path)
    assert result["rc"] in (0, 1)
    assert result["loaded"] == []


def test_importing_planspec_loads_no_numerical_stack(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "import sys, planspec, planspec.load; "
                           f"print([m for m in {HEAVY!r} if m in sys.modules])"],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"


def test_grammar_tables_are_cached_and_reused(tmp_path: Path) -> None:
    first = _run(["validate", "plans/rental_inspector.plan"], tmp_path)
    cached = list(tmp_path.glob("grammar-*.lark"))
    assert first["rc"] == 0 and len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    assert _run(["validate", "plans/rental_inspector.plan"], tmp_path)["rc"] == 0
    assert cached[0].stat().st_mtime_ns == stamp  # read, not rebuilt
    assert not list(tmp_path.glob(".grammar-*"))  # no temporary files left behind


def test_a_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    _run(["validate", "plans/rental_inspector.plan"], tmp_path)
    (cached,) = tmp_path.glob("grammar-*.lark")
    cached.write_bytes(b"not a parser")
    assert _run(["validate", "plans/rental_inspector.plan"], tmp_path)["rc"] == 0
    assert cached.read_bytes() != b"not a parser"


def test_an_unwritable_cache_still_parses(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert _run(["validate", "plans/rental_inspector.plan"], blocker / "sub")["rc"] == 0
