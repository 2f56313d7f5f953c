"""The command line: argument parsing, output formats and exit codes over the quiet library."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from planspec import __version__
from planspec._io import write_atomic
from planspec.data import DataError
from planspec.diagnostics import (
    CATALOGUE,
    Diagnostic,
    format_github,
    format_json,
    format_text,
    has_errors,
)
from planspec.load import PlanFileError, load_plan
from planspec.model import Plan
from planspec.render import render_report, render_results_text, render_runbook, render_summary
from planspec.results import Results
from planspec.source import ParsedPlan

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"planspec: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    findings: list[Diagnostic] = []
    sources: dict[str, str] = {}
    summaries: list[str] = []
    for path in args.plans:
        try:
            parsed = load_plan(path)
        except PlanFileError as e:
            print(f"planspec: error: {e}", file=sys.stderr)
            return EXIT_USAGE
        findings += parsed.diagnostics
        sources[parsed.source_map.file] = parsed.text
        if parsed.plan is not None and not has_errors(parsed.diagnostics):
            summaries.append(render_summary(parsed))
    if args.format == "json":
        out.write(format_json(findings) + "\n")
    elif args.format == "github":
        out.writelines(format_github(d) + "\n" for d in findings)
    else:
        for d in findings:
            out.write(format_text(d, sources) + "\n\n")
        if not args.quiet:
            out.writelines(summaries)
        errors = sum(d.severity == "error" for d in findings)
        warnings = len(findings) - errors
        if findings:
            out.write(f"{errors} error{'s' * (errors != 1)}, "
                      f"{warnings} warning{'s' * (warnings != 1)}\n")
    return EXIT_FINDINGS if has_errors(findings) else EXIT_OK


def _cmd_schema(args: argparse.Namespace, out: TextIO) -> int:
    schema = Plan.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "planspec monitoring plan"
    out.write(json.dumps(schema, indent=2) + "\n")
    return EXIT_OK


def _cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    code = args.code.upper()
    info = CATALOGUE.get(code)
    if info is None:
        print(f"planspec: error: no diagnostic has the code {args.code!r}; codes run "
              f"{min(CATALOGUE)}–{max(CATALOGUE)}", file=sys.stderr)
        return EXIT_USAGE
    example = "\n".join("    " + line for line in info.example.splitlines())
    out.write(f"{code} ({info.severity}): {info.title}\n\n{info.explanation}\n\n"
              f"Example that raises it:\n\n{example}\n")
    return EXIT_OK


def _valid_plan(path: str) -> ParsedPlan | int:
    """The parsed plan, or an exit code after printing why it cannot be used."""
    try:
        parsed = load_plan(path)
    except PlanFileError as e:
        print(f"planspec: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    if parsed.plan is None or has_errors(parsed.diagnostics):
        for d in parsed.diagnostics:
            print(format_text(d, {parsed.source_map.file: parsed.text}) + "\n", file=sys.stderr)
        print(f"planspec: error: {path} is not a valid plan (see `planspec validate`)",
              file=sys.stderr)
        return EXIT_USAGE
    return parsed


def _data_error(e: DataError) -> None:
    print(f"error[{e.code}]: {e.message}", file=sys.stderr)
    if e.hint:
        print(f"  = help: {e.hint}", file=sys.stderr)


def _progress(enabled: bool) -> Callable[[str], None] | None:
    if not enabled:
        return None
    return lambda msg: print(f"planspec: {msg}…", file=sys.stderr, flush=True)


def _write(out_path: str | None, text: str, out: TextIO, what: str | None = None) -> None:
    """To ``out_path`` atomically (saying so on stderr when ``what`` names it), or to ``out``."""
    if out_path:
        write_atomic(out_path, text)
        if what:
            print(f"planspec: {what} written to {out_path}", file=sys.stderr)
    else:
        out.write(text)


def _cmd_baseline(args: argparse.Namespace, out: TextIO) -> int:
    from planspec.compile import compile_plan
    from planspec.profile import build_profile

    parsed = _valid_plan(args.plan)
    if isinstance(parsed, int):
        return parsed
    assert parsed.plan is not None
    program = compile_plan(parsed.plan, parsed.source_map)
    try:
        profile = build_profile(program, args.data)
    except DataError as e:
        _data_error(e)
        return EXIT_FINDINGS
    _write(args.output, profile.model_dump_json(indent=1) + "\n", out,
           f"baseline of {profile.rows:,} rows")
    return EXIT_OK


def _outcome_args(values: list[str]) -> dict[str, list[str]]:
    """`NAME=PATH` or a path whose file name (before its suffix) is the source's name."""
    out: dict[str, list[str]] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            path = value
            name = Path(value).name.split(".")[0]
        out.setdefault(name, []).append(path)
    return out


