"""Plan loading benchmarks: the start-up cost of `planspec validate` (what a pre-commit hook pays),
and validate time for generated plans of growing size in both surfaces (it must grow linearly).

Run by ``bench/run.py``; ``python bench/loading.py --sizes 100,1000`` prints the section alone.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planspec.format import format_plan, format_yaml  # noqa: E402
from planspec.load import load_plan  # noqa: E402
from planspec.model import Plan  # noqa: E402

EXAMPLE = ROOT / "plans" / "rental_inspector.yaml"


def child_cpu(cmd: list[str]) -> float:
    """User + system CPU seconds of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=False, capture_output=True, cwd=ROOT)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def startup(reps: int) -> dict[str, float]:
    """Median CPU of `validate` on the worked example and of `python -c pass`."""
    validate = [sys.executable, "-m", "planspec", "validate", "-q", str(EXAMPLE)]
    child_cpu(validate)  # the first run fills the grammar cache
    runs = max(reps, 3)
    return {"validate_cpu": statistics.median(child_cpu(validate) for _ in range(runs)),
            "python_cpu": statistics.median(child_cpu([sys.executable, "-c", "pass"])
                                            for _ in range(runs))}


def big_plan(alerts: int) -> Plan:
    """The worked example with its input alerts repeated to ``alerts`` alerts (unique ids)."""
    parsed = load_plan(EXAMPLE)
    assert parsed.plan is not None
    base = parsed.plan.input_alerts
    copies = tuple(base[i % len(base)].model_copy(update={"id": f"{base[i % len(base)].id}_{i}"})
                   for i in range(alerts))
    return parsed.plan.model_copy(update={"input_alerts": copies})


def load_times(sizes: list[int], reps: int) -> dict[str, dict[int, float]]:
    """Median seconds of `load_plan` (parse and check) of generated plans, per surface."""
    out: dict[str, dict[int, float]] = {"yaml": {}, "plan": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            plan = big_plan(n)
            for surface, text in (("yaml", format_yaml(plan)), ("plan", format_plan(plan))):
                path = Path(tmp) / f"big{n}.{surface}"
                path.write_text(text, encoding="utf-8")
                times = []
                for _ in range(max(1, reps)):
                    start = time.process_time()
                    parsed = load_plan(path)
                    times.append(time.process_time() - start)
                    assert parsed.plan is not None and len(parsed.plan.input_alerts) == n
                out[surface][n] = statistics.median(times)
    return out


def section(sizes: list[int], reps: int) -> str:
    """The markdown section of bench/RESULTS.md on plan loading."""
    s = startup(reps)
    ratio = s["validate_cpu"] / s["python_cpu"]
    lines = ["## Plan loading", "",
             "Start-up: CPU seconds (user + system) of `planspec validate -q "
             "plans/rental_inspector.yaml` in a fresh process with the grammar cache warm, "
             "against `python -c pass`; the difference is what planspec itself costs.", "",
             "| figure | measured | target | met |", "|---|---|---|---|",
             f"| validate CPU (s) | {s['validate_cpu']:.3f} | ≤ 0.3 | "
             f"{'yes' if s['validate_cpu'] <= 0.3 else '**no**'} |",
             f"| `python -c pass` CPU (s) | {s['python_cpu']:.3f} | (reported) | n/a |",
             f"| validate / `python -c pass` | {ratio:.1f} | (reported) | n/a |", "",
             "Validate (parse and check, in process) of the worked example with its input "
             "alerts repeated to each size:", "",
             "| alerts | YAML (s) | .plan (s) |", "|---|---|---|"]
    times = load_times(sizes, reps)
    for n in sizes:
        lines.append(f"| {n:,} | {times['yaml'][n]:.3f} | {times['plan'][n]:.3f} |")
    if len(sizes) > 1:
        a, b = sizes[0], sizes[-1]
        lines += ["", "| surface | growth, largest / smallest | linear | within 1.2× of linear |"
                  " largest ≤ 2 s |", "|---|---|---|---|---|"]
        for surface in ("yaml", "plan"):
            growth = times[surface][b] / max(times[surface][a], 1e-9)
            linear = b / a
            lines.append(f"| {surface} | {growth:.1f} | {linear:.0f} | "
                         f"{'yes' if growth <= 1.2 * linear else '**no**'} | "
                         f"{'yes' if times[surface][b] <= 2 else '**no**'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    print(section([int(s) for s in args.sizes.split(",")], args.reps))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
