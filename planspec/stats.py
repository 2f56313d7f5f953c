"""The catalogue of statistics and quality metrics a condition can name.

One table serves the condition parser (is this a known name?), the validator (does it apply to this
column type? can it reach this threshold?) and the renderers (its plain-English phrase).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

ArgShape = Literal["column", "quantile", "predicate", "within", "none"]
Scope = Literal["drift", "outcome"]

INF = math.inf

#: Column types a plan can declare for features, and the types prediction kinds behave as.
FEATURE_TYPES = ("numeric", "integer", "categorical", "boolean", "text")
NUMERIC_TYPES = frozenset({"numeric", "integer"})
BINNED_TYPES = frozenset({"numeric", "integer", "categorical", "boolean"})
DISCRETE_TYPES = frozenset({"categorical", "boolean"})
ALL_TYPES = frozenset(FEATURE_TYPES)


@dataclass(frozen=True)
class StatInfo:
    """What one statistic takes, what it applies to, and the range its value can take."""

    name: str
    args: ArgShape
    types: frozenset[str]
    lo: float
    hi: float
    scope: Scope
    phrase: str
    tests: bool = False  # a hypothesis test: has `.pvalue`
    location: bool = False  # a location statistic: `shift` in baseline SDs makes sense
    relative: bool = False  # `change` relative to the baseline makes sense


def _s(name: str, args: ArgShape, types: frozenset[str], lo: float, hi: float, phrase: str,
       *, scope: Scope = "drift", tests: bool = False, location: bool = False,
       relative: bool = False) -> StatInfo:
    return StatInfo(name, args, types, lo, hi, scope, phrase, tests, location, relative)


_OUT: frozenset[str] = frozenset()
STATS: dict[str, StatInfo] = {s.name: s for s in (
    _s("mean", "column", NUMERIC_TYPES, -INF, INF, "mean", location=True, relative=True),
    _s("std", "column", NUMERIC_TYPES, 0, INF, "standard deviation", relative=True),
    _s("min", "column", NUMERIC_TYPES, -INF, INF, "minimum", location=True, relative=True),
    _s("max", "column", NUMERIC_TYPES, -INF, INF, "maximum", location=True, relative=True),
    _s("quantile", "quantile", NUMERIC_TYPES, -INF, INF, "quantile", location=True, relative=True),
    _s("missing_rate", "column", ALL_TYPES, 0, 1, "share of missing values", relative=True),
    _s("out_of_range_rate", "column", NUMERIC_TYPES, 0, 1,
       "share of values outside the declared range", relative=True),
    _s("new_category_rate", "column", DISCRETE_TYPES, 0, 1,
       "share of rows with a category never seen in the baseline", relative=True),
    _s("psi", "column", BINNED_TYPES, 0, INF, "population stability index"),
    _s("js", "column", BINNED_TYPES, 0, 1, "Jensen-Shannon distance"),
    _s("ks", "column", NUMERIC_TYPES, 0, 1, "Kolmogorov-Smirnov statistic", tests=True),
    _s("chi2", "column", DISCRETE_TYPES, 0, INF, "chi-squared statistic", tests=True),
    _s("wasserstein", "column", NUMERIC_TYPES, 0, INF,
       "Wasserstein distance in baseline standard deviations"),
    _s("rate", "predicate", NUMERIC_TYPES | DISCRETE_TYPES, 0, 1,
       "share of predictions", relative=True),
    _s("share", "predicate", BINNED_TYPES, 0, 1, "share of rows", relative=True),
    _s("count", "none", _OUT, 0, INF, "number of rows", relative=True),
    _s("precision", "none", _OUT, 0, 1, "precision", scope="outcome"),
    _s("recall", "none", _OUT, 0, 1, "recall", scope="outcome"),
    _s("f1", "none", _OUT, 0, 1, "F1 score", scope="outcome"),
    _s("accuracy", "none", _OUT, 0, 1, "accuracy", scope="outcome"),
    _s("fpr", "none", _OUT, 0, 1, "false-positive rate", scope="outcome"),
    _s("brier", "none", _OUT, 0, 1, "Brier score", scope="outcome"),
    _s("auc", "none", _OUT, 0, 1, "ROC AUC", scope="outcome"),
    _s("ece", "none", _OUT, 0, 1, "expected calibration error", scope="outcome"),
    _s("mae", "none", _OUT, 0, INF, "mean absolute error", scope="outcome"),
    _s("rmse", "none", _OUT, 0, INF, "root mean squared error", scope="outcome"),
    _s("mape", "none", _OUT, 0, INF, "mean absolute percentage error", scope="outcome"),
    _s("share_within", "within", _OUT, 0, 1, "share of predictions within", scope="outcome"),
)}

#: Parts a test statistic exposes: `ks(x)` is the statistic, `ks(x).pvalue` its p-value.
PARTS = ("statistic", "pvalue")

#: Statistics that are shares in [0, 1]: they may be written as fractions or with `%`.
SHARE_LIKE = frozenset(s.name for s in STATS.values() if (s.lo, s.hi) == (0, 1))
