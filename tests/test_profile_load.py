"""A baseline profile is checked before it is used: each invariant the engine relies on, broken in
an edited `baseline.json`, is a PS440 naming the field (JSON path, line and column), through the
CLI, with exit 2 and no traceback; schema and version problems are located PS407s; a column with no
baseline values that a check compares with the baseline is a PS441 (#10)."""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings

from planspec.compile import compile_plan
from planspec.data import DataError
from planspec.load import load_plan
from planspec.profile import (
    Profile,
    build_profile,
    check_profile,
    load_profile,
    read_profile,
)
from planspec.profile_check import histogram_bins, json_path, json_position, profile_problems
from tests.datakit import PLAN, run, table, write_plan

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("profile")
    plan = write_plan(d)
    pq.write_table(table(seed=1), d / "base.parquet")
    pq.write_table(table(seed=2), d / "data.parquet")
    r = run("baseline", plan, "--data", str(d / "base.parquet"), "-o", str(d / "base.json"))
    assert r.code == 0, r.err
    return {"dir": d, "plan": plan, "data": str(d / "data.parquet"),
            "profile": json.loads((d / "base.json").read_text())}


def _x(d: dict[str, Any]) -> dict[str, Any]:
    return d["columns"]["x"]  # type: ignore[no-any-return]


def _c(d: dict[str, Any]) -> dict[str, Any]:
    return d["columns"]["c"]  # type: ignore[no-any-return]


def _set(get: Callable[[dict[str, Any]], dict[str, Any]], **values: Any) -> Edit:
    return lambda d: get(d).update(values)


def _item(get: Callable[[dict[str, Any]], dict[str, Any]], key: str, i: int, value: Any) -> Edit:
    return lambda d: get(d)[key].__setitem__(i, value)


def _top(d: dict[str, Any]) -> dict[str, Any]:
    return d


def _all_missing(d: dict[str, Any]) -> None:
    x = _x(d)
    x.update(missing=x["rows"], mean=None, std=None, min=None, max=None, decile_edges=[],
             decile_counts=[], fine_edges=[], fine_counts=[])


#: One broken invariant each: (edit, JSON path the error must name).
INVARIANTS: dict[str, tuple[Edit, tuple[str | int, ...]]] = {
    "rows zero": (_set(_top, rows=0), ("rows",)),
    "span zero": (_set(_top, span_seconds=0), ("span_seconds",)),
    "span negative": (_set(_top, span_seconds=-86400), ("span_seconds",)),
    "end before start": (_set(_top, end="2020-01-01T00:00:00Z"), ("end",)),
    "span shorter than start to end": (_set(_top, span_seconds=60), ("span_seconds",)),
    "column rows differ": (_set(_x, rows=3), ("columns", "x", "rows")),
    "missing above rows": (_set(_x, missing=10**6), ("columns", "x", "missing")),
    "missing negative": (_set(_x, missing=-1), ("columns", "x", "missing")),
    "mean NaN": (_set(_x, mean=math.nan), ("columns", "x", "mean")),
    "std infinite": (_set(_x, std=math.inf), ("columns", "x", "std")),
    "std negative": (_set(_x, std=-1.0), ("columns", "x", "std")),
    "min null": (_set(_x, min=None), ("columns", "x", "min")),
    "min above max": (_set(_x, min=1e9), ("columns", "x", "min")),
    "moments of a column with no values": (
        lambda d: (_all_missing(d), _x(d).update(mean=0.5)), ("columns", "x", "mean")),
    "decile edges unsorted": (lambda d: _x(d)["decile_edges"].reverse(),
                              ("columns", "x", "decile_edges", 1)),
    "decile edge infinite": (_item(_x, "decile_edges", 0, -math.inf),
                             ("columns", "x", "decile_edges", 0)),
    "decile counts too short": (lambda d: _x(d)["decile_counts"].pop(),
                                ("columns", "x", "decile_counts")),
    "decile count negative": (_item(_x, "decile_counts", 2, -5),
                              ("columns", "x", "decile_counts", 2)),
    "decile counts off the present values": (_item(_x, "decile_counts", 0, 10**6),
                                             ("columns", "x", "decile_counts")),
    "fine edges empty": (_set(_x, fine_edges=[]), ("columns", "x", "fine_edges")),
    "fine counts too long": (lambda d: _x(d)["fine_counts"].append(0),
                             ("columns", "x", "fine_counts")),
    "decile edge not a fine edge": (
        lambda d: _x(d).update(fine_edges=[e + 1e-9 for e in _x(d)["fine_edges"]]),
        ("columns", "x", "decile_edges", 0)),
    "categories and counts of different lengths": (lambda d: _c(d)["category_counts"].pop(),
                                                   ("columns", "c", "category_counts")),
    "category repeated": (lambda d: _c(d)["categories"].__setitem__(1, _c(d)["categories"][0]),
                          ("columns", "c", "categories", 1)),
    "category count negative": (_item(_c, "category_counts", 0, -1),
                                ("columns", "c", "category_counts", 0)),
    "category counts off the present values": (_item(_c, "category_counts", 0, 10**6),
                                               ("columns", "c", "category_counts")),
    "baseline value infinite": (lambda d: d["values"][0].update(value=math.inf),
                                ("values", 0, "value")),
    "baseline value of no column": (lambda d: d["values"][0].update(column="nope"),
                                    ("values", 0, "column")),
}


