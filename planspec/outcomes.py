"""Outcome monitors: join late outcomes to predictions, decide which windows are mature, and
compute quality metrics over mature windows from per-bucket sums.

Handling of awkward outcomes (each counted in the results, never dropped silently):

- an outcome known after ``as_of`` is not yet known: it is left out (``after_as_of``);
- an outcome with no time or no label is left out (``missing_time``, ``missing_label``);
- several outcomes for one key: the one known last (up to ``as_of``) is used (``duplicates``);
- an outcome whose key matches no prediction is left out (``unmatched``);
- an outcome dated before its prediction cannot be about it: left out (``before_prediction``).

A window of predictions is *mature* once its end plus the label delay has passed at ``as_of`` and
its label coverage (predictions with an outcome / predictions) reaches ``min_coverage``; until then
its status is ``immature``. Runs are stateless: outcomes that arrive later count on the next run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats as sps

from planspec.compile import MonitorRule
from planspec.data import DataError, numeric, read_source, timestamps, to_table
from planspec.sources import Source

#: Probability bins for the expected calibration error (equal width on [0, 1]).
ECE_BINS = 10
#: Score bins for ROC AUC; pairs within one bin make its bound.
AUC_BINS = 1000


@dataclass
class Joined:
    """Outcomes matched to scored rows: for each scored row, its label and weight (NaN: none)."""

    label: np.ndarray
    weight: np.ndarray
    known: np.ndarray  # when the outcome became known (seconds), -1 for none
    counts: dict[str, int]


def _outcome_table(source: str, data: Any, columns: list[str]) -> pa.Table:
    if isinstance(data, (str, list, tuple, Source)):
        return read_source(data, columns)[0]
    return to_table(data, columns, f"outcomes `{source}`")


def join(rule: MonitorRule, scored_keys: pa.ChunkedArray, scored_times: np.ndarray,
         outcomes: Any, as_of: int, scored: dict[str, np.ndarray] | None = None) -> Joined:
    """Match outcomes of ``rule``'s source to scored rows by key (vectorized). A derived
    label is computed after the join, from outcome columns and the scored columns it names."""
    src = rule.source
    columns = list(dict.fromkeys([rule.join_key, *([src.time] if src.time else []),
                                  *rule.outcome_columns] + ([src.weights] if src.weights else [])))
    table = _outcome_table(src.name, outcomes, columns)
    where = f"outcomes `{src.name}`"
    n_out = table.num_rows
    counts = {"rows": n_out, "after_as_of": 0, "missing_time": 0, "missing_label": 0,
              "invalid_label": 0, "missing_score": 0, "duplicates": 0, "unmatched": 0,
              "before_prediction": 0, "used": 0}
    if src.time is not None:
        times_col = table.column(src.time)
        missing_time = np.asarray(pc.is_null(times_col).to_numpy(zero_copy_only=False),
                                  dtype=bool)
        counts["missing_time"] = int(missing_time.sum())
        if missing_time.any():
            table = table.filter(pa.array(~missing_time))
        t = timestamps(table, src.time, where) if table.num_rows else np.zeros(0, np.int64)
    else:  # `known_at: prediction + D`: known D after its prediction, decided after the join
        t = np.zeros(table.num_rows, np.int64)
    values = {c: numeric(table, c, where) if table.num_rows else np.zeros(0)
              for c in rule.outcome_columns}
    # A label is missing when any outcome value it needs is missing (a derived label may need
    # none: it can read scored values only).
    if rule.derived is None:
        label = values[rule.outcome_columns[0]]
    else:
        missing = np.zeros(table.num_rows, dtype=bool)
        for v in values.values():
            missing |= np.isnan(v)
        label = np.where(missing, np.nan, 0.0)
    weight = numeric(table, src.weights, where) if src.weights and table.num_rows \
        else np.ones(table.num_rows)
    keep = t <= as_of
    counts["after_as_of"] = int((~keep).sum())
    no_label = np.isnan(label) & keep
    counts["missing_label"] = int(no_label.sum())
    keep &= ~np.isnan(label)
    if rule.binary and rule.derived is None:  # a flag is 0 or 1 (or a boolean); not 2, -1, 0.5
        invalid = keep & (label != 0) & (label != 1)
        counts["invalid_label"] = int(invalid.sum())
        keep &= ~invalid
    bad_weight = keep & ~(weight > 0)
    if bad_weight.any():
        raise DataError("PS403", f"{where}: {int(bad_weight.sum())} outcomes have a missing or "
                        f"non-positive weight in `{src.weights}`")
    keys = table.column(rule.join_key).cast(pa.string())
    both = pa.chunked_array(list(scored_keys.cast(pa.string()).chunks) + list(keys.chunks),
                            type=pa.string())
    codes = np.asarray(pc.dictionary_encode(both).combine_chunks().indices.fill_null(-1)
                       .to_numpy(zero_copy_only=False), dtype=np.int64)
    s_codes, o_codes = codes[: len(scored_keys)], codes[len(scored_keys):]
    keep &= o_codes >= 0
    idx = np.flatnonzero(keep)
    order = idx[np.lexsort((t[idx], o_codes[idx]))]
    last = np.ones(order.size, dtype=bool)
    last[:-1] = o_codes[order][1:] != o_codes[order][:-1]
    counts["duplicates"] = int((~last).sum())
    chosen = order[last]
    n_codes = int(codes.max()) + 1 if codes.size else 0
    present = np.zeros(n_codes, dtype=bool)
    present[s_codes[s_codes >= 0]] = True
    matched = present[o_codes[chosen]]
    counts["unmatched"] = int((~matched).sum())
    chosen = chosen[matched]
    lookup = np.full(n_codes, -1, dtype=np.int64)
    lookup[o_codes[chosen]] = chosen
    # Index -1 (no outcome) reads a sentinel appended to each array.
    row_out = np.where(s_codes >= 0, lookup[np.maximum(s_codes, 0)] if n_codes else -1, -1)
    t, label, weight = np.append(t, -1), np.append(label, np.nan), np.append(weight, np.nan)
    has = row_out >= 0
    if rule.known_after is not None:
        row_t = scored_times + rule.known_after
        late = has & (row_t > as_of)
        counts["after_as_of"] += int(late.sum())
        has &= ~late
    else:
        row_t = t[row_out]
        early = has & (row_t < scored_times)
        counts["before_prediction"] = int(early.sum())
        has &= ~early
    counts["used"] = int(has.sum())
    out_label = np.where(has, label[row_out], np.nan)
    if rule.derived is not None:  # computed per scored row, from its outcome and its own values
        mapped = {c: np.append(v, np.nan)[row_out] for c, v in values.items()}
        mapped.update({c: (scored or {})[c] for c in rule.scored_columns})
        out_label = np.where(has, rule.derived.evaluate(mapped), np.nan)
    out_weight = np.where(has, weight[row_out], np.nan)
    out_known = np.where(has, row_t, -1)
    return Joined(out_label, out_weight, out_known, counts)


@dataclass
class MetricSums:
    """Cumulative per-bucket sums a monitor's metrics need (weighted where the source is)."""

    predictions: np.ndarray
    labels: np.ndarray
    w: np.ndarray
    w2: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    tn: np.ndarray
    brier: np.ndarray
    ece: np.ndarray  # (buckets + 1, ECE_BINS, 4): weight, weighted prob and outcome, weight²
    auc: np.ndarray | None  # (buckets + 1, 2, AUC_BINS): positive and negative weight per bin
    abs_err: np.ndarray
    sq_err: np.ndarray
    ape: np.ndarray
    ape_w: np.ndarray
    within: dict[float, np.ndarray]
    #: For intervals: squared weights per confusion cell (effective sample sizes) and the
    #: weighted second moments of the per-row losses.
    tp2: np.ndarray | None = None
    fp2: np.ndarray | None = None
    fn2: np.ndarray | None = None
    tn2: np.ndarray | None = None
    brier2: np.ndarray | None = None
    sq_err2: np.ndarray | None = None
    ape2: np.ndarray | None = None
    ape_w2: np.ndarray | None = None
    within2: dict[float, np.ndarray] | None = None


