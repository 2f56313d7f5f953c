"""planspec benchmarks: the engine against the cost of touching the data once, and against the
loop a user would otherwise write. Every figure is a median of repetitions measured in this one
run; the report gives ratios, since the machines are shared and noisy.

    python bench/run.py                       # 1M and 10M rows, writes bench/RESULTS.md
    python bench/run.py --sizes 20000 --reps 1 --out /tmp/r.md --cache /tmp/c   # a smoke run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planspec.compile import compile_plan  # noqa: E402
from planspec.demo import write_demo_data  # noqa: E402
from planspec.load import load_plan  # noqa: E402
from planspec.model import Duration, Plan  # noqa: E402
from planspec.profile import build_profile  # noqa: E402

PLAN = ROOT / "plans" / "rental_inspector.plan"
BASELINE_ROWS = 1_000_000


def median_time(fn: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def data_for(size: int, cache: Path) -> dict[str, Path]:
    """Seeded demo data at ``size`` scored rows, generated once and cached (with the scored rows
    also as a Parquet dataset and in DuckDB, added to caches made before those existed)."""
    folder = cache / str(size)
    done = folder / "done"
    if not done.exists():
        write_demo_data(folder, rows=size, seed=11, baseline_rows=min(size, BASELINE_ROWS))
        done.write_text("ok\n")
    paths = {"scored": folder / "scored.parquet", "baseline": folder / "baseline.parquet",
             "dataset": folder / "scored_ds", "duckdb": folder / "demo.duckdb"}
    if not paths["dataset"].exists() or not paths["duckdb"].exists():
        import pyarrow.dataset as ds

        from planspec.demo import write_duckdb

        table = pq.read_table(paths["scored"])
        ds.write_dataset(table, paths["dataset"], format="parquet")
        write_duckdb(paths["duckdb"], {"scored": table})
    return paths


def source_reads(paths: dict[str, Path], program: Any, reps: int, postgres: str
                 ) -> dict[str, float]:
    """Reading the plan's columns of the same rows into arrays (what the engine reads) from
    Parquet files, a Parquet dataset directory, a DuckDB table and, when a server can be
    started, PostgreSQL."""
    from planspec.data import load_frame

    kinds = {name: need.kind for name, need in program.columns.items()}

    def read(spec: str) -> Callable[[], object]:
        return lambda: load_frame(spec, program.timestamp, kinds, "data")

    out = {"read_parquet": median_time(read(str(paths["scored"])), reps),
           "read_dataset": median_time(read(str(paths["dataset"])), reps),
           "read_duckdb": median_time(read(f"duckdb:{paths['duckdb']}?table=scored"), reps)}
    sys.path.insert(0, str(ROOT / "tests"))
    import pg  # tests/pg.py: a throwaway server with the machine's initdb/pg_ctl

    if postgres == "never" or pg.find_bin() is None:
        return out
    with pg.running_postgres() as server:
        pg.load_tables(server, {"scored": pq.read_table(paths["scored"])})
        os.environ["PGPASSWORD"] = pg.PASSWORD
        out["read_postgres"] = median_time(read(f"{server.uri}?table=scored"), reps)
    return out


def variant(plan: Plan, window: str, every: str | None) -> Plan:
    """Every input and output alert on the same window grid (daily or sliding)."""
    w = Duration(value=int(window[:-1]), unit=window[-1])  # type: ignore[arg-type]
    e = Duration(value=int(every[:-1]), unit=every[-1]) if every else None  # type: ignore[arg-type]

    def retime(alerts: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(a.model_copy(update={"window": w, "every": e}) for a in alerts)

    calm = tuple(r.model_copy(update={"heighten": None, "date": None}) for r in plan.drift_risks)
    return plan.model_copy(update={"input_alerts": retime(plan.input_alerts),
                                   "output_alerts": retime(plan.output_alerts),
                                   "drift_risks": calm})


def weekly(plan: Plan) -> Plan:
    return variant(plan, "7d", None)


def floor(path: Path, columns: list[str]) -> None:
    """Read the plan's columns and reduce each once: the cost of touching the data."""
    table = pq.read_table(path, columns=columns)
    for name in columns:
        col = table.column(name)
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            pc.count_distinct(col).as_py()
        elif pa.types.is_timestamp(col.type):
            np.asarray(col.cast(pa.int64()).to_numpy()).max()
        else:
            np.nansum(np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64))


