"""Running a compiled program: read the data as a stream of record batches, gather them into
per-bucket sums (merged with a sums store, when one is given), derive the window grids,
compute, judge and assemble the results. Nothing after gathering reads a row, except the
outcome join, which needs each scored row's key, time and score (kept as narrow columns)."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from planspec.compile import (
    CheckProgram,
    StatKey,
    WindowSpec,
    window_spec,
)
from planspec.data import (
    BATCH_ROWS,
    DataError,
    Input,
    check_bucket_budget,
    frame_of,
    inputs,
    read_batches,
)
from planspec.engine import incremental as inc
from planspec.engine import store as st
from planspec.engine.actions import annotate_risks, playbook_actions, stand_ins
from planspec.engine.calendar import bucket_starts
from planspec.engine.evidence import dated_risks, explain
from planspec.engine.gather import (
    Buckets,
    Cumulated,
    Sums,
    column_needs,
    cumulate,
    gather_batches,
    merge_all,
    stat_families,
)
from planspec.engine.judge import adjust, judge_monitor, judge_rule
from planspec.engine.segments import (
    BySegments,
    SegmentGather,
    Segments,
    judge_monitor_segments,
    judge_segments,
    merge_slices,
    segment_pvalues,
    segment_summary,
    segment_values,
    segments_from_table,
    segments_table,
)
from planspec.engine.windows import Grid, Values, compute, iso
from planspec.outcomes import (
    load_outcome_inputs,
)
from planspec.profile import (
    Profile,
    build_profile,
    check_profile,
)
from planspec.profile_check import histogram_bins
from planspec.results import (
    CheckResult,
    Firing,
    Results,
    SegmentSummary,
    WindowInfo,
)
from planspec.sources import Source

Progress = Callable[[str], None]


def _as_of(as_of: Any, t_max: int) -> int:
    if as_of is None:
        return t_max
    if isinstance(as_of, (int, np.integer)):
        return int(as_of)
    if isinstance(as_of, str):
        try:
            as_of = datetime.datetime.fromisoformat(as_of.replace("Z", "+00:00"))
        except ValueError:
            raise DataError("PS404", f"--as-of `{as_of}` is not a time",
                            "write it as ISO 8601, e.g. 2026-11-29T00:00:00Z") from None
    if isinstance(as_of, datetime.date) and not isinstance(as_of, datetime.datetime):
        as_of = datetime.datetime(as_of.year, as_of.month, as_of.day)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=datetime.UTC)
    return int(as_of.timestamp())


def _profile(program: CheckProgram, baseline: Any, say: Progress) -> Profile:
    if isinstance(baseline, Profile):
        profile = baseline
    else:
        say("profiling the baseline")
        profile = build_profile(program, baseline)
        if any(leaf.level is not None for r in program.rules for leaf in r.fail.leaves()
               + (r.warn.leaves() if r.warn else [])):
            from planspec.calibrate import calibrate_profile  # it imports the engine's stages

            say("replaying the baseline for calibrated thresholds")
            profile = calibrate_profile(program, profile, baseline)
    check_profile(program, profile)
    return profile


def narrow_columns(program: CheckProgram) -> dict[str, str]:
    """The columns outcome joins read from scored rows, with their kinds: each monitor's
    join key, prediction and the scored columns a derived label reads."""
    kinds: dict[str, str] = {}
    for m in program.monitors:
        kinds.setdefault(m.join_key, "categorical")
        kinds.setdefault(m.prediction, "numeric")
        for col in m.scored_columns:
            kinds.setdefault(col, program.columns[col].kind if col in program.columns
                             else "numeric")
        if m.by is not None:  # the columns that place a scored row in its segment
            for col in program.slices[m.by].columns:
                kinds.setdefault(col, program.columns[col].kind)
    return kinds


@dataclass
class Gathered:
    """The sums of a run's data, and what outcome joins need of its rows (narrow columns)."""

    sums: Sums
    narrow: pa.Table | None = None
    #: When the sums of a family were first gathered into a store (column → family → first
    #: complete bucket): windows before it lack history.
    since: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Segmented sums: per segment column, per value (see :mod:`planspec.engine.segments`).
    segments: dict[str, dict[str, Sums]] = field(default_factory=dict)


