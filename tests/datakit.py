"""Helpers for tests of what planspec reads: a small plan on disk, its data, and running the CLI
in-process so that a crash shows as a traceback in the test, not an exit code."""

from __future__ import annotations

import contextlib
import datetime
import io
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from planspec.cli import main

T0 = datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC)  # a Monday

#: One numeric feature with a range, one categorical feature and a probability; one alert per
#: kind of baseline use: a shift, a distribution test, PSI, chi-squared, new categories, and a
#: missing rate (which needs no baseline values).
PLAN = """\
plan: reads
model:
  name: reads
  version: 1.0.0
  task: binary_classification
  deployment: batch
  owners: [me@example.com]
  cadence: 1d
data:
  timestamp: ts
  features:
    x:
      type: numeric
      range: [-10, 10]
    c:
      type: categorical
  predictions:
    p:
      kind: probability
      threshold: 0.5
defaults:
  window: 1d
  min_samples: 1
input_alerts:
  - id: x_shift
    when: mean(x) shift > 3 sd
  - id: x_ks
    when: ks(x) > 0.5
  - id: x_psi
    when: psi(x) > 5
  - id: c_chi2
    when: chi2(c).pvalue < 0.0000001
  - id: c_new
    when: new_category_rate(c) > 50%
  - id: x_missing
    when: missing_rate(x) > 90%
output_alerts:
  - id: p_mean
    when: mean(p) > 0.99
"""

HEADER = "ts,x,c,p\n"


def row(hour: int = 0, x: str = "1.5", c: str = "a", p: str = "0.3", ts: str | None = None
        ) -> str:
    """One CSV row of the plan's columns, ``hour`` hours after T0."""
    when = ts if ts is not None else (T0 + datetime.timedelta(hours=hour)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    return f"{when},{x},{c},{p}\n"


def write_plan(directory: Path, text: str = PLAN) -> str:
    path = directory / "plan.yaml"
    path.write_text(text)
    return str(path)


def table(n: int = 480, seed: int = 0, hours: int = 240, *, x_missing: float = 0.0,
          c_missing: float = 0.0) -> pa.Table:
    """``n`` random rows over ``hours`` hours from T0."""
    rng = np.random.default_rng(seed)
    start = int(T0.timestamp())
    ts = np.sort(start + rng.integers(0, hours * 3600, n)).astype("datetime64[s]")
    x = rng.normal(size=n)
    x[rng.random(n) < x_missing] = np.nan
    c = rng.choice(np.array(["a", "b", "c"], dtype=object), n)
    c[rng.random(n) < c_missing] = None
    return pa.table({"ts": pa.array(ts, pa.timestamp("s", tz="UTC")),
                     "x": pa.array(x, from_pandas=True), "c": pa.array(c, pa.string()),
                     "p": rng.random(n)})


@dataclass
class Run:
    """The outcome of one in-process CLI run."""

    code: int
    out: str
    err: str
    cpu: float  # seconds of CPU this process spent on the run


def run(*argv: str) -> Run:
    """``planspec argv…`` in-process; an exception escaping ``main`` is a test failure that
    shows the traceback (exactly what a user must never see)."""
    out, err = io.StringIO(), io.StringIO()
    start = time.process_time()
    try:
        with contextlib.redirect_stderr(err):
            code = main(list(argv), out)
    except SystemExit as e:  # argparse usage errors
        code = int(e.code or 0)
    except BaseException:
        raise AssertionError(f"planspec {' '.join(argv)} crashed:\n"
                             f"{traceback.format_exc()}") from None
    return Run(code, out.getvalue(), err.getvalue(), time.process_time() - start)
