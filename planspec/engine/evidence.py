"""Evidence: why a window's value is what it is, from the sums already gathered (no second pass
over rows).

For a distance over bins (PSI, JS, chi-squared) each bin's term of the statistic, so that the
bins or categories contributing most can be named: the terms of every bin sum to the statistic.
For a shift, a change, a quantile or a rate, the baseline and window quantities it compares.

The functions here are vectorized over a grid's windows and take plain arrays: window counts
are ``(windows, bins)``, baseline counts ``(bins,)``.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

import numpy as np
from scipy import special

from planspec.compile import CheckProgram, Leaf, Rule, StatKey, WindowSpec
from planspec.engine.gather import ColumnSums, _decile_counts
from planspec.engine.windows import PSI_FLOOR, Grid, Values, compute, iso
from planspec.profile import Profile
from planspec.results import CheckResult, Evidence, EvidenceBin, RiskInfo
from planspec.thresholds import rule_thresholds

#: Bins or categories named per window.
TOP = 5
#: The label of the categorical bin of values the baseline never saw.
UNSEEN = "(not in baseline)"


# ------------------------------------------------------------------------------------ labels


def decile_labels(edges: Sequence[float]) -> list[str]:
    """Labels of the numeric PSI/JS bins on the baseline's decile ``edges``: right-closed, as
    the bins are (a value on an edge falls in the bin below it), the outer bins open.

    >>> decile_labels([1.0, 2.5])
    ['(-∞, 1]', '(1, 2.5]', '(2.5, ∞)']
    """
    for digits in (6, 10, 17):  # enough digits that no two edges read the same
        text = [f"{e:.{digits}g}" for e in edges]
        if len(set(text)) == len(text):
            break
    bounds = ["-∞", *text, "∞"]
    return [f"({a}, {b}]" if b != "∞" else f"({a}, {b})" for a, b in itertools.pairwise(bounds)]


def category_labels(categories: Sequence[str]) -> list[str]:
    """Labels of the categorical bins: the baseline's categories, then the unseen bin.

    >>> category_labels(["D01", "D02"])
    ['D01', 'D02', '(not in baseline)']
    """
    return [*categories, UNSEEN]


# ------------------------------------------------------------------------------ contributions


def shares(counts: np.ndarray) -> np.ndarray:
    """Counts as shares of their row's total (the last axis); NaN where a row is empty.

    >>> shares(np.array([[1.0, 3.0], [0.0, 0.0]])).tolist()
    [[0.25, 0.75], [nan, nan]]
    """
    total = counts.sum(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, counts / np.where(total > 0, total, 1), np.nan)


def psi_terms(w: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Each bin's term of PSI, ``(c - b)·ln(c / b)`` with both proportions floored at 1e-4:
    never negative, summing to PSI."""
    p, b = np.maximum(shares(w), PSI_FLOOR), np.maximum(shares(base), PSI_FLOOR)
    return np.asarray((p - b) * np.log(p / b))


def js_terms(w: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Each bin's part of the base-2 Jensen–Shannon distance: its share of the divergence
    ``(p·ln(p/m) + b·ln(b/m)) / 2`` (never negative) times the distance, so the parts sum to the
    distance and rank bins as their divergence terms do."""
    p, b = shares(w), shares(base)
    m = (p + b) / 2
    div = (special.rel_entr(p, m) + special.rel_entr(b, m)) / 2
    total = div.sum(axis=-1, keepdims=True)
    distance = np.sqrt(np.maximum(total, 0) / np.log(2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(total > 0, div / np.where(total > 0, total, 1), 0.0) * distance)


def chi2_terms(w: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Each category's cells of the chi-squared homogeneity statistic (baseline and window rows
    of the 2×k table, no continuity correction): ``Σ (O - E)² / E`` over the category's two
    cells, summing to the statistic; zero for a category empty in both."""
    nb, nw = base.sum(), w.sum(axis=-1, keepdims=True)
    total = nb + nw
    colsum = base + w
    eb, ew = nb * colsum / total, nw * colsum / total
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(colsum > 0, (base - eb) ** 2 / eb + (w - ew) ** 2 / ew, 0.0))


TERMS = {"psi": psi_terms, "js": js_terms, "chi2": chi2_terms}


