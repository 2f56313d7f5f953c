"""Diagnostics as data: a located message with a stable code, and the functions that print them.

Codes never change meaning once published: ``PS1xx`` syntax, ``PS2xx`` shape (the plan's structure),
``PS3xx`` semantics, ``PS4xx`` data and run time.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Span:
    """A region of a source file, 1-based, end inclusive of its last column."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int


@dataclass(frozen=True)
class Diagnostic:
    """One located finding about a plan or its data: code, severity, message and a hint."""

    code: str
    severity: Severity
    message: str
    span: Span | None = None
    hint: str | None = None

    def to_dict(self) -> dict[str, object]:
        """The JSON form: code, severity, message, file, line, col, end_line, end_col, hint."""
        where = asdict(self.span) if self.span else dict.fromkeys(
            ("file", "line", "col", "end_line", "end_col"))
        return {"code": self.code, "severity": self.severity, "message": self.message,
                **where, "hint": self.hint}


@dataclass(frozen=True)
class CodeInfo:
    """What a diagnostic code means, with a short example that raises it."""

    title: str
    severity: Severity
    explanation: str
    example: str


def _c(title: str, explanation: str, example: str, severity: Severity = "error") -> CodeInfo:
    return CodeInfo(title, severity, explanation, example)


CATALOGUE: dict[str, CodeInfo] = {
    "PS101": _c("YAML syntax error", "The file is not well-formed YAML.",
                "input_alerts:\n  - id: a\n   when: x"),
    "PS102": _c("condition syntax error",
                "A condition string does not follow the expression language.",
                'when: "psi(neighborhood) >"'),
    "PS103": _c("unknown statistic or metric",
                "A condition names a statistic or metric planspec does not know.",
                'when: "meen(listing_price) shift > 2 sd"'),
    "PS104": _c("duration without a unit",
                "Durations need a unit: s, m, h, d or w.", "window: 7"),
    "PS105": _c("malformed ratio", "A share is written as a fraction (0.8) or a percentage (80%).",
                "min_coverage: 80"),
    "PS106": _c("wrong arguments to a statistic",
                "A statistic got the wrong number or kind of arguments.",
                'when: "quantile(sqft) > 900"'),
    "PS107": _c("unknown part of a statistic",
                "Only tests (ks, chi2) have parts: `.statistic` and `.pvalue`.",
                'when: "psi(neighborhood).pvalue < 0.01"'),
    "PS108": _c("unclosed block", "A `{` has no matching `}` before the next item or the end.",
                "input alert a {\n  when psi(x) > 0.2\n\ninput alert b { … }"),
    "PS109": _c("unknown item", "A top-level line does not start with an item keyword "
                "(plan, model, data, defaults, input alert, output alert, outcome monitor, "
                "playbook, drift risk).", "inptu alert a { … }"),
    "PS110": _c("syntax error", "A `.plan` file does not follow the plan language here.",
                "input alert a { window = 7d }"),
    "PS150": _c("name too long", "A name (of a column, an alert, a key…) is longer than the 256 "
                "characters planspec reads; no plan needs one that long.",
                "input alert aaaa…(300 letters)… { … }"),
    "PS151": _c("blocks nested too deeply", "`{ … }` blocks nest more than 16 deep; a plan "
                "needs three levels at most.", "model m { a { b { c { … } } } }"),
    "PS152": _c("condition nested too deeply",
                "A condition's parentheses nest more than 32 deep; split it instead.",
                'when: "((((((((… psi(x) > 0.2 …))))))))"'),
    "PS201": _c("unknown key", "A key the plan format does not define; often a misspelling.",
                "input_alerts:\n  - id: a\n    wehn: psi(x) > 0.2"),
    "PS202": _c("missing key", "A required key is absent.",
                "input_alerts:\n  - when: psi(x) > 0.2"),
    "PS203": _c("wrong type or value", "A value has the wrong type or is out of its allowed range.",
                "min_samples: lots"),
    "PS204": _c("unknown choice", "A value must be one of a fixed set of words.",
                "task: binary_clasification"),
    "PS206": _c("duplicate key", "A mapping repeats a key; YAML would silently keep the last one.",
                "window: 7d\nwindow: 14d"),
    "PS205": _c("not a plan", "The file is empty or its top level is not a mapping.", "- a\n- b"),
    "PS252": _c("YAML tag in a plan", "A value carries a YAML tag (`!!python/object`, "
                "`!!binary`, `!custom`…). Plans hold plain values; tags are never run.",
                "owners: !!python/object/apply:os.system [echo hi]"),
    "PS253": _c("aliases expand too far", "YAML aliases repeat values so many times the plan "
                "would grow past its budget (a \"billion laughs\"); write values out instead.",
                "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]  # … nine levels deep"),
    "PS301": _c("duplicate id", "Ids of alerts, monitors, playbooks and risks must be unique.",
                "two alerts both with `id: price_shift`"),
    "PS302": _c("unknown playbook", "An alert, monitor, risk or escalation names a playbook that "
                "the plan does not define.", "playbook: investgate_inputs"),
    "PS303": _c("unknown column",
                "A condition names a column that the data schema does not declare.",
                'when: "mean(listing_prise) shift > 2 sd"'),
    "PS304": _c("statistic not valid for the column",
                "The statistic does not apply to the column's type (PSI on free text, "
                "chi-squared on a numeric column, a rate on a non-prediction column…).",
                'when: "chi2(sqft).pvalue < 0.01"'),
    "PS305": _c("impossible threshold", "The threshold lies outside what the statistic can take, "
                "so the condition can never (or always) hold.", 'when: "js(neighborhood) > 1.5"'),
    "PS306": _c("warn and fail in the wrong order",
                "The warn level must be reached before the fail level.",
                'when: "psi(x) > 0.1"\nwarn: "psi(x) > 0.2"'),
    "PS307": _c("window shorter than the cadence",
                "A window shorter than the plan's cadence leaves data that no check ever sees.",
                "cadence: 7d … window: 1d"),
    "PS308": _c("zero persistence", "`for` counts windows and must be at least 1.", "for: 0"),
    "PS309": _c("outcome monitor without a label delay",
                "Outcomes arrive late; a monitor must say how late (`label_delay`) or it scores "
                "windows before their labels exist.", "outcome_monitors: - id: m (no label_delay)"),
    "PS310": _c("outcome monitor without a join key",
                "A monitor must say how outcomes join predictions (`source.join_key`).",
                "source: {name: audits}"),
    "PS311": _c("playbook never triggered",
                "No alert, monitor, risk or escalation uses this playbook.",
                "playbooks: - id: orphan", "warning"),
    "PS312": _c("alert without a playbook",
                "When this fires nobody has been told what to do.", "an alert with no playbook",
                "warning"),
    "PS313": _c("drift risk not covered",
                "A drift risk affects a column no alert watches: a coverage gap.",
                "affects: [bedrooms] with no alert on bedrooms", "warning"),
    "PS314": _c("wrong unit on a threshold",
                "`shift` thresholds are in baseline SDs (`2 sd`), `change` thresholds are "
                "percentages (`50%`), and `%` only fits shares.", 'when: "mean(x) shift > 2"'),
    "PS315": _c("range not declared",
                "`out_of_range_rate` needs the column's valid `range` in the data schema.",
                'when: "out_of_range_rate(sqft) > 1%"'),
    "PS316": _c("empty zone", "A between zone needs its low bound below its high bound.",
                'when: "psi(x) between 0.3 and 0.1"'),
    "PS317": _c("alert on the wrong side",
                "Input alerts watch features; output alerts watch predictions; outcome monitors "
                "use quality metrics.", "an input alert on `p_within_10pct`"),
    "PS318": _c("unknown alert or monitor",
                "A reference names an alert or monitor the plan does not define.",
                "caught_by: [price_shfit]"),
    "PS319": _c("transform not valid for the statistic",
                "`shift` applies to location statistics (mean, quantile, min, max) and `change` "
                "to values with a baseline; divergences already compare with the baseline.",
                'when: "psi(x) change > 10%"'),
    "PS320": _c("slide longer than the window",
                "A sliding window moves by `every`, which must not exceed the window.",
                "window: 7d  every: 14d"),
    "PS321": _c("decision threshold out of range",
                "A probability's decision threshold lies in [0, 1].", "threshold: 50"),
    "PS322": _c("quantile out of range", "A quantile's level lies in [0, 1].",
                'when: "quantile(sqft, 90) > 2000"'),
    "PS323": _c("column declared twice",
                "A name is both a feature and a prediction, or the timestamp is also a feature.",
                "features: {p: …}  predictions: {p: …}"),
    "PS324": _c("unknown time zone",
                "`timezone` names an IANA time zone (e.g. `America/New_York`); days, weeks and "
                "months begin at its midnight.", "timezone: America/New_Yrok"),
    "PS325": _c("calendar window with a fixed step",
                "Months, quarters and years (`1mo`, `1q`, `1y`) vary in length: a window in them "
                "slides by them, and a window in days or hours does not slide by them.",
                "window: 1mo  every: 1d"),
    "PS326": _c("no predictions to watch",
                "The plan declares no `predictions` (a data feed without a model): output alerts "
                "and outcome monitors have nothing to watch.",
                "data: {…, no predictions}  output_alerts: [...]"),
    "PS327": _c("outcome monitor over a class prediction",
                "Quality metrics score a probability, score or value against a decision "
                "threshold; a `class` output has none. Monitor a probability or score output.",
                "predictions: {label: {kind: class}}  outcome_monitors: [{prediction: label}]"),
    "PS328": _c("outcome source without a time",
                "An outcome source says when each outcome became known: a `time` column, or "
                "`known_at: prediction + 30d` when it has none (not both).",
                "source: {name: audits, label: y}"),
    "PS360": _c("threshold cannot be calibrated",
                "`calibrated(…)` takes its threshold from replaying the baseline, so it applies "
                "to drift statistics only: outcome metrics have no outcomes in the baseline and "
                "`count` is the window's size itself.", 'when: "precision < calibrated(5%)"'),
    "PS361": _c("calibrated rate out of range",
                "A calibrated threshold's false-alarm rate per window lies strictly between 0 "
                "and 50%.", 'when: "psi(x) > calibrated(60%)"'),
    "PS362": _c("alert cries wolf",
                "With a baseline (`validate --baseline`): replayed windows of the alert's expected "
                "size with no drift at all reach its `fail` level more often than 5% of the "
                "time. The hint gives the threshold the baseline exceeds in 1% of windows, or "
                "use `calibrated(1%)`.", 'when: "js(neighborhood) > 0.05" on 200-row windows',
                "warning"),
    "PS363": _c("alert misses large shifts",
                "With a baseline (`validate --baseline`): the alert needs a mean shift of more "
                "than 1 baseline SD to fire in 80% of windows. The hint gives a threshold that "
                "catches a 1-SD shift with 80% power.", 'when: "mean(x) shift > 3 sd"',
                "warning"),
    "PS370": _c("malformed plan test file",
                "A plan test file (`planspec test`) has an unknown or missing key, a value of the "
                "wrong type, a window number outside its case, or a plan that cannot be used. "
                "The message says which, located, with \"did you mean\" for a misspelt key.",
                "tests:\n  - name: price shift\n    window: 6   # `windows`"),
    "PS371": _c("unknown alert in a plan test",
                "A plan test expects (or ignores) an alert or outcome monitor that the plan does "
                "not define; `immature` takes outcome monitors only.",
                "expect:\n  3: [price_mean_shfit]"),
    "PS372": _c("unknown recipe in a plan test",
                "A change in a plan test names a recipe planspec does not know. The recipes: "
                "no_drift, mean_shift, share, missing, out_of_range, new_categories, volume, "
                "label_delay, quality_drop.",
                "changes:\n  - {from: 3, mean_shfit: {column: sqft, sd: 1}}"),
    "PS373": _c("recipe does not fit its column or monitor",
                "A recipe names a column the plan does not declare, a column of the wrong type "
                "(a mean shift needs a numeric column, a share a categorical or boolean one, "
                "out-of-range values a declared range), a column no check reads, or an "
                "outcome monitor the plan does not have.",
                "changes:\n  - {from: 3, mean_shift: {column: neighborhood, sd: 1}}"),
    "PS401": _c("data file unreadable", "A data file is missing, a directory, a FIFO or device, "
                "unreadable, not Parquet/CSV, or damaged (a Parquet file cut short, a CSV row "
                "with more fields than the header); the message says which, and where.",
                "--data scored.parquet (no such file)"),
    "PS402": _c("missing column", "The data lacks a column the plan's checks read.",
                "the plan watches `sqft`; the file has `square_feet`"),
    "PS403": _c("wrong column type", "A column's values do not fit the type the plan declares.",
                "`sqft` declared numeric; the file has text such as 'approx 900'"),
    "PS404": _c("bad timestamp", "The timestamp column is missing values, cannot be read as "
                "times (ISO 8601 text, zoned or not, or a Parquet/Arrow timestamp), or holds a "
                "time outside the years 1000–8999 (usually a placeholder such as 9999-12-31).",
                "scored_at: 'last Tuesday'"),
    "PS405": _c("no data", "A data set, or the data inside the run's windows, has no rows.",
                "an empty scored.parquet"),
    "PS406": _c("baseline from another plan",
                "The baseline profile was built for a different plan (or plan version) than the "
                "one being checked; rebuild it with `planspec baseline`.",
                "baseline.json from last quarter's plan"),
    "PS407": _c("unreadable baseline profile",
                "The baseline profile is not JSON, not a planspec profile, has another format "
                "version, or a field of the wrong type (the message names the field, with its "
                "line and column).", "--baseline results.json"),
    "PS408": _c("unknown outcome source", "Outcomes were given for a source no outcome monitor "
                "of the plan uses.", "--outcomes inspector_audit=audits.parquet"),
    "PS409": _c("bad events file", "An events file names a drift risk the plan does not "
                "declare, or a record lacks a risk or a date.",
                '[{"risk": "rent_stabilisation_law", "date": "2026-07-01"}]'),
    "PS410": _c("data source unreachable",
                "A database does not answer, refuses the connection or the credentials, or its "
                "driver is not installed. Passwords come from PGPASSWORD or ~/.pgpass.",
                "--data postgresql://ml@db.example/ml?table=scored (server down)"),
    "PS411": _c("data source query failed",
                "The database has no such table, or the source's query fails.",
                "--data duckdb:demo.duckdb?table=scord"),
    "PS430": _c("store from another plan or baseline",
                "A sums store (`--store DIR`) holds sums gathered for another plan, baseline, "
                "bucket size, time zone (whose midnights cut its days), timestamp column or "
                "column type, which cannot be merged with this run's. A plan that only adds "
                "checks is accepted: their windows before the run that added them lack "
                "history. Use a new store directory.",
                "--store sums/ made with last quarter's baseline.json"),
    "PS431": _c("damaged store",
                "A sums store cannot be read: its CURRENT pointer, manifest or Parquet files are "
                "missing or damaged, or it was written by a newer planspec (format version).",
                "sums/CURRENT names a generation that is not there"),
    "PS412": _c("Dask engine cannot run",
                "`--engine dask` could not run: its scheduler (`--scheduler ADDRESS`) does not "
                "answer, dask and distributed are not installed (`pip install planspec[dask]`), "
                "or the data is not something Dask workers can read (files, globs, Parquet "
                "dataset directories, or a dask DataFrame in the Python API).",
                "--engine dask --scheduler tcp://10.0.0.9:8786 (no scheduler there)"),
    "PS440": _c("inconsistent baseline profile",
                "A baseline profile breaks an invariant the engine relies on: no rows, a span "
                "that is not positive, a moment that is not a finite number, edges out of "
                "order, counts that are negative, do not sum to the present values or do not "
                "match their edges or categories. The message names the field with its line "
                "and column; rebuild the profile with `planspec baseline`.",
                '"decile_counts": [50, 50] for nine `decile_edges`'),
    "PS441": _c("baseline column without values",
                "A check compares a column with the baseline (a distribution test, a quantile, "
                "new categories, a `shift` or `change`), but every baseline row misses that "
                "column. Profile a period where it is recorded, or drop those checks: its "
                "missing rate, rates and absolute thresholds need no baseline values.",
                "ks(sqft) > 0.1 with a baseline whose `sqft` is all null"),
    "PS442": _c("too many buckets",
                "The data's times span so long a period that the per-bucket sums would pass "
                "planspec's budget (buckets × bins of the widest histogram ≤ 67,108,864 "
                "cells, 512 MiB). Check a later period (`--since`, or filter the data), or "
                "use longer windows; a time such as 1000-01-01 is usually a placeholder.",
                "scored_at from 1000-01-01 to 2026-11-29 with daily windows and `ks(sqft)`"),
    "PS443": _c("column named twice",
                "The data has two or more columns with a name the plan reads, so planspec "
                "cannot tell which one to use. Rename or drop the copies.",
                "a CSV header `scored_at,sqft,sqft,…`"),
}

