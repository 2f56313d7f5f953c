"""Plan loading benchmarks: the start-up cost of `planspec validate` (what a pre-commit hook pays),
and validate time for generated plans of growing size in both surfaces (it must grow linearly).

Run by ``bench/run.py``; ``python bench/loading.py --sizes 100,1000`` prints the section alone.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from planspec.format import format_plan, format_yaml  # noqa: E402
from planspec.load import load_plan  # noqa: E402
from planspec.model import Plan  # noqa: E402

EXAMPLE = ROOT / "plans" / "rental_inspector.yaml"


def child_cpu(cmd: list[str], env: dict[str, str] | None = None) -> float:
    """User + system CPU seconds of one run of ``cmd``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=False, capture_output=True, cwd=ROOT, env=env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def startup_env(tmp: str) -> dict[str, str]:
    """The environment of an installed planspec: compiled modules are kept (an installed
    package has its ``.pyc`` files; with ``PYTHONDONTWRITEBYTECODE`` a checkout would compile
    every module on every run), here under ``tmp`` so the checkout stays clean; and the
    grammar cache in ``tmp`` too."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPYCACHEPREFIX=os.path.join(tmp, "pyc"),
               PLANSPEC_CACHE_DIR=os.path.join(tmp, "cache"))
    return env


def startup(reps: int) -> dict[str, float]:
    """Median CPU of `validate -q` (what the pre-commit hook runs) on the worked example and
    of `python -c pass`, alternated so that both see the same load."""
    validate = [sys.executable, "-m", "planspec", "validate", "-q", str(EXAMPLE)]
    bare = [sys.executable, "-c", "pass"]
    with tempfile.TemporaryDirectory() as tmp:
        env = startup_env(tmp)
        child_cpu(validate, env)  # the first runs compile the modules and fill the grammar cache
        child_cpu(bare, env)
        runs = max(reps, 5)
        pairs = [(child_cpu(validate, env), child_cpu(bare, env)) for _ in range(runs)]
    return {"validate_cpu": statistics.median(v for v, _ in pairs),
            "python_cpu": statistics.median(p for _, p in pairs),
            "ratio": statistics.median(v / max(p, 1e-6) for v, p in pairs)}


def big_plan(alerts: int) -> Plan:
    """The worked example with its input alerts repeated to ``alerts`` alerts: the first copy
    keeps its ids (what playbooks and drift risks refer to), the others get unique ones, so
    the plan stays valid and validation does all of its work."""
    parsed = load_plan(EXAMPLE)
    assert parsed.plan is not None
    base = parsed.plan.input_alerts
    copies = tuple(base[i % len(base)] if i < len(base) else
                   base[i % len(base)].model_copy(update={"id": f"{base[i % len(base)].id}_{i}"})
                   for i in range(alerts))
    return parsed.plan.model_copy(update={"input_alerts": copies})


#: What a child process runs: one `load_plan` of the file, timed in CPU seconds, with a check
#: that the plan loaded whole and valid.
_LOAD_ONE = """
import sys, time
from planspec.diagnostics import has_errors
from planspec.load import load_plan
start = time.process_time()
parsed = load_plan(sys.argv[1])
spent = time.process_time() - start
assert parsed.plan is not None and len(parsed.plan.input_alerts) == int(sys.argv[2])
assert not has_errors(parsed.diagnostics), parsed.diagnostics[:3]
print(spent)
"""


def load_times(sizes: list[int], reps: int) -> dict[str, dict[int, float]]:
    """Median CPU seconds of `load_plan` (parse and check) of generated plans, per surface, each
    load in a fresh process, as `planspec validate` runs it (the benchmark's own process holds
    the generated plan and its texts, which would slow the load it measures; start-up is
    measured apart, above). The surfaces are alternated so that both see the same load."""
    out: dict[str, dict[int, float]] = {"yaml": {}, "plan": {}}
    with tempfile.TemporaryDirectory() as tmp:
        env = startup_env(tmp)
        for n in sizes:
            plan = big_plan(n)
            paths = {}
            for surface, text in (("yaml", format_yaml(plan)), ("plan", format_plan(plan))):
                paths[surface] = Path(tmp) / f"big{n}.{surface}"
                paths[surface].write_text(text, encoding="utf-8")
            del plan
            times: dict[str, list[float]] = {"yaml": [], "plan": []}
            for _ in range(max(1, reps)):
                for surface, path in paths.items():
                    done = subprocess.run([sys.executable, "-c", _LOAD_ONE, str(path), str(n)],
                                          check=True, capture_output=True, text=True, cwd=ROOT,
                                          env=env)
                    times[surface].append(float(done.stdout))
            for surface in out:
                out[surface][n] = statistics.median(times[surface])
    return out


def section(sizes: list[int], reps: int) -> str:
    """The markdown section of bench/RESULTS.md on plan loading."""
    s = startup(reps)
    lines = ["## Plan loading", "",
             "Start-up: CPU seconds (user + system) of `planspec validate -q "
             "plans/rental_inspector.yaml` (what the pre-commit hook runs) in a fresh process, "
             "with compiled modules and the grammar cache warm, alternated with `python -c pass` "
             "(medians). On a shared machine the seconds move with its load; the ratio much "
             "less. The target, ≤ 0.3 s, is about 20× `python -c pass` on a quiet machine "
             "(0.012–0.015 s there).", "",
             "| figure | measured | target | met |", "|---|---|---|---|",
             f"| validate CPU (s) | {s['validate_cpu']:.3f} | ≤ 0.3 | "
             f"{'yes' if s['validate_cpu'] <= 0.3 else '**no**'} |",
             f"| `python -c pass` CPU (s) | {s['python_cpu']:.3f} | (reported) | n/a |",
             f"| validate / `python -c pass` | {s['ratio']:.1f} | ≤ 20 | "
             f"{'yes' if s['ratio'] <= 20 else '**no**'} |", "",
             "Validate (`load_plan`: parse and check; CPU seconds, each load in a fresh "
             "process, medians, surfaces alternated) of the worked example with its input "
             "alerts repeated to each size (every copy after the first with new ids, so the "
             "plan stays valid), written in each surface:", "",
             "| alerts | YAML (s) | .plan (s) | YAML per alert (ms) | .plan per alert (ms) |",
             "|---|---|---|---|---|"]
    times = load_times(sizes, reps)
    for n in sizes:
        lines.append(f"| {n:,} | {times['yaml'][n]:.3f} | {times['plan'][n]:.3f} | "
                     f"{1000 * times['yaml'][n] / n:.2f} | {1000 * times['plan'][n] / n:.2f} |")
    if len(sizes) > 1:
        a, b = sizes[0], sizes[-1]
        lines += ["", "| surface | growth, largest / smallest | linear | growth / linear "
                  "| within 1.2× of linear | largest ≤ 2 s |", "|---|---|---|---|---|---|"]
        for surface in ("yaml", "plan"):
            growth = times[surface][b] / max(times[surface][a], 1e-9)
            linear = b / a
            lines.append(f"| {surface} | {growth:.1f} | {linear:.0f} | {growth / linear:.2f} | "
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