def top_bins(terms: np.ndarray, used: np.ndarray, k: int = TOP) -> np.ndarray:
    """Per window, the ``k`` bins with the largest terms among those ``used`` (holding some
    baseline or window mass), largest first, ties in bin order; -1 pads a short row.

    >>> top_bins(np.array([[0.1, 0.3, 0.0, 0.3]]), np.array([[True, True, False, True]]), 3)
    array([[1, 3, 0]])
    """
    ranked = np.where(used, terms, -np.inf)
    order = np.argsort(-ranked, axis=-1, kind="stable")[..., :k]
    picked = np.take_along_axis(ranked, order, axis=-1)
    return np.where(np.isfinite(picked), order, -1)


# ----------------------------------------------------------------------------------- evidence


def distance_evidence(stat: str, w: np.ndarray, base: np.ndarray, labels: Sequence[str]
                      ) -> list[Evidence | None]:
    """Evidence for a distance over bins (PSI, JS, chi-squared) per window (row of ``w``): the
    whole baseline-vs-window distribution with each bin's term of ``stat``, and the top bins by
    that term; None for a window with no rows."""
    terms = TERMS[stat](w, base)
    return _distributions(w, base, labels, terms, terms)


def moved_evidence(w: np.ndarray, base: np.ndarray, labels: Sequence[str]
                   ) -> list[Evidence | None]:
    """Evidence for a distance that is not a sum over bins (KS, Wasserstein) per window: the
    whole distribution on the decile bins, and as ``top`` the bins whose share moved most (no
    contribution: these statistics have no per-bin terms)."""
    return _distributions(w, base, labels, None, np.abs(shares(w) - shares(base)))


def _distributions(w: np.ndarray, base: np.ndarray, labels: Sequence[str],
                   terms: np.ndarray | None, rank: np.ndarray) -> list[Evidence | None]:
    top = top_bins(rank, (w > 0) | (base > 0)).tolist()
    pw, pb = shares(w).tolist(), shares(base).tolist()
    parts = terms.tolist() if terms is not None else None
    out: list[Evidence | None] = []
    for j, total in enumerate(w.sum(axis=1).tolist()):
        if not total:
            out.append(None)
            continue
        bins = [EvidenceBin(label=label, baseline=pb[i], window=pw[j][i],
                                            contribution=parts[j][i] if parts else None)
                for i, label in enumerate(labels)]
        out.append(Evidence(
            quantity=None, baseline=None, window=None, baseline_sd=None, window_sd=None,
            top=[bins[i] for i in top[j] if i >= 0], bins=bins))
    return out


def value_evidence(quantity: str, baseline: float | None, window: np.ndarray,
                   baseline_sd: float | None = None, window_sd: np.ndarray | None = None
                   ) -> list[Evidence | None]:
    """Evidence for a value compared with the baseline's, per window: the baseline and window
    ``quantity`` (and SDs, for a mean); None for a window without a value.

    >>> [e.window if e else None for e in value_evidence("rate", 0.1, np.array([0.3, np.nan]))]
    [0.3, None]
    """
    values = window.tolist()
    sds = window_sd.tolist() if window_sd is not None else [None] * len(values)
    return [None if v != v else Evidence(  # NaN: no value in the window
        quantity=quantity, baseline=baseline, window=v, baseline_sd=baseline_sd,
        window_sd=None if sd is None or sd != sd else sd, top=None, bins=None)
        for v, sd in zip(values, sds, strict=True)]


def quantity_name(stat: str, q: float | None = None) -> str:
    """What the baseline and window numbers of a statistic's evidence are.

    >>> quantity_name("quantile", 0.5), quantity_name("missing_rate")
    ('quantile 0.5', 'missing rate')
    """
    if stat == "quantile":
        return f"quantile {q:g}"
    return {"count": "rows", "std": "SD"}.get(stat, stat.replace("_", " "))


# ------------------------------------------------------------------------------------ wiring


def explain(program: CheckProgram, checks: list[CheckResult], grids: dict[WindowSpec, Grid],
            rows: dict[WindowSpec, np.ndarray], columns: dict[str, ColumnSums],
            profile: Profile, computed: dict[StatKey, Values]) -> list[CheckResult]:
    """``checks`` (the program's rules' results in rule order, then its monitors') with the
    thresholds of each, and for each rule the evidence of its first comparison (the reported
    ``value``) in its judged windows, from the window sums already gathered. A p-value's
    evidence is that of its test statistic (for chi-squared, the cells' terms).

    Results stay small: the compared values (a few numbers) go in every judged window; the
    distribution behind a distance (every bin, and the top ones) only in windows at or over a
    threshold, or firing, since only those need explaining. On the demo run with every alert on
    daily windows this adds about 1.3 MB to a 2.9 MB results file (top bins in every window
    would add 2.5 MB: most of a year of windows is quiet).
    """
    out = list(checks)
    rules = program.rules
    for k, m in enumerate(program.monitors):
        check = out[len(rules) + k]
        assert check.id == m.id
        out[len(rules) + k] = check.model_copy(update={"thresholds": rule_thresholds(m.fail,
                                                                                     m.warn)})
    for i, rule in enumerate(rules):
        check = out[i]
        assert check.id == rule.id
        out[i] = explain_rule(rule, check, grids[rule.window], rows[rule.window], columns,
                              profile, computed)
    return out


