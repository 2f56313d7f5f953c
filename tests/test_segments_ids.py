"""Segment names and ids read back whatever the values hold: commas, quotes, brackets, newlines,
the empty string, the text `(missing)`, and missing values; results, profiles, the store,
notifications and the text output agree on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from planspec import _segid
from planspec.compile import compile_plan
from planspec.engine.run import run_program, run_store
from planspec.profile import build_profile, load_profile

from .enginekit import DAY, T0, plan_with

HOSTILE = ["a, b", "a", "b, u", 'say "hi"', "x]y", "[z", "line\nbreak", "", "(missing)",
           "k=v", "back\\slash", " padded ", "Zürich West", "tab\there", "u", None]


@given(st.lists(st.one_of(st.none(), st.text()), min_size=1, max_size=4))
def test_names_read_back_to_their_values(values: list[str | None]) -> None:
    name = _segid.name_of(tuple(values))
    assert _segid.values_of(name) == tuple(values)
    assert "\n" not in name and "\r" not in name


def test_plain_values_keep_their_names_and_hostile_ones_are_quoted() -> None:
    assert _segid.name_of(("Upper West Side", "D01")) == "Upper West Side, D01"
    assert _segid.name_of(("a, b", "u")) != _segid.name_of(("a", "b, u"))
    assert _segid.name_of(("(missing)",)) != _segid.name_of((None,)) == "(missing)"
    assert _segid.check_id("m", ("c", "g"), _segid.name_of(("x]y", None))) == \
        'm[c="x]y",g=(missing)]'
    with pytest.raises(ValueError, match="not a segment name"):
        _segid.values_of('"a"b')


def _data(seed: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)

    def one(n: int, start: int, drift: float) -> dict[str, np.ndarray]:
        c = np.array(HOSTILE, dtype=object)[rng.integers(0, len(HOSTILE), n)]
        g = np.array(["a", "b, u", None, ""], dtype=object)[rng.integers(0, 4, n)]
        x = rng.normal(size=n)
        x[c == "x]y"] += drift  # one hostile segment drifts
        return {"ts": (start + rng.integers(0, 21 * DAY, n)).astype("datetime64[s]"),
                "x": x, "c": c, "g": g, "p": rng.random(n)}

    return one(16000, T0 - 28 * DAY, 0.0), one(16000, T0, 1.5)


def _plan() -> Any:
    plan = plan_with({"shift": "mean(x) shift > 1 sd"}, correction="bh", features={
        "x": {"type": "numeric"}, "c": {"type": "categorical"}, "g": {"type": "categorical"}},
        min_samples=20)
    data = plan.model_dump(by_alias=True, mode="json", exclude_none=True)
    data["input_alerts"][0]["by"] = ["c", "g"]
    data["defaults"]["max_segments"] = 200
    return type(plan).model_validate(data)


def _combo(d: dict[str, np.ndarray], c: str | None, g: str | None) -> np.ndarray:
    return np.array([a == c and b == g for a, b in zip(d["c"], d["g"], strict=True)])


def test_hostile_segments_are_distinct_and_each_equals_its_rows(tmp_path: Path) -> None:
    base, cur = _data(4)
    program = compile_plan(_plan())
    profile = build_profile(program, base)
    assert load_profile(profile.model_dump_json(), "b.json") == profile
    results = run_program(program, cur, profile)
    checks = [c for c in results.checks if c.id.startswith("shift[")]
    combos = {(c, g) for c, g in zip(cur["c"], cur["g"], strict=True)}
    assert len(checks) == len({c.id for c in checks}) == len(combos)
    seen = set()
    for check in checks:
        assert check.segment is not None
        c, g = _segid.values_of(check.segment)
        seen.add((c, g))
        assert check.id == _segid.check_id("shift", ("c", "g"), check.segment)
        rows = _combo(cur, c, g)
        ts = cur["ts"].astype(np.int64)
        for w in check.windows:
            lo = np.datetime64(w.start.replace("Z", ""), "s").astype(np.int64)
            hi = np.datetime64(w.end.replace("Z", ""), "s").astype(np.int64)
            assert w.n == int((rows & (ts >= lo) & (ts < hi)).sum()), check.id
        own = _combo(base, c, g)
        judged = [w for w in check.windows if w.value is not None and w.status != "partial"]
        if judged and own.sum() > 1:
            w = judged[0]
            lo = np.datetime64(w.start.replace("Z", ""), "s").astype(np.int64)
            hi = np.datetime64(w.end.replace("Z", ""), "s").astype(np.int64)
            x = cur["x"][rows & (ts >= lo) & (ts < hi)]
            b = base["x"][own]
            assert w.value == pytest.approx(abs(x.mean() - b.mean()) / b.std(ddof=1), rel=1e-9)
    assert seen == combos
    failed = {c.id for c in checks if any(w.status == "fail" for w in c.windows)}
    assert failed == {c.id for c in checks if 'c="x]y"' in c.id}
    # The store: two nightly runs judge and name the segments as one run does.
    day = cur["ts"].astype(np.int64) // DAY
    cut = int(np.median(day))
    paths = []
    for i, keep in enumerate((day < cut, day >= cut)):
        path = tmp_path / f"part{i}.parquet"
        pq.write_table(pa.table({k: pa.array(list(v[keep]) if v.dtype == object else v[keep])
                                 for k, v in cur.items()}), path)
        paths.append(str(path))
    store = tmp_path / "sums"
    run_store(program, [paths[0]], profile, store)
    stored, _ = run_store(program, [paths[1]], profile, store)
    assert [(c.id, c.segment, [(w.n, w.status) for w in c.windows]) for c in stored.checks] == \
        [(c.id, c.segment, [(w.n, w.status) for w in c.windows]) for c in results.checks]


def test_notifications_and_text_name_hostile_segments_readably() -> None:
    import datetime

    from planspec.notify import State, alertmanager_payload, parse_target, pending
    from planspec.render import render_results_text

    base, cur = _data(5)
    program = compile_plan(_plan())
    results = run_program(program, cur, build_profile(program, base))
    text = render_results_text(results)
    firing = [c for c in results.checks if c.id in {f.id for f in results.firing}]
    assert firing
    for c in firing:
        assert c.segment is not None
        assert f"{_segid.label(('c', 'g'), c.segment)}:" in text
    now = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    ttl = datetime.timedelta(hours=1)
    events = pending(results, parse_target("webhook:http://127.0.0.1:9/h"), State(), now, ttl)
    for e in events:
        labels = alertmanager_payload(results, e, None, now, ttl)[0]["labels"]
        assert e.check_id == f"shift[{labels['segment']}]"
