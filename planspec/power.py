"""Power analysis: what each alert does when nothing changed, and what change it can see.

Everything is simulated from the baseline profile (see :mod:`planspec.calibrate`): windows of the
alert's expected size are replayed from the baseline's stored counts, every statistic comes from
the engine's kernels, and conditions are judged as the engine judges them (the same compared
quantity, the same multiple-testing correction across the p-value conditions of one window
grid, calibrated thresholds from the profile). Per alert:

- **false alarms per window**: the share of no-drift windows at the `fail` level, with its
  Monte-Carlo standard error sqrt(p(1-p)/R);
- **false firings per 90 days**: no-drift level sequences (windows drawn independently from the
  replayed levels; sliding windows overlap, so this understates their clustering) run through the
  engine's firing state machine (``for``, ``keep_firing_for``); the mean number of times the
  alert starts firing at `fail`, with its standard error;
- **minimum detectable effect** at 80% power: the smallest change (numeric columns: a mean shift
  in baseline SDs; categorical: the most frequent category's share, in points; rates and `count`:
  a relative change) at which the alert's `when` holds in at least 80% of windows, found by
  bisection with common random numbers. The multiple-testing correction counts: every p-value
  test of the alert's window grid is replayed too (the changed column drifted, the others not)
  and the p-values are adjusted together, as the engine adjusts them, so under `bonferroni` or
  `bh` the MDE is that of the corrected test (larger than without). The Monte-Carlo error is
  the standard error of the power at the MDE.

Outcome monitors have no outcomes in the baseline: they report the labels they need (the
monitor's `min_labels`) and, for proportion metrics, the drop from the value at which the
monitor fires in 5% of windows to the value at which it fires in 80% (binomial replays). For
the expected calibration error (ECE) the replays draw `min_labels` scores from the baseline's
histogram of the prediction and labels from a model whose outcome rate is off by a gap ``d``
in every bin (``P(positive | p) = p + d``, clipped to [0, 1]; ``d = 0``: calibrated): the false
alarms per window are the share of calibrated windows that fire, and the MDE is the least gap
(in points) that fires in 80% of windows, with the engine's ECE (ten equal-width bins).
Corrections apply to p-values only; outcome monitors compare metrics, not p-values.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from planspec._expr import format_measure
from planspec.calibrate import (
    NONE,
    Draw,
    Effect,
    _rng,
    draw,
    expected_rows,
    replay,
    simulate,
    statistic,
)
from planspec.compile import CheckProgram, Leaf, MonitorRule, Rule, StatKey
from planspec.diagnostics import Diagnostic, make
from planspec.engine.judge import adjust, compared, evaluate, fire
from planspec.engine.windows import Values
from planspec.outcomes import wilson
from planspec.profile import ColumnProfile, Profile, measure_text

REPLAYS = 2000
#: `validate --baseline` warns above these: false alarms per window, and an MDE in SDs.
FALSE_ALARM_LIMIT = 0.05
MDE_LIMIT_SD = 1.0
#: Replays per effect size while searching for the minimum detectable effect.
MDE_REPLAYS = 400
POWER = 0.8
HORIZON = 90 * 86400
PROPORTIONS = frozenset({"precision", "recall", "accuracy", "fpr", "share_within"})


@dataclass
class AlertPower:
    """What one alert does under no drift and the least change it catches (see the module)."""

    id: str
    kind: str
    window: str
    rows: int
    false_alarm: float | None
    false_alarm_se: float | None
    firings_90d: float | None
    firings_90d_se: float | None
    effect: str | None
    mde: float | None
    mde_unit: str = ""
    #: The Monte-Carlo standard error of the firing rate at the MDE (a share, 0 to 1, whatever
    #: the MDE's unit): how sure the replays are that it is the 80%-power point.
    mde_se: float | None = None
    note: str = ""
    #: The condition's first comparison (path and span for diagnostics).
    path: tuple[str | int, ...] = field(default_factory=tuple)


def _leaves(rule: Rule | MonitorRule) -> list[Leaf]:
    return rule.fail.leaves() + (rule.warn.leaves() if rule.warn else [])


def _levels(rule: Rule, values: dict[int, np.ndarray], limits: dict[int, np.ndarray],
            rows: int) -> np.ndarray:
    """Each replay's level as the engine judges it: 2 fail, 1 warn, 0 ok, -1 not judged."""
    fail, unknown = evaluate(rule.fail, values, limits)
    warn = evaluate(rule.warn, values, limits)[0] if rule.warn else np.zeros_like(fail)
    level = np.where(fail, 2, np.where(warn, 1, 0))
    level[unknown & ~fail & ~warn] = -1
    if rows < rule.min_samples:
        level[:] = -1
    return np.asarray(level)