def explain_rule(rule: Rule, check: CheckResult, g: Grid, rows: np.ndarray,
                 columns: dict[str, ColumnSums], profile: Profile,
                 computed: dict[StatKey, Values]) -> CheckResult:
    """One rule's result with its thresholds and evidence (see :func:`explain`); a segment's
    result is explained from that segment's sums and baseline."""
    at = {s: j for j, s in enumerate(g.iso()[0])}
    idx = np.array([at[w.start] for w in check.windows], dtype=np.int64)
    judged = np.array([w.status in ("ok", "warn", "fail") for w in check.windows], bool)
    detail = np.array([w.status in ("warn", "fail") or w.firing is not None
                       for w in check.windows], bool)
    head = rule.fail.leaves()[0]
    found = _evidence(head, g, rows, columns, profile, computed, idx[judged], detail[judged])
    evidence: list[Evidence | None] = [None] * len(check.windows)
    for j, e in zip(np.flatnonzero(judged).tolist(), found, strict=True):
        evidence[j] = e
    windows = [w if e is None else w.model_copy(update={"evidence": e})
               for w, e in zip(check.windows, evidence, strict=True)]
    return check.model_copy(update={"windows": windows,
                                    "thresholds": rule_thresholds(rule.fail, rule.warn)})


def _evidence(leaf: Leaf, g: Grid, rows: np.ndarray, columns: dict[str, ColumnSums],
              profile: Profile, computed: dict[StatKey, Values], idx: np.ndarray,
              detail: np.ndarray) -> list[Evidence | None]:
    """The evidence of ``leaf``'s statistic in the grid windows ``idx`` (for a distance, only
    where ``detail`` holds)."""
    key = leaf.key
    stat, name = key.stat, key.column or ""
    if stat in TERMS or stat in ("ks", "wasserstein"):
        col, s = profile.columns[name], columns[name]
        chosen = np.flatnonzero(detail)
        base = np.asarray(col.decile_counts, dtype=np.float64)
        labels = decile_labels(col.decile_edges)
        if stat in ("ks", "wasserstein"):  # on the decile bins, from the fine histogram
            assert s.fine is not None
            found = moved_evidence(_decile_counts(g.total(s.fine)[idx[chosen]], col), base,
                                   labels)
        elif col.kind == "numeric":
            assert s.deciles is not None
            found = distance_evidence(stat, g.total(s.deciles)[idx[chosen]], base, labels)
        else:
            assert s.categories is not None
            base = np.asarray([*col.category_counts, 0], dtype=np.float64)
            found = distance_evidence(stat, g.total(s.categories)[idx[chosen]], base,
                                      category_labels(col.categories))
        out: list[Evidence | None] = [None] * idx.size
        for j, e in zip(chosen.tolist(), found, strict=True):
            out[j] = e
        return out
    window = computed[key].value[idx]
    if stat == "mean":
        col = profile.columns[name]
        sd = compute(dataclasses.replace(key, stat="std"), g, rows, columns, profile).value
        return value_evidence("mean", col.mean, window, col.std, sd[idx])
    if stat == "count":  # the baseline's rows per window, by each window's own duration
        per = profile.rows / profile.span_seconds if profile.span_seconds else np.nan
        ev = value_evidence("rows", None, window)
        bases = (g.durations[idx] * per).tolist()
        return [None if e is None else e.model_copy(update={"baseline": b})
                for e, b in zip(ev, bases, strict=True)]
    # A shift is in baseline SDs: the SD it is measured in belongs with the evidence.
    scale = profile.columns[name].std if leaf.measure.transform == "shift" else None
    return value_evidence(quantity_name(stat, key.q), profile.value(key), window, scale)


def dated_risks(program: CheckProgram) -> list[RiskInfo] | None:
    """Every drift risk with a date (from the plan or an events file), for annotating charts."""
    out = [RiskInfo(id=r.id, title=r.title, kind=r.kind,
                    date=iso(program.risk_dates[r.id])[:10])
           for r in program.plan.drift_risks if r.id in program.risk_dates]
    return out or None