def _cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    from planspec.compile import compile_plan
    from planspec.data import read_events
    from planspec.engine import run_program
    from planspec.profile import load_profile

    parsed = _valid_plan(args.plan)
    if isinstance(parsed, int):
        return parsed
    assert parsed.plan is not None
    progress = _progress(sys.stderr.isatty() and not args.quiet)
    try:
        events = read_events(args.events, [r.id for r in parsed.plan.drift_risks]) \
            if args.events else None
        program = compile_plan(parsed.plan, parsed.source_map, events)
        baseline: object = args.baseline
        if len(args.baseline) == 1 and args.baseline[0].endswith(".json"):
            try:
                text = Path(args.baseline[0]).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise DataError("PS407", f"{args.baseline[0]}: cannot read it: {e}") from None
            baseline = load_profile(text, args.baseline[0])
        if args.store and args.engine == "dask":
            print("planspec: error: --store runs on the local engine (a nightly run reads one "
                  "day); leave out --engine dask", file=sys.stderr)
            return EXIT_USAGE
        if args.scheduler and args.engine != "dask":
            print("planspec: error: --scheduler needs --engine dask", file=sys.stderr)
            return EXIT_USAGE
        if args.store:
            results = _check_store(args, program, baseline, progress)
        elif not args.data:
            print("planspec: error: check needs --data (or --store DIR)", file=sys.stderr)
            return EXIT_USAGE
        else:
            results = run_program(program, args.data, baseline, progress,
                                  outcomes=_outcome_args(args.outcomes or []), as_of=args.as_of,
                                  engine=args.engine, scheduler=args.scheduler)
    except DataError as e:
        _data_error(e)
        return EXIT_USAGE
    if args.format == "json":
        text = results.model_dump_json(indent=1) + "\n"
    elif args.format == "markdown":
        text = render_report(results)
    elif args.format in OUTPUT_FORMATS:
        text = OUTPUT_FORMATS[args.format](results)
    else:
        colour = not args.output and out.isatty() and "NO_COLOR" not in os.environ
        text = render_results_text(results, colour=colour)
    _write(args.output, text, out)
    _write_metrics(args, results)
    return results.exit_code(args.fail_on)


def _check_store(args: argparse.Namespace, program: Any, baseline: object,
                 progress: Callable[[str], None] | None) -> Results:
    """`check --store`: merge the new data's sums into the store, judge from the store, and
    say what was skipped, re-judged or lacks history."""
    from planspec.engine.run import run_store

    results, report = run_store(program, args.data or [], baseline, args.store, progress,
                                outcomes=_outcome_args(args.outcomes or []), as_of=args.as_of,
                                where_plan=args.plan, where_baseline=" ".join(args.baseline))
    for where, before in report.skipped:
        same = "" if where == before else f" (as {before})"
        print(f"planspec: skipped {where}: the store already holds its content{same}",
              file=sys.stderr)
    if report.late_buckets:
        late = report.late_buckets
        print(f"planspec: late rows for {len(late)} bucket{'s' * (len(late) != 1)} the store "
              f"already held ({late[0]} to {late[-1]}): their windows were re-judged",
              file=sys.stderr)
    for check_id, start in sorted(report.lacking.items()):
        print(f"planspec: {check_id} has history from {start} only (the store began "
              "gathering its sums then): earlier windows are insufficient_data", file=sys.stderr)
    if not args.quiet:
        rows = sum(i.rows for i in report.ingested)
        print(f"planspec: store {report.store}: {len(report.ingested)} new input"
              f"{'s' * (len(report.ingested) != 1)} ({rows:,} rows), {report.history_added} "
              f"judged windows added to its history", file=sys.stderr)
    return results