def metric_sums(rule: MonitorRule, score: np.ndarray, joined: Joined, buckets: Any,
                cumulative: Any) -> MetricSums:
    """Gather the sums of every metric the monitor uses, one pass per quantity."""
    b = buckets
    # A missing score or label leaves its row out of every metric (counted by the caller):
    # zeros, never NaN, reach the running sums, so one gap cannot poison later windows.
    has = ~np.isnan(joined.label) & ~np.isnan(score)
    y = np.where(has, joined.label, 0.0)
    w = np.where(has, joined.weight, 0.0)
    score = np.where(has, score, 0.0)
    # The flagged side of the decision threshold is the positive class of quality metrics.
    flagged = score < rule.threshold if rule.flag == "below" else score >= rule.threshold
    p_pos = 1 - score if rule.flag == "below" else score
    pos = y > 0.5

    def s(values: np.ndarray) -> np.ndarray:
        return cumulative(b.sum(values))

    stats = {leaf.measure.stat for leaf in rule.metrics}
    ece = np.zeros((b.count, ECE_BINS, 4))
    if "ece" in stats:
        bins = np.clip((p_pos * ECE_BINS).astype(np.int64), 0, ECE_BINS - 1)
        for k, values in enumerate((w, w * p_pos, w * y, w * w)):
            ece[:, :, k] = np.bincount(b.index[has] * ECE_BINS + bins[has], weights=values[has],
                                       minlength=b.count * ECE_BINS).reshape(b.count, ECE_BINS)
    auc = None
    if "auc" in stats:
        bins = np.clip((np.nan_to_num(p_pos) * AUC_BINS).astype(np.int64), 0, AUC_BINS - 1)
        auc = np.zeros((b.count, 2, AUC_BINS))
        for k, side in enumerate((pos, ~pos)):
            m = has & side
            auc[:, k, :] = np.bincount(b.index[m] * AUC_BINS + bins[m], weights=w[m],
                                       minlength=b.count * AUC_BINS).reshape(b.count, AUC_BINS)
        auc = cumulative(auc)
    err = np.where(has, score - y, 0.0)
    nonzero = has & (y != 0)
    within = {}
    for leaf in rule.metrics:
        if leaf.measure.stat == "share_within" and leaf.key.within is not None:
            tol = leaf.key.within
            within[tol] = s(np.where(has & (np.abs(err) <= tol * np.abs(y)), w, 0.0))
    ape = np.where(nonzero, np.abs(err) / np.where(nonzero, np.abs(y), 1), 0.0)
    return MetricSums(
        predictions=cumulative(b.sum(mask=~np.isnan(score))), labels=s(has.astype(float)),
        w=s(w), w2=s(w * w), tp=s(w * (flagged & pos)), fp=s(w * (flagged & ~pos)),
        fn=s(w * (~flagged & pos)), tn=s(w * (~flagged & ~pos)),
        brier=s(w * (p_pos - y) ** 2), ece=cumulative(ece), auc=auc,
        abs_err=s(w * np.abs(err)), sq_err=s(w * err * err),
        ape=s(np.where(nonzero, w * np.abs(err) / np.where(nonzero, np.abs(y), 1), 0.0)),
        ape_w=s(np.where(nonzero, w, 0.0)), within=within,
        tp2=s(w * w * (flagged & pos)), fp2=s(w * w * (flagged & ~pos)),
        fn2=s(w * w * (~flagged & pos)), tn2=s(w * w * (~flagged & ~pos)),
        brier2=s(w * (p_pos - y) ** 4), sq_err2=s(w * err ** 4),
        ape2=s(np.where(nonzero, w * ape * ape, 0.0)),
        ape_w2=s(np.where(nonzero, w * w, 0.0)),
        within2={tol: s(np.where(has & (np.abs(err) <= tol * np.abs(y)), w * w, 0.0))
                 for tol in within})


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1), np.nan)