def by_hand(scored: Path, baseline: Path, plan: Plan) -> None:
    """What a user would otherwise write: pandas, a loop over weeks and features, scipy calls."""
    import pandas as pd
    from scipy import stats as sps
    from scipy.spatial.distance import jensenshannon

    cols = [plan.data.timestamp, *plan.data.features, *plan.data.predictions]
    base = pd.read_parquet(baseline, columns=cols)
    cur = pd.read_parquet(scored, columns=cols)
    numeric = [c for c, f in plan.data.features.items() if f.type in ("numeric", "integer")]
    numeric += list(plan.data.predictions)
    categorical = [c for c, f in plan.data.features.items() if f.type in ("categorical",
                                                                            "boolean")]
    edges = {c: np.unique(np.nanquantile(base[c], np.linspace(0.1, 0.9, 9))) for c in numeric}
    ref = {c: np.histogram(base[c].dropna(), np.r_[-np.inf, edges[c], np.inf])[0] + 1e-9
           for c in numeric}
    for _week, g in cur.groupby(pd.Grouper(key=plan.data.timestamp, freq="W-MON")):
        for c in numeric:
            x = g[c].dropna().to_numpy()
            if x.size == 0:
                continue
            b = base[c].dropna().to_numpy()
            _shift = (x.mean() - b.mean()) / b.std(ddof=1)
            counts = np.histogram(x, np.r_[-np.inf, edges[c], np.inf])[0] + 1e-9
            p, q = counts / counts.sum(), ref[c] / ref[c].sum()
            _psi = np.sum((p - q) * np.log(p / q))
            _js = jensenshannon(p, q, base=2)
            _ks = sps.ks_2samp(x, b)
            _w = sps.wasserstein_distance(x, b)
            _q = np.quantile(x, 0.5)
            _missing = g[c].isna().mean()
        for c in categorical:
            wc = g[c].astype(str).value_counts()
            bc = base[c].astype(str).value_counts()
            table = pd.concat([bc, wc], axis=1).fillna(0).to_numpy().T
            table = table[:, table.sum(axis=0) > 0]
            if table.shape[1] > 1:
                sps.chi2_contingency(table, correction=False)
            p = table[1] / table[1].sum()
            q = table[0] / table[0].sum()
            _js = jensenshannon(p, q, base=2)


ENGINE_SNIPPET = r"""
import json, os, resource, sys, time
sys.path.insert(0, {root!r})
import pyarrow.parquet as pq
from planspec.compile import compile_plan
from planspec.data import BATCH_ROWS
from planspec.engine.run import gather_data, judge_sums
from planspec.load import load_plan
from planspec.profile import load_profile
sys.path.insert(0, {bench!r})
from run import variant
plan = load_plan({plan!r}).plan
plan = variant(plan, {window!r}, {every!r})
program = compile_plan(plan)
profile = load_profile(open({profile!r}).read(), "baseline")
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
before = rss()
start = time.perf_counter()
gathered = gather_data(program, profile, {scored!r}, False, lambda _m: None)
gather = time.perf_counter() - start
judge_sums(program, profile, gathered, {{}}, None, lambda _m: None)
engine = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
handle = pq.ParquetFile({scored!r})
batch = next(handle.iter_batches(batch_size=BATCH_ROWS, columns=program.data_columns()))
rows = handle.metadata.num_rows
print(json.dumps({{"engine": engine, "gather": gather, "peak_kib": peak, "before_kib": before,
                  "batch_bytes": batch.nbytes, "sums_bytes": gathered.sums.nbytes,
                  "table_bytes": batch.nbytes * rows / batch.num_rows}}))
"""


def engine_run(scored: Path, profile: Path, window: str, every: str | None) -> dict[str, float]:
    """The engine streaming the file (reading included), in a fresh process (for an honest
    peak RSS)."""
    code = ENGINE_SNIPPET.format(root=str(ROOT), bench=str(ROOT / "bench"), plan=str(PLAN),
                                 window=window, every=every, profile=str(profile),
                                 scored=str(scored))
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def split_last_day(scored: Path, folder: Path) -> tuple[Path, Path]:
    """The year without its last day, and the last day, as two files (cached)."""
    year, day = folder / "year_but_last_day.parquet", folder / "last_day.parquet"
    if not day.exists():
        table = pq.read_table(scored)
        seconds = pc.cast(pc.cast(table.column("scored_at"), pa.timestamp("s")), pa.int64())
        last = int(pc.max(seconds).as_py()) // 86400 * 86400
        mask = pc.greater_equal(seconds, last)
        pq.write_table(table.filter(pc.invert(mask)), year)
        pq.write_table(table.filter(mask), day)
    return year, day


