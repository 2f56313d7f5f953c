"""Segments benchmark: engine time (read, gather, judge) of the worked example's weekly plan with
one alert (`price_mean_shift`) split by a 50-value column, and with every input and output alert
split by it, each as a ratio to the same plan with no segments at all, on the same file (the
issue's target for the one-alert split: at most 2x).

The three plans are run in turn (unsegmented, one alert split, every alert split), ``reps``
rounds in one process, and each figure is the median of its rounds: on a shared machine the
load drifts over minutes, and alternating spreads that drift over all three alike. The load
average is recorded at every run and printed next to the figures.

Run by ``bench/run.py``; ``python bench/segments.py --sizes 10000000`` prints the section alone.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
#: The plans compared, in the order each round runs them.
CASES = ("unsegmented", "one alert split", "every alert split")


def with_segments(src: Path, dst: Path) -> None:
    """``src`` with a column `seg50` of 50 values spread evenly over the rows, written row group
    by row group (the same row groups as ``src``, so the engine streams it the same way)."""
    if dst.exists():
        return
    values = np.array([f"s{i:02d}" for i in range(SEGMENTS)], dtype=object)
    rng = np.random.default_rng(0)
    f = pq.ParquetFile(src)
    tmp = dst.with_suffix(".tmp")
    writer = None
    for i in range(f.metadata.num_row_groups):
        table = f.read_row_group(i)
        seg = values[rng.integers(0, SEGMENTS, table.num_rows)]
        table = table.append_column("seg50", pa.array(seg, pa.string()))
        if writer is None:
            writer = pq.ParquetWriter(tmp, table.schema)
        writer.write_table(table, row_group_size=table.num_rows)
    if writer is not None:
        writer.close()
    tmp.rename(dst)


def split(plan: Plan, case: str) -> Plan:
    """The plan with `seg50` declared and every `by`/`where` removed, then split by `seg50`:
    nothing (``unsegmented``), `price_mean_shift` alone, or every input and output alert."""
    data = plan.model_dump(by_alias=True, mode="json")
    data["data"]["features"]["seg50"] = {"type": "categorical"}
    data["defaults"]["max_segments"] = SEGMENTS
    for key in ("by", "where"):
        data["defaults"].pop(key, None)
    for group in ("input_alerts", "output_alerts", "outcome_monitors"):
        for a in data.get(group) or []:
            a["by"], a["where"] = None, None
            if group != "outcome_monitors" and (
                    case == "every alert split"
                    or (case == "one alert split" and a["id"] == "price_mean_shift")):
                a["by"] = "seg50"
    return Plan.model_validate(data)


def _run(program: Any, profile: Any, scored: Path) -> tuple[float, float]:
    """Wall seconds and CPU seconds (every thread of the process) of one engine run."""
    gc.collect()
    start, cpu = time.perf_counter(), time.process_time()
    gathered = gather_data(program, profile, str(scored), False, lambda _m: None)
    judge_sums(program, profile, gathered, {}, None, lambda _m: None)
    return time.perf_counter() - start, time.process_time() - cpu


def alternated(plan: Plan, scored: Path, baseline: Path, reps: int,
               run: Callable[[Any, Any, Path], tuple[float, float]] = _run
               ) -> tuple[dict[str, list[tuple[float, float]]], list[float]]:
    """(wall, CPU) seconds per case, ``reps`` rounds of the cases in turn, and the 1-minute
    load average at each run."""
    prepared = {}
    for case in CASES:
        program = compile_plan(split(plan, case))
        prepared[case] = (program, build_profile(program, str(baseline)))
    times: dict[str, list[tuple[float, float]]] = {case: [] for case in CASES}
    loads = []
    for _ in range(reps):
        for case in CASES:
            loads.append(os.getloadavg()[0])
            times[case].append(run(*prepared[case], scored))
    loads.append(os.getloadavg()[0])
    return times, loads


def section(paths: dict[int, dict[str, Path]], plan: Plan, reps: int) -> str:
    """The markdown section: per size, the three plans' median engine seconds and the ratios to
    the unsegmented plan, with the load average over the runs."""
    lines = ["## Segments", "",
             f"Engine time (read + gather + judge, one process) of the weekly plan with every "
             f"segment and filter removed, against the same plan with `price_mean_shift` split by "
             f"a {SEGMENTS}-value column (`seg50`, values spread evenly) and with every input and "
             f"output alert split by it, on the same file. The three run in turn, {reps} "
             "round(s); medians of wall seconds, and of CPU seconds (all the process's threads: "
             "less moved by other processes on a shared machine than wall time). Target: one "
             "alert split at most 2× the unsegmented run.", "",
             "| rows | seconds | unsegmented | one alert split | segmented / unsplit | every "
             "alert split | every split / unsplit | rounds | load average (1 min) over the runs |",
             "|---|---|---|---|---|---|---|---|---|"]
    for size, p in sorted(paths.items()):
        folder = p["scored"].parent
        scored, baseline = folder / "scored_seg50.parquet", folder / "baseline_seg50.parquet"
        with_segments(p["scored"], scored)
        with_segments(p["baseline"], baseline)
        times, loads = alternated(plan, scored, baseline, reps)
        for kind, i in (("wall", 0), ("CPU", 1)):
            med = {case: statistics.median(t[i] for t in ts) for case, ts in times.items()}
            plain = med["unsegmented"]
            lines.append(f"| {size:,} | {kind} | {plain:.2f} | {med['one alert split']:.2f} | "
                         f"{med['one alert split'] / plain:.2f}× | "
                         f"{med['every alert split']:.2f} | "
                         f"{med['every alert split'] / plain:.2f}× | {reps} | "
                         f"{min(loads):.1f}–{max(loads):.1f} |")
        per_round = "; ".join(
            " / ".join(f"{times[case][i][0]:.1f}" for case in CASES) for i in range(reps))
        lines.append(f"<!-- {size:,} rows, wall seconds per round (unsegmented / one / every): "
                     f"{per_round} -->")
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
    print(section({s: data_for(s, cache) for s in sizes}, weekly(plan), args.reps), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
