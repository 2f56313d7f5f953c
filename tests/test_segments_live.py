"""Two live database feeds cut at different times (both DuckDB; or one DuckDB, one PostgreSQL),
run night by night into a sums store with a segmented alert and a segmented outcome monitor, judge
like one run over all the rows."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from planspec.demo import write_duckdb
from planspec.engine.run import run_program, run_store
from planspec.profile import build_profile

from .enginekit import DAY, T0, compile_plan, frame, plan_with
from .test_outcomes import monitors
from .test_sums import assert_close

DAYS = 14


def _rows(rng: np.random.Generator, n: int, start: int, prefix: str) -> dict[str, np.ndarray]:
    d = frame(rng, n, DAYS, start=start, missing=0.02, categories=3)
    d["id"] = np.array([f"{prefix}{i}" for i in range(n)], dtype=object)
    k1 = d["c"] == "k1"
    if start >= T0:
        d["x"][k1] += 0.7  # one segment drifts
    return d


def _table(d: dict[str, np.ndarray], keep: np.ndarray) -> pa.Table:
    return pa.table({k: pa.array(v[keep].tolist() if v.dtype == object else v[keep])
                     for k, v in d.items()})


def _plan() -> Any:
    mon = {**monitors(False, min_labels=10)[0], "when": "precision < 0.5", "by": "c"}
    plan = plan_with({"shift": "mean(x) shift > 0.5 sd"}, {"rate": "rate(p >= 0.5) > 0.9"},
                     correction="bh", min_samples=30, extra={"outcome_monitors": [mon]})
    data = plan.model_dump(by_alias=True, mode="json", exclude_none=True)
    data["input_alerts"][0]["by"] = "c"
    data["data"]["key"] = "id"
    return type(plan).model_validate(data)


def _windows(results: Any) -> dict[str, Any]:
    data = json.loads(results.model_dump_json())
    return {k: data[k] for k in ("windows", "checks", "firing", "segments", "outcomes")}


def test_two_feeds_cut_at_different_times_fill_a_segmented_store(tmp_path: Path) -> None:
    db = tmp_path / "b.duckdb"  # its own database file: a DuckDB file is written whole
    _two_feeds(tmp_path, f"duckdb:{db}?table=feed_b", lambda t: write_duckdb(db, {"feed_b": t}))


def test_a_duckdb_feed_and_a_postgres_feed_fill_one_segmented_store(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same nights with feed b in a real PostgreSQL server: each database keeps its own
    mark in the store, and the store still judges like one run over all rows."""
    from . import pg

    if pg.find_bin() is None:
        pytest.skip("NO POSTGRESQL SERVER: initdb/pg_ctl not found; `apt-get install "
                    "postgresql` (as .ci/run does) to run the PostgreSQL tests")
    monkeypatch.setenv("PGPASSWORD", pg.PASSWORD)
    with pg.running_postgres() as server:
        _two_feeds(tmp_path, f"{server.uri}?table=feed_b",
                   lambda t: pg.load_tables(server, {"feed_b": t}))


def _two_feeds(tmp_path: Path, uri_b: str, write_b: Callable[[pa.Table], None]) -> None:
    """Two feeds, a in DuckDB and b at ``uri_b`` (written by ``write_b``), run night by night
    into one segmented store, each feed its own run; then compared with one run."""
    rng = np.random.default_rng(31)
    program = compile_plan(_plan())
    profile = build_profile(program, _rows(rng, 6000, T0 - 28 * DAY, "b"))
    feeds = {"a": _rows(rng, 3000, T0, "a"), "b": _rows(rng, 2000, T0, "c")}
    both = {k: np.concatenate([feeds["a"][k], feeds["b"][k]]) for k in feeds["a"]}
    has = rng.random(both["id"].size) < 0.6
    known = both["ts"].astype(np.int64)[has] + rng.integers(DAY, 6 * DAY, int(has.sum()))
    outcomes = {"id": both["id"][has], "known": known.astype("datetime64[s]"),
                "y": (rng.random(int(has.sum())) < both["p"][has]).astype(float)}
    db = tmp_path / "live.duckdb"
    store = tmp_path / "sums"
    uris = [f"duckdb:{db}?table=feed_a", uri_b]
    lag = {"a": 6 * 3600, "b": 30 * 3600}  # feed b lands a day and a quarter behind feed a
    held: set[tuple[str, str]] = set()
    for day in range(2, DAYS + 3):
        now = T0 + day * DAY
        cut = {k: _table(d, d["ts"].astype(np.int64) < now - lag[k]) for k, d in feeds.items()}
        write_duckdb(db, {"feed_a": cut["a"], "outcomes": _table(
            outcomes, outcomes["known"].astype(np.int64) < now)})
        write_b(cut["b"])
        for uri in uris:  # one database source per run: each feed is its own nightly run
            results, report = run_store(program, uri, profile, store, as_of=now,
                                        outcomes={"cls": f"duckdb:{db}?table=outcomes"})
            held |= {(where, cut) for where, _, cut in report.live if cut}
            # feed b, new beside feed a on the first night, is named once: it may be a moved a
            first_b = day == 2 and uri == uris[1]
            assert report.beside == ([(uris[1], [uris[0]])] if first_b else []), (day, uri)
    # each feed's last bucket was held back at its own cut, night after night
    cuts = {where: {cut for w, cut in held if w == where} for where in uris}
    assert all(len(c) >= DAYS - 2 for c in cuts.values()) and cuts[uris[0]] != cuts[uris[1]]
    # The last run read feed b to its end; feed a's last bucket is still held back (a live
    # source's last bucket may still be filling), so the store judges a without it.
    a_cut = max(int(np.datetime64(cut.replace("Z", ""), "s").astype(np.int64))
                for w, cut in held if w == uris[0])
    keep = ~((np.arange(both["id"].size) < feeds["a"]["id"].size)
             & (both["ts"].astype(np.int64) >= a_cut))
    seen = {k: v[keep] for k, v in both.items()}
    arrived = outcomes["known"].astype(np.int64) < now  # what the outcomes table holds now
    whole = run_program(program, seen, profile, as_of=now,
                        outcomes={"cls": {k: v[arrived] for k, v in outcomes.items()}})
    assert_close(_windows(results), _windows(whole))
    ids = {c.id for c in results.checks}
    assert {"shift[c=k0]", "shift[c=k1]", "m0[c=k0]", "m0[c=k1]"} <= ids
    assert any(w.status == "fail" for c in results.checks if c.id == "shift[c=k1]"
               for w in c.windows)
    assert any(w.value is not None for c in results.checks if c.id == "m0[c=k1]"
               for w in c.windows)