def _cmd_store_info(args: argparse.Namespace, out: TextIO) -> int:
    from planspec.engine.store import store_info

    try:
        info = store_info(args.store)
    except DataError as e:
        _data_error(e)
        return EXIT_USAGE
    if args.format == "json":
        out.write(json.dumps(info, indent=1) + "\n")
        return EXIT_OK
    size = info["bucket"]
    lines = [f"store {args.store} (format {info['format']}, generation {info['generation']})",
             f"  plan:      {info['plan']} ({info['plan_fingerprint']})",
             f"  baseline:  {info['baseline_fingerprint']}",
             f"  buckets:   {info['buckets']:,} of {size:,} s on `{info['timestamp']}`, from "
             f"{info['first_bucket']}",
             f"  data:      {info['rows']:,} rows, {info['start']} to {info['end']}",
             f"  runs:      {info['runs']} (last written {info['written']}), "
             f"{info['history_rows']:,} judged windows in the history",
             f"  columns:   {len(info['columns'])} "
             f"({', '.join(sorted(info['columns']))})"]
    for column, fams in sorted(info["since"].items()):
        for family, start in sorted(fams.items()):
            lines.append(f"  history of `{column}` {family} from {start} only")
    lines.append(f"  files ingested: {len(info['files'])}")
    lines += [f"    {f['where']}: {f['rows']:,} rows, {f['start']} to {f['end']} "
              f"({f['fingerprint'][:19]}…)" for f in info["files"]]
    firing = info["firing"]
    lines.append(f"  firing at the last run: {len(firing)}")
    lines += [f"    {f['id']}: {f['level']} since {f['since']}" for f in firing]
    out.write("\n".join(lines) + "\n")
    return EXIT_OK


def _cmd_fmt(args: argparse.Namespace, out: TextIO) -> int:
    import difflib

    from planspec.format import format_plan, format_yaml
    from planspec.load import PLAN_SUFFIXES, parse_text

    status = EXIT_OK
    if (args.write or args.output) and len(args.plans) > 1 and args.output:
        print("planspec: error: -o takes one plan", file=sys.stderr)
        return EXIT_USAGE
    for path in args.plans:
        try:
            text = Path(path).read_text(encoding="utf-8-sig")
            parsed = parse_text(text, path)
        except (OSError, UnicodeDecodeError, PlanFileError) as e:
            print(f"planspec: error: {path}: {e}", file=sys.stderr)
            return EXIT_USAGE
        if parsed.plan is None or has_errors(parsed.diagnostics):
            for d in parsed.diagnostics:
                print(format_text(d, {path: text}) + "\n", file=sys.stderr)
            print(f"planspec: error: {path} cannot be formatted until it parses",
                  file=sys.stderr)
            return EXIT_USAGE
        source = "plan" if path.endswith(PLAN_SUFFIXES) else "yaml"
        target = args.to or source
        if args.write and target != source:
            print("planspec: error: -w rewrites a plan in its own surface; use -o to convert",
                  file=sys.stderr)
            return EXIT_USAGE
        canonical = (format_plan(parsed.plan, parsed.comments) if target == "plan"
                     else format_yaml(parsed.plan))
        if args.check:
            if canonical != text:
                status = EXIT_FINDINGS
                out.writelines(difflib.unified_diff(
                    text.splitlines(keepends=True), canonical.splitlines(keepends=True),
                    fromfile=path, tofile=f"{path} (formatted)"))
            continue
        if args.write:
            if canonical != text:
                write_atomic(path, canonical)
                print(f"planspec: reformatted {path}", file=sys.stderr)
        else:
            _write(args.output, canonical, out)
    return status


def _cmd_render(args: argparse.Namespace, out: TextIO) -> int:
    parsed = _valid_plan(args.plan)
    if isinstance(parsed, int):
        return parsed
    _write(args.output, render_runbook(parsed), out, "runbook")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    results = _read_results(args.results)
    if isinstance(results, int):
        return results
    text = OUTPUT_FORMATS["html"](results) if args.format == "html" else render_report(results)
    _write(args.output, text, out, "report")
    return EXIT_OK


def _render_html(results: Results) -> str:
    from planspec.report_html import render_html

    return render_html(results)


def _render_openmetrics(results: Results) -> str:
    from planspec.metrics import render_openmetrics

    return render_openmetrics(results)


#: Output formats of `check` and `report` beyond text, JSON and markdown.
OUTPUT_FORMATS: dict[str, Callable[[Results], str]] = {
    "html": _render_html, "openmetrics": _render_openmetrics}


def _write_metrics(args: argparse.Namespace, results: Results) -> None:
    """`check --metrics FILE`: OpenMetrics beside the main output."""
    if getattr(args, "metrics", None):
        _write(args.metrics, _render_openmetrics(results), sys.stdout, "metrics")


