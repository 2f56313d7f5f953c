"""Plan tests (`planspec test`), in the manner of promtool's rule tests: a YAML file names a plan,
a baseline and cases; each case is a series of synthetic windows made by declared recipes, run
through the real engine (:func:`planspec.engine.run_program`), and the alerts expected to be
firing at the end of each window are compared with what fired.

The synthetic rows are drawn from the baseline profile, column by column: numeric values from
the fine histogram (uniform within a bin; on the baseline's own values when they are discrete),
else from the deciles; categories by their baseline counts; missing values at the baseline's
rate; each day a Poisson count of rows around the baseline's rows per day. So the windows look
like the baseline (its shape, its categories, its volume), and are the same for the same seed.
Recipes then change windows from a given one on (see :data:`RECIPES`). Outcomes are drawn for
each outcome source from the scores: the flagged side is positive with probability ``1 - p``
(flag below) or ``p`` (flag above), so the model is calibrated unless a ``quality_drop`` flips
labels; a derived label (``abs(price - rent) / rent > 10%``) gets outcome values that make it
hold or not, as drawn.

When is an alert "firing at window i"? Each check's windows are judged by the engine; the state
at test window i is that of the check's last judged window ending by the end of window i (for a
1d alert in 7d test windows: the week's last day). Outcome monitors are judged in hindsight, as
of the series' end plus the longest label delay, so their windows are mature unless a
``label_delay`` recipe holds labels back. Heightened copies of alerts (drift risks) are not
expected on; the base alert is.

Nothing here prints or exits: :func:`run_plan_tests` returns a :class:`TestReport`.
"""

from __future__ import annotations

import datetime
import math
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from planspec._schema import pydantic_type
from planspec.diagnostics import Diagnostic, Span, did_you_mean, make, sort_key
from planspec.model import Duration
from planspec.model import DurationText as _DurationText
from planspec.model import Ratio as _Ratio
from planspec.power import sample_values
from planspec.results import alert_of
from planspec.source import Path, SourceMap

if TYPE_CHECKING:
    Ratio = float
    DurationText = Duration
else:  # the plan's own share and duration types, for the pydantic models of a plan test
    Ratio = pydantic_type(_Ratio)
    DurationText = pydantic_type(_DurationText)

DAY = 86400
#: The recipes a change may name, and what each does to the windows it applies to.
RECIPES: dict[str, str] = {
    "no_drift": "nothing: the windows are drawn from the baseline as it is",
    "mean_shift": "numeric `column`: every value moves by `sd` baseline SDs",
    "share": "categorical `column`: `category` (default: the most frequent) takes the share "
             "`to`; the others keep their proportions",
    "missing": "`column`: a share `rate` of rows miss the value",
    "out_of_range": "numeric `column` with a range: a share `rate` of present values lie "
                    "outside it",
    "new_categories": "categorical `column`: a share `rate` of rows hold categories the "
                      "baseline never saw",
    "volume": "a share `factor` of the usual rows arrive (0.3: a 70% drop)",
    "label_delay": "outcome `monitor`'s source: outcomes arrive `extra` later than usual",
    "quality_drop": "outcome `monitor`'s source: a share `flip` of labels is flipped",
}


class _Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Generate(_Node):
    """A baseline generated from the plan's declared columns (types, ranges): ``rows`` rows over
    ``days`` days, drawn with ``seed``."""

    rows: int = Field(ge=100, le=5_000_000)
    days: int = Field(28, ge=1, le=3660)
    seed: int = 0