# Segments and filters (issue 15): kept in their own block so they merge beside other additions.
CATALOGUE.update({
    "PS380": _c("unknown segment column",
                "`by` names a column the data schema does not declare.",
                "by: listing_sorce"),
    "PS381": _c("segment column not categorical",
                "`by` splits rows by the values of a categorical, boolean or class column; a "
                "numeric column has no fixed values to split by (bin it into a categorical "
                "column upstream), and free text has too many.",
                "by: listing_price"),
    "PS382": _c("unknown filter column",
                "A `where` filter reads a column the data schema does not declare.",
                'where: listing_sorce == "aggregator"'),
    "PS383": _c("filter value of the wrong type",
                "A `where` filter compares a column with a value of another type: a number "
                "with a categorical or boolean column, or text with a numeric one. Such a "
                "test would keep no rows (or every row).",
                "where: listing_source == 3"),
    "PS384": _c("filter orders a categorical column",
                "`<`, `<=`, `>` and `>=` compare numbers; a categorical or boolean column's "
                "values have no order.",
                'where: listing_source > "aggregator"'),
})

FIXES_SEGMENTS = {
    "PS380": "by: listing_source   # a declared categorical or boolean column",
    "PS381": "by: listing_source   # or a categorical column binned upstream",
    "PS382": 'where: listing_source == "aggregator"',
    "PS383": 'where: listing_source == "aggregator"   # or a numeric column: sqft > 3',
    "PS384": 'where: listing_source in ["aggregator", "owner_site"]',
}


