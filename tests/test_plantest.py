"""`planspec test`: plan tests with synthetic windows resampled from the baseline, run through the
engine. The worked example's test file passes and exercises every alert both ways; a weakened
threshold makes it fail with a readable line; the synthetic windows look like the baseline and
each recipe changes what it says by the amount it says; every mistake in a test file is a
located diagnostic (PS101, PS370–PS373)."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import yaml

from planspec.cli import main
from planspec.compile import compile_plan
from planspec.data import numeric
from planspec.load import load_plan
from planspec.plantest import (
    Case,
    generate_baseline,
    load_test_file,
    plan_test_schema,
    run_plan_tests,
    synthesize,
)
from planspec.profile import build_profile

ROOT = Path(__file__).resolve().parent.parent
TESTFILE = ROOT / "plans" / "rental_inspector.test.yaml"
DAY = 86400
START = 1767571200  # 2026-01-05, a Monday


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(list(argv), out)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def program() -> Any:
    parsed = load_plan(ROOT / "plans" / "rental_inspector.yaml")
    assert parsed.plan is not None
    return compile_plan(parsed.plan, parsed.source_map)


@pytest.fixture(scope="module")
def baseline(program: Any) -> Any:
    return generate_baseline(program, 40_000, 28, seed=3, start=START - 28 * DAY)


@pytest.fixture(scope="module")
def profile(program: Any, baseline: Any) -> Any:
    return build_profile(program, baseline)


# ------------------------------------------------------------------- the worked example's file


def test_worked_example_test_file_passes_through_the_cli(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    code, _, err = run("test", str(TESTFILE), "--format", "json", "-o", str(out))
    assert code == 0, err
    report = json.loads(out.read_text())
    assert report["passed"] and report["diagnostics"] == []
    assert len(report["cases"]) >= 7 and all(c["checked"] > 0 for c in report["cases"])


def test_worked_example_exercises_every_alert_firing_and_quiet(program: Any) -> None:
    report = run_plan_tests(TESTFILE)
    assert report.passed
    test = load_test_file(TESTFILE).test
    assert test is not None
    fired: set[str] = set()
    quiet: set[str] = set()
    for case, result in zip(test.tests, report.cases, strict=True):
        for key in case.expect:
            exp = case.expected(key)
            lo, hi = (int(x) for x in str(key).split("-")) if "-" in str(key) else (
                int(key), int(key))
            for i in range(lo, hi + 1):
                for alert, state in result.states[i].items():
                    # quiet: judged in a complete window of its own and not firing
                    if state.firing == "fail" and alert in exp.firing:
                        fired.add(alert)
                    elif state.start is not None and state.firing is None and \
                            state.status in ("ok", "warn"):
                        quiet.add(alert)
    every = {r.id for r in program.rules if r.risk is None} | {m.id for m in program.monitors}
    assert fired == every
    assert quiet == every


def test_a_weakened_threshold_fails_with_a_readable_line(tmp_path: Path) -> None:
    for name in ("rental_inspector.yaml",):
        shutil.copy(ROOT / "plans" / name, tmp_path / name)
    plan = tmp_path / "rental_inspector.yaml"
    text = plan.read_text()
    weak = text.replace("when: mean(listing_price) shift > 2 sd",
                        "when: mean(listing_price) shift > 4 sd")
    assert weak != text
    plan.write_text(weak)
    spec = yaml.safe_load(TESTFILE.read_text())
    spec["tests"] = [c for c in spec["tests"] if c["name"] == "weekly feature drift"]
    (tmp_path / "t.test.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    code, out, _ = run("test", str(tmp_path / "t.test.yaml"))
    assert code == 1
    line = next(x for x in out.splitlines() if "window 4:" in x)
    assert "expected `price_mean_shift` firing, it was firing (warn): value 3." in line
    assert "`mean(listing_price) shift > 4 sd`" in line
    assert "FAIL  weekly feature drift" in out and "1 case: 0 passed, 1 failed" in out
    assert "t.test.yaml:" in out  # the expectation's place in the test file


# --------------------------------------------------------------------------- synthetic windows


def _case(**changes: Any) -> Case:
    return Case.model_validate({"name": "c", "windows": 2, "expect": {1: []},
                                "changes": [{"from": 2, **changes}] if changes else []})


def _window(table: Any, i: int, program: Any) -> Any:
    t = table.column(program.timestamp).cast("int64").to_numpy()
    lo = START + (i - 1) * 7 * DAY
    return table.filter((t >= lo) & (t < lo + 7 * DAY))


def test_windows_resample_the_baseline(program: Any, profile: Any, baseline: Any) -> None:
    syn = synthesize(program, profile, _case(), 5, START, 7 * DAY, 2000)
    w = syn.scored
    assert w.num_rows == pytest.approx(2 * 7 * 2000, abs=4 * np.sqrt(2 * 7 * 2000))
    for col in ("listing_price", "building_age", "p_within_10pct"):
        x, b = numeric(w, col, "w"), numeric(baseline, col, "b")
        x, b = x[~np.isnan(x)], b[~np.isnan(b)]
        se = b.std(ddof=1) / np.sqrt(x.size)
        assert abs(x.mean() - b.mean()) < 4 * se, col
        # the shape too: deciles within two percentiles of the baseline's
        ranks = np.searchsorted(np.sort(b), np.quantile(x, np.linspace(0.1, 0.9, 9))) / b.size
        assert np.abs(ranks - np.linspace(0.1, 0.9, 9)).max() < 0.02, col
    hoods = w.column("neighborhood").to_pylist()
    base = baseline.column("neighborhood").to_pylist()
    for cat in set(base):
        assert abs(hoods.count(cat) / len(hoods) - base.count(cat) / len(base)) < 0.02


def test_windows_are_deterministic_for_a_seed(program: Any, profile: Any) -> None:
    case = _case(mean_shift={"column": "sqft", "sd": 1})
    a = synthesize(program, profile, case, 5, START, 7 * DAY, 300)
    b = synthesize(program, profile, case, 5, START, 7 * DAY, 300)
    c = synthesize(program, profile, case, 6, START, 7 * DAY, 300)
    assert a.scored.equals(b.scored)
    assert all(a.outcomes[k].equals(b.outcomes[k]) for k in a.outcomes)
    assert not a.scored.equals(c.scored)


@pytest.mark.parametrize("recipe", ["mean_shift", "share", "missing", "out_of_range",
                                    "new_categories", "volume"])
def test_each_recipe_changes_what_it_says(recipe: str, program: Any, profile: Any) -> None:
    change = {
        "mean_shift": {"column": "sqft", "sd": 1.5},
        "share": {"column": "listing_source", "category": "listing_source_3", "to": "60%"},
        "missing": {"column": "sqft", "rate": "30%"},
        "out_of_range": {"column": "sqft", "rate": "10%"},
        "new_categories": {"column": "neighborhood", "rate": "5%"},
        "volume": {"factor": "25%"},
    }[recipe]
    syn = synthesize(program, profile, _case(**{recipe: change}), 2, START, 7 * DAY, 3000)
    before, after = _window(syn.scored, 1, program), _window(syn.scored, 2, program)
    sqft = profile.columns["sqft"]
    if recipe == "mean_shift":
        gap = (np.nanmean(numeric(after, "sqft", "")) - np.nanmean(numeric(before, "sqft", "")))
        assert gap / sqft.std == pytest.approx(1.5, abs=0.08)
    elif recipe == "share":
        src = after.column("listing_source").to_pylist()
        assert src.count("listing_source_3") / len(src) == pytest.approx(0.6, abs=0.02)
        old = before.column("listing_source").to_pylist()
        # the others keep their proportions
        ratio = src.count("listing_source_1") / max(src.count("listing_source_2"), 1)
        assert ratio == pytest.approx(old.count("listing_source_1") /
                                      old.count("listing_source_2"), rel=0.15)
    elif recipe == "missing":
        assert np.isnan(numeric(after, "sqft", "")).mean() == pytest.approx(0.3, abs=0.02)
        assert np.isnan(numeric(before, "sqft", "")).mean() < 0.01
    elif recipe == "out_of_range":
        x = numeric(after, "sqft", "")
        assert ((x < 100) | (x > 10000)).mean() == pytest.approx(0.1, abs=0.015)
    elif recipe == "new_categories":
        seen = set(profile.columns["neighborhood"].categories)
        hoods = after.column("neighborhood").to_pylist()
        assert np.mean([h not in seen for h in hoods]) == pytest.approx(0.05, abs=0.01)
    else:
        # a Poisson count per day around a quarter of the usual 3,000
        assert after.num_rows == pytest.approx(0.25 * 7 * 3000, abs=4 * np.sqrt(0.25 * 7 * 3000))
        assert before.num_rows == pytest.approx(7 * 3000, abs=4 * np.sqrt(7 * 3000))


def test_outcome_recipes(program: Any, profile: Any) -> None:
    quiet = synthesize(program, profile, _case(), 4, START, 7 * DAY, 3000)
    flipped = synthesize(program, profile, _case(quality_drop={"monitor": "audit_precision",
                                                               "flip": "40%"}),
                         4, START, 7 * DAY, 3000)
    late = synthesize(program, profile, _case(label_delay={"monitor": "lease_recall",
                                                          "extra": "100d"}),
                      4, START, 7 * DAY, 3000)

    def labelled(syn: Any, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        out = syn.outcomes[source]
        ids = syn.scored.column("listing_id").to_pylist()
        scores = dict(zip(ids, numeric(syn.scored, "p_within_10pct", "").tolist(), strict=True))
        keys = out.column("listing_id").to_pylist()
        s = np.array([scores[k] for k in keys])
        week = np.array([int(k.split("-")[0][1:]) for k in keys])
        return s, week, out
    s, _, out = labelled(quiet, "inspector_audits")
    y = numeric(out, "out_of_line", "")
    # calibrated: the flagged side (score below 0.5) is positive with probability 1 - score
    assert abs(y.mean() - (1 - s).mean()) < 4 * np.sqrt(0.25 / y.size)
    s2, week2, out2 = labelled(flipped, "inspector_audits")
    y2 = numeric(out2, "out_of_line", "")
    agree = np.mean((y2 > 0.5)[week2 == 2] == ((1 - s2) > 0.5)[week2 == 2])
    agree_before = np.mean((y2 > 0.5)[week2 == 1] == ((1 - s2) > 0.5)[week2 == 1])
    # a share `flip` of labels flipped: agreement with the score falls by flip·(2a - 1)
    assert agree == pytest.approx(agree_before - 0.4 * (2 * agree_before - 1), abs=0.05)
    _, wk, reg = labelled(late, "lease_registry")
    _, wk0, reg0 = labelled(quiet, "lease_registry")
    known = reg.column("registered_at").cast("int64").to_numpy()
    known0 = reg0.column("registered_at").cast("int64").to_numpy()
    assert known[wk == 2].min() > known0[wk0 == 2].max()  # every label of week 2 is late
    # the derived registry label holds as drawn: abs(price - rent) / rent > 10%
    ids = late.scored.column("listing_id").to_pylist()
    price = dict(zip(ids, numeric(late.scored, "listing_price", "").tolist(), strict=True))
    rent = numeric(reg, "lease_rent", "")
    p = np.array([price[k] for k in reg.column("listing_id").to_pylist()])
    assert np.isfinite(rent).all() and 0.1 < np.mean(np.abs(p - rent) / rent > 0.1) < 0.9


# -------------------------------------------------------------------------- bad test files


def _write(tmp: Path, text: str) -> Path:
    shutil.copy(ROOT / "plans" / "rental_inspector.yaml", tmp / "rental_inspector.yaml")
    path = tmp / "bad.test.yaml"
    path.write_text(text)
    return path


GOOD = """plan: rental_inspector.yaml
baseline:
  generate: {rows: 2000, days: 14}
