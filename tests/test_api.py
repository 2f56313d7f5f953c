"""The Python library as a user meets it: every public name imports (lazily: `import planspec`
loads no numpy, scipy or pyarrow), compile_plan raises one documented error for a broken plan,
and results export as a table."""

from __future__ import annotations

import datetime
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

import planspec
from planspec import PlanError, Results, compile_plan, load_plan
from planspec.parse_yaml import parse_yaml
from planspec.results import TABLE_COLUMNS

from .enginekit import DAY, T0, frame, plan_with

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "scipy", "pyarrow", "pandas", "jinja2")


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_every_public_name_is_importable() -> None:
    for name in planspec.__all__:
        assert getattr(planspec, name) is not None, name
    assert set(planspec.__all__) <= set(dir(planspec))
    out = _python("from planspec import *\nimport planspec\n"
                  "print(sorted(n for n in planspec.__all__ if n not in globals()))")
    assert out.strip() == "[]"
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        planspec.nope  # noqa: B018


def test_import_planspec_loads_no_heavy_module() -> None:
    code = ("import sys, planspec\n"
            "from planspec import load_plan, compile_plan, check_plan, Diagnostic, PlanError\n"
            "compile_plan(load_plan('plans/rental_inspector.yaml'))\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    assert _python(code).strip() == "[]"


def test_readme_example_runs() -> None:
    program = compile_plan(load_plan(ROOT / "plans" / "rental_inspector.yaml").plan)
    assert program.plan.plan == "rental_fmv_inspector"


BROKEN = (ROOT / "plans" / "rental_inspector.yaml").read_text().replace(
    "mean(listing_price) shift > 2 sd", "mean(listing_prise) shift > 2 sd", 1)


def test_compile_plan_with_errors_raises_plan_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(BROKEN)
    parsed = load_plan(path)
    assert parsed.plan is not None  # it parses; the semantic checks find the error
    for given in (parsed, parsed.plan):
        with pytest.raises(PlanError) as caught:
            compile_plan(given)  # type: ignore[arg-type]
        codes = [d.code for d in caught.value.diagnostics if d.severity == "error"]
        assert codes == ["PS303"]
        assert "PS303" in str(caught.value) and "listing_prise" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_compile_plan_of_a_plan_that_does_not_parse(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("plan: [unclosed\n")
    parsed = load_plan(path)
    with pytest.raises(PlanError) as caught:
        compile_plan(parsed)
    assert caught.value.diagnostics and caught.value.diagnostics[0].code.startswith("PS1")
    with pytest.raises(TypeError, match="load_plan"):
        compile_plan(parsed.plan)  # type: ignore[arg-type]


def test_a_valid_plan_without_source_map_compiles() -> None:
    parsed = parse_yaml((ROOT / "plans" / "rental_inspector.yaml").read_text())
    assert parsed.plan is not None
    assert compile_plan(parsed.plan).plan == parsed.plan


def test_py_typed_ships_with_the_package() -> None:
    assert (Path(planspec.__file__).parent / "py.typed").is_file()


@pytest.fixture(scope="module")
def results() -> Results:
    rng = np.random.default_rng(5)
    plan = plan_with({"shift": "mean(x) shift > 0.5 sd", "mix": "psi(c) > 0.2"},
                     {"rate": "rate(p < 0.5) change > 50%"})
    base = frame(rng, 4000, 28, start=T0 - 28 * DAY)
    data = frame(rng, 6000, 35, shift=0.3)
    return compile_plan(plan).run(data, base)


def test_to_arrow_has_a_row_per_check_and_window(results: Results) -> None:
    table = results.to_arrow()
    assert table.column_names == list(TABLE_COLUMNS)
    assert table.num_rows == sum(len(c.windows) for c in results.checks)
    rows = table.to_pylist()
    i = 0
    for c in results.checks:
        for w in c.windows:
            row = rows[i]
            i += 1
            assert (row["check"], row["status"], row["n"], row["firing"]) == (
                c.id, w.status, w.n, w.firing)
            assert row["value"] == w.value or (row["value"] is None and w.value is None)
            start = datetime.datetime.fromisoformat(w.start.replace("Z", "+00:00"))
            assert row["start"] == start
    assert table.schema.field("end").type == pa.timestamp("s", tz="UTC")
    assert table.schema.field("value").type == pa.float64()


def test_to_pandas(results: Results) -> None:
    pd = pytest.importorskip("pandas")
    df = results.to_pandas()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == list(TABLE_COLUMNS)
    assert len(df) == results.to_arrow().num_rows
    assert str(df["start"].dt.tz) == "UTC"


def test_to_pandas_without_pandas_says_what_to_do(results: Results,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *a: Any, **k: Any) -> Any:
        return None if name == "pandas" else real(name, *a, **k)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(ImportError, match=r"pip install pandas.*to_arrow"):
        results.to_pandas()


def test_an_unknown_engine_is_refused_not_run_locally(tmp_path: Path) -> None:
    from planspec.engine.run import run_program, run_store

    rng = np.random.default_rng(6)
    program = compile_plan(plan_with({"shift": "mean(x) shift > 0.5 sd"}))
    base, data = frame(rng, 400, 7, start=T0 - 7 * DAY), frame(rng, 400, 7)
    with pytest.raises(ValueError, match="engine must be 'local' or 'dask', not 'spark'"):
        run_program(program, data, base, engine="spark")
    with pytest.raises(ValueError, match="not 'Dask'"):
        run_store(program, data, base, tmp_path / "store", engine="Dask")
    assert not (tmp_path / "store").exists()  # refused before anything is written