def make(code: str, message: str, span: Span | None = None, hint: str | None = None) -> Diagnostic:
    """A diagnostic with the severity the catalogue gives ``code``."""
    return Diagnostic(code, CATALOGUE[code].severity, message, span, hint)


_PASSWORD = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^@\s]*@")


def mask_passwords(text: str) -> str:
    """``text`` with the password of every URI in it shown as ``***``: a source line or a
    message never prints a credential.

    >>> mask_passwords("source: postgresql://ana:s3cret@db/ml?table=scored")
    'source: postgresql://ana:***@db/ml?table=scored'
    """
    return _PASSWORD.sub(r"\1:***@", text)


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest choice, if one is close.

    >>> did_you_mean("listing_prise", ["listing_price", "sqft"])
    'did you mean `listing_price`?'
    """
    if len(name) > 100:  # no name is that long; difflib would take quadratic time on it
        return None
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    """Whether any diagnostic is an error (warnings alone leave a plan valid)."""
    return any(d.severity == "error" for d in diagnostics)


def sort_key(d: Diagnostic) -> tuple[object, ...]:
    """Order diagnostics by file and position, unlocated ones first."""
    s = d.span
    return (s.file, s.line, s.col, d.code) if s else ("", 0, 0, d.code)


def format_text(d: Diagnostic, sources: dict[str, str] | None = None) -> str:
    """The human form, in the manner of rustc: header, location, source line with a caret, hint."""
    out = [f"{d.severity}[{d.code}]: {d.message}"]
    s = d.span
    if s:
        out.append(f"  --> {s.file}:{s.line}:{s.col}")
        lines = (sources or {}).get(s.file, "").splitlines()
        if 0 < s.line <= len(lines):
            text = mask_passwords(lines[s.line - 1])
            width = (s.end_col - s.col + 1) if s.end_line == s.line else len(text) - s.col + 1
            gutter = " " * len(str(s.line))
            out += [f"{gutter} |", f"{s.line} | {text}",
                    f"{gutter} | {' ' * (s.col - 1)}{'^' * max(1, width)}"]
    if d.hint:
        out.append(f"  = help: {d.hint}")
    return "\n".join(out)


def format_github(d: Diagnostic) -> str:
    """A GitHub Actions workflow command, so the finding shows on the pull request's diff."""
    kind = "error" if d.severity == "error" else "warning"
    msg = d.message + (f" ({d.hint})" if d.hint else "")
    msg = msg.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if d.span is None:
        return f"::{kind} title={d.code}::{msg}"
    s = d.span
    return (f"::{kind} file={s.file},line={s.line},col={s.col},endLine={s.end_line},"
            f"endColumn={s.end_col},title={d.code}::{msg}")