def incremental(scored: Path, profile_path: Path, plan: Plan, reps: int, tmp: Path
                ) -> dict[str, float]:
    """A nightly run (one new day into a store holding the rest of the year) against
    re-checking the whole year from its file, both in this process."""
    import shutil

    from planspec.engine.run import run_program, run_store
    from planspec.profile import load_profile

    program = compile_plan(weekly(plan))
    profile = load_profile(profile_path.read_text(), "baseline")
    year, day = split_last_day(scored, scored.parent)
    store = tmp / "store"
    shutil.rmtree(store, ignore_errors=True)
    start = time.perf_counter()
    run_store(program, [str(year)], profile, store)
    build = time.perf_counter() - start
    nightly = []
    for _ in range(reps):
        copy = tmp / "store-copy"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(store, copy)
        start = time.perf_counter()
        run_store(program, [str(day)], profile, copy)
        nightly.append(time.perf_counter() - start)
    full = median_time(lambda: run_program(program, str(scored), profile), reps)
    size = sum(f.stat().st_size for f in store.rglob("*") if f.is_file())
    return {"store_build": build, "nightly": statistics.median(nightly), "recheck": full,
            "store_mib": size / 2**20}


def engine_sources(paths: dict[str, Path], profile_path: Path, plan: Plan, reps: int,
                   postgres: str, dask: str) -> dict[str, float]:
    """The whole weekly engine run (read, gather, windows, judge) on the same rows from each
    source, in this process: the Parquet file (the local run every other figure is divided by),
    the Parquet dataset directory, the DuckDB table, PostgreSQL on 127.0.0.1 (when a throwaway
    server can be started) and Dask on a LocalCluster of 2 worker processes reading the Parquet
    file (row-group runs) and the DuckDB table (time ranges). The cluster starts once and one
    warm-up run loads planspec on its workers, so neither start-up is timed."""
    from planspec.engine.run import run_program
    from planspec.profile import load_profile

    program = compile_plan(weekly(plan))
    profile = load_profile(profile_path.read_text(), str(profile_path))
    duck = f"duckdb:{paths['duckdb']}?table=scored"

    def run(data: str, **kw: Any) -> Callable[[], object]:
        return lambda: run_program(program, data, profile, **kw)

    out = {"src_parquet": median_time(run(str(paths["scored"])), reps),
           "src_dataset": median_time(run(str(paths["dataset"])), reps),
           "src_duckdb": median_time(run(duck), reps)}
    sys.path.insert(0, str(ROOT / "tests"))
    import pg  # tests/pg.py: a throwaway server with the machine's initdb/pg_ctl

    if postgres != "never" and pg.find_bin() is not None:
        with pg.running_postgres() as server:
            pg.load_tables(server, {"scored": pq.read_table(paths["scored"])})
            os.environ["PGPASSWORD"] = pg.PASSWORD
            out["src_postgres"] = median_time(run(f"{server.uri}?table=scored"), reps)
    if dask != "never":
        from distributed import Client

        from planspec.engine.distributed import local_cluster

        with local_cluster(2) as cluster, Client(cluster) as client:
            run(str(paths["scored"]), engine="dask", scheduler=client)()  # warm-up
            out["src_dask"] = median_time(run(str(paths["scored"]), engine="dask",
                                              scheduler=client), reps)
            out["src_dask_duckdb"] = median_time(run(duck, engine="dask", scheduler=client),
                                                 reps)
        out["dask_parts"] = float(pq.read_metadata(paths["scored"]).num_row_groups)
    return out


SOURCE_FIGURES = (("Parquet dataset directory", "src_dataset"), ("DuckDB table", "src_duckdb"),
                  ("PostgreSQL table (ADBC, 127.0.0.1)", "src_postgres"),
                  ("Dask, 2 local workers, Parquet file (row-group runs)", "src_dask"),
                  ("Dask, 2 local workers, DuckDB table (time ranges)", "src_dask_duckdb"))