def _write(kit: dict[str, Any], name: str, edit: Edit) -> tuple[str, str]:
    profile = copy.deepcopy(kit["profile"])
    edit(profile)
    text = json.dumps(profile, indent=1)  # as `planspec baseline` writes it: one value a line
    path = kit["dir"] / f"{name.replace(' ', '_')}.json"
    path.write_text(text)
    return str(path), text


@pytest.mark.parametrize("case", INVARIANTS)
def test_each_broken_invariant_is_a_located_ps440(case: str, kit: dict[str, Any]) -> None:
    edit, path = INVARIANTS[case]
    file, text = _write(kit, case, edit)
    r = run("check", kit["plan"], "--baseline", file, "--data", kit["data"])
    pos = json_position(text, path)
    assert pos is not None
    assert r.code == 2
    assert r.err.startswith(f"error[PS440]: {file}:{pos[0]}:{pos[1]}: inconsistent profile: "
                            f"`{json_path(path)}` "), r.err
    assert "Traceback" not in r.err
    # The position is the field's own line: its key is written there.
    key = next(p for p in reversed(path) if isinstance(p, str))
    line = text.splitlines()[pos[0] - 1]
    assert f'"{key}"' in line or isinstance(path[-1], int)


def test_every_invariant_is_also_checked_for_profiles_given_to_the_library(
        kit: dict[str, Any]) -> None:
    """The engine checks a Profile object too (no file, so no line), not only `load_profile`."""
    program = compile_plan(load_plan(kit["plan"]).plan)  # type: ignore[arg-type]
    for case, (edit, path) in INVARIANTS.items():
        raw = copy.deepcopy(kit["profile"])
        edit(raw)
        profile = Profile.model_validate(raw)
        with pytest.raises(DataError) as e:
            check_profile(program, profile)
        assert e.value.code == "PS440", case
        assert e.value.message.startswith(f"baseline: inconsistent profile: `{json_path(path)}`")


def test_the_built_profile_passes_and_round_trips(kit: dict[str, Any]) -> None:
    text = (kit["dir"] / "base.json").read_text()
    profile = load_profile(text, "base.json")
    assert list(profile_problems(profile)) == []
    assert load_profile(profile.model_dump_json(indent=1), "again.json") == profile
    assert run("check", kit["plan"], "--baseline", str(kit["dir"] / "base.json"), "--data",
               kit["data"], "--fail-on", "never").code == 0


@pytest.mark.parametrize("shape", ["normal", "integers", "constant", "ties", "one row",
                                   "mostly missing", "two values"])
def test_profiles_of_random_data_have_no_problems(shape: str, tmp_path: Path) -> None:
    """No false alarms: whatever the data, a profile planspec builds is consistent."""
    rng = np.random.default_rng(len(shape))
    data = table(n=1 if shape == "one row" else 2000, seed=len(shape), x_missing=0.1,
                 c_missing=0.1)
    n = data.num_rows
    x = {"normal": rng.normal(size=n) * 1e6, "integers": rng.integers(0, 5, n) * 1.0,
         "constant": np.full(n, 0.1), "ties": np.round(rng.normal(size=n), 1),
         "one row": np.array([2.5]), "two values": rng.choice([-1.0, 1e-300], n),
         "mostly missing": np.where(rng.random(n) < 0.99, np.nan, rng.normal(size=n))}[shape]
    data = data.set_column(1, "x", [x])
    program = compile_plan(load_plan(write_plan(tmp_path)).plan)  # type: ignore[arg-type]
    profile = build_profile(program, data)
    assert list(profile_problems(profile)) == []
    check_profile(program, profile)
    assert load_profile(profile.model_dump_json(), "p.json") == profile