def format_json(diagnostics: Sequence[Diagnostic]) -> str:
    """A JSON array of diagnostics (see :meth:`Diagnostic.to_dict`)."""
    return json.dumps([d.to_dict() for d in diagnostics], indent=2)


class PlanError(ValueError):
    """A plan with errors was given where a valid plan is needed (e.g. :func:`compile_plan`).

    ``diagnostics`` holds every finding (errors and warnings), sorted by position; the message
    names the first error.
    """

    def __init__(self, diagnostics: Sequence[Diagnostic], file: str | None = None) -> None:
        self.diagnostics = tuple(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        first = errors[0] if errors else None
        where = f"{first.span.file}:{first.span.line}:{first.span.col}: " \
            if first and first.span else (f"{file}: " if file else "")
        what = f"error[{first.code}]: {first.message}" if first else "the plan did not parse"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{where}{what}{more}")


#: For each code, the example of :data:`CATALOGUE` put right (``planspec explain`` shows both).
FIXES: dict[str, str] = {
    "PS101": "input_alerts:\n  - id: a\n    when: x   # keys of one mapping line up",
    "PS102": 'when: "psi(neighborhood) > 0.2"',
    "PS103": 'when: "mean(listing_price) shift > 2 sd"',
    "PS104": "window: 7d",
    "PS105": "min_coverage: 80%   # or 0.8",
    "PS106": 'when: "quantile(sqft, 0.9) > 900"',
    "PS107": 'when: "psi(neighborhood) > 0.2"   # or ks(x).pvalue < 0.01 for a test',
    "PS108": "input alert a {\n  when psi(x) > 0.2\n}\n\ninput alert b { … }",
    "PS109": "input alert a { … }",
    "PS110": "input alert a { window 7d }",
    "PS201": "input_alerts:\n  - id: a\n    when: psi(x) > 0.2",
    "PS202": "input_alerts:\n  - id: a\n    when: psi(x) > 0.2",
    "PS203": "min_samples: 200",
    "PS204": "task: binary_classification",
    "PS205": "plan: my_plan\nmodel: { … }\ndata: { … }",
    "PS206": "window: 14d   # once",
    "PS301": "give each alert its own id: `price_shift` and `price_shift_weekly`",
    "PS302": "playbook: investigate_inputs   # the id of a playbook the plan defines",
    "PS303": 'when: "mean(listing_price) shift > 2 sd"   # a column the data schema declares',
    "PS304": 'when: "ks(sqft).pvalue < 0.01"   # chi2 is for categorical columns',
    "PS305": 'when: "js(neighborhood) > 0.15"   # JS distance lies in [0, 1]',
    "PS306": 'when: "psi(x) > 0.2"\nwarn: "psi(x) > 0.1"',
    "PS307": "cadence: 1d … window: 7d   # or a cadence as short as the window",
    "PS308": "for: 1",
    "PS309": "outcome_monitors:\n  - id: m\n    label_delay: 21d",
    "PS310": "source: {name: audits, join_key: listing_id}",
    "PS311": "name the playbook in an alert (`playbook: orphan`) or remove it",
    "PS312": "playbook: investigate_inputs",
    "PS313": "add an alert on `bedrooms`, or drop it from `affects`",
    "PS314": 'when: "mean(x) shift > 2 sd"',
    "PS315": "sqft: {type: numeric, range: [100, 10000]}",
    "PS316": 'when: "psi(x) between 0.1 and 0.3"',
    "PS317": "an output alert on `p_within_10pct`",
    "PS318": "caught_by: [price_shift]",
    "PS319": 'when: "psi(x) > 0.1"',
    "PS320": "window: 14d  every: 7d",
    "PS321": "threshold: 0.5",
    "PS322": 'when: "quantile(sqft, 0.9) > 2000"',
    "PS323": "one name per column: `features: {p_raw: …}  predictions: {p: …}`",
    "PS370": "tests:\n  - name: price shift\n    windows: 6",
    "PS371": "expect:\n  3: [price_mean_shift]   # an alert id of the plan",
    "PS372": "changes:\n  - {from: 3, mean_shift: {column: sqft, sd: 1}}",
    "PS373": "changes:\n  - {from: 3, share: {column: neighborhood, to: 60%}}",
    "PS401": "--data scored.parquet   # an existing Parquet or CSV file, or a glob",
    "PS402": "rename the column to `sqft`, or declare `square_feet` in the plan",
    "PS403": "clean the column to numbers, or declare it `categorical`",
    "PS404": "scored_at: 2026-03-02T14:00:00Z",
    "PS405": "a data file with rows in the windows checked (or a later --as-of)",
    "PS406": "planspec baseline PLAN --data baseline.parquet -o baseline.json",
    "PS407": "--baseline baseline.json   # written by `planspec baseline`",
    "PS408": "--outcomes inspector_audits=audits.parquet   # a source the plan declares",
    "PS409": '[{"risk": "rent_stabilization_law", "date": "2026-07-01"}]',
    "PS410": "start the server, or set PGPASSWORD / ~/.pgpass; `pip install planspec[postgres]`",
    "PS411": "--data duckdb:demo.duckdb?table=scored   # a table (or query) that exists",
    "PS412": "--scheduler tcp://HOST:8786 (what `dask scheduler` prints), or leave it out for a "
             "local cluster; `pip install planspec[dask]`",
    "PS150": "id: price_mean_shift   # a short name (at most 256 characters)",
    "PS151": "alert a { ... }   # blocks nest a few levels, never hundreds",
    "PS152": "when psi(a) > 0.2 or psi(b) > 0.2   # a flat list, not nested parentheses",
    "PS252": "window: 7d   # plain values: no !!tags",
    "PS253": "repeat the few values you need instead of aliases that multiply",
    "PS430": "--store sums-2026q4/   # a new store for the new baseline",
    "PS431": "--store sums-new/   # or restore the store's directory from a backup",
    "PS440": "planspec baseline PLAN --data baseline.parquet -o baseline.json   # rebuild it",
    "PS441": "profile a baseline period where the column is recorded",
    "PS442": "--since 2026-01-01   # or longer windows",
    "PS443": "one column per name: rename or drop the copies",
    "PS324": "timezone: America/New_York   # an IANA time zone name",
    "PS325": "window: 1mo   # calendar windows slide by calendar units, or not at all",
    "PS326": "predictions: {p: {kind: probability, threshold: 0.5}}   # or drop output alerts",
    "PS327": "prediction: p   # a probability or score output, not a class",
    "PS328": "known_at: prediction + 30d   # or a `time` column, not both",
    "PS360": 'when: "psi(neighborhood) > calibrated(1%)"   # a drift statistic',
    "PS361": "calibrated(1%)   # a rate between 0 and 50%",
    "PS362": 'when: "js(neighborhood) > calibrated(1%)"   # or the threshold in the hint',
    "PS363": 'when: "mean(x) shift > 0.5 sd"   # or the threshold in the hint',
}
FIXES.update(FIXES_SEGMENTS)  # issue 15, kept apart as its catalogue block is