def sources_table(rows: dict[int, dict[str, float]], sizes: list[int]) -> list[str]:
    """The engine-from-each-source figures, as ratios to the local Parquet run."""
    lines = ["", "## The engine from each source", "",
             "The whole weekly engine run (read, gather, windows, judge) on the same scored rows "
             "from each source, as a ratio to the local engine reading the Parquet file "
             "(PostgreSQL and Dask start-up not timed).", "",
             "| rows | source | engine run / local Parquet run |", "|---|---|---|",
             *(f"| {size:,} | Parquet file, local engine | 1.00 "
               f"({_fmt(rows[size]['src_parquet'])} s) |" for size in sizes if
               "src_parquet" in rows[size])]
    for size in sizes:
        r = rows[size]
        if "src_parquet" not in r:
            continue
        for name, key in SOURCE_FIGURES:
            value = f"{r[key] / r['src_parquet']:.2f}" if key in r else "not run"
            lines.append(f"| {size:,} | {name} | {value} |")
    return lines


def process_run(scored: Path, profile: Path, plan_path: Path) -> None:
    """`planspec check` end to end, as a scheduler runs it."""
    subprocess.run([sys.executable, "-m", "planspec", "check", str(plan_path), "--baseline",
                    str(profile), "--data", str(scored), "--format", "json", "-o", os.devnull,
                    "--fail-on", "never", "-q"], check=True, cwd=ROOT)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import pandas
    import scipy

    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} "
            f"{platform.release()}; Python {platform.python_version()}, numpy {np.__version__}, "
            f"pyarrow {pa.__version__}, scipy {scipy.__version__}, pandas {pandas.__version__}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--cache", default=str(ROOT / "bench" / ".cache"))
    ap.add_argument("--out", default=str(ROOT / "bench" / "RESULTS.md"))
    ap.add_argument("--no-incremental", action="store_true",
                    help="skip the nightly-run measurement (e.g. at 30M rows)")
    ap.add_argument("--plan-sizes", default="100,1000,10000",
                    help="alerts in the generated plans of the plan-loading section")
    ap.add_argument("--postgres", choices=("auto", "never"), default="auto",
                    help="read from a throwaway PostgreSQL server when initdb/pg_ctl exist")
    ap.add_argument("--dask", choices=("auto", "never"), default="auto",
                    help="also run the engine on a Dask LocalCluster of 2 workers")
    ap.add_argument("--only-sources", action="store_true",
                    help="measure only the engine from each source (Parquet, dataset, DuckDB, "
                    "PostgreSQL, Dask) and write that section")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    plan = load_plan(PLAN).plan
    assert plan is not None
    rows: dict[int, dict[str, float]] = {}
    if args.only_sources:
        with tempfile.TemporaryDirectory() as tmp:
            for size in sizes:
                paths = data_for(size, cache)
                profile_path = Path(tmp) / f"profile{size}.json"
                profile_path.write_text(build_profile(compile_plan(weekly(plan)), str(
                    paths["baseline"])).model_dump_json())
                rows[size] = engine_sources(paths, profile_path, plan, args.reps,
                                            args.postgres, args.dask)
                print(f"{size:>10,} rows: " + ", ".join(f"{k}={v:.3g}" for k, v in
                                                        rows[size].items()), flush=True)
        text = "\n".join([f"Measured {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC "
                          f"on {machine()}.", *sources_table(rows, sizes), "", "```json",
                          json.dumps({str(s): rows[s] for s in sizes}, indent=1), "```", ""])
        Path(args.out).write_text(text)
        print(text)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        weekly_plan = Path(tmp) / "weekly.yaml"
        from planspec.format import format_yaml

        weekly_plan.write_text(format_yaml(weekly(plan)))
        for size in sizes:
            paths = data_for(size, cache)
            program = compile_plan(weekly(plan))
            columns = program.data_columns()
            profile = build_profile(program, str(paths["baseline"]))
            profile_path = Path(tmp) / f"profile{size}.json"
            profile_path.write_text(profile.model_dump_json())
            r: dict[str, float] = {}
            r["floor"] = median_time(lambda p=paths, c=columns: floor(p["scored"], c), args.reps)
            base_rows = pq.read_metadata(paths["baseline"]).num_rows
            r["floor_baseline"] = median_time(
                lambda p=paths, c=columns: floor(p["baseline"], c), args.reps)
            r["profile"] = median_time(
                lambda p=paths, prog=program: build_profile(prog, str(p["baseline"])), args.reps)
            r["process"] = median_time(
                lambda p=paths, f=profile_path: process_run(p["scored"], f, weekly_plan),
                args.reps)
            for name, (window, every) in {"weekly": ("7d", None), "daily": ("1d", None),
                                          "sliding": ("7d", "1d")}.items():
                runs = [engine_run(paths["scored"], profile_path, window, every)
                        for _ in range(args.reps)]
                r[f"engine_{name}"] = statistics.median(x["engine"] for x in runs)
                r[f"gather_{name}"] = statistics.median(x["gather"] for x in runs)
                r[f"peak_{name}_mib"] = max(x["peak_kib"] for x in runs) / 1024
                r["columns_mib"] = runs[0]["table_bytes"] / 2**20
                r["batch_mib"] = runs[0]["batch_bytes"] / 2**20
                r["sums_mib"] = max(x["sums_bytes"] for x in runs) / 2**20
                r["before_mib"] = min(x["before_kib"] for x in runs) / 1024
            if not args.no_incremental:
                r.update(incremental(paths["scored"], profile_path, plan, args.reps, Path(tmp)))
            if size == sizes[-1]:  # a server and a cluster: once, at the largest size
                r.update(engine_sources(paths, profile_path, plan, args.reps, args.postgres,
                                        args.dask))
            if size <= 2_000_000:
                r["by_hand"] = median_time(
                    lambda p=paths: by_hand(p["scored"], p["baseline"], plan),
                    max(1, args.reps // 3))
            r.update(source_reads(paths, program, args.reps, args.postgres))
            r["baseline_rows"] = base_rows
            rows[size] = r
            print(f"{size:>10,} rows: " + ", ".join(f"{k}={v:.3g}" for k, v in r.items()),
                  flush=True)
    from loading import section  # bench/loading.py: start-up and big-plan loading

    loading = section([int(s) for s in args.plan_sizes.split(",")], args.reps)
    print(loading, flush=True)
    import segments  # bench/segments.py: a 50-segment `by` against the unsplit plan

    segmented = segments.section({s: data_for(s, cache) for s in sizes}, weekly(plan),
                                 max(1, args.reps // 3) if max(sizes) > 2_000_000 else args.reps)
    print(segmented, flush=True)
    Path(args.out).write_text(report(rows, sizes) + "\n" + loading + "\n" + segmented)
    print(f"wrote {args.out}")
    return 0


def _fmt(x: float) -> str:
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def report(rows: dict[int, dict[str, float]], sizes: list[int]) -> str:
    lines = [
        "# planspec benchmarks", "",
        f"Measured {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC on {machine()}.",
        "Medians of repeated runs in one session; compare ratios, not seconds (shared machines).",
        "", "The plan is `plans/rental_inspector.plan` with every input and output alert on one "
        "window grid (52 weekly windows unless said otherwise) and no heightened drift-risk "
        "copies, so the grids compare like with like; outcome monitors run without outcomes. "
        "The baseline is "
        f"{BASELINE_ROWS:,} rows (fewer on smaller runs).", "",
        "| rows | floor (s) | planspec process (s) | engine weekly (s) | engine daily (s) | "
        "engine sliding (s) | profile (s) | floor on baseline (s) | by hand (s) |",
        "|---|---|---|---|---|---|---|---|---|"]
    for size in sizes:
        r = rows[size]
        lines.append(f"| {size:,} | {_fmt(r['floor'])} | {_fmt(r['process'])} | "
                     f"{_fmt(r['engine_weekly'])} | {_fmt(r['engine_daily'])} | "
                     f"{_fmt(r['engine_sliding'])} | {_fmt(r['profile'])} | "
                     f"{_fmt(r['floor_baseline'])} | "
                     f"{_fmt(r['by_hand']) if 'by_hand' in r else 'not run'} |")
    lines += ["", "## Ratios and targets", "",
              "| rows | figure | measured | target | met |", "|---|---|---|---|---|"]

    def row(size: int, name: str, value: float, target: str, ok: bool | None) -> None:
        met = "n/a" if ok is None else ("yes" if ok else "**no**")
        lines.append(f"| {size:,} | {name} | {value:.2f} | {target} | {met} |")

    for size in sizes:
        r = rows[size]
        row(size, "engine weekly / floor (streaming the file: reading included)",
            r["engine_weekly"] / r["floor"], "≤ 3 at 10M",
            r["engine_weekly"] / r["floor"] <= 3 if size >= 10_000_000 else None)
        row(size, "planspec process / floor", r["process"] / r["floor"], "(reported)", None)
        row(size, "daily / weekly (engine)", r["engine_daily"] / r["engine_weekly"], "≤ 1.3",
            r["engine_daily"] / r["engine_weekly"] <= 1.3)
        row(size, "sliding / weekly (engine)", r["engine_sliding"] / r["engine_weekly"], "≤ 1.5",
            r["engine_sliding"] / r["engine_weekly"] <= 1.5)
        peak = max(r["peak_weekly_mib"], r["peak_daily_mib"], r["peak_sliding_mib"])
        extra = peak - r["before_mib"]
        bound = r["batch_mib"] + r["sums_mib"]
        row(size, "peak RSS growth (read + engine) / (one batch's columns + sums)",
            extra / bound, "≤ 2", extra / bound <= 2)
        row(size, "peak RSS growth (read + engine) / all columns' in-memory size",
            extra / r["columns_mib"], "(reported; was 2.8 at 10M)", None)
        if "nightly" in r:
            row(size, "nightly incremental run (1 new day into the store) / re-check of the "
                "year from its file", r["nightly"] / r["recheck"], "≤ 0.05 at 10M",
                r["nightly"] / r["recheck"] <= 0.05 if size >= 10_000_000 else None)
        row(size, "profile / floor on the same baseline rows", r["profile"] / r["floor_baseline"],
            "≤ 3 at 1M", r["profile"] / r["floor_baseline"] <= 3
            if r["baseline_rows"] >= 1_000_000 else None)
        if "by_hand" in r:
            row(size, "by hand / planspec engine (weekly)", r["by_hand"] / r["engine_weekly"],
                "≫ 10 (reported)", None)
    for size in sizes:
        r = rows[size]
        for name, key in (("Parquet dataset directory", "read_dataset"),
                          ("DuckDB table", "read_duckdb"), ("PostgreSQL table (ADBC)",
                                                            "read_postgres")):
            if key in r:
                row(size, f"read {name} / read Parquet file", r[key] / r["read_parquet"],
                    "(reported)", None)
            else:
                lines.append(f"| {size:,} | read {name} / read Parquet file | not run (no "
                             "PostgreSQL server) | (reported) | n/a |")
    if len(sizes) > 1:
        a, b = sizes[0], sizes[-1]
        scale = rows[b]["engine_weekly"] / rows[a]["engine_weekly"]
        linear = 1.1 * b / a
        lines.append(f"| {a:,} → {b:,} | engine weekly, larger / smaller | {scale:.2f} | "
                     f"≤ {linear:.0f} (linear) | {'yes' if scale <= linear else '**no**'} |")
    lines += sources_table(rows, sizes)
    lines += ["", "The engine streams the Parquet file in record batches of "
              "`planspec.data.BATCH_ROWS` rows (reading, gathering into per-bucket sums, "
              "windows and judgement, all timed); the floor reads the same columns whole and "
              "reduces each once.", "",
              "Sources: the plan's columns of the same scored rows read into arrays (what the "
              "engine reads) from each source, as a ratio to the local Parquet file; the "
              "databases are local (DuckDB in process, PostgreSQL on 127.0.0.1), so the ratios "
              "show the cost of each protocol, not of a network.", "",
              "Peak memory: each engine run is a fresh process; the growth of its peak RSS "
              "over its RSS just before reading the data (so reading counts, the interpreter "
              "and libraries do not) is compared with the in-memory size of one record batch "
              "of the columns the plan reads (`pyarrow.RecordBatch.nbytes`) plus the sums "
              "(`Sums.nbytes`), and, for reference, with all the columns' size.", "",
              "Nightly run: a store is built from the year without its last day; each "
              "repetition copies it and runs `run_store` with the last day's file (read, "
              "gather, merge with the stored sums, judge every window of the year, write the "
              "store and its history), against `run_program` re-checking the whole year's "
              "file. Both in one process, so interpreter start-up counts in neither.", ""]
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        lines += [notes.read_text().rstrip(), ""]
    raw = {f"{s}": rows[s] for s in sizes}
    lines += ["<details><summary>raw figures</summary>", "", "```json",
              json.dumps(raw, indent=1), "```", "", "</details>", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