def metric(stat: str, within: float | None, s: MetricSums, total: Any
           ) -> tuple[np.ndarray, np.ndarray | None]:
    """A metric for every window (and its bound where binned: AUC)."""
    tp, fp, fn, tn = (total(x) for x in (s.tp, s.fp, s.fn, s.tn))
    w = total(s.w)
    if stat == "precision":
        return _ratio(tp, tp + fp), None
    if stat == "recall":
        return _ratio(tp, tp + fn), None
    if stat == "f1":
        return _ratio(2 * tp, 2 * tp + fp + fn), None
    if stat == "accuracy":
        return _ratio(tp + tn, w), None
    if stat == "fpr":
        return _ratio(fp, fp + tn), None
    if stat == "brier":
        return _ratio(total(s.brier), w), None
    if stat == "ece":
        bins = total(s.ece)
        weight, prob, outcome = bins[..., 0], bins[..., 1], bins[..., 2]
        gap = np.abs(_ratio(prob, weight) - _ratio(outcome, weight))
        return _ratio(np.nansum(np.where(weight > 0, weight * gap, 0.0), axis=1), w), None
    if stat == "auc":
        assert s.auc is not None
        hist = total(s.auc)
        pos_b, neg_b = hist[:, 0, :], hist[:, 1, :]
        # A positive ranks above every negative in a lower bin; ties within a bin count half.
        below = np.cumsum(neg_b, axis=1) - neg_b
        pairs = pos_b.sum(axis=1) * neg_b.sum(axis=1)
        wins = (pos_b * below).sum(axis=1) + 0.5 * (pos_b * neg_b).sum(axis=1)
        tie = 0.5 * (pos_b * neg_b).sum(axis=1)
        return _ratio(wins, pairs), _ratio(tie, pairs)
    if stat == "mae":
        return _ratio(total(s.abs_err), w), None
    if stat == "rmse":
        return np.sqrt(_ratio(total(s.sq_err), w)), None
    if stat == "mape":
        return _ratio(total(s.ape), total(s.ape_w)), None
    if stat == "share_within":
        assert within is not None
        return _ratio(total(s.within[within]), w), None
    raise ValueError(f"no kernel for {stat}")  # pragma: no cover - the checker rejects these