def gather_data(program: CheckProgram, profile: Profile, data: Any, keep_narrow: bool,
                say: Progress, batch_rows: int = BATCH_ROWS) -> Gathered:
    """Stream ``data`` (files or an in-memory table) through the gather, batch by batch."""
    needs = column_needs(program)
    narrow = narrow_columns(program) if keep_narrow else {}
    columns = list(dict.fromkeys([program.timestamp, *needs, *narrow]))
    kinds = {n: need.kind for n, need in needs.items()} | narrow
    parts: list[Sums] = []
    kept: list[pa.Table] = []
    segmented = SegmentGather(program, profile)
    items = inputs(data, "data")
    for item in items:
        say(f"reading {item.where}")
        sums, rows = gather_batches(needs, read_batches(item, columns, kinds, batch_rows,
                                                         by_column=True),
                                    program.timestamp, profile, program.bucket, item.where,
                                    [program.timestamp, *narrow] if narrow else (),
                                    bins=histogram_bins(program, profile), tz=program.timezone,
                                    splits=segmented.splits())
        if sums is not None:
            parts.append(sums)
        if rows is not None:
            kept.append(rows)
    if not parts:
        since = {i.since for i in items if i.since is not None}
        raise DataError("PS405", f"{_where(data)}: no rows"
                        + (f" since {min(since).isoformat()}" if since else ""))
    narrow_table = None
    if kept:
        try:
            narrow_table = pa.concat_tables(kept, promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise DataError("PS403", f"the files disagree on column types: {e}") from None
    return Gathered(merge_all(parts), narrow_table, segments=segmented.result())


def _where(data: Any) -> str:
    if isinstance(data, Source):
        return data.where
    if isinstance(data, (list, tuple)) and data and isinstance(data[0], str):
        return ", ".join(map(str, data[:3])) + (f" and {len(data) - 3} more" if len(data) > 3
                                                else "")
    return str(data) if isinstance(data, str) else "data"


def run_program(program: CheckProgram, data: Any, baseline: Any,
                progress: Progress | None = None, outcomes: Any = None,
                as_of: Any = None, batch_rows: int = BATCH_ROWS, judge_partial: bool = False,
                engine: str = "local", scheduler: Any = None) -> Results:
    """Run ``program`` on ``data`` against ``baseline`` (a :class:`Profile` or baseline data),
    with ``outcomes`` by source name for the outcome monitors, looking from ``as_of``. Data is
    read ``batch_rows`` rows at a time, so memory holds one batch plus the sums. Windows not
    over at ``as_of`` (or begun before the data) are partial: shown, not judged, unless
    ``judge_partial``. With ``engine="dask"`` the sums are gathered on the Dask cluster at
    ``scheduler`` (an address or a ``distributed.Client``; None: a local cluster started for
    the run), see :mod:`planspec.engine.distributed`."""
    _known_engine(engine)
    say = progress or (lambda _msg: None)
    profile = _profile(program, baseline, say)
    given = load_outcome_inputs(outcomes, program.monitors)
    if engine == "dask":  # the same sums, gathered per partition on a Dask cluster
        from planspec.engine.distributed import gather_dask

        gathered = gather_dask(program, profile, data, bool(given), say, scheduler, batch_rows)
    else:
        gathered = gather_data(program, profile, data, bool(given), say, batch_rows)
    return judge_sums(program, profile, gathered, given, as_of, say, judge_partial)


#: Where sums are gathered: in this process, or on a Dask cluster.
ENGINES = ("local", "dask")


def _known_engine(engine: str) -> None:
    """Refuse an engine name this version does not know rather than run locally instead.

    >>> _known_engine("spark")
    Traceback (most recent call last):
    ValueError: engine must be 'local' or 'dask', not 'spark'
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be 'local' or 'dask', not {engine!r}")


def _before(segments: dict[str, Sums], cut: int, tz: str) -> dict[str, Sums]:
    """Each segment's sums of the buckets that begin before ``cut``."""
    out: dict[str, Sums] = {}
    for value, s in segments.items():
        early = np.flatnonzero(bucket_starts(s.ids, s.size, tz) < cut)
        if early.size:
            out[value] = s.take(early)
            out[value].t_max = min(out[value].t_max, cut - 1)
    return out


@dataclass
class StoreReport:
    """What a run did to its sums store, for the caller to tell the user."""

    store: str
    ingested: list[st.Ingested]
    #: Inputs skipped because the store already holds their content: (name, ingested as).
    skipped: list[tuple[str, str]]
    #: Buckets the store already held that received rows in this run (late rows): their
    #: windows were re-judged.
    late_buckets: list[str]
    #: Checks whose statistics the store began gathering in this run, and from when their
    #: windows have history.
    lacking: dict[str, str]
    history_added: int
    generation: str
    #: Databases read on from a watermark: (source, read from, start of the last bucket read,
    #: judged but held back from the store until it is complete; "" when nothing new came).
    live: list[tuple[str, str | None, str]] = field(default_factory=list)
    #: Databases new to the store read from their first row as another feed beside the ones it
    #: already reads: (source, those sources). One of them moved to a new address would now
    #: count its rows twice; the caller says so.
    beside: list[tuple[str, list[str]]] = field(default_factory=list)


def run_store(program: CheckProgram, data: Any, baseline: Any, store: str | Path,
              progress: Progress | None = None, outcomes: Any = None, as_of: Any = None,
              batch_rows: int = BATCH_ROWS, where_plan: str = "the plan",
              where_baseline: str = "the baseline", judge_partial: bool = False,
              where_timezone: str | None = None, engine: str = "local",
              scheduler: Any = None) -> tuple[Results, StoreReport]:
    """Merge the sums of ``data`` (None or empty: nothing new) into the sums store at
    ``store`` and judge every window of everything the store holds; each run's judged windows
    are appended to the store's history. An input whose content the store already holds is
    skipped. The store is written atomically, once, at the end. With ``engine="dask"`` the new
    inputs' sums (and narrow columns) are gathered on the Dask cluster at ``scheduler`` and
    merged into the store here."""
    _known_engine(engine)
    say = progress or (lambda _msg: None)
    profile = _profile(program, baseline, say)
    given = load_outcome_inputs(outcomes, program.monitors)
    root = Path(store)
    with st.locked(root):
        stored = st.open_store(root, program, profile, where_plan, where_baseline,
                               where_timezone)
        needs = column_needs(program)
        narrow = narrow_columns(program)
        columns = list(dict.fromkeys([program.timestamp, *needs, *narrow]))
        kinds = {n: need.kind for n, need in needs.items()} | narrow
        keep = [program.timestamp, *narrow] if narrow else []
        seen = stored.fingerprints
        rows_files: list[str] = list(stored.manifest.get("rows_files", []))
        parts: list[Sums] = []
        slices = SegmentGather(program, profile).needs
        # Per input: its segmented sums as judged now, and as stored (without the bucket a
        # live read holds back, as for the unsegmented sums).
        judged_segments: list[Segments] = []
        stored_segments: list[Segments] = []
        ingested: list[st.Ingested] = []
        skipped: list[tuple[str, str]] = []
        (root / st.ROWS_DIR).mkdir(exist_ok=True)
        held: list[Sums] = []  # the last bucket of each live source: judged, not stored
        held_rows: list[pa.Table] = []
        live: list[tuple[str, str | None, str]] = []
        nothing = data is None or (isinstance(data, (list, tuple)) and not data)
        todo: list[tuple[Input, str]] = []
        known = sorted(stored.manifest.get("sources", {}))
        beside: list[tuple[str, list[str]]] = []
        for item in [] if nothing else inputs(data, "data"):
            if st.is_live(item):  # a database: read on from where the last read stopped
                if known and item.where not in known and item.since is None:
                    beside.append((item.where, known))
                item = st.live_input(item, st.resume_at(stored, item, program))
                fp = st.live_fingerprint(item)
            else:
                fp = st.fingerprint(item)
                if fp in seen:
                    skipped.append((item.where, seen[fp]))
                    continue
                seen[fp] = item.where  # the same content twice in one run is read once
            todo.append((item, fp))
        on_dask = _gather_on_dask(program, profile, [i for i, _ in todo], narrow, say,
                                  scheduler, batch_rows) if engine == "dask" and todo else None
        for n, (item, fp) in enumerate(todo):
            say(f"{'merging' if on_dask is not None else 'reading'} {item.where}"
                + (f" from {item.since.isoformat()}" if item.since is not None else ""))
            name = st.rows_file_name(fp)
            with st.RowsWriter(root / st.ROWS_DIR / name) as sink:
                if on_dask is not None:  # gathered on the cluster: write its narrow rows
                    part, rows = on_dask[n]
                    sums, item_segments = part.sums, part.segments
                    for batch in rows.to_batches() if keep and rows is not None else ():
                        sink.write(batch)
                else:
                    segmented = SegmentGather(program, profile)
                    batches = read_batches(item, columns, kinds, batch_rows, by_column=True)
                    sums, _ = gather_batches(needs, batches,
                                             program.timestamp, profile, program.bucket,
                                             item.where, keep, sink.write if keep else None,
                                             bins=histogram_bins(program, profile),
                                             tz=program.timezone,
                                             splits=segmented.splits())
                    item_segments = segmented.result()
            if sums is None and st.is_live(item):  # nothing new has arrived
                live.append((item.where, iso(int(item.since.timestamp())) if item.since
                             else None, ""))
                continue
            if sums is None:
                raise DataError("PS405", f"{item.where}: no rows")
            if st.is_live(item):
                sums, tail, held_from = st.hold_back(sums, program.timezone)
                held.append(tail)
                judged_segments.append(item_segments)
                stored_segments.append({by: _before(d, held_from, program.timezone)
                                        for by, d in item_segments.items()})
                stored.manifest.setdefault("sources", {})[item.where] = {"from": held_from}
                live.append((item.where, iso(int(item.since.timestamp())) if item.since
                             else None, iso(held_from)))
                if keep:
                    rest = st.split_rows(root / st.ROWS_DIR / name, program.timestamp, held_from,
                                         item.where)
                    held_rows += [rest] if rest is not None else []
                if sums is None:
                    continue
            else:
                judged_segments.append(item_segments)
                stored_segments.append(item_segments)
            if keep and (root / st.ROWS_DIR / name).exists():
                rows_files.append(name)
            parts.append(sums)
            ingested.append(st.Ingested(fp, item.where, sums.total, iso(sums.t_min),
                                        iso(sums.t_max), iso(int(datetime.datetime.now(
                                            datetime.UTC).timestamp()))))
        if stored.sums is None and not parts and not held:
            raise DataError("PS405", f"{root}: the store is empty and no new data was given")
        late: list[str] = []
        if stored.sums is not None:
            for p in parts:
                old = np.intersect1d(p.ids, stored.sums.ids)
                late += [iso(int(t)) for t in bucket_starts(old, p.size, program.timezone)]
        stores = [*([stored.sums] if stored.sums is not None else []), *parts]
        merged = merge_all(stores) if stores else None
        narrow_table = st.read_rows(root, rows_files, keep) if given and keep else None
        if held_rows and given:
            narrow_table = pa.concat_tables([*([narrow_table] if narrow_table else []),
                                             *held_rows], promote_options="permissive")
        judged = merge_all([*([merged] if merged is not None else []), *held])
        if stored.segments is not None and slices:
            before = segments_from_table(stored.segments, slices, profile,
                                         judged.size, judged.t_min, judged.t_max)
            judged_segments.append(before)
            stored_segments.append(before)
        segments = merge_slices(judged_segments, slices)
        gathered = Gathered(judged, narrow_table, stored.since, segments)
        judged_under = inc.judgement_key(program, profile, stored.since, judge_partial)
        prior = None
        if stored.judged is not None:
            prior = inc.decode(stored.judged, stored.judged_where)
            prior = prior if prior.key == judged_under else None
        # The buckets whose sums differ from what the last run judged: new and late rows,
        # the held-back buckets of live sources (now, and as the last run judged them).
        touched = np.unique(np.concatenate([np.zeros(0, np.int64),
                                            *(p.ids for p in [*parts, *held]),
                                            *([prior.provisional] if prior else [])]))
        results, grids = _judge(program, profile, gathered, given, as_of, say, judge_partial,
                                prior, touched)
        judgement = inc.encode(inc.Prior(judged_under, inc.grid_record(grids),
                                         results.checks,
                                         np.unique(np.concatenate([np.zeros(0, np.int64),
                                                                   *(h.ids for h in held)]))))
        run = int(stored.manifest.get("runs", 0)) + 1
        history, added = st.append_history(stored.history, st.judged_windows(results, run))
        say(f"writing the store ({0 if merged is None else merged.ids.size:,} buckets)")
        gen = st.commit(root, program, profile, stored, merged, ingested, history, rows_files,
                        segments_table(merge_slices(stored_segments, slices), slices),
                        {inc.JUDGED: judgement})
    lacking: dict[str, str] = {}
    for key in program.stats:
        if key.column is None:
            continue
        since = stored.since.get(key.column, {})
        firsts = [since[f] for f in stat_families(key, program.columns[key.column])
                  if f in since]
        if firsts:
            start = iso(int(bucket_starts(np.array([max(firsts)]), program.bucket,
                                          program.timezone)[0]))
            for rule in program.rules:
                if any(leaf.key == key for leaf in rule.fail.leaves() + (
                        rule.warn.leaves() if rule.warn else [])):
                    lacking[rule.id] = min(lacking.get(rule.id, start), start)
    report = StoreReport(str(root), ingested, skipped, sorted(set(late)), lacking, added,
                         gen.name, live, beside)
    return results, report


def _gather_on_dask(program: CheckProgram, profile: Profile, items: list[Input],
                    narrow: dict[str, str], say: Progress, scheduler: Any, batch_rows: int
                    ) -> list[tuple[Any, pa.Table | None]]:
    """Each input's sums (a ``distributed.Part``: with its segments) and narrow columns,
    gathered on a Dask cluster (for a store)."""
    from planspec.engine.distributed import gather_groups, job_for, partitions

    job = job_for(program, profile, narrow, batch_rows)
    groups = [partitions(item, job.columns, batch_rows) for item in items]
    return gather_groups(job, groups, say, scheduler)


def judge_sums(program: CheckProgram, profile: Profile, gathered: Gathered,
               given: dict[str, Any], as_of: Any, say: Progress, judge_partial: bool = False,
               prior: inc.Prior | None = None, touched: np.ndarray | None = None) -> Results:
    """Every check over every window of the sums (no rows are read here, except the narrow
    columns that outcome joins need). With a ``prior`` judgement (a store's last run) and the
    buckets this run ``touched`` (global ids), the alerts are judged again only from the
    first window each grid can have changed (see :mod:`planspec.engine.incremental`)."""
    return _judge(program, profile, gathered, given, as_of, say, judge_partial, prior,
                  touched)[0]


def _judge(program: CheckProgram, profile: Profile, gathered: Gathered,
           given: dict[str, Any], as_of: Any, say: Progress, judge_partial: bool,
           prior: inc.Prior | None, touched: np.ndarray | None
           ) -> tuple[Results, dict[WindowSpec, Grid]]:
    """:func:`judge_sums`, and the window grids it judged."""
    sums = gathered.sums
    now = _as_of(as_of, sums.t_max)
    check_bucket_budget(sums.t_min, sums.t_max, program.bucket,
                        histogram_bins(program, profile), "data")
    view = cumulate(sums)
    b = view.buckets
    specs = {*program.windows, *(m.window for m in program.monitors)}
    tz = program.timezone
    # as-of and partial windows: every grid knows which of its windows are complete
    grids = {spec: Grid.of(spec, b, sums.t_min, sums.t_max, now, tz) for spec in specs}
    rows = {spec: g.total(view.rows) for spec, g in grids.items()}
    say(f"computing {len(program.stats)} statistics over {len(grids)} window grids "
        f"({sums.total:,} rows in {sums.ids.size:,} buckets)")
    at = None
    if prior is not None and all(g.starts.size for g in grids.values()):
        local = np.asarray(touched if touched is not None else [], dtype=np.int64) - b.first
        at = inc.cuts(program, prior, grids, local)
    alerts: list[CheckResult] | None = None
    if prior is not None and at is not None:
        subs = {spec: inc.sub_grid(g, at[spec]) for spec, g in grids.items()}
        whole, by_segment, segs = _judge_alerts(program, profile, gathered, view, subs,
                                                {s: r[at[s]:] for s, r in rows.items()},
                                                judge_partial)
        alerts = inc.splice(prior, [*whole, *by_segment], grids, at, program)
        if alerts is not None:
            say(f"judged {sum(g.starts.size - at[s] for s, g in grids.items())} of "
                f"{sum(g.starts.size for g in grids.values())} windows again (the others "
                "are the store's)")
    if alerts is None:
        whole, by_segment, segs = _judge_alerts(program, profile, gathered, view, grids, rows,
                                                judge_partial)
        alerts = [*whole, *by_segment]
    whole_alerts, segment_alerts = alerts[:len(whole)], alerts[len(whole):]
    sources: dict[str, dict[str, int]] = {}
    narrow = _narrow_frame(program, gathered, view) if given else None
    monitors: list[CheckResult] = []
    split: list[CheckResult] = []  # monitors judged per segment, explained as they are judged
    split_summary: list[SegmentSummary] = []
    for m in program.monitors:
        if m.source.name in given:
            say(f"joining outcomes for {m.id}")
        frame, nb = narrow if narrow is not None else (None, None)
        if m.by is not None:
            found, summary = judge_monitor_segments(
                m, program.slices[m.by], grids[m.window], frame, nb, given.get(m.source.name),
                now, sources, judge_partial, program.max_segments, tz,
                view.columns[m.prediction].present)
            split += found
            split_summary += [summary] if summary else []
            continue
        monitors.append(judge_monitor(m, grids[m.window], frame, nb, given.get(m.source.name),
                                      now, sources, view.columns[m.prediction].present,
                                      judge_partial))
    only = dataclasses.replace(program, rules=[],
                               monitors=[m for m in program.monitors if m.by is None])
    monitors = explain(only, monitors, grids, rows, view.columns, profile, {})
    # Segments' results follow the monitors': each explained from its own sums and baseline.
    checks = [*whole_alerts, *monitors, *split, *segment_alerts]
    stand_ins(checks)
    annotate_risks(program, checks)
    results = _results(program, profile, sums, grids, rows, checks)
    return results.model_copy(update={"as_of": iso(now), "outcomes": sources or None,
                                      "segments": segment_summary(segs) + split_summary
                                      or None,
                                      "actions": playbook_actions(program, results.firing, checks),
                                      "risks": dated_risks(program)}), grids


def _judge_alerts(program: CheckProgram, profile: Profile, gathered: Gathered, view: Cumulated,
                  grids: dict[WindowSpec, Grid], rows: dict[WindowSpec, np.ndarray],
                  judge_partial: bool
                  ) -> tuple[list[CheckResult], list[CheckResult], list[BySegments]]:
    """The alerts' results on ``grids`` (each grid's windows, or the last of them): the
    unsegmented ones in rule order, then every segment's; and the segments judged."""
    computed = {key: compute(key, grids[key.window], rows[key.window], view.columns, profile)
                for key in program.stats if key.by is None}
    whole_rules = [r for r in program.rules if r.by is None]
    segs = segment_values(program, gathered.segments, gathered.sums, profile, grids)
    _without_history(program, gathered, grids, computed)
    leaf_values: dict[int, np.ndarray] = {}
    pvalue_keys: dict[WindowSpec, list[StatKey]] = {}
    for rule in whole_rules:
        for node in (rule.fail, rule.warn):
            for leaf in node.leaves() if node else []:
                if leaf.measure.part == "pvalue":
                    pvalue_keys.setdefault(leaf.key.window, [])
                    if leaf.key not in pvalue_keys[leaf.key.window]:
                        pvalue_keys[leaf.key.window].append(leaf.key)
    adjusted: dict[StatKey, np.ndarray] = {}
    tests = segment_pvalues(segs)
    for spec in {*pvalue_keys, *tests}:
        keys = pvalue_keys.get(spec, [])
        extra = tests.get(spec, [])
        tested = [computed[k].pvalue for k in keys] + [seg.computed[k].pvalue
                                                        for seg, k in extra]
        p = np.stack([t for t in tested if t is not None])
        adj = adjust(p, program.correction)  # every segment's test in the window counts too
        adjusted.update({k: adj[i] for i, k in enumerate(keys)})
        for j, (seg, k) in enumerate(extra):
            seg.adjusted[k] = adj[len(keys) + j]
    checks = [judge_rule(rule, grids[rule.window], rows[rule.window], computed, adjusted, profile,
                         leaf_values, judge_partial, program.correction)
              for rule in whole_rules]
    only = dataclasses.replace(program, rules=whole_rules, monitors=[])
    checks = explain(only, checks, grids, rows, view.columns, profile, computed)
    return checks, judge_segments(segs, grids, leaf_values, profile, judge_partial,
                                  program.correction), segs


def _narrow_frame(program: CheckProgram, gathered: Gathered, view: Cumulated) -> Any:
    table = gathered.narrow
    if table is None or table.num_rows == 0:
        return None
    frame = frame_of(table, program.timestamp, narrow_columns(program), "scored rows")
    b = view.buckets
    return frame, Buckets.within(frame.times, b.size, b.first, b.count, program.timezone)


def _without_history(program: CheckProgram, gathered: Gathered, grids: dict[WindowSpec, Grid],
                     computed: dict[StatKey, Values]) -> None:
    """Statistics whose sums a store began gathering after its first buckets have no value in
    windows that start before then (judged `insufficient_data`)."""
    if not gathered.since:
        return
    size = gathered.sums.size
    for key, v in computed.items():
        if key.column is None:
            continue
        since = gathered.since.get(key.column, {})
        firsts = [since[f] for f in stat_families(key, program.columns[key.column]) if f in since]
        if not firsts:
            continue
        start = int(bucket_starts(np.array([max(firsts)]), size, program.timezone)[0])
        early = grids[key.window].starts < start
        for arr in (v.value, v.pvalue, v.bound):
            if arr is not None:
                arr[early] = np.nan


def _results(program: CheckProgram, profile: Profile, sums: Sums, grids: dict[WindowSpec, Grid],
             rows: dict[WindowSpec, np.ndarray], checks: list[CheckResult]) -> Results:
    from planspec import __version__

    default = min(grids, key=lambda s: (s != _default_spec(program), s))
    g = grids[default]
    starts, ends = g.iso()
    firing = []
    for c in checks:
        # Firing now is the state after the last judged window: partial windows never fire.
        judged = [w for w in c.windows if w.status != "partial"]
        last = judged[-1] if judged else None
        if last is None or last.firing is None:
            continue
        since = last.start
        for w in reversed(judged):
            if w.firing is None:
                break
            since = w.start
        firing.append(Firing(id=c.id, kind=c.kind, level=last.firing, since=since,
                             playbook=c.playbook, severity=c.severity))
    return Results(
        plan=program.plan.plan, planspec_version=__version__,
        baseline={"fingerprint": profile.data_fingerprint, "plan_fingerprint":
                  profile.plan_fingerprint, "rows": profile.rows,
                  "start": profile.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  "end": profile.end.strftime("%Y-%m-%dT%H:%M:%SZ")},
        data={"rows": sums.total, "start": iso(sums.t_min), "end": iso(sums.t_max)},
        windows=[WindowInfo(start=s, end=e, rows=int(r), complete=bool(c))
                 for s, e, r, c in zip(starts, ends, rows[default], g.complete, strict=True)],
        checks=checks, firing=firing)


def _default_spec(program: CheckProgram) -> WindowSpec:
    d = program.plan.defaults
    return window_spec(d.window, d.every)