# --------------------------------------------------------------------- schema and version


def test_a_field_of_the_wrong_type_is_a_located_ps407(kit: dict[str, Any]) -> None:
    file, text = _write(kit, "wrong type", _set(_x, decile_counts="many"))
    line, col = json_position(text, ("columns", "x", "decile_counts")) or (0, 0)
    r = run("check", kit["plan"], "--baseline", file, "--data", kit["data"])
    assert r.code == 2
    assert r.err.startswith(f"error[PS407]: {file}:{line}:{col}: damaged profile: "
                            "`columns.x.decile_counts`: "), r.err


def test_another_version_points_at_the_version(kit: dict[str, Any]) -> None:
    file, text = _write(kit, "version", _set(_top, version=7))
    line, col = json_position(text, ("version",)) or (0, 0)
    r = run("check", kit["plan"], "--baseline", file, "--data", kit["data"])
    assert r.code == 2
    assert r.err.startswith(f"error[PS407]: {file}:{line}:{col}: profile format version 7"), r.err


def test_text_that_is_not_json_points_at_the_error(kit: dict[str, Any]) -> None:
    path = kit["dir"] / "cut.json"
    path.write_text((kit["dir"] / "base.json").read_text()[:200])
    r = run("check", kit["plan"], "--baseline", str(path), "--data", kit["data"])
    lines = path.read_text().splitlines()
    assert r.code == 2
    assert r.err.startswith(f"error[PS407]: {path}:{len(lines)}:"), r.err


def test_read_profile_says_what_a_path_is(kit: dict[str, Any], tmp_path: Path) -> None:
    """`read_profile` (for the CLI's `--baseline x.json`): a FIFO must not block the read."""
    assert read_profile(str(kit["dir"] / "base.json")) == Profile.model_validate(kit["profile"])
    os.mkfifo(tmp_path / "pipe.json")
    (tmp_path / "dir.json").mkdir()
    (tmp_path / "latin.json").write_bytes(b'{"format": "caf\xe9"}')
    for name, code, says in (("pipe.json", "PS401", "is a FIFO"),
                             ("dir.json", "PS401", "is a directory"),
                             ("none.json", "PS401", "no such file"),
                             ("latin.json", "PS407", "cannot read it")):
        with pytest.raises(DataError) as e:
            read_profile(str(tmp_path / name))
        assert e.value.code == code and says in e.value.message, e.value.message


# ------------------------------------------------------------------------- JSON positions


def test_json_position_by_hand() -> None:
    text = '{"a": {"b c": [1, {"d": null}]},\n  "e": "x\\"y", "f": [[], [2]]}'
    assert json_position(text, ()) == (1, 1)
    assert json_position(text, ("a", "b c", 1, "d")) == (1, 25)
    assert json_position(text, ("e",)) == (2, 8)
    assert json_position(text, ("f", 1, 0)) == (2, 27)
    assert json_position(text, ("f", 2)) is None
    assert json_position(text, ("zz",)) is None
    assert json_position(text, ("a", 0)) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner,
                                                                max_size=4),
    max_leaves=20)