def _cmd_notify(args: argparse.Namespace, out: TextIO) -> int:
    import datetime

    from planspec.notify import NotifyError, State, notify, parse_target

    results = _read_results(args.results)
    if isinstance(results, int):
        return results
    try:
        targets = [parse_target(t) for t in args.to]
        state = State()
        if args.state and Path(args.state).exists():
            state = State.loads(Path(args.state).read_text(encoding="utf-8"))
    except (NotifyError, OSError, UnicodeDecodeError) as e:
        print(f"planspec: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.state and not Path(args.state).resolve().parent.is_dir():
        print(f"planspec: error: {args.state}: its folder does not exist", file=sys.stderr)
        return EXIT_USAGE
    if args.timeout <= 0 or args.retries < 0:
        print("planspec: error: --timeout must be positive and --retries at least 0",
              file=sys.stderr)
        return EXIT_USAGE
    deliveries = notify(results, targets, state, runbook_url=args.runbook_url,
                        timeout=args.timeout, retries=args.retries, backoff=args.backoff,
                        now=datetime.datetime.now(datetime.UTC))
    for d in deliveries:
        what = f"{d.event.status} ({d.event.reason}, {d.event.level}) {d.event.key}"
        if d.error is None:
            out.write(f"sent {what} to {d.target.name}\n")
        else:
            print(f"planspec: error: {d.target.name}: {what} not delivered: {d.error}",
                  file=sys.stderr)
    if not deliveries:
        out.write("nothing new to notify\n")
    if args.state:
        write_atomic(args.state, state.dumps())
    return EXIT_USAGE if any(d.error for d in deliveries) else EXIT_OK


def _read_results(path: str) -> Results | int:
    """Results read from a results JSON file, or an exit code after saying why not."""
    from pydantic import ValidationError

    try:
        return Results.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        print(f"planspec: error: {path}: {e}", file=sys.stderr)
    except ValidationError as e:
        first = e.errors()[0]
        print(f"planspec: error: {path} is not planspec results JSON "
              f"({'.'.join(map(str, first['loc']))}: {first['msg']})", file=sys.stderr)
    return EXIT_USAGE


def _add_notify(sub: argparse._SubParsersAction[_Parser]) -> None:
    n = sub.add_parser("notify", help="send firing alerts to webhooks, Slack or Alertmanager")
    n.add_argument("results", metavar="RESULTS.json")
    n.add_argument("--to", nargs="+", required=True, metavar="TARGET",
                   help="webhook:URL, slack:URL or alertmanager:URL")
    n.add_argument("--state", metavar="FILE",
                   help="what was already delivered (read, then rewritten atomically); "
                   "without it every firing alert is sent")
    n.add_argument("--runbook-url", metavar="URL",
                   help="link to the runbook ({check} is replaced by the check id)")
    n.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    n.add_argument("--retries", type=int, default=3, help="tries after the first")
    n.add_argument("--backoff", type=float, default=1.0,
                   help="seconds before the first retry (doubling)")
    n.set_defaults(run=_cmd_notify)


def _cmd_demo_data(args: argparse.Namespace, out: TextIO) -> int:
    from planspec.demo import write_demo_data

    if args.rows < 1:
        print("planspec: error: --rows must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    paths = write_demo_data(Path(args.out), rows=args.rows, seed=args.seed)
    for name, path in paths.items():
        out.write(f"{name}: {path}\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand."""
    p = _Parser(prog="planspec", description="Monitoring plans for deployed ML models: "
                "write, validate, compile, run and render them.")
    p.add_argument("--version", action="version", version=f"planspec {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    v = sub.add_parser("validate", help="parse and check plans; exit 1 on errors")
    v.add_argument("plans", nargs="+", metavar="PLAN")
    v.add_argument("--format", choices=("text", "json", "github"), default="text")
    v.add_argument("-q", "--quiet", action="store_true", help="no summary of valid plans")
    v.set_defaults(run=_cmd_validate)

    s = sub.add_parser("schema", help="print the JSON Schema of the YAML plan form")
    s.set_defaults(run=_cmd_schema)

    e = sub.add_parser("explain", help="explain a diagnostic code")
    e.add_argument("code", metavar="CODE")
    e.set_defaults(run=_cmd_explain)

    f = sub.add_parser("fmt", help="print a plan in canonical form, or convert it")
    f.add_argument("plans", nargs="+", metavar="PLAN")
    f.add_argument("--to", choices=("yaml", "plan"), help="convert to this surface")
    mode = f.add_mutually_exclusive_group()
    mode.add_argument("-w", "--write", action="store_true", help="rewrite the file in place")
    mode.add_argument("--check", action="store_true",
                      help="exit 1 (with a diff) when a file is not canonical")
    mode.add_argument("-o", "--output", metavar="FILE", help="write here (atomically)")
    f.set_defaults(run=_cmd_fmt)

    b = sub.add_parser("baseline", help="profile baseline data for a plan's checks")
    b.add_argument("plan", metavar="PLAN")
    b.add_argument("--data", nargs="+", required=True, metavar="FILE",
                   help="Parquet or CSV files or globs")
    b.add_argument("-o", "--output", metavar="FILE", help="write here (atomically), not stdout")
    b.set_defaults(run=_cmd_baseline)

    c = sub.add_parser("check", help="run every check over every window of the data")
    c.add_argument("plan", metavar="PLAN")
    c.add_argument("--baseline", nargs="+", required=True, metavar="FILE",
                   help="a baseline profile (.json) or baseline data files")
    c.add_argument("--data", nargs="+", metavar="FILE",
                   help="Parquet or CSV files or globs (with --store: the new data only)")
    c.add_argument("--store", metavar="DIR",
                   help="a sums store: merge the new data's sums into it and judge every "
                   "window it holds (created when missing)")
    c.add_argument("--outcomes", nargs="+", metavar="[SOURCE=]FILE",
                   help="outcome tables for the outcome monitors, by source name (a file named "
                   "after its source needs no SOURCE=)")
    c.add_argument("--engine", choices=("local", "dask"), default="local",
                   help="where sums are gathered: this process (default), or per partition on "
                   "a Dask cluster (pip install planspec[dask])")
    c.add_argument("--scheduler", metavar="ADDRESS",
                   help="with --engine dask: the Dask scheduler (tcp://HOST:8786; default: a "
                   "local cluster of 2 worker processes, started for the run)")
    c.add_argument("--as-of", metavar="TIME",
                   help="judge maturity as of this time (default: the newest scored timestamp)")
    c.add_argument("--events", metavar="FILE",
                   help="dates of drift risks (JSON or CSV: risk, date); they override the plan")
    c.add_argument("--format", choices=("text", "json", "markdown", *OUTPUT_FORMATS),
                   default="text")
    c.add_argument("-o", "--output", metavar="FILE", help="write here (atomically), not stdout")
    c.add_argument("--metrics", metavar="FILE", help="also write OpenMetrics here (atomically)")
    c.add_argument("--fail-on", choices=("warn", "fail", "never"), default="fail",
                   help="exit 1 when something fires at this level in the latest window")
    c.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    c.set_defaults(run=_cmd_check)

    r = sub.add_parser("render", help="write the reviewers' runbook of a plan (markdown)")
    r.add_argument("plan", metavar="PLAN")
    r.add_argument("-o", "--output", metavar="FILE", help="write here (atomically), not stdout")
    r.set_defaults(run=_cmd_render)

    rp = sub.add_parser("report", help="write the readable report of a run's results JSON")
    rp.add_argument("results", metavar="RESULTS.json")
    rp.add_argument("-o", "--output", metavar="FILE", help="write here (atomically), not stdout")
    rp.add_argument("--format", choices=("markdown", "html"), default="markdown")
    rp.set_defaults(run=_cmd_report)
    _add_notify(sub)

    st = sub.add_parser("store", help="inspect a sums store")
    st_sub = st.add_subparsers(dest="store_command", required=True, parser_class=_Parser)
    si = st_sub.add_parser("info", help="summarise a store: buckets, time span, files, runs")
    si.add_argument("store", metavar="DIR")
    si.add_argument("--format", choices=("text", "json"), default="text")
    si.set_defaults(run=_cmd_store_info)

    g = sub.add_parser("demo-data", help="write the worked example's seeded demo data")
    g.add_argument("--out", required=True, metavar="DIR")
    g.add_argument("--rows", type=int, default=200_000, help="scored rows (and baseline rows)")
    g.add_argument("--seed", type=int, default=7)
    g.set_defaults(run=_cmd_demo_data)
    return p


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args, out or sys.stdout))
    except BrokenPipeError:  # pragma: no cover - `planspec … | head`
        return EXIT_OK
    except KeyboardInterrupt:  # pragma: no cover
        return 130


def entry() -> None:
    """The console script."""
    raise SystemExit(main())