tests:
  - name: price
    windows: 3
    changes:
      - {from: 2, mean_shift: {column: listing_price, sd: 3}}
    expect:
      1: []
      3: [price_mean_shift, price_distribution]
"""


@pytest.mark.parametrize(("code", "old", "new", "line", "at", "hint"), [
    ("PS370", "    windows: 3", "    window: 3", 6, "window", "did you mean `windows`?"),
    ("PS370", "      3: [price", "      4: [price", 11, "4", None),
    ("PS370", "{from: 2,", "{from: 7,", 8, "7", None),
    ("PS371", "[price_mean_shift,", "[price_mean_shfit,", 11, "price_mean_shfit",
     "did you mean `price_mean_shift`?"),
    ("PS372", "mean_shift: {", "mean_shfit: {", 8, "mean_shfit", "did you mean `mean_shift`?"),
    ("PS373", "column: listing_price", "column: listing_prise", 8, "listing_prise",
     "did you mean `listing_price`?"),
    ("PS373", "column: listing_price", "column: neighborhood", 8, "neighborhood", None),
    ("PS101", "expect:", "expect: [", 11, None, None),
])
def test_mistakes_are_located(tmp_path: Path, code: str, old: str, new: str, line: int,
                              at: str | None, hint: str | None) -> None:
    assert old in GOOD
    text = GOOD.replace(old, new, 1)
    path = _write(tmp_path, text)
    report = run_plan_tests(path)
    assert report.cases == []
    found = [d for d in report.diagnostics
             if (d.code, d.span.line if d.span else None) == (code, line)]
    assert found, report.diagnostics
    d = found[0]
    if at is not None:
        assert d.span is not None and d.span.col == text.splitlines()[line - 1].index(at) + 1
    if hint is not None:
        assert d.hint == hint
    status, out, err = run("test", str(path))
    assert status == 2 and out == "" and f"error[{code}]" in err and "Traceback" not in err
    assert f"bad.test.yaml:{line}:" in err


def test_a_good_file_raises_nothing(tmp_path: Path) -> None:
    report = run_plan_tests(_write(tmp_path, GOOD))
    assert report.diagnostics == [] and report.passed
    assert run_plan_tests(TESTFILE).diagnostics == []


def test_unusable_inputs_exit_2(tmp_path: Path) -> None:
    assert run("test", str(tmp_path / "none.yaml"))[0] == 2
    path = _write(tmp_path, GOOD.replace("rental_inspector.yaml", "nothing.yaml"))
    status, _, err = run("test", str(path))
    assert status == 2 and "PS370" in err and "Traceback" not in err
    path = _write(tmp_path, GOOD.replace("generate: {rows: 2000, days: 14}",
                                         "profile: missing.json"))
    status, _, err = run("test", str(path))
    assert status == 2 and "PS401" in err
    assert run("test")[0] == 2


def test_schema_describes_the_shipped_file() -> None:
    code, out, _ = run("test", "--schema")
    assert code == 0
    schema = json.loads(out)
    assert schema == json.loads(json.dumps(plan_test_schema()))
    data = yaml.safe_load(TESTFILE.read_text())
    data["tests"] = [{**c, "expect": {str(k): v for k, v in c["expect"].items()}}
                     for c in data["tests"]]
    jsonschema.validate(data, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**data, "tests": [{"name": "x", "windows": 1, "expect": {"1": []},
                                                "changes": [{"mean_shfit": {}}]}]}, schema)


def test_baseline_from_data_or_a_profile(tmp_path: Path, program: Any, baseline: Any) -> None:
    import pyarrow.parquet as pq

    pq.write_table(baseline, tmp_path / "baseline.parquet")
    profile = build_profile(program, baseline)
    (tmp_path / "baseline.json").write_text(profile.model_dump_json())
    for spec in ("data: [baseline.parquet]", "profile: baseline.json"):
        path = _write(tmp_path, GOOD.replace("generate: {rows: 2000, days: 14}", spec))
        report = run_plan_tests(path)
        assert report.diagnostics == [] and report.passed, [
            m.text() for c in report.cases for m in c.mismatches]


def test_aliases_that_multiply_and_stray_keys(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefg", "bcdefgh", strict=True))
    report = run_plan_tests(_write(tmp_path, bomb))
    assert [d.code for d in report.diagnostics] == ["PS253"]
    stray = GOOD.replace("    changes:\n", "    changes:\n      - {no_drift: {sd: 1}}\n")
    report = run_plan_tests(_write(tmp_path, stray))
    assert [(d.code, d.span.line if d.span else 0) for d in report.diagnostics] == [
        ("PS370", 8)]
    calm = GOOD.replace("    changes:\n", "    changes:\n      - {no_drift: {}}\n")
    assert run_plan_tests(_write(tmp_path, calm)).diagnostics == []