def _limits(rule: Rule, profile: Profile, rows: np.ndarray) -> dict[int, np.ndarray]:
    return {id(leaf): profile.calibrated(measure_text(leaf), rule.window.seconds,
                                         rule.window_rows).threshold(leaf.level, rows)
            for leaf in _leaves(rule) if leaf.level is not None}


def _compute(profile: Profile, keys: list[StatKey], rows: np.ndarray, rng: np.random.Generator,
             effects: dict[str, Effect] | None = None,
             band: tuple[float, float] | None = None) -> dict[StatKey, Values]:
    """Every statistic of ``keys`` over the same replayed windows: one draw per column. KS
    p-values are exact inside ``band`` (see :func:`planspec.calibrate.statistic`)."""
    draws: dict[str, Draw] = {}
    out: dict[StatKey, Values] = {}
    for key in keys:
        effect = (effects or {}).get(key.column or "", NONE)
        if key.stat == "count":
            out[key] = simulate(profile, key, rows, rng, (effects or {}).get("", NONE))
            continue
        name = key.column or ""
        if name not in draws:
            draws[name] = draw(profile, name, rows, rng, effect)
        out[key] = statistic(profile, key, draws[name], rng, band=band)
    return out


def _firings(levels: np.ndarray, rule: Rule, rng: np.random.Generator) -> tuple[float, float]:
    """Mean and standard error of the number of firing episodes at `fail` in 90 days of
    no-drift windows (levels drawn from the replays) through the firing state machine."""
    per = max(1, HORIZON // rule.window.step_seconds)
    sequences = max(50, min(1000, 200_000 // per))
    counts = np.empty(sequences)
    for s in range(sequences):
        seq = rng.choice(levels, size=per).tolist()
        state = fire(seq, rule.for_, rule.keep_firing_for)
        counts[s] = sum(1 for i, f in enumerate(state) if f == 2 and (i == 0 or state[i - 1] < 2))
    return float(counts.mean()), float(counts.std(ddof=1) / math.sqrt(sequences))


def _effect_kind(rule: Rule, profile: Profile) -> tuple[str, str, str, float] | None:
    """What to change for the rule's first comparison: (effect kind, its description, unit,
    direction sign), or None when no change of the baseline moves it."""
    m = rule.fail.leaves()[0].measure
    sign = -1.0 if m.direction == "down" else 1.0
    if m.stat == "count":
        return "rate", "relative change in rows", "%", sign
    col = profile.columns.get(m.column or "")
    if col is None:
        return None
    if m.stat in ("missing_rate", "out_of_range_rate", "rate", "share"):
        return "rate", "relative change of the rate", "%", sign
    if col.kind == "categorical":
        if m.stat == "new_category_rate":
            return None
        return "share", f"share of `{col.categories[0]}` (most frequent)" if col.categories \
            else "share of the most frequent category", "points", sign
    if m.stat == "std":
        return None
    return "shift", "mean shift", "sd", sign


def _band(leaves: list[Leaf], tests: int) -> tuple[float, float]:
    """Where a p-value must be exact to judge these leaves after a correction over ``tests``
    tests: between a tenth of the smallest threshold over the tests and ten times the largest
    (a p-value below t/m passes and one above t fails whatever the others are)."""
    ts = [leaf.threshold.amount for leaf in leaves
          if leaf.measure.part == "pvalue" and leaf.threshold is not None]
    if not ts or any(leaf.measure.part == "pvalue" and leaf.level is not None
                     for leaf in leaves):
        return (0.0, 1.0)
    return (min(ts) / (10 * max(tests, 1)), min(1.0, 10 * max(ts)))


def _adjusted(pkeys: list[StatKey], values: dict[StatKey, Values], correction: str,
              replays: int) -> dict[StatKey, np.ndarray]:
    """The p-values of ``pkeys`` adjusted together, as the engine adjusts a window grid's."""
    if not pkeys:
        return {}
    nan = np.full(replays, np.nan)
    p = np.stack([_pv if (_pv := values[k].pvalue) is not None else nan for k in pkeys])
    adj = adjust(p, correction)
    return {k: adj[i] for i, k in enumerate(pkeys)}


def _leaf_values(rule: Rule, values: dict[StatKey, Values],
                 adjusted: dict[StatKey, np.ndarray], profile: Profile) -> dict[int, np.ndarray]:
    out = {}
    for leaf in _leaves(rule):
        v = values[leaf.key]
        if leaf.key in adjusted and leaf.measure.part == "pvalue" and leaf.level is None:
            v = Values(v.value, adjusted[leaf.key], v.bound)
        out[id(leaf)] = compared(leaf, v, profile)
    return out


def _pkeys(rules: list[Rule]) -> list[StatKey]:
    """The p-value tests of a window grid's rules, adjusted together (calibrated ones are not:
    their thresholds come from the raw p-value's own null distribution)."""
    return list(dict.fromkeys(leaf.key for r in rules for leaf in _leaves(r)
                              if leaf.measure.part == "pvalue" and leaf.level is None))


def _power(rule: Rule, profile: Profile, n: int, effect: Effect, seed: int, replays: int,
           pkeys: list[StatKey] | None = None, correction: str = "none") -> float:
    """The share of replayed windows of ``n`` rows, the rule's column changed by ``effect``,
    in which the rule's `when` holds; with ``pkeys``, the window grid's p-value tests are
    replayed too (other columns unchanged) and adjusted together by ``correction``."""
    column = rule.fail.leaves()[0].key.column or ""
    rng = _rng(seed, "mde", rule.id)  # common random numbers across sizes
    rows = np.full(replays, n)
    pkeys = pkeys or []
    keys = list(dict.fromkeys([*(leaf.key for leaf in _leaves(rule)), *pkeys]))
    band = _band(_leaves(rule), len(pkeys) if correction != "none" else 1)
    values = _compute(profile, keys, rows, rng, {column: effect}, band)
    adjusted = _adjusted(pkeys, values, correction, replays)
    leaf_values = _leaf_values(rule, values, adjusted, profile)
    fail, _ = evaluate(rule.fail, leaf_values, _limits(rule, profile, rows))
    if n < rule.min_samples:
        return 0.0
    return float(fail.mean())


def _base_rate(rule: Rule, profile: Profile) -> float | None:
    """The baseline rate a `rate` effect changes (None for `count`)."""
    key = rule.fail.leaves()[0].key
    if key.stat == "count":
        return None
    if key.stat == "missing_rate":
        col = profile.columns[key.column or ""]
        return col.missing / col.rows if col.rows else 0.0
    return profile.value(key) or 0.0


def _mde(rule: Rule, profile: Profile, n: int, kind: str, sign: float, seed: int,
         replays: int, pkeys: list[StatKey] | None = None, correction: str = "none"
         ) -> tuple[float | None, float | None]:
    """The smallest effect size with power >= 80% (bisection), and the power's MC error."""
    top = {"shift": 8.0, "share": 1.0, "rate": 4.0}[kind]
    base = _base_rate(rule, profile)
    if kind == "rate" and sign < 0:
        top = 1.0
    elif kind == "rate" and base is not None:  # up to every row: 1/p - 1 relative, 1 in points
        top = 1 / base - 1 if base > 0 else 1.0
    if kind == "share":
        col = profile.columns[rule.fail.leaves()[0].key.column or ""]
        p0 = col.category_counts[0] / max(sum(col.category_counts), 1) if col.category_counts \
            else 0.0
        top = 1 - p0 if sign > 0 else p0

    def power(size: float) -> float:
        return _power(rule, profile, n, Effect(kind, sign * size), seed, replays,  # type: ignore[arg-type]
                      pkeys, correction)

    return _least(power, top, 8, replays)


def _least(power: Any, top: float, steps: int, replays: int
           ) -> tuple[float | None, float | None]:
    """The least size in [0, ``top``] with ``power(size)`` >= 80% (bisection, ``steps``
    halvings; power rises with size), and the power's Monte-Carlo standard error there; (None,
    None) when even ``top`` falls short."""
    if power(top) < POWER:
        return None, None
    lo, hi = 0.0, top
    for _ in range(steps):
        mid = (lo + hi) / 2
        if power(mid) >= POWER:
            hi = mid
        else:
            lo = mid
    p = power(hi)
    return hi, math.sqrt(p * (1 - p) / replays)


def sample_values(col: ColumnProfile, rng: np.random.Generator, size: Any) -> np.ndarray:
    """Values drawn from a numeric column's baseline histogram: on the baseline's own values
    when they are discrete, else uniform within a fine bin (bin 0 holds the minimum), else
    within a decile (outer deciles to the minimum and maximum), else normal from the moments.

    >>> from planspec.profile import ColumnProfile
    >>> col = ColumnProfile(kind="numeric", rows=4, missing=0, fine_edges=[1.0, 2.0],
    ...                     fine_counts=[2, 2, 0], fine_discrete=True)
    >>> sorted(set(sample_values(col, np.random.default_rng(0), 100).tolist()))
    [1.0, 2.0]
    """
    if col.fine_edges:
        edges = np.asarray(col.fine_edges, dtype=np.float64)
        counts = np.asarray(col.fine_counts[:edges.size], dtype=np.float64)
        j = rng.choice(edges.size, size, p=counts / counts.sum())
        if col.fine_discrete:
            return np.asarray(edges[j])
        left = np.concatenate([[edges[0]], edges[:-1]])
        return np.asarray(left[j] + rng.random(j.shape) * (edges[j] - left[j]))
    if col.decile_edges and col.min is not None and col.max is not None:
        edges = np.concatenate([[col.min], col.decile_edges, [col.max]]).astype(np.float64)
        counts = np.asarray(col.decile_counts, dtype=np.float64)
        j = rng.choice(counts.size, size, p=counts / counts.sum())
        return np.asarray(edges[j] + rng.random(j.shape) * (edges[j + 1] - edges[j]))
    return np.asarray(rng.normal(col.mean or 0.0, col.std or 0.0, size))


def ece_replays(p_pos: np.ndarray, u: np.ndarray, gap: float) -> np.ndarray:
    """The ECE (ten equal-width bins, as the engine computes it) of each row of ``p_pos`` (the
    positive class's predicted probability, one replayed window per row) with labels from
    uniforms ``u``: positive with probability ``p`` moved by ``gap`` towards 0.5, never past it
    (an overconfident model; ``gap = 0``: calibrated)."""
    from planspec.outcomes import ECE_BINS

    truth = p_pos + np.sign(0.5 - p_pos) * np.minimum(gap, np.abs(0.5 - p_pos))
    y = (u < truth).astype(np.float64)
    r, n = p_pos.shape
    bins = np.clip((p_pos * ECE_BINS).astype(np.int64), 0, ECE_BINS - 1)
    idx = (np.arange(r)[:, None] * ECE_BINS + bins).ravel()
    sum_p = np.bincount(idx, weights=p_pos.ravel(), minlength=r * ECE_BINS)
    sum_y = np.bincount(idx, weights=y.ravel(), minlength=r * ECE_BINS)
    # weight·|mean p − mean y| per bin is |Σp − Σy|; ECE divides by the window's weight
    return np.asarray(np.abs(sum_p - sum_y).reshape(r, ECE_BINS).sum(axis=1) / n)


def _ece_power(m: MonitorRule, leaf: Leaf, profile: Profile, base: AlertPower, seed: int,
               replays: int) -> AlertPower:
    """False alarms of an ECE condition on a calibrated model, and the least calibration gap it
    catches with 80% power, at ``min_labels`` labels with scores from the baseline."""
    col = profile.columns.get(m.prediction)
    assert leaf.threshold is not None and leaf.op is not None
    if col is None or col.kind != "numeric" or col.rows == col.missing:
        base.note = "the baseline has no scores of the prediction to replay"
        return base
    n = max(m.min_labels, 1)
    rng = _rng(seed, "ece", m.id)
    score = np.clip(sample_values(col, rng, (replays, n)), 0.0, 1.0)
    p_pos = 1 - score if m.flag == "below" else score
    u = rng.random((replays, n))  # common random numbers across gaps
    t = leaf.threshold.amount
    above = leaf.op.startswith(">")

    def fires(gap: float) -> float:
        x = ece_replays(p_pos, u, gap)
        return float(np.mean(x > t if leaf.op == ">" else x >= t if leaf.op == ">=" else
                             x < t if leaf.op == "<" else x <= t))

    fa = fires(0.0)
    base.false_alarm, base.false_alarm_se = fa, math.sqrt(max(fa * (1 - fa), 1 / replays)
                                                          / replays)
    base.rows = n
    base.effect, base.mde_unit = "calibration gap (outcome rate towards 0.5)", "points"
    base.note = f"at {n} labels (min_labels), scores from the baseline, binomial replays"
    if not above:
        base.note = "an ECE below a threshold is not a drop in quality: no MDE"
        return base
    gap, se = _least(fires, 0.5, 10, replays)
    if gap is None:
        base.note = "not caught with 80% power by any calibration gap"
        return base
    base.mde, base.mde_se = gap * 100, se
    return base


def _monitor(m: MonitorRule, profile: Profile, seed: int, replays: int) -> AlertPower:
    leaf = m.fail.leaves()[0]
    stat = leaf.measure.stat
    n = m.min_labels
    base = AlertPower(m.id, "outcome", m.window.text, n, None, None, None, None,
                      None, None, path=m.path)
    if stat == "ece" and leaf.threshold is not None and leaf.op is not None and \
            leaf.measure.part == "statistic":
        return _ece_power(m, leaf, profile, base, seed, replays)
    if stat not in PROPORTIONS or leaf.threshold is None or leaf.op is None:
        base.note = "no outcomes in the baseline: nothing to replay for this metric"
        return base
    rng = _rng(seed, "monitor", m.id)
    t = leaf.threshold.amount
    below = leaf.op.startswith("<")
    part = leaf.measure.part

    def fires(value: float) -> float:
        x = rng.binomial(n, value, replays) / n
        if part in ("lower", "upper"):
            lo, hi = wilson(x, np.full(replays, float(n)))
            x = lo if part == "lower" else hi
        return float(np.mean(x < t if below else x > t))

    grid = np.linspace(0, 1, 201)
    rates = np.array([fires(v) for v in grid])
    quiet = grid[rates <= 0.05]
    loud = grid[rates >= POWER]
    if quiet.size == 0 or loud.size == 0:
        base.note = "the threshold cannot be reached at this label count"
        return base
    ok = quiet.min() if below else quiet.max()
    bad = loud.max() if below else loud.min()
    base.effect = f"{stat} {'drop' if below else 'rise'} from {ok:.3g} (5% fire) to {bad:.3g}"
    base.mde, base.mde_unit = abs(ok - bad) * 100, "points"
    base.mde_se = math.sqrt(POWER * (1 - POWER) / replays)
    base.note = f"at {n} labels (min_labels), binomial replays"
    return base


def analyze_power(program: CheckProgram, profile: Profile, seed: int = 0,
                  replays: int = REPLAYS, mde_replays: int = MDE_REPLAYS) -> list[AlertPower]:
    """Per alert and outcome monitor of ``program``: its no-drift false alarms and firings and
    its minimum detectable effect, simulated from ``profile`` (deterministic for ``seed``)."""
    groups: dict[tuple[int, int, int], list[Rule]] = {}
    for rule in program.rules:
        n = expected_rows(profile, rule.window.seconds, rule.window_rows)
        groups.setdefault((rule.window.seconds, rule.window.step_seconds, n), []).append(rule)
    out: dict[str, AlertPower] = {}
    for (_, _, n), rules in groups.items():
        rng = _rng(seed, "power", rules[0].window, n)
        rows = np.full(replays, n)
        keys = list(dict.fromkeys(leaf.key for r in rules for leaf in _leaves(r)))
        every = [leaf for r in rules for leaf in _leaves(r)]
        tests = len({leaf.key for leaf in every if leaf.measure.part == "pvalue"})
        values = _compute(profile, keys, rows, rng, band=_band(every, tests))
        # The engine adjusts the p-values of a window grid's tests together; so does this.
        pkeys = _pkeys(rules)
        adjusted = _adjusted(pkeys, values, program.correction, replays)
        for rule in rules:
            if rule.risk is not None:  # heightened copies share the correction, not the table
                continue
            leaf_values = _leaf_values(rule, values, adjusted, profile)
            levels = _levels(rule, leaf_values, _limits(rule, profile, rows), n)
            judged = levels >= 0
            fa = float((levels == 2).mean())
            fa_se = math.sqrt(max(fa * (1 - fa), 1 / replays) / replays)
            firings, firings_se = _firings(levels, rule, rng)
            what = _effect_kind(rule, profile)
            result = AlertPower(rule.id, rule.kind, rule.window.text, n, fa, fa_se,
                                firings, firings_se, None, None, path=rule.path)
            if not judged.any():
                result.note = f"windows of {n} rows are below min_samples ({rule.min_samples})"
            elif what is None:
                result.note = "no mean, share or rate change moves this statistic"
            else:
                kind, desc, unit, sign = what
                if kind == "rate" and _base_rate(rule, profile) == 0:
                    desc, unit = "rate from zero", "points"
                mine = any(leaf.key in pkeys for leaf in _leaves(rule))
                mde, se = _mde(rule, profile, n, kind, sign, seed, mde_replays,
                               pkeys if mine else None, program.correction)
                result.effect, result.mde_unit = desc, unit
                if mde is None:
                    result.note = "not caught with 80% power by any change in range"
                else:
                    scale = 100 if unit in ("%", "points") else 1
                    result.mde, result.mde_se = mde * scale, se
            out[rule.id] = result
    order = [r.id for r in program.rules if r.risk is None]
    table = [out[i] for i in order]
    table += [_monitor(m, profile, seed, replays) for m in program.monitors]
    return table


# --------------------------------------------------------------------------------- output


def power_json(table: list[AlertPower]) -> list[dict[str, Any]]:
    """The table as plain data (JSON)."""
    rows = []
    for row in table:
        d = asdict(row)
        d["path"] = list(row.path)
        rows.append(d)
    return rows


def _pct(x: float | None, se: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.2%} ± {se or 0:.2%}"


def _mde_text(r: AlertPower) -> str:
    if r.mde is None:
        return "–"
    unit = {"sd": " SD", "%": "%", "points": " points"}.get(r.mde_unit, "")
    return f"{r.mde:.3g}{unit}"


def power_rows(table: list[AlertPower]) -> list[list[str]]:
    """The table as text cells: alert, window, rows, false alarms, firings, MDE, effect, note."""
    return [[r.id, r.window, f"{r.rows:,}", _pct(r.false_alarm, r.false_alarm_se),
             "–" if r.firings_90d is None else f"{r.firings_90d:.2f} ± {r.firings_90d_se:.2f}",
             _mde_text(r), r.effect or "–", r.note] for r in table]


def power_cells(r: AlertPower) -> dict[str, str]:
    """One alert's figures as text for the runbook (± is the Monte-Carlo standard error)."""
    mde = _mde_text(r)
    if r.mde is not None and r.effect:
        mde = f"{mde} ({r.effect})"
    elif r.note:
        mde = r.note
    return {"rows": f"{r.rows:,}" + (" labels" if r.kind == "outcome" else ""),
            "false_alarm": _pct(r.false_alarm, r.false_alarm_se),
            "firings": "–" if r.firings_90d is None
            else f"{r.firings_90d:.2f} ± {r.firings_90d_se or 0:.2f}",
            "mde": mde}


HEADER = ["alert", "window", "rows/window", "false alarms/window", "false firings/90d",
          "MDE (80% power)", "change", "note"]


def format_power(table: list[AlertPower], fmt: Literal["text", "markdown"] = "text") -> str:
    """The table as aligned text or a markdown table (± is the Monte-Carlo standard error)."""
    rows = power_rows(table)
    if fmt == "markdown":
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
        return "\n".join(lines) + "\n"
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(HEADER)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(HEADER, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
              for row in rows]
    return "\n".join(lines) + "\n"


def baseline_findings(program: CheckProgram, profile: Profile, table: list[AlertPower],
                      seed: int = 0, replays: int = 1000) -> list[Diagnostic]:
    """Warnings for alerts that cry wolf (PS362: false alarms per window above 5%) or miss
    large shifts (PS363: MDE above 1 SD), at the alert's `when` with a suggested threshold."""
    out: list[Diagnostic] = []
    rules = {r.id: r for r in program.rules if r.risk is None}
    for row in table:
        rule = rules.get(row.id)
        if rule is None:
            continue
        head = rule.fail.leaves()[0]
        rng = _rng(seed, "validate", rule.id)
        rows = np.full(replays, row.rows)
        if row.false_alarm is not None and row.false_alarm > FALSE_ALARM_LIMIT:
            hint = "use `calibrated(1%)` to fire in 1% of no-drift windows of any size"
            if head.threshold is not None and head.op is not None:
                x = replay(profile, head, rows, rng)
                x = x[~np.isnan(x)]
                if x.size:
                    q = float(np.quantile(x, 0.99 if head.op.startswith(">") else 0.01))
                    hint = (f"`{format_measure(head.measure)} {head.op} {q:.3g}` fires in 1% of "
                            f"no-drift windows of {row.rows:,} rows; or " + hint[4:])
            out.append(make("PS362", f"`{rule.id}` fires in {row.false_alarm:.1%} of windows "
                            f"of {row.rows:,} rows with no drift at all", head.span, hint))
        if row.mde_unit == "sd" and row.mde is not None and row.mde > MDE_LIMIT_SD and \
                head.threshold is not None and head.op is not None and head.op.startswith(">"):
            x = replay(profile, head, rows, rng, Effect("shift", MDE_LIMIT_SD))
            x = x[~np.isnan(x)]
            fix: str | None = None
            if x.size:
                q = float(np.quantile(x, 1 - POWER))
                fix = (f"`{format_measure(head.measure)} {head.op} {q:.3g}` catches a 1-SD "
                        "mean shift in 80% of windows (check its false alarms with `planspec "
                        "power`)")
            out.append(make("PS363", f"`{rule.id}` needs a mean shift of {row.mde:.2g} SD to "
                            "fire in 80% of windows", head.span, fix))
    return out
