"""Diagnostics as data: a located message with a stable code, and the functions that print them.

Codes never change meaning once published: ``PS1xx`` syntax, ``PS2xx`` shape (the plan's structure),
``PS3xx`` semantics, ``PS4xx`` data and run time.
"""

from __future__ import annotations

import difflib
import json
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
    "PS401": _c("data file unreadable", "A data file is missing, unreadable, or not Parquet/CSV.",
                "--data scored.parquet (no such file)"),
    "PS402": _c("missing column", "The data lacks a column the plan's checks read.",
                "the plan watches `sqft`; the file has `square_feet`"),
    "PS403": _c("wrong column type", "A column's values do not fit the type the plan declares.",
                "`sqft` declared numeric; the file has text such as 'approx 900'"),
    "PS404": _c("bad timestamp", "The timestamp column is missing values or cannot be read as "
                "times (ISO 8601, or a Parquet/Arrow timestamp).", "scored_at: 'last Tuesday'"),
    "PS405": _c("no data", "A data set, or the data inside the run's windows, has no rows.",
                "an empty scored.parquet"),
    "PS406": _c("baseline from another plan",
                "The baseline profile was built for a different plan (or plan version) than the "
                "one being checked; rebuild it with `planspec baseline`.",
                "baseline.json from last quarter's plan"),
    "PS407": _c("unreadable baseline profile",
                "The baseline profile is not a planspec profile, or has another format version.",
                "--baseline results.json"),
    "PS408": _c("unknown outcome source", "Outcomes were given for a source no outcome monitor "
                "of the plan uses.", "--outcomes inspector_audit=audits.parquet"),
    "PS409": _c("bad events file", "An events file names a drift risk the plan does not "
                "declare, or a record lacks a risk or a date.",
                '[{"risk": "rent_stabilisation_law", "date": "2026-07-01"}]'),
    "PS430": _c("store from another plan or baseline",
                "A sums store (`--store DIR`) holds sums gathered for another plan, baseline, "
                "bucket size, timestamp column or column type, which cannot be merged with "
                "this run's. A plan that only adds checks is accepted: their windows before "
                "the run that added them lack history. Use a new store directory.",
                "--store sums/ made with last quarter's baseline.json"),
    "PS431": _c("damaged store",
                "A sums store cannot be read: its CURRENT pointer, manifest or Parquet files are "
                "missing or damaged, or it was written by a newer planspec (format version).",
                "sums/CURRENT names a generation that is not there"),
}

# Segments and filters (issue 15): kept in their own block so they merge beside other additions.
CATALOGUE.update({
    "PS370": _c("unknown segment column",
                "`by` names a column the data schema does not declare.",
                "by: listing_sorce"),
    "PS371": _c("segment column not categorical",
                "`by` splits rows by the values of a categorical, boolean or class column; a "
                "numeric column has no fixed values to split by (bin it into a categorical "
                "column upstream), and free text has too many.",
                "by: listing_price"),
})


def make(code: str, message: str, span: Span | None = None, hint: str | None = None) -> Diagnostic:
    """A diagnostic with the severity the catalogue gives ``code``."""
    return Diagnostic(code, CATALOGUE[code].severity, message, span, hint)


def did_you_mean(name: str, choices: Iterable[str]) -> str | None:
    """A hint naming the closest choice, if one is close.

    >>> did_you_mean("listing_prise", ["listing_price", "sqft"])
    'did you mean `listing_price`?'
    """
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
            text = lines[s.line - 1]
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
