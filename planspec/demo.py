"""Seeded demo data for the worked example: a year of scored rental listings, a baseline, and
the outcomes that arrive late: inspector audits and lease-registry filings.

The scored year runs 52 weeks from Monday 2025-12-01; the baseline is the 52 weeks before it (the
training period). Injected events, also written to ``injected.json`` beside the data:

- ``price_feed_fees`` (2026-03-02 to 2026-03-29): the ingestion job read the total move-in cost
  instead of the monthly rent, so asking prices are 1.9× too high; the model flags far more.
- ``str_units_return`` (2026-05-04 to 2026-06-28): short-term-rental rules return units to the
  long-term market: tourist districts D01–D04 go from about 13% to 45% of listings, owner-site
  listings and small units rise.
- ``rent_stabilization_law`` (from 2026-07-01): concept drift. Stabilized units (districts
  D05–D16) may now legally ask up to 30% above the old fair value, so listings the model flags
  at 10–30% over are no longer out of line: precision falls. Inputs and outputs do not move;
  only outcome monitors can see it, once the outcomes arrive.
- ``sqft_feed_drop`` (2026-09-07 to 2026-09-13): two feeds drop the sqft field.
- ``ingestion_outage`` (2026-10-14): a day on which 70% of listings never arrived.
- ``aggregator_gross_area`` (2026-10-26 to 2026-11-22): the aggregator feed (a fifth of the
  listings) reports gross instead of net area, 1.2× the sqft, after scoring (the model's inputs
  and scores do not move). Only a segmented alert (`by: listing_source`) sees it: across all
  feeds the shift is diluted to about 4%.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from scipy import stats as sps

UTC = datetime.UTC
SCORED_START = datetime.datetime(2025, 12, 1, tzinfo=UTC)
BASELINE_START = SCORED_START - datetime.timedelta(weeks=52)
DAYS = 364
DISTRICTS = [f"D{i:02d}" for i in range(1, 21)]
TOURIST = 4  # D01–D04
SOURCES = ["broker_portal", "owner_site", "aggregator"]


@dataclass(frozen=True)
class Event:
    """An injected event: when, what happened, and the alerts that should see it."""

    id: str
    kind: str
    start: str
    end: str
    what: str
    expect: tuple[str, ...]


EVENTS = (
    Event("price_feed_fees", "feature drift", "2026-03-02", "2026-03-30",
          "asking prices read from the total move-in cost: 1.9x the monthly rent",
          ("price_mean_shift", "price_distribution", "flag_rate_change")),
    Event("str_units_return", "category mix", "2026-05-04", "2026-06-29",
          "tourist districts D01-D04 rise from ~13% to ~45% of listings",
          ("neighborhood_mix",)),
    Event("rent_stabilization_law", "concept drift", "2026-07-01", "2026-11-30",
          "stabilized units may ask up to 30% over the old fair value; inputs do not move",
          ("audit_precision",)),
    Event("sqft_feed_drop", "data quality", "2026-09-07", "2026-09-14",
          "the owner-site and aggregator feeds drop sqft", ("sqft_missing",)),
    Event("ingestion_outage", "data quality", "2026-10-14", "2026-10-15",
          "70% of the day's listings never arrived", ("listing_volume_drop",)),
    Event("aggregator_gross_area", "segment drift", "2026-10-26", "2026-11-23",
          "the aggregator feed reports gross area, 1.2x the sqft; the other feeds do not move",
          ("source_sqft_change[listing_source=aggregator]",)),
)


def _day(s: str) -> int:
    d = datetime.datetime.fromisoformat(s).replace(tzinfo=UTC)
    return (d - SCORED_START).days


def _listings(rng: np.random.Generator, n: int, start: datetime.datetime,
              events: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The scored columns, and what the model cannot see: the truth and how outcomes arrive."""
    day = np.sort(rng.integers(0, DAYS, n))
    if events:  # the outage: drop 70% of one day's rows
        out = _day("2026-10-14")
        keep = (day != out) | (rng.random(n) > 0.7)
        day = day[keep]
        n = day.size
    seconds = day * 86400 + rng.integers(0, 86400, n)
    t0 = int(start.timestamp())
    scored_at = (t0 + seconds).astype("datetime64[s]")

    def during(event: str) -> np.ndarray:
        e = next(x for x in EVENTS if x.id == event)
        return (day >= _day(e.start)) & (day < _day(e.end)) if events else np.zeros(n, bool)

    weights = np.linspace(1.6, 0.6, len(DISTRICTS))
    weights /= weights.sum()
    str_mix = weights.copy()
    str_mix[:TOURIST] *= 5.5
    str_mix /= str_mix.sum()
    hood = rng.choice(len(DISTRICTS), n, p=weights)
    str_rows = during("str_units_return")
    hood[str_rows] = rng.choice(len(DISTRICTS), int(str_rows.sum()), p=str_mix)
    source = rng.choice(len(SOURCES), n, p=[0.5, 0.3, 0.2])
    source[str_rows] = rng.choice(len(SOURCES), int(str_rows.sum()), p=[0.35, 0.5, 0.15])
    bedrooms = rng.choice(5, n, p=[0.12, 0.35, 0.3, 0.17, 0.06])
    bedrooms[str_rows] = rng.choice(5, int(str_rows.sum()), p=[0.25, 0.4, 0.2, 0.1, 0.05])
    sqft = np.maximum(350 + 280 * bedrooms + rng.normal(0, 120, n), 150).round()
    building_age = np.minimum(rng.gamma(2.0, 25.0, n), 180).astype(np.int64)
    days_on_market = np.minimum(rng.gamma(2.0, 12.0, n), 365).astype(np.int64)
    broker_fee = rng.random(n) < np.where(source == 0, 0.55, 0.2)
    described = rng.random(n) > 0.04
    district_rent = np.linspace(4200, 1800, len(DISTRICTS))[hood]
    fmv = district_rent * (1 + 0.22 * bedrooms) * (sqft / (350 + 280 * bedrooms)) ** 0.3
    ratio = rng.lognormal(0.0, 0.11, n)  # asking rent / fair market value
    price = (fmv * ratio).round()
    # The model's view: its own FMV estimate and a probability that the price is within 10%.
    fmv_hat = fmv * rng.lognormal(0.0, 0.04, n)
    actual_price = price.copy()
    fees = during("price_feed_fees")
    price[fees] = (price[fees] * 1.9).round()
    # Calibrated by construction: the chance the true ratio is within 10%, given the model's
    # own FMV estimate and its 4% error.
    gap = np.log(price / fmv_hat)
    within = np.log(1.1), np.log(0.9)
    p_within = sps.norm.cdf((within[0] - gap) / 0.04) - sps.norm.cdf((within[1] - gap) / 0.04)
    sqft_missing = during("sqft_feed_drop") & (source != 0)
    sqft[sqft_missing] = np.nan
    gross = during("aggregator_gross_area") & (source == SOURCES.index("aggregator"))
    sqft[gross] = (sqft[gross] * 1.2).round()  # recorded after scoring: the model saw net area
    description = np.full(n, "Sunny unit near transit.", dtype=object)
    description[~described] = None
    # The truth: out of line when the asking rent is more than 10% from fair value; after the
    # law, stabilized units may legally ask up to 30% above it.
    true_ratio = actual_price / fmv
    out_of_line = np.abs(true_ratio - 1) > 0.10
    law = during("rent_stabilization_law") & (hood >= 4) & (hood < 16)
    out_of_line[law] = (true_ratio[law] < 0.90) | (true_ratio[law] > 1.30)
    hidden = {"out_of_line": out_of_line, "flagged": p_within < 0.5, "seconds": t0 + seconds,
              "days_on_market": days_on_market, "fmv": fmv}
    return {
        "listing_id": np.char.add(f"L{start.year}-", np.arange(n).astype(str)),
        "scored_at": scored_at,
        "listing_price": price, "sqft": sqft, "bedrooms": bedrooms,
        "building_age": building_age,
        "neighborhood": np.asarray(DISTRICTS)[hood], "listing_source": np.asarray(SOURCES)[source],
        "days_on_market": days_on_market, "broker_fee": broker_fee,
        "description_text": description,
        "p_within_10pct": p_within.round(4),
    }, hidden