#: The confidence level of the intervals on outcome metrics.
LEVEL = 0.95


def wilson(p: np.ndarray, n: np.ndarray, level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of a proportion ``p`` observed on (effective) sample size ``n``.

    >>> lo, hi = wilson(np.array([0.5]), np.array([100.0]))
    >>> round(float(lo[0]), 4), round(float(hi[0]), 4)
    (0.4038, 0.5962)
    """
    z = float(sps.norm.ppf(0.5 + level / 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    ok = n > 0
    return np.where(ok, np.clip(centre - half, 0, 1), np.nan), \
        np.where(ok, np.clip(centre + half, 0, 1), np.nan)


def hanley_mcneil(auc: np.ndarray, n_pos: np.ndarray, n_neg: np.ndarray,
                  level: float = LEVEL) -> tuple[np.ndarray, np.ndarray]:
    """A normal interval for ROC AUC with Hanley and McNeil's (1982) standard error, on the
    (effective) numbers of positives and negatives.

    >>> lo, hi = hanley_mcneil(np.array([0.8]), np.array([50.0]), np.array([50.0]))
    >>> round(float(lo[0]), 3), round(float(hi[0]), 3)
    (0.713, 0.887)
    """
    z = float(sps.norm.ppf(0.5 + level / 2))
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc)
               + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
        half = z * np.sqrt(np.maximum(var, 0))
    ok = (n_pos > 0) & (n_neg > 0)
    return np.where(ok, np.clip(auc - half, 0, 1), np.nan), \
        np.where(ok, np.clip(auc + half, 0, 1), np.nan)


def _mean_interval(total_w: np.ndarray, total_l: np.ndarray, total_l2: np.ndarray,
                   n_eff: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """A normal interval for a weighted mean loss from its weighted first and second moments."""
    z = float(sps.norm.ppf(0.5 + level / 2))
    mean = _ratio(total_l, total_w)
    var = np.maximum(_ratio(total_l2, total_w) - mean * mean, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        half = z * np.sqrt(var * n_eff / np.maximum(n_eff - 1, 1) / n_eff)
    ok = n_eff > 1
    return np.where(ok, mean - half, np.nan), np.where(ok, mean + half, np.nan)


def interval(stat: str, within: float | None, s: MetricSums, total: Any, level: float = LEVEL
             ) -> tuple[np.ndarray, np.ndarray] | None:
    """The ``level`` confidence interval of a metric for every window (None: no method).

    Proportions (precision, recall, accuracy, FPR, `share_within`, and F1 as the share
    2TP / (2TP + FP + FN)) use Wilson's interval on the Kish effective sample size of the
    weighted rows in their denominator. ROC AUC uses Hanley–McNeil on the effective numbers of
    positives and negatives. Brier, MAE, MAPE and MSE use a normal interval from the weighted
    second moments of the per-row loss (RMSE is the square root of MSE's interval). ECE uses a
    normal interval with the per-bin variances of the outcome share, Σ (W_b/W)² p_b(1-p_b)/n_b.
    """
    if s.tp2 is None:
        return None
    tp, fp, fn, tn = (total(x) for x in (s.tp, s.fp, s.fn, s.tn))
    tp2, fp2, fn2, tn2 = (total(x) for x in (s.tp2, s.fp2, s.fn2, s.tn2))
    w, w2 = total(s.w), total(s.w2)
    cells = {"precision": ((tp,), (tp, fp), (tp2, fp2)), "recall": ((tp,), (tp, fn), (tp2, fn2)),
             "accuracy": ((tp, tn), (tp, fp, fn, tn), (tp2, fp2, fn2, tn2)),
             "fpr": ((fp,), (fp, tn), (fp2, tn2)),
             "f1": ((tp, tp), (tp, tp, fp, fn), (tp2, tp2, fp2, fn2))}
    if stat in cells:
        num, den, den2 = (sum(x) for x in cells[stat])
        return wilson(_ratio(num, den), effective_n(den, den2), level)
    if stat == "share_within":
        assert within is not None and s.within2 is not None
        return wilson(_ratio(total(s.within[within]), w), effective_n(w, w2), level)
    if stat == "auc":
        assert s.auc is not None
        value = metric("auc", None, s, total)[0]
        return hanley_mcneil(value, effective_n(tp + fn, tp2 + fn2),
                             effective_n(fp + tn, fp2 + tn2), level)
    n_eff = effective_n(w, w2)
    if stat == "brier":
        return _mean_interval(w, total(s.brier), total(s.brier2), n_eff, level)
    if stat == "mae":
        return _mean_interval(w, total(s.abs_err), total(s.sq_err), n_eff, level)
    if stat == "rmse":
        lo, hi = _mean_interval(w, total(s.sq_err), total(s.sq_err2), n_eff, level)
        return np.sqrt(np.maximum(lo, 0)), np.sqrt(np.maximum(hi, 0))
    if stat == "mape":
        aw = total(s.ape_w)
        return _mean_interval(aw, total(s.ape), total(s.ape2),
                              effective_n(aw, total(s.ape_w2)), level)
    if stat == "ece":
        bins = total(s.ece)
        weight, outcome = bins[..., 0], bins[..., 2]
        p = np.clip(_ratio(outcome, weight), 0, 1)
        n_b = effective_n(weight, bins[..., 3]) if bins.shape[-1] > 3 else weight
        share = _ratio(weight, w[:, None])
        var = np.nansum(np.where(weight > 0, share ** 2 * _ratio(p * (1 - p), n_b), 0.0), axis=1)
        value = metric("ece", None, s, total)[0]
        z = float(sps.norm.ppf(0.5 + level / 2))
        half = z * np.sqrt(var)
        return np.clip(value - half, 0, 1), np.clip(value + half, 0, 1)
    return None


def effective_n(w: np.ndarray, w2: np.ndarray) -> np.ndarray:
    """Kish's effective sample size of weighted labels: (sum w)^2 / sum w^2."""
    return _ratio(w * w, w2)


def known_at(rule: MonitorRule, starts: np.ndarray, ends: np.ndarray,
             scored_times: np.ndarray, joined: Joined, predictions: np.ndarray
             ) -> list[int | None]:
    """When each window's result could first be known: its end plus the label delay, or the
    time its label coverage and count were reached, whichever is later (None: not yet)."""
    has = joined.known >= 0
    t_pred, t_known = scored_times[has], joined.known[has]
    order = np.argsort(t_pred, kind="stable")
    t_pred, t_known = t_pred[order], t_known[order]
    lo = np.searchsorted(t_pred, starts, side="left")
    hi = np.searchsorted(t_pred, ends, side="left")
    out: list[int | None] = []
    for i, (a, z) in enumerate(zip(lo, hi, strict=True)):
        need = max(rule.min_labels, math.ceil(rule.min_coverage * predictions[i]), 1)
        if z - a < need:
            out.append(None)
            continue
        reached = int(np.partition(t_known[a:z], need - 1)[need - 1])
        out.append(max(reached, int(ends[i]) + rule.label_delay))
    return out


def load_outcome_inputs(args: Mapping[str, Any] | None, rules: list[MonitorRule]
                        ) -> dict[str, Any]:
    """Outcome inputs by source name; an error names a source the plan does not have, or a
    monitor's source with no outcomes given (its windows are then all immature, not an error)."""
    given = dict(args or {})
    sources = {r.source.name for r in rules}
    for name in given:
        if name not in sources:
            from planspec.diagnostics import did_you_mean

            raise DataError("PS408", f"no outcome monitor uses a source named `{name}`",
                            did_you_mean(name, sorted(sources)) or
                            f"the plan's sources are: {', '.join(sorted(sources))}")
    return given
