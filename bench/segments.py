"""Segments benchmark: engine time (read, gather, judge) of the worked example's weekly plan with
one alert (`price_mean_shift`) split by a 50-value column, as a ratio to the same plan unsplit,
on the same file (the issue's target: at most 2x).

Run by ``bench/run.py``; ``python bench/segments.py --sizes 1000000`` prints the section alone.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from planspec.compile import compile_plan  # noqa: E402
from planspec.engine.run import gather_data, judge_sums  # noqa: E402
from planspec.model import Plan  # noqa: E402
from planspec.profile import build_profile  # noqa: E402

SEGMENTS = 50


def with_segments(src: Path, dst: Path) -> None:
    """``src`` with a column `seg50` of 50 values, spread evenly over the rows."""
    table = pq.read_table(src)
    values = np.array([f"s{i:02d}" for i in range(SEGMENTS)], dtype=object)
    seg = values[np.random.default_rng(0).integers(0, SEGMENTS, table.num_rows)]
    pq.write_table(table.append_column("seg50", pa.array(seg, pa.string())), dst)


def split(plan: Plan, by: str | None) -> Plan:
    """The plan with `seg50` declared, and `price_mean_shift` split by ``by`` (None: unsplit)."""
    data = plan.model_dump(by_alias=True, mode="json")
    data["data"]["features"]["seg50"] = {"type": "categorical"}
    data["defaults"]["max_segments"] = SEGMENTS
    for a in data["input_alerts"]:
        if a["id"] == "price_mean_shift":
            a["by"] = by
    return Plan.model_validate(data)


def engine_seconds(plan: Plan, scored: Path, baseline: Path, reps: int) -> float:
    program = compile_plan(plan)
    profile = build_profile(program, str(baseline))
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        gathered = gather_data(program, profile, str(scored), False, lambda _m: None)
        judge_sums(program, profile, gathered, {}, None, lambda _m: None)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def section(paths: dict[int, dict[str, Path]], plan: Plan, reps: int) -> str:
    """The markdown section: per size, unsplit and 50-segment engine seconds and their ratio."""
    lines = ["## Segments", "",
             f"Engine time (read + gather + judge) with `price_mean_shift` split by a {SEGMENTS}-"
             "value column, against the same plan unsplit, on the same file. Target: at most 2×.",
             "",
             "| rows | unsplit s | 50 segments s | segmented / unsplit |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for size, p in sorted(paths.items()):
            scored, baseline = Path(tmp) / f"s{size}.parquet", Path(tmp) / f"b{size}.parquet"
            with_segments(p["scored"], scored)
            with_segments(p["baseline"], baseline)
            plain = engine_seconds(split(plan, None), scored, baseline, reps)
            segmented = engine_seconds(split(plan, "seg50"), scored, baseline, reps)
            lines.append(f"| {size:,} | {plain:.2f} | {segmented:.2f} | "
                         f"{segmented / plain:.2f}× |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from run import data_for, weekly

    from planspec.load import load_plan

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cache", default=str(ROOT / "bench" / ".cache"))
    args = ap.parse_args(argv)
    plan = load_plan(ROOT / "plans" / "rental_inspector.yaml").plan
    assert plan is not None
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(section({s: data_for(s, cache) for s in sizes}, weekly(plan), args.reps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