def _table(columns: dict[str, Any]) -> pa.Table:
    arrays = {}
    for name, values in columns.items():
        if name == "scored_at":
            arrays[name] = pa.array(values, type=pa.timestamp("s", tz="UTC"))
        elif name == "sqft":
            arrays[name] = pa.array(values, from_pandas=True)
        else:
            arrays[name] = pa.array(values.tolist() if values.dtype == object else values)
    return pa.table(arrays)


def _outcomes(rng: np.random.Generator, ids: np.ndarray, hidden: dict[str, Any]
              ) -> dict[str, pa.Table]:
    """Audits (biased towards flagged listings, with inverse-probability weights) and registry
    filings (leases only, months later), with a few re-audits to exercise duplicate handling."""
    n = ids.size
    flagged, truth, t = hidden["flagged"], hidden["out_of_line"], hidden["seconds"]
    p_audit = np.where(flagged, 0.10, 0.01)
    audited = rng.random(n) < p_audit
    redo = audited & (rng.random(n) < 0.01)
    rows = np.concatenate([np.flatnonzero(audited), np.flatnonzero(redo)])
    delay = np.clip(rng.gamma(3.0, 6.0, rows.size), 3, 60) * 86400
    audits = pa.table({
        "listing_id": pa.array(ids[rows].tolist()),
        "audited_at": pa.array((t[rows] + delay).astype("datetime64[s]"),
                               type=pa.timestamp("s", tz="UTC")),
        "out_of_line": pa.array(truth[rows]),
        "inverse_audit_probability": pa.array(1 / p_audit[rows]),
    })
    leased = rng.random(n) < np.where(truth, 0.55, 0.8)
    # A signed lease settles near fair value: the registry proxy for it.
    lease_rent = (hidden["fmv"][leased] * rng.lognormal(0.0, 0.03, leased.sum())).round()
    lag = (hidden["days_on_market"][leased] + np.clip(rng.gamma(4.0, 11.0, leased.sum()), 10, 120))
    registry = pa.table({
        "listing_id": pa.array(ids[leased].tolist()),
        "registered_at": pa.array((t[leased] + lag * 86400).astype("datetime64[s]"),
                                  type=pa.timestamp("s", tz="UTC")),
        "out_of_line": pa.array(truth[leased]),
        "lease_rent": pa.array(lease_rent),
    })
    return {"inspector_audits": audits, "lease_registry": registry}


