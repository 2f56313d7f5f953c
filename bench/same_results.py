"""Exit 0 when two results JSON files agree: the same checks, windows, statuses and firing, and
every number equal within 1e-9 relative. Sources stream in different batches, so moments merge
in a different order and can differ in their last bits (1e-15); anything more is a real change.

Used by `make demo` to show that a DuckDB run gives the Parquet run's results."""

from __future__ import annotations

import json
import math
import sys
from typing import Any


def same(a: Any, b: Any, path: str = "$") -> str | None:
    """Where ``a`` and ``b`` first differ (None when they agree)."""
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and \
                math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            return None
        return f"{path}: {a!r} != {b!r}"
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return f"{path}: keys {sorted(a.keys() ^ b.keys())}"
        return next((d for k in a if (d := same(a[k], b[k], f"{path}.{k}"))), None)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items != {len(b)}"
        return next((d for i, (x, y) in enumerate(zip(a, b, strict=True))
                     if (d := same(x, y, f"{path}[{i}]"))), None)
    return None if a == b else f"{path}: {a!r} != {b!r}"


if __name__ == "__main__":
    with open(sys.argv[1]) as f, open(sys.argv[2]) as g:
        diff = same(json.load(f), json.load(g))
    if diff:
        print(f"results differ at {diff}", file=sys.stderr)
    sys.exit(1 if diff else 0)