class BaselineSpec(_Node):
    """The baseline of a plan test: a profile (JSON), data files, or generated (exactly one)."""

    profile: str | None = None
    data: list[str] | None = None
    generate: Generate | None = None

    @model_validator(mode="after")
    def _one(self) -> BaselineSpec:
        given = [k for k in ("profile", "data", "generate") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of `profile`, `data` or `generate`")
        return self


class NoDrift(_Node):
    """No change: the windows as the baseline gives them (written `no_drift: {}`)."""


class MeanShift(_Node):
    """Move a numeric column by ``sd`` baseline SDs."""

    column: str
    sd: float = Field(allow_inf_nan=False)


class Share(_Node):
    """Give one category (default: the most frequent) the share ``to``."""

    column: str
    category: str | bool | None = None
    to: Ratio


class ColumnRate(_Node):
    """A share ``rate`` of a column's rows affected (missing, out of range, new categories)."""

    column: str
    rate: Ratio


class Volume(_Node):
    """A share ``factor`` of the usual rows arrive."""

    factor: Ratio


class LabelDelay(_Node):
    """Outcomes of ``monitor``'s source arrive ``extra`` later than usual."""

    monitor: str
    extra: DurationText


class QualityDrop(_Node):
    """A share ``flip`` of the labels of ``monitor``'s source is flipped."""

    monitor: str
    flip: Ratio


class Change(_Node):
    """One recipe applied from window ``from`` to window ``to`` (inclusive; default: the last)."""

    from_: int = Field(1, alias="from", ge=1)
    to: int | None = Field(None, ge=1)
    no_drift: NoDrift | None = None
    mean_shift: MeanShift | None = None
    share: Share | None = None
    missing: ColumnRate | None = None
    out_of_range: ColumnRate | None = None
    new_categories: ColumnRate | None = None
    volume: Volume | None = None
    label_delay: LabelDelay | None = None
    quality_drop: QualityDrop | None = None

    @model_validator(mode="after")
    def _one(self) -> Change:
        if len(self.recipes()) != 1:
            raise ValueError("a change names exactly one recipe: " + ", ".join(RECIPES))
        return self

    def recipes(self) -> list[str]:
        """The recipes this change names (exactly one when valid)."""
        return [r for r in RECIPES if getattr(self, r) is not None]

    @property
    def recipe(self) -> str:
        """The recipe's name."""
        return self.recipes()[0]


class Expected(_Node):
    """What must hold at the end of a window: exactly the alerts ``firing`` at `fail` (the
    others not); with ``warn``, exactly those firing at `warn`; ``immature``: outcome monitors
    whose latest window is immature."""

    firing: list[str] = []
    warn: list[str] | None = None
    immature: list[str] = []


class Case(_Node):
    """One plan test: a series of ``windows`` synthetic windows, the changes made to them, and
    the alerts expected per window (keys: `3`, `3-5`, `window 3`, `windows 3-5`)."""

    name: str
    windows: int = Field(ge=1, le=520)
    changes: list[Change] = []
    #: A list is the alerts firing at `fail` (short for ``{firing: [...]}``).
    expect: dict[str | int, list[str] | Expected] = Field(min_length=1)
    #: Alerts this case does not assert on (neither firing nor quiet).
    ignore: list[str] = []

    @field_validator("expect", mode="after")
    @classmethod
    def _lists(cls, v: dict[str | int, list[str] | Expected]) -> dict[str | int, Any]:
        return {k: Expected(firing=x) if isinstance(x, list) else x for k, x in v.items()}

    def expected(self, key: str | int) -> Expected:
        """The expectation under ``key`` (lists are read as ``firing``)."""
        x = self.expect[key]
        return x if isinstance(x, Expected) else Expected(firing=x)


class PlanTest(_Node):
    """A plan test file: the plan, its baseline, the synthetic windows' shape, and the cases."""

    plan: str
    baseline: BaselineSpec
    seed: int = 0
    #: The length of one test window (default: the plan's default window; fixed lengths only).
    window: DurationText | None = None
    #: Rows per day of the synthetic windows (default: the baseline's).
    rows_per_day: int | None = Field(None, ge=1, le=10_000_000)
    #: The first window's start (a date, UTC; default: aligned to every window of the plan).
    start: datetime.date | None = None
    tests: list[Case] = Field(min_length=1)


def plan_test_schema() -> dict[str, Any]:
    """The JSON Schema of a plan test file (``planspec test --schema``)."""
    schema = PlanTest.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "planspec plan test"
    return schema


# ---------------------------------------------------------------------------------- loading


@dataclass
class LoadedTest:
    """A parsed test file: the model (None when it could not be built), positions, findings."""

    test: PlanTest | None
    source_map: SourceMap
    diagnostics: list[Diagnostic]
    text: str
    file: str


def _fields(model: Any) -> list[str]:
    return [(f.alias or n) for n, f in model.model_fields.items()]


_MODELS: dict[str, Any] = {"": PlanTest, "baseline": BaselineSpec, "generate": Generate,
                           "tests": Case, "changes": Change, "expect": Expected,
                           "no_drift": NoDrift,
                           **{r: m for r, m in (("mean_shift", MeanShift), ("share", Share),
                                                ("missing", ColumnRate),
                                                ("out_of_range", ColumnRate),
                                                ("new_categories", ColumnRate),
                                                ("volume", Volume), ("label_delay", LabelDelay),
                                                ("quality_drop", QualityDrop))}}


def _model_at(loc: Path) -> Any:
    names = [p for p in loc if isinstance(p, str)]
    if names and names[0] == "tests" and len(names) >= 2 and names[1] == "expect":
        return Expected
    return _MODELS.get(names[-1] if names else "", PlanTest)


def _shape(e: ValidationError, smap: SourceMap) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for err in e.errors(include_url=False):
        loc: Path = tuple(p for p in err["loc"] if not (isinstance(p, str) and
                                                         p.startswith("function-")))
        typ, ctx = err["type"], err.get("ctx") or {}
        if typ == "planspec":
            out.append(make(str(ctx["code"]), str(ctx["message"]), smap.span(loc),
                            ctx.get("hint")))
        elif typ == "extra_forbidden" and len(loc) >= 3 and isinstance(loc[-2], int) \
                and loc[-3] == "changes":
            name = str(loc[-1])
            out.append(make("PS372", f"unknown recipe `{name}`", smap.key_span(loc),
                            did_you_mean(name, RECIPES)
                            or f"the recipes are: {', '.join(RECIPES)}"))
        elif typ == "extra_forbidden":
            name = str(loc[-1])
            out.append(make("PS370", f"unknown key `{name}`", smap.key_span(loc),
                            did_you_mean(name, _fields(_model_at(loc[:-1])))))
        elif typ == "missing":
            out.append(make("PS370", f"missing key `{loc[-1]}`",
                            smap.key_span(loc[:-1]) if loc[:-1] else smap.span(()),
                            f"add `{loc[-1]}:`"))
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            out.append(make("PS370", f"{'.'.join(map(str, loc)) or 'the file'}: {msg}",
                            smap.span(loc)))
    return out


def load_test_file(path: str | FsPath) -> LoadedTest:
    """Parse a plan test file (YAML). Never raises for bad content: findings come back located
    (PS101 YAML syntax, PS370 shape, PS372 unknown recipe). An unreadable file raises
    :class:`OSError`."""
    import yaml

    from planspec.parse_yaml import _AliasBomb, _Builder, _Loader

    file = str(path)
    text = FsPath(path).read_text(encoding="utf-8")
    loader = _Loader(text)
    b = _Builder(text, file, loader)
    try:
        node = loader.get_single_node()
        if not isinstance(node, yaml.MappingNode):
            return LoadedTest(None, b.smap, [make(
                "PS370", "a plan test file is a mapping with `plan`, `baseline` and `tests`",
                b.node_span(node) if node is not None else Span(file, 1, 1, 1, 1))], text, file)
        data = b.build(node, ())
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        span = None
        if mark:
            line, col = b.index.position(min(mark.index, max(len(text) - 1, 0)))
            span = Span(file, line, col, line, col)
        return LoadedTest(None, b.smap, [make("PS101", e.problem or "invalid YAML", span)],
                          text, file)
    except yaml.YAMLError as e:
        return LoadedTest(None, b.smap, [make("PS101", str(e).splitlines()[0])], text, file)
    except _AliasBomb as e:
        return LoadedTest(None, b.smap, [make(
            "PS253", f"aliases here expand the file past {e.budget:,} values", e.span,
            "write the values out, or use fewer nested aliases")], text, file)
    finally:
        loader.dispose()
    found = list(b.diagnostics)
    try:
        test: PlanTest | None = PlanTest.model_validate(data)
    except ValidationError as e:
        test = None
        found += _shape(e, b.smap)
    return LoadedTest(test if not found else None, b.smap, sorted(found, key=sort_key), text,
                      file)


_KEY = re.compile(r"^\s*(?:windows?\s+)?(\d+)\s*(?:(?:-|–|to)\s*(\d+))?\s*$")


def window_range(key: str | int) -> tuple[int, int] | None:
    """The windows an ``expect`` key names (inclusive), or None when it names none.

    >>> window_range(3), window_range("3-5"), window_range("window 2"), window_range("x")
    ((3, 3), (3, 5), (2, 2), None)
    """
    if isinstance(key, int):
        return (key, key)
    m = _KEY.match(key)
    if m is None:
        return None
    lo = int(m.group(1))
    return lo, int(m.group(2) or lo)


def check_test(test: PlanTest, program: Any, smap: SourceMap) -> list[Diagnostic]:
    """The test file against its plan: alert names (PS371), recipe columns and monitors
    (PS373), window numbers (PS370). Each with "did you mean" where a near name exists."""
    out: list[Diagnostic] = []
    alerts = [r.id for r in program.rules if r.risk is None] + [m.id for m in program.monitors]
    monitors = [m.id for m in program.monitors]
    columns = program.plan.data.features | program.plan.data.predictions
    for i, case in enumerate(test.tests):
        base: Path = ("tests", i)
        for j, ch in enumerate(case.changes):
            where: Path = (*base, "changes", j)
            recipe = ch.recipe
            spec = getattr(ch, recipe)
            for end, number in (("from", ch.from_), ("to", ch.to)):
                if number is not None and number > case.windows:
                    out.append(make("PS370", f"window {number} is past the case's last window "
                                    f"({case.windows})", smap.span((*where, end))))
            col = getattr(spec, "column", None)
            if col is not None:
                out += _column_problem(recipe, col, spec, columns, program,
                                       smap.span((*where, recipe, "column")))
            mon = getattr(spec, "monitor", None)
            if mon is not None and mon not in monitors:
                out.append(make("PS373", f"`{mon}` is not an outcome monitor of the plan",
                                smap.span((*where, recipe, "monitor")),
                                did_you_mean(mon, monitors) or
                                f"the outcome monitors are: {', '.join(monitors) or 'none'}"))
        for key in case.expect:
            exp = case.expected(key)
            where = (*base, "expect", key)
            rng = window_range(key)
            if rng is None or not 1 <= rng[0] <= rng[1] <= case.windows:
                out.append(make("PS370", f"`{key}` does not name windows 1 to {case.windows}",
                                smap.key_span(where),
                                "write a window number (`3`) or a range (`3-5`)"))
            lists = [("firing", exp.firing), ("warn", exp.warn or []),
                     ("immature", exp.immature)]
            for part, names in lists:
                for k, name in enumerate(names):
                    choices = monitors if part == "immature" else alerts
                    if name not in choices:
                        what = "an outcome monitor" if part == "immature" else "an alert"
                        path = (*where, part, k)
                        path = path if path in smap.values else (*where, k)
                        out.append(make("PS371", f"`{name}` is not {what} of the plan",
                                        smap.span(path), did_you_mean(name, choices)))
        for k, name in enumerate(case.ignore):
            if name not in alerts:
                out.append(make("PS371", f"`{name}` is not an alert of the plan",
                                smap.span((*base, "ignore", k)), did_you_mean(name, alerts)))
    return sorted(out, key=sort_key)


def _column_problem(recipe: str, col: str, spec: Any, columns: dict[str, Any], program: Any,
                    span: Span | None) -> list[Diagnostic]:
    if col not in columns:
        return [make("PS373", f"`{col}` is not a column the plan declares", span,
                     did_you_mean(col, columns))]
    decl = columns[col]
    kind = getattr(decl, "type", None) or ("numeric" if decl.kind in ("probability", "score",
                                                                      "value") else "categorical")
    numeric = kind in ("numeric", "integer")
    need = {"mean_shift": numeric, "out_of_range": numeric,
            "share": kind in ("categorical", "boolean"),
            "new_categories": kind == "categorical"}.get(recipe, True)
    if not need:
        want = {"mean_shift": "numeric", "out_of_range": "numeric",
                "share": "categorical or boolean", "new_categories": "categorical"}[recipe]
        return [make("PS373", f"`{recipe}` needs a {want} column; `{col}` is {kind}", span)]
    if recipe == "out_of_range" and getattr(decl, "range", None) is None:
        return [make("PS373", f"`{col}` declares no range, so no value is out of it", span,
                     f"declare `range: [lo, hi]` for `{col}` in the plan")]
    if col not in program.columns and recipe != "missing":
        return [make("PS373", f"no check of the plan reads `{col}`, so `{recipe}` on it "
                     "changes nothing", span)]
    return []


# ---------------------------------------------------------------------------- synthetic rows


def _rng(seed: int, *parts: object) -> np.random.Generator:
    tag = zlib.crc32("\x1f".join(map(str, parts)).encode())
    return np.random.default_rng([seed, tag])


def generate_baseline(program: Any, rows: int, days: int, seed: int, start: int) -> Any:
    """A baseline table from the plan's declarations alone (no data): numeric values
    log-normal inside their declared range (normal around its middle when it reaches zero or
    below), integers rounded, eight categories with falling shares, booleans true in 30%,
    probabilities from Beta(0.5, 0.3) (a confident model: labelled from its scores, its
    precision and recall are about 0.8), text present in 98% of rows."""
    import pyarrow as pa

    rng = _rng(seed, "baseline")
    d = program.plan.data
    out: dict[str, Any] = {d.timestamp: pa.array(
        np.sort(start + rng.integers(0, days * DAY, rows)).astype("datetime64[s]"),
        type=pa.timestamp("s", tz="UTC"))}
    if d.key:
        out[d.key] = pa.array([f"B{i}" for i in range(rows)])
    for name, f in d.features.items():
        out[name] = _declared(rng, name, f.type, f.range, rows)
    for name, p in d.predictions.items():
        if p.kind == "probability":
            out[name] = pa.array(rng.beta(0.5, 0.3, rows).round(4))
        elif p.kind == "class":
            out[name] = _declared(rng, name, "categorical", None, rows)
        else:
            out[name] = pa.array(rng.normal(0.0, 1.0, rows))
    return pa.table(out)


def _declared(rng: np.random.Generator, name: str, kind: str,
              rng_range: tuple[float, float] | None, n: int) -> Any:
    import pyarrow as pa

    if kind in ("numeric", "integer"):
        lo, hi = rng_range or (1.0, 1000.0)
        if lo > 0:
            x = np.exp(rng.normal((math.log(lo) + math.log(hi)) / 2, math.log(hi / lo) / 8, n))
        else:
            x = rng.normal((lo + hi) / 2, (hi - lo) / 8, n)
        x = np.clip(x, lo, hi)
        return pa.array(x.round() if kind == "integer" else x.round(2))
    if kind == "boolean":
        return pa.array(rng.random(n) < 0.3)
    if kind == "text":
        return pa.array(["text" if keep else None for keep in (rng.random(n) < 0.98).tolist()],
                        type=pa.string())
    weights = 1 / np.arange(1, 9)
    cats = np.asarray([f"{name}_{i}" for i in range(1, 9)])
    return pa.array(cats[rng.choice(8, n, p=weights / weights.sum())].tolist())


@dataclass
class _Window:
    """What the recipes do to one window."""

    shift: dict[str, float] = field(default_factory=dict)
    share: dict[str, tuple[str | None, float]] = field(default_factory=dict)
    missing: dict[str, float] = field(default_factory=dict)
    out_of_range: dict[str, float] = field(default_factory=dict)
    new: dict[str, float] = field(default_factory=dict)
    volume: float = 1.0
    delay: dict[str, int] = field(default_factory=dict)
    flip: dict[str, float] = field(default_factory=dict)


def _plan_windows(case: Case, program: Any) -> list[_Window]:
    sources = {m.id: m.source.name for m in program.monitors}
    out = [_Window() for _ in range(case.windows)]
    for ch in case.changes:
        spec = getattr(ch, ch.recipe)
        for w in out[ch.from_ - 1:(ch.to or case.windows)]:
            if isinstance(spec, MeanShift):
                w.shift[spec.column] = spec.sd
            elif isinstance(spec, Share):
                w.share[spec.column] = (None if spec.category is None else
                                        str(spec.category).lower()
                                        if isinstance(spec.category, bool) else spec.category,
                                        spec.to)
            elif isinstance(spec, ColumnRate):
                getattr(w, {"missing": "missing", "out_of_range": "out_of_range",
                            "new_categories": "new"}[ch.recipe])[spec.column] = spec.rate
            elif isinstance(spec, Volume):
                w.volume = spec.factor
            elif isinstance(spec, LabelDelay):
                w.delay[sources[spec.monitor]] = spec.extra.seconds
            elif isinstance(spec, QualityDrop):
                w.flip[sources[spec.monitor]] = spec.flip
    return out


def _column(name: str, decl_kind: str, col: Any, w: _Window, rng: np.random.Generator, n: int,
            declared_range: tuple[float, float] | None, unit: bool = False) -> Any:
    import pyarrow as pa

    miss = (col.missing / col.rows if col.rows else 0.0) if col is not None else 0.0
    miss = w.missing.get(name, miss)
    gone = rng.random(n) < miss
    if decl_kind in ("numeric", "integer"):
        x = sample_values(col, rng, n) if col is not None else rng.normal(0, 1, n)
        if name in w.shift and col is not None:
            x = x + w.shift[name] * (col.std or 0.0)
        if name in w.out_of_range and declared_range is not None:
            lo, hi = declared_range
            out = rng.random(n) < w.out_of_range[name]
            x = np.where(out, hi + (hi - lo) * (0.1 + rng.random(n)), x)
        if decl_kind == "integer":
            x = np.round(x)
        if unit:  # a probability stays one when shifted
            x = np.clip(x, 0.0, 1.0)
        return pa.array(np.where(gone, np.nan, x), from_pandas=True)
    cats = list(col.categories) if col is not None and col.categories else ["a"]
    counts = np.asarray(col.category_counts if col is not None and col.categories else [1],
                        dtype=np.float64)
    p = counts / counts.sum()
    if name in w.share:
        which, to = w.share[name]
        k = cats.index(which) if which in cats else 0
        if which is not None and which not in cats:
            cats.append(which)
            p = np.append(p, 0.0)
            k = len(cats) - 1
        rest = 1 - p[k]
        p = p * ((1 - to) / rest) if rest > 0 else np.full(p.size, (1 - to) / max(p.size - 1, 1))
        p[k] = to
    values = np.asarray(cats, dtype=object)[rng.choice(len(cats), n, p=p / p.sum())]
    if name in w.new:
        fresh = rng.random(n) < w.new[name]
        values = np.where(fresh, np.char.add(f"{name}_new_", rng.integers(0, 5, n).astype(str))
                          .astype(object), values)
    values = values.astype(object)
    values[gone] = None
    if decl_kind == "boolean":
        return pa.array([None if v is None else v == "true" for v in values.tolist()],
                        type=pa.bool_())
    return pa.array(values.tolist(), type=pa.string())


def _times(rng: np.random.Generator, start: int, seconds: int, per_day: float) -> np.ndarray:
    """Sorted row times in ``[start, start + seconds)``: each day a Poisson count of rows
    (mean ``per_day``), uniform within the day, as a steady feed delivers them."""
    days = max(1, -(-seconds // DAY))
    counts = rng.poisson(per_day * min(seconds, DAY) / DAY, days)
    offsets = [d * DAY + np.sort(rng.integers(0, min(seconds - d * DAY, DAY), c))
               for d, c in enumerate(counts.tolist())]
    return np.asarray(start + np.concatenate(offsets), dtype=np.int64)


@dataclass
class Synthetic:
    """One case's synthetic data: scored rows, outcomes by source, the window bounds and the
    time the run looks from."""

    scored: Any
    outcomes: dict[str, Any]
    bounds: list[tuple[int, int]]
    as_of: int


def synthesize(program: Any, profile: Any, case: Case, seed: int, start: int,
               window_seconds: int, rows_per_day: float) -> Synthetic:
    """The rows of ``case``'s windows, resampled from ``profile`` and changed by its recipes
    (deterministic for ``seed`` and the case's name)."""
    import pyarrow as pa

    rng = _rng(seed, "case", case.name)
    d = program.plan.data
    plan_windows = _plan_windows(case, program)
    kinds = {n: f.type for n, f in d.features.items()}
    kinds |= {n: ("categorical" if p.kind == "class" else "numeric")
              for n, p in d.predictions.items()}
    ranges = {n: f.range for n, f in d.features.items()}
    unit = {n for n, p in d.predictions.items() if p.kind == "probability"}
    parts: list[pa.Table] = []
    window_of: list[np.ndarray] = []
    bounds = []
    for i, w in enumerate(plan_windows):
        a = start + i * window_seconds
        bounds.append((a, a + window_seconds))
        t = _times(rng, a, window_seconds, rows_per_day * w.volume)
        n = t.size
        cols: dict[str, Any] = {d.timestamp: pa.array(t.astype("datetime64[s]"),
                                                      type=pa.timestamp("s", tz="UTC"))}
        if d.key:
            cols[d.key] = pa.array([f"W{i + 1}-{k}" for k in range(n)], type=pa.string())
        for name, kind in kinds.items():
            cols[name] = _column(name, kind, profile.columns.get(name), w, rng, n,
                                 ranges.get(name), name in unit)
        parts.append(pa.table(cols))
        window_of.append(np.full(n, i))
    scored = pa.concat_tables(parts)
    which = np.concatenate(window_of)
    delay = max([m.label_delay for m in program.monitors], default=0)
    end = start + len(plan_windows) * window_seconds
    outcomes = {}
    for src in dict.fromkeys(m.source.name for m in program.monitors):
        monitors = [m for m in program.monitors if m.source.name == src]
        outcomes[src] = _outcomes(monitors, scored, d.timestamp, which, plan_windows, rng,
                                 rows_per_day)
    return Synthetic(scored, outcomes, bounds, end + delay)


def _outcomes(monitors: list[Any], scored: Any, timestamp: str, which: np.ndarray,
              plan_windows: list[_Window], rng: np.random.Generator, rows_per_day: float) -> Any:
    """One outcome source's table: a share of scored rows labelled from their scores."""
    import pyarrow as pa

    from planspec.data import numeric, timestamps

    m = monitors[0]
    src = m.source
    n = scored.num_rows
    per_window = max(1.0, rows_per_day * min(x.window.seconds for x in monitors) / DAY)
    coverage = min(1.0, max(max(x.min_coverage for x in monitors) * 1.25 + 0.05,
                            1.5 * max(x.min_labels for x in monitors) / per_window))
    chosen = np.flatnonzero(rng.random(n) < coverage)
    score = numeric(scored, m.prediction, "scored")[chosen]
    p_pos = np.clip(1 - score if m.flag == "below" else score, 0, 1)
    p_pos = np.nan_to_num(p_pos, nan=0.5)
    if m.binary:
        y = (rng.random(chosen.size) < p_pos).astype(np.float64)
        flip = np.asarray([plan_windows[k].flip.get(src.name, 0.0) for k in which[chosen]])
        y = np.where(rng.random(chosen.size) < flip, 1 - y, y)
    else:
        y = np.nan_to_num(score) + rng.normal(0, 1, chosen.size)
    cols: dict[str, Any] = {m.join_key: scored.column(m.join_key).take(pa.array(chosen))}
    if src.time is not None:
        t_scored = timestamps(scored, timestamp, "scored")[chosen]
        delay = min(x.label_delay for x in monitors)
        extra = np.asarray([plan_windows[k].delay.get(src.name, 0) for k in which[chosen]])
        known = t_scored + (0.1 + 0.8 * rng.random(chosen.size)) * delay + extra
        cols[src.time] = pa.array(known.astype(np.int64).astype("datetime64[s]"),
                                  type=pa.timestamp("s", tz="UTC"))
    if m.derived is None:
        cols[m.outcome_columns[0]] = pa.array(y)
    else:
        for c, v in _solve(m, scored, chosen, y).items():
            cols[c] = pa.array(v, from_pandas=True)
    if src.weights:
        cols[src.weights] = pa.array(np.ones(chosen.size))
    return pa.table(cols)


#: Candidate outcome values for a derived label, as multiples of a scored column's value.
_FACTORS = (1.0, 1.5, 0.5, 1.02, 0.98, 2.0, 0.25, 4.0, 0.0, -1.0, 10.0, 0.1)


def _solve(m: Any, scored: Any, chosen: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Outcome values that make ``m``'s derived label come out as ``y`` (per row, the first
    candidate that does; NaN, a missing label, where none does)."""
    from planspec.data import numeric

    given = {c: numeric(scored, c, "scored")[chosen] for c in m.scored_columns}
    ref = next(iter(given.values()), np.ones(chosen.size))
    out = {c: np.full(chosen.size, np.nan) for c in m.outcome_columns}
    todo = np.ones(chosen.size, dtype=bool)
    for f in _FACTORS:
        trial = {c: np.where(todo, ref * f, out[c]) for c in m.outcome_columns}
        label = np.asarray(m.derived.evaluate({**trial, **given}), dtype=np.float64)
        hit = todo & (label == y)
        for c in m.outcome_columns:
            out[c] = np.where(hit, trial[c], out[c])
        todo &= ~hit
    return out


# -------------------------------------------------------------------------------- judgement


@dataclass
class State:
    """An alert at the end of a test window: its firing level and the window that decided it."""

    firing: str | None
    status: str
    value: float | None = None
    start: str | None = None
    end: str | None = None
    when: str = ""
    labels: int | None = None

    def text(self) -> str:
        """How it was, for a diff line."""
        if self.start is None:
            return "not judged yet (no complete window of its own by then)"
        state = f"firing ({self.firing})" if self.firing else self.status
        if self.firing is None and self.status in ("warn", "fail"):
            state = f"{self.status} but not firing (its `for` not yet reached)"
        value = "no value" if self.value is None else f"{self.value:.4g}"
        where = f"[{self.start[:10]}, {self.end[:10] if self.end else '?'})"
        labels = f", {self.labels} labels" if self.labels is not None else ""
        return f"{state}: value {value}{labels} in {where}, when `{self.when}`"


@dataclass
class Mismatch:
    """One expectation that did not hold."""

    window: int
    alert: str
    expected: str
    actual: State
    span: Span | None

    def text(self) -> str:
        """The readable diff line."""
        return (f"window {self.window}: expected `{self.alert}` {self.expected}, it was "
                f"{self.actual.text()}")


@dataclass
class CaseResult:
    """One case: its windows, how many expectations it checked, and those that failed."""

    name: str
    windows: list[tuple[str, str]]
    checked: int
    mismatches: list[Mismatch]
    states: dict[int, dict[str, State]] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether every expectation held."""
        return not self.mismatches


@dataclass
class TestReport:
    """A test file's outcome: each case (or the diagnostics that kept it from running)."""

    file: str
    plan: str
    cases: list[CaseResult]
    diagnostics: list[Diagnostic]
    text: str = ""

    @property
    def passed(self) -> bool:
        """Whether every case passed."""
        return all(c.passed for c in self.cases)


def _iso(t: int) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_RANK = {None: 0, "warn": 1, "fail": 2}


def states_at(results: Any, end: int) -> dict[str, State]:
    """Each base alert's state at ``end``: that of its last judged window ending by then. A
    segmented alert is as firing as its most firing segment (the state shown is that
    segment's)."""
    out: dict[str, State] = {}
    stop = _iso(end)
    for c in results.checks:
        if c.risk is not None:
            continue
        last = None
        for w in c.windows:
            if w.end <= stop and w.status != "partial":
                last = w
        alert = alert_of(c.id)
        if last is None:
            state = State(None, "none", when=c.when)
        else:
            state = State(last.firing, last.status, last.value, last.start, last.end,
                          c.when, last.labels)
        if alert not in out or _RANK[state.firing] > _RANK[out[alert].firing]:
            out[alert] = state
    return out


def judge_case(case: Case, results: Any, bounds: list[tuple[int, int]], smap: SourceMap,
               index: int) -> CaseResult:
    """Every expectation of ``case`` against the run's ``results``."""
    ignore = set(case.ignore)
    mismatches: list[Mismatch] = []
    checked = 0
    states = {i + 1: states_at(results, b) for i, (_, b) in enumerate(bounds)}
    for key in case.expect:
        exp = case.expected(key)
        rng = window_range(key)
        assert rng is not None
        span = smap.key_span(("tests", index, "expect", key))
        for i in range(rng[0], rng[1] + 1):
            at = states[i]
            for alert, s in at.items():
                if alert in ignore:
                    continue
                checked += 1
                want_fail = alert in exp.firing
                if want_fail != (s.firing == "fail"):
                    mismatches.append(Mismatch(i, alert, "firing" if want_fail else
                                               "not firing", s, span))
                if exp.warn is not None and (alert in exp.warn) != (s.firing == "warn"):
                    mismatches.append(Mismatch(i, alert, "firing at warn" if alert in exp.warn
                                               else "not firing at warn", s, span))
                if alert in exp.immature and s.status != "immature":
                    mismatches.append(Mismatch(i, alert, "immature", s, span))
    return CaseResult(case.name, [(_iso(a), _iso(b)) for a, b in bounds], checked, mismatches,
                      states)


def _aligned_start(program: Any, window_seconds: int) -> int:
    """The first midnight on or after 2026-01-01 at which every fixed-length window of the plan
    (and the test's) begins a new window (they count from Monday 1970-01-05)."""
    from planspec.compile import EPOCH

    specs = [r.window for r in program.rules] + [m.window for m in program.monitors]
    step = math.lcm(DAY, window_seconds)
    for spec in specs:
        if spec.unit != "mo":
            step = math.lcm(step, spec.step_seconds)
    t0 = int(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC).timestamp())
    return EPOCH + -(-(t0 - EPOCH) // step) * step


def run_plan_tests(path: str | FsPath) -> TestReport:
    """Load the test file at ``path`` and run every case through the engine.

    Bad input (a malformed test file, an unknown alert, a plan with errors) comes back as
    diagnostics with no cases run; data problems raise :class:`planspec.data.DataError`; an
    unreadable file raises :class:`OSError`.
    """
    from planspec.compile import compile_plan
    from planspec.diagnostics import has_errors
    from planspec.engine import run_program
    from planspec.load import PlanFileError, load_plan

    loaded = load_test_file(path)
    report = TestReport(loaded.file, "", [], loaded.diagnostics, loaded.text)
    if loaded.test is None or has_errors(loaded.diagnostics):
        return report
    test = loaded.test
    here = FsPath(path).parent
    plan_path = here / test.plan
    report.plan = str(plan_path)
    try:
        parsed = load_plan(plan_path)
    except PlanFileError as e:
        report.diagnostics.append(make("PS370", f"cannot read the plan: {e}",
                                       loaded.source_map.span(("plan",))))
        return report
    if parsed.plan is None or has_errors(parsed.diagnostics):
        report.diagnostics.append(make("PS370", f"the plan {plan_path} has errors (see "
                                       "`planspec validate`)", loaded.source_map.span(("plan",))))
        return report
    program = compile_plan(parsed.plan, parsed.source_map)
    found = check_test(test, program, loaded.source_map)
    window = test.window or parsed.plan.defaults.window
    if window.unit in ("mo", "q", "y"):
        found.append(make("PS370", f"test windows have a fixed length; `{window}` is a "
                          "calendar unit", loaded.source_map.span(("window",)),
                          "use days or weeks, e.g. `28d`"))
    if found:
        report.diagnostics += found
        return report
    profile = _baseline(program, test, here, window.seconds)
    start = (int(datetime.datetime(test.start.year, test.start.month, test.start.day,
                                   tzinfo=datetime.UTC).timestamp()) if test.start
             else _aligned_start(program, window.seconds))
    rows_per_day = test.rows_per_day or profile.rows * DAY / profile.span_seconds
    for i, case in enumerate(test.tests):
        syn = synthesize(program, profile, case, test.seed, start, window.seconds, rows_per_day)
        results = run_program(program, syn.scored, profile, outcomes=syn.outcomes or None,
                              as_of=syn.as_of)
        report.cases.append(judge_case(case, results, syn.bounds, loaded.source_map, i))
    return report


def _baseline(program: Any, test: PlanTest, here: FsPath, window_seconds: int) -> Any:
    """The test's baseline profile: read, built from data, or built from generated rows
    (calibrated when the plan has calibrated thresholds)."""
    from planspec.calibrate import calibrate_profile, calibrated_leaves
    from planspec.profile import build_profile, check_profile, read_profile

    spec = test.baseline
    if spec.profile is not None:
        profile = read_profile(str(here / spec.profile))
        check_profile(program, profile, spec.profile)
        return profile
    if spec.data is not None:
        data: Any = [str(here / p) for p in spec.data]
    else:
        g = spec.generate
        assert g is not None
        t0 = int(datetime.datetime(2025, 1, 6, tzinfo=datetime.UTC).timestamp())
        data = generate_baseline(program, g.rows, g.days, g.seed, t0)
    profile = build_profile(program, data)
    if calibrated_leaves(program):
        profile = calibrate_profile(program, profile, data, replays=1000)
    return profile


def report_json(report: TestReport) -> dict[str, Any]:
    """The report as plain data (``planspec test --format json``)."""
    def where(span: Span | None) -> dict[str, Any]:
        return {"line": span.line, "col": span.col} if span else {"line": None, "col": None}

    return {
        "file": report.file, "plan": report.plan, "passed": report.passed and
        not report.diagnostics,
        "cases": [{"name": c.name, "passed": c.passed, "checked": c.checked,
                   "windows": [list(w) for w in c.windows],
                   "mismatches": [{"window": m.window, "alert": m.alert, "expected": m.expected,
                                   "status": m.actual.status, "firing": m.actual.firing,
                                   "value": m.actual.value, "text": m.text(), **where(m.span)}
                                  for m in c.mismatches]} for c in report.cases],
        "diagnostics": [d.to_dict() for d in report.diagnostics]}