def _paths(value: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@settings(max_examples=150, deadline=None)
@given(json_values, st.sampled_from([None, 1, 4]), st.data())
def test_json_position_points_at_the_value(value: Any, indent: int | None,
                                           data: st.DataObject) -> None:
    text = json.dumps(value, indent=indent)
    path = data.draw(st.sampled_from(_paths(value)))
    pos = json_position(text, path)
    assert pos is not None
    lines = text.split("\n")
    offset = sum(len(line) + 1 for line in lines[:pos[0] - 1]) + pos[1] - 1
    expected = value
    for part in path:
        expected = expected[part]
    assert json.JSONDecoder().raw_decode(text, offset)[0] == expected


# ----------------------------------------------- #10: a baseline column with no values


def _null_x_baseline(kit: dict[str, Any], name: str, plan: str | None = None) -> str:
    data = table(seed=3, x_missing=1.0)
    path = kit["dir"] / name
    pq.write_table(data, path)
    return str(path)


def test_all_missing_baseline_column_is_ps441_at_baseline_time(kit: dict[str, Any]) -> None:
    base = _null_x_baseline(kit, "null_x.parquet")
    out = kit["dir"] / "never.json"
    r = run("baseline", kit["plan"], "--data", base, "-o", str(out))
    assert r.code == 2
    assert r.err.startswith(f"error[PS441]: {base}: `x` has no values (all 480 baseline rows "
                            "are missing), but `x_shift`, `x_ks`, `x_psi` "), r.err
    # located at the first check that reads it: the `when` of x_shift in the plan
    line = next(i for i, t in enumerate(PLAN.splitlines(), 1) if "mean(x) shift" in t)
    assert f"plan.yaml:{line}:11)" in r.err
    assert "missing rate needs no baseline values" in r.err
    assert not out.exists()


def test_all_missing_baseline_column_is_ps441_when_checking(kit: dict[str, Any]) -> None:
    base = _null_x_baseline(kit, "null_x2.parquet")
    r = run("check", kit["plan"], "--baseline", base, "--data", kit["data"])
    assert r.code == 2 and r.err.startswith("error[PS441]:"), r.err
    file, _ = _write(kit, "null x profile", _all_missing)  # a consistent, edited profile
    r = run("check", kit["plan"], "--baseline", file, "--data", kit["data"])
    assert r.code == 2 and r.err.startswith("error[PS441]: baseline: `x` has no values"), r.err


def test_all_missing_categorical_baseline_column_is_ps441(kit: dict[str, Any]) -> None:
    path = kit["dir"] / "null_c.parquet"
    pq.write_table(table(seed=4, c_missing=1.0), path)
    r = run("baseline", kit["plan"], "--data", str(path))
    assert r.code == 2
    assert "error[PS441]" in r.err and "`c` has no values" in r.err and "`c_chi2`, `c_new`" in r.err


def test_checks_needing_no_baseline_values_still_run(kit: dict[str, Any], tmp_path: Path) -> None:
    """The error is only for checks that compare with baseline values: a plan that watches the
    column's missing rate (and an absolute mean) profiles and checks it as usual."""
    text = PLAN.split("input_alerts:")[0] + (
        "input_alerts:\n  - id: x_missing\n    when: missing_rate(x) > 90%\n"
        "  - id: x_high\n    when: mean(x) > 5\n  - id: x_missing_change\n"
        "    when: missing_rate(x) change > 50%\n")
    plan = write_plan(tmp_path, text)
    base = _null_x_baseline(kit, "null_x3.parquet")
    r = run("baseline", plan, "--data", base, "-o", str(tmp_path / "b.json"))
    assert r.code == 0, r.err
    data = table(seed=5, x_missing=0.25)
    pq.write_table(data, tmp_path / "d.parquet")
    r = run("check", plan, "--baseline", str(tmp_path / "b.json"), "--data",
            str(tmp_path / "d.parquet"), "--format", "json", "--fail-on", "never")
    assert r.code == 0, r.err
    results = json.loads(r.out)
    missing = next(c for c in results["checks"] if c["id"] == "x_missing")
    x = data.column("x").to_numpy(zero_copy_only=False)
    ts = data.column("ts").cast("int64").to_numpy()
    first = missing["windows"][0]
    day = ts < ts.min() // 86400 * 86400 + 86400
    assert first["value"] == pytest.approx(np.isnan(x[day]).mean())
    change = next(c for c in results["checks"] if c["id"] == "x_missing_change")
    # the baseline missing rate is 1: the change is (rate - 1) / 1
    assert change["windows"][0]["value"] == pytest.approx(abs(np.isnan(x[day]).mean() - 1))


def test_histogram_bins_is_the_widest_per_bucket_array(kit: dict[str, Any]) -> None:
    program = compile_plan(load_plan(kit["plan"]).plan)  # type: ignore[arg-type]
    profile = Profile.model_validate(kit["profile"])
    x, c = profile.columns["x"], profile.columns["c"]
    assert histogram_bins(program, profile) == max(len(x.fine_edges) + 1, len(c.categories) + 1)
