"""Helpers for engine tests: small plans built from conditions, and random data sets."""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np

from planspec.compile import CheckProgram
from planspec.compile import compile_plan as _compile_plan
from planspec.model import Plan

T0 = int(datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC).timestamp())  # a Monday
DAY = 86400


def compile_plan(plan: Plan, *args: Any, **kwargs: Any) -> CheckProgram:
    """compile_plan without the semantic checks: engine tests use thresholds that never fire
    (``missing_rate(x) > 100%``), which the checks rightly reject in a real plan."""
    return _compile_plan(plan, *args, check=False, **kwargs)


def plan_with(inputs: dict[str, str], outputs: dict[str, str] | None = None, *,
              window: str = "7d", every: str | None = None, correction: str = "none",
              features: dict[str, Any] | None = None, min_samples: int = 0,
              extra: dict[str, Any] | None = None) -> Plan:
    defaults: dict[str, Any] = {"window": window, "min_samples": min_samples,
                                "correction": correction}
    if every:
        defaults["every"] = every
    data: dict[str, Any] = {
        "plan": "t",
        "model": {"name": "m", "version": "1", "task": "binary_classification",
                  "deployment": "batch", "owners": ["x"], "cadence": "1d"},
        "data": {"timestamp": "ts", "features": features or {
            "x": {"type": "numeric", "range": [-1.0, 1.0]}, "c": {"type": "categorical"}},
            "predictions": {"p": {"kind": "probability", "threshold": 0.5}}},
        "defaults": defaults,
        "input_alerts": [{"id": k, "when": v} for k, v in inputs.items()],
        "output_alerts": [{"id": k, "when": v} for k, v in (outputs or {}).items()],
    }
    data.update(extra or {})
    return Plan.model_validate(data)


def frame(rng: np.random.Generator, n: int, days: int, *, start: int = T0, kind: str = "normal",
          missing: float = 0.0, shift: float = 0.0, categories: int = 5,
          unseen: float = 0.0) -> dict[str, np.ndarray]:
    ts = start + rng.integers(0, days * DAY, n)
    if kind == "normal":
        x = rng.normal(shift, 1.0, n)
    elif kind == "integers":
        x = rng.integers(0, 6, n).astype(float) + round(shift)
    elif kind == "constant":
        x = np.full(n, 3.0 + shift)
    else:  # heavy ties on a few decimals
        x = np.round(rng.normal(shift, 1.0, n), 1)
    x[rng.random(n) < missing] = np.nan
    names = np.array([f"k{i}" for i in range(categories)] + ["new1", "new2"], dtype=object)
    codes = rng.integers(0, categories, n)
    swap = rng.random(n) < unseen
    codes[swap] = categories + rng.integers(0, 2, swap.sum())
    c = names[codes]
    c[rng.random(n) < missing] = None
    return {"ts": ts.astype("datetime64[s]"), "x": x, "c": c, "p": rng.random(n)}


def window_rows(data: dict[str, np.ndarray], start: str, end: str) -> dict[str, np.ndarray]:
    """The raw rows of one window ``[start, end)``."""
    ts = data["ts"].astype(np.int64)
    lo = int(datetime.datetime.fromisoformat(start.replace("Z", "+00:00")).timestamp())
    hi = int(datetime.datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp())
    keep = (ts >= lo) & (ts < hi)
    return {k: v[keep] for k, v in data.items()}


def day_end(data: dict[str, np.ndarray]) -> int:
    """The end of the data's last day (UTC): an `as_of` at which its last window is complete."""
    last = int(data["ts"].astype(np.int64).max())
    return (last // DAY + 1) * DAY
