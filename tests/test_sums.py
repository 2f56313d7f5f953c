"""Per-bucket sums: `merge` is associative and commutative and equals gathering the rows
together; streaming reads (Parquet row groups and record batches, CSV blocks) split at awkward
boundaries give the in-memory path's sums (counts and histograms exactly, moments to 1e-12)
and the same results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planspec import data as data_mod
from planspec.compile import CheckProgram, compile_plan
from planspec.data import inputs, read_batches
from planspec.engine.gather import (
    ADDITIVE,
    BucketSums,
    Sums,
    column_needs,
    cumulate,
    gather_batches,
    gather_table,
    merge,
    merge_all,
)
from planspec.engine.run import run_program
from planspec.profile import Profile, build_profile

from .enginekit import frame, plan_with

INPUTS = {"mean": "mean(x) > 1e9", "std": "std(x) > 1e9", "q": "quantile(x, 0.5) > 1e9",
          "ks": "ks(x) > 1", "psi": "psi(x) > 1e9", "oor": "out_of_range_rate(x) > 100%",
          "psi_c": "psi(c) > 1e9", "chi2": "chi2(c) > 1e9", "share": 'share(c == "k1") > 1',
          "share_x": "share(x >= 0.5) > 1", "missing": "missing_rate(c) > 1"}


def setup(kind: str = "normal") -> tuple[CheckProgram, Profile]:
    program = compile_plan(plan_with(INPUTS, {"rate": "rate(p >= 0.5) > 1"}, window="7d",
                                     every="1d"), check=False)
    rng = np.random.default_rng(1)
    return program, build_profile(program, frame(rng, 2000, 28, kind=kind, missing=0.1))


PROGRAMS = {kind: setup(kind) for kind in ("normal", "ties")}


def table(rows: dict[str, np.ndarray]) -> pa.Table:
    return pa.table({k: pa.array(v) for k, v in rows.items()})


def gathered(program: CheckProgram, profile: Profile, t: pa.Table) -> Sums:
    return gather_table(column_needs(program), t, "ts", profile, program.bucket)


def assert_same(a: Sums, b: Sums) -> None:
    """Counts and histograms exactly, moments to 1e-12 relative, extremes exactly."""
    assert a.size == b.size and (a.t_min, a.t_max) == (b.t_min, b.t_max)
    np.testing.assert_array_equal(a.ids, b.ids)
    np.testing.assert_array_equal(a.rows, b.rows)
    assert a.columns.keys() == b.columns.keys()
    for name in a.columns:
        x, y = a.columns[name], b.columns[name]
        for field in ADDITIVE:
            u, v = getattr(x, field), getattr(y, field)
            assert (u is None) == (v is None), (name, field)
            if u is not None:
                np.testing.assert_array_equal(u, v, err_msg=f"{name}.{field}")
        for field in ("lo", "hi"):
            u, v = getattr(x, field), getattr(y, field)
            if u is not None:
                np.testing.assert_array_equal(u, v, err_msg=f"{name}.{field}")
        for field in ("mean", "m2"):
            u, v = getattr(x, field), getattr(y, field)
            if u is not None:
                np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12 * (np.abs(v).max() or 1),
                                           err_msg=f"{name}.{field}")
        assert x.predicates.keys() == y.predicates.keys()
        for k in x.predicates:
            np.testing.assert_array_equal(x.predicates[k], y.predicates[k])


parts = st.fixed_dictionaries({
    "seed": st.integers(0, 2**32 - 1),
    "sizes": st.lists(st.integers(1, 400), min_size=3, max_size=3),
    "days": st.integers(1, 20),
    "kind": st.sampled_from(["normal", "ties"]),
    "missing": st.sampled_from([0.0, 0.3]),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(parts)
def test_merge_is_associative_commutative_and_equals_gathering_all_rows(p: dict) -> None:
    program, profile = PROGRAMS[p["kind"]]
    rng = np.random.default_rng(p["seed"])
    chunks = [frame(rng, n, p["days"], kind=p["kind"], missing=p["missing"], unseen=0.1)
              for n in p["sizes"]]
    a, b, c = (gathered(program, profile, table(x)) for x in chunks)
    everything = gathered(program, profile, pa.concat_tables([table(x) for x in chunks],
                                                             promote_options="permissive"))
    assert_same(merge(merge(a, b), c), merge(a, merge(b, c)))
    assert_same(merge(a, b), merge(b, a))
    assert_same(merge(merge(a, b), c), everything)
    assert_same(merge_all([c, a, b]), everything)


def test_merge_refuses_sums_of_other_columns() -> None:
    one = Sums(86400, np.array([1]), np.array([1.0]), 0, 0, {"x": BucketSums(np.ones(1))})
    other = Sums(86400, np.array([1]), np.array([1.0]), 0, 0, {"y": BucketSums(np.ones(1))})
    with pytest.raises(ValueError, match="do not merge"):
        merge(one, other)
    with pytest.raises(ValueError, match="do not merge"):
        merge(one, Sums(3600, np.array([1]), np.array([1.0]), 0, 0,
                        {"x": BucketSums(np.ones(1))}))


def test_cumulative_view_covers_every_bucket_between_the_first_and_last() -> None:
    s = Sums(86400, np.array([5, 8]), np.array([2.0, 3.0]), 0, 0,
             {"x": BucketSums(np.array([2.0, 1.0]))})
    view = cumulate(s)
    assert (view.buckets.first, view.buckets.count) == (5, 4)
    assert view.rows.tolist() == [0.0, 2.0, 2.0, 2.0, 5.0]
    assert view.columns["x"].present.tolist() == [0.0, 2.0, 2.0, 2.0, 3.0]


# ------------------------------------------------------------------------------- streaming


@pytest.fixture(scope="module")
def rows() -> pa.Table:
    rng = np.random.default_rng(5)
    t = table(frame(rng, 20_000, 60, kind="ties", missing=0.05, unseen=0.05))
    order = np.argsort(rng.random(t.num_rows))  # out of time order: buckets straddle batches
    return t.take(pa.array(order))


@pytest.mark.parametrize("batch_rows", [1, 997, 4096, 19_999, 1 << 20])
def test_batches_give_the_in_memory_sums(rows: pa.Table, batch_rows: int) -> None:
    program, profile = PROGRAMS["ties"]
    whole = gathered(program, profile, rows)
    batches = rows.slice(0, 3000).to_batches(max_chunksize=batch_rows) if batch_rows == 1 \
        else rows.to_batches(max_chunksize=batch_rows)
    expected = whole if batch_rows != 1 else gathered(program, profile, rows.slice(0, 3000))
    sums, _ = gather_batches(column_needs(program), batches, "ts", profile, program.bucket)
    assert sums is not None
    assert_same(sums, expected)


def test_parquet_row_groups_and_csv_blocks_stream_to_the_same_sums(
        rows: pa.Table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    program, profile = PROGRAMS["ties"]
    needs = column_needs(program)
    kinds = {n: need.kind for n, need in needs.items()}
    columns = ["ts", *needs]
    whole = gathered(program, profile, rows)
    pq.write_table(rows, tmp_path / "d.parquet", row_group_size=1237)
    pcsv.write_csv(rows, tmp_path / "d.csv")
    monkeypatch.setattr(data_mod, "CSV_BLOCK", 10_007)  # blocks end mid-line
    for name, batch_rows in (("d.parquet", 1000), ("d.parquet", 5003), ("d.csv", 1 << 20)):
        item = inputs(str(tmp_path / name))[0]
        batches = list(read_batches(item, columns, kinds, batch_rows))
        assert len(batches) > 3, name
        sums, _ = gather_batches(needs, batches, "ts", profile, program.bucket, name)
        assert sums is not None
        if name.endswith(".parquet"):
            assert_same(sums, whole)
        else:  # CSV round-trips floats through text: compare with the same text read at once
            at_once = gathered(program, profile, pcsv.read_csv(
                tmp_path / name, convert_options=pcsv.ConvertOptions(
                    column_types={"x": pa.float64(), "c": pa.string(), "p": pa.float64()})))
            assert_same(sums, at_once)


def test_streamed_results_equal_the_in_memory_results(rows: pa.Table, tmp_path: Path) -> None:
    program, profile = PROGRAMS["ties"]
    pq.write_table(rows, tmp_path / "d.parquet", row_group_size=777)
    in_memory = run_program(program, rows, profile, batch_rows=1 << 30)
    streamed = run_program(program, str(tmp_path / "d.parquet"), profile, batch_rows=1531)
    assert_close(json.loads(streamed.model_dump_json()), json.loads(in_memory.model_dump_json()))


def assert_close(a: object, b: object, path: str = "") -> None:
    """Equal JSON, floats to 1e-12 relative (moments merge in another order)."""
    if isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15), path
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_close(x, y, f"{path}[{i}]")
    else:
        assert a == b, path