def write_duckdb(path: Path, tables: dict[str, pa.Table]) -> None:
    """Write ``tables`` into a new DuckDB database at ``path``, atomically (a temporary file
    renamed into place, so a reader never sees half a database)."""
    import duckdb

    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        for name, table in tables.items():
            con.register("planspec_arrow", table)
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM planspec_arrow')
            con.unregister("planspec_arrow")
    finally:
        con.close()
    tmp.replace(path)


def write_demo_data(out: Path, rows: int = 200_000, seed: int = 7,
                    baseline_rows: int | None = None) -> dict[str, Path]:
    """Write ``baseline.parquet`` and ``scored.parquet`` (``rows`` listings each, the same daily
    volume, unless ``baseline_rows`` is given), the outcome tables under ``outcomes/``,
    ``injected.json``, the scored rows again as a Parquet dataset partitioned by month
    (``scored_ds/month=2025-12/…``), and every table in ``demo.duckdb`` (tables ``baseline``,
    ``scored``, ``inspector_audits``, ``lease_registry``) into ``out``."""
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "outcomes").mkdir(exist_ok=True)
    paths = {"baseline": out / "baseline.parquet", "scored": out / "scored.parquet",
             "injected": out / "injected.json",
             "inspector_audits": out / "outcomes" / "inspector_audits.parquet",
             "lease_registry": out / "outcomes" / "lease_registry.parquet",
             "scored_dataset": out / "scored_ds", "duckdb": out / "demo.duckdb"}
    tables = {"baseline": _table(_listings(rng, baseline_rows or rows, BASELINE_START,
                                           events=False)[0])}
    scored, hidden = _listings(rng, rows, SCORED_START, events=True)
    tables["scored"] = _table(scored)
    tables.update(_outcomes(rng, scored["listing_id"], hidden))
    for name, table in tables.items():
        pq.write_table(table, paths[name])
    month = scored["scored_at"].astype("datetime64[M]").astype(str)
    ds.write_dataset(tables["scored"].append_column("month", pa.array(month)),
                     paths["scored_dataset"], format="parquet", partitioning=["month"],
                     partitioning_flavor="hive", existing_data_behavior="delete_matching")
    write_duckdb(paths["duckdb"], tables)
    paths["injected"].write_text(json.dumps([asdict(e) for e in EVENTS], indent=2) + "\n")
    return paths
