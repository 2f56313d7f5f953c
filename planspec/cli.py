"""The command line: argument parsing, output formats and exit codes over the quiet library."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from planspec import __version__
from planspec._io import OutputError, write_atomic
from planspec.diagnostics import (
    CATALOGUE,
    Diagnostic,
    format_github,
    format_json,
    format_text,
    has_errors,
)

if TYPE_CHECKING:  # each command loads what it needs: `--version` and `explain` read no plan,
    # and numpy, scipy and pyarrow load only for the commands that run checks
    from planspec.data import DataError
    from planspec.results import Results
    from planspec.source import ParsedPlan
    from planspec.sources import SourceError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        print(f"planspec: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


class _Usage(Exception):
    """A usage error found while running (e.g. an output path that cannot be written): main
    prints it and exits 2."""


def _cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    from planspec.english import plan_summary
    from planspec.load import PlanFileError, load_plan

    findings: list[Diagnostic] = []
    sources: dict[str, str] = {}
    summaries: list[str] = []
    summarize = args.format == "text" and not args.quiet
    for path in args.plans:
        try:
            parsed = load_plan(path)
        except PlanFileError as e:
            print(f"planspec: error: {e}", file=sys.stderr)
            return EXIT_USAGE
        findings += parsed.diagnostics
        sources[parsed.source_map.file] = parsed.text
        if parsed.plan is not None and not has_errors(parsed.diagnostics):
            if summarize:
                summaries.append(plan_summary(parsed.plan, parsed.source_map.file))
            if args.baseline:
                found = _baseline_findings(parsed, args.baseline)
                if isinstance(found, int):
                    return found
                findings += found
    if args.format == "json":
        out.write(format_json(findings) + "\n")
    elif args.format == "github":
        out.writelines(format_github(d) + "\n" for d in findings)
    else:
        for d in findings:
            out.write(format_text(d, sources) + "\n\n")
        out.writelines(summaries)
        errors = sum(d.severity == "error" for d in findings)
        warnings = len(findings) - errors
        if findings:
            out.write(f"{errors} error{'s' * (errors != 1)}, "
                      f"{warnings} warning{'s' * (warnings != 1)}\n")
    return EXIT_FINDINGS if has_errors(findings) else EXIT_OK


def _baseline_findings(parsed: ParsedPlan, baseline: list[str]) -> list[Diagnostic] | int:
    """PS362/PS363 warnings from replaying the baseline, or an exit code on a data error."""
    from planspec.compile import compile_plan
    from planspec.data import DataError
    from planspec.power import analyze_power, baseline_findings
    from planspec.sources import SourceError

    assert parsed.plan is not None
    program = compile_plan(parsed.plan, parsed.source_map)
    try:
        profile = _profile_arg(program, baseline)
        table = analyze_power(program, profile, replays=1000, mde_replays=200)
    except (DataError, SourceError) as e:
        _data_error(e)
        return EXIT_USAGE
    return baseline_findings(program, profile, table)


def _cmd_schema(args: argparse.Namespace, out: TextIO) -> int:
    from planspec._schema import plan_schema

    out.write(json.dumps(plan_schema(), indent=2) + "\n")
    return EXIT_OK


def _indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + line for line in text.splitlines())


def _cmd_explain(args: argparse.Namespace, out: TextIO) -> int:
    from planspec.diagnostics import FIXES

    if args.code is None:  # the whole catalogue: each code, its mistake and its fix
        for code, entry in sorted(CATALOGUE.items()):
            out.write(f"{code} ({entry.severity}): {entry.title}\n"
                      f"  mistake:\n{_indent(entry.example, '    ')}\n"
                      f"  fix:\n{_indent(FIXES.get(code, '(see the explanation)'), '    ')}\n\n")
        out.write("`planspec explain CODE` explains one code.\n")
        return EXIT_OK
    code = args.code.upper()
    info = CATALOGUE.get(code)
    if info is None:
        print(f"planspec: error: no diagnostic has the code {args.code!r}; codes run "
              f"{min(CATALOGUE)}–{max(CATALOGUE)} (`planspec explain` lists them)",
              file=sys.stderr)
        return EXIT_USAGE
    out.write(f"{code} ({info.severity}): {info.title}\n\n{info.explanation}\n\n"
              f"Example that raises it:\n\n{_indent(info.example)}\n")
    if code in FIXES:
        out.write(f"\nThe fix:\n\n{_indent(FIXES[code])}\n")
    return EXIT_OK


def _valid_plan(path: str) -> ParsedPlan | int:
    """The parsed plan, or an exit code after printing why it cannot be used."""
    from planspec.load import PlanFileError, load_plan

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


def _data_error(e: DataError | SourceError) -> None:
    print(f"error[{e.code}]: {e.message}", file=sys.stderr)
    if e.hint:
        print(f"  = help: {e.hint}", file=sys.stderr)


def _progress(args: argparse.Namespace) -> Callable[[str], None] | None:
    """Progress messages on stderr: on a terminal, or always with ``--verbose``; never with -q."""
    if args.quiet or not (args.verbose or sys.stderr.isatty()):
        return None
    return lambda msg: print(f"planspec: {msg}…", file=sys.stderr, flush=True)


def _colour(args: argparse.Namespace, out: TextIO) -> bool:
    """``--color``: auto colours only a terminal, and only when NO_COLOR is unset or empty."""
    if args.color != "auto":
        return bool(args.color == "always")
    return not args.output and out.isatty() and not os.environ.get("NO_COLOR")


def _width(out: TextIO) -> int:
    """The width to lay tables out in: the terminal's (or $COLUMNS), else 100."""
    if out.isatty() or "COLUMNS" in os.environ:
        import shutil

        return max(40, shutil.get_terminal_size((100, 24)).columns)
    return 100


def _save(path: str, text: str) -> None:
    """Write ``path`` atomically, or raise :class:`_Usage` saying why it cannot be written."""
    try:
        write_atomic(path, text)
    except OutputError as e:
        raise _Usage(str(e)) from None
    except OSError as e:
        raise _Usage(f"{path}: cannot write it: {e.strerror or e}") from None


def _write(out_path: str | None, text: str, out: TextIO, what: str | None = None,
           args: argparse.Namespace | None = None) -> None:
    """To ``out_path`` atomically (saying so on stderr when ``what`` names it, unless -q), or
    to ``out``."""
    if out_path:
        _save(out_path, text)
        if what and not (args is not None and args.quiet):
            print(f"planspec: {what} written to {out_path}", file=sys.stderr)
    else:
        out.write(text)


def _compiled(path: str) -> Any:
    """The compiled plan at ``path``, or an exit code after printing why it cannot be used."""
    from planspec.compile import compile_plan

    parsed = _valid_plan(path)
    if isinstance(parsed, int):
        return parsed
    assert parsed.plan is not None
    return compile_plan(parsed.plan, parsed.source_map)


def _cmd_baseline(args: argparse.Namespace, out: TextIO) -> int:
    from planspec.data import DataError
    from planspec.profile import build_profile
    from planspec.sources import SourceError

    program = _compiled(args.plan)
    if isinstance(program, int):
        return program
    try:
        profile = build_profile(program, args.data)
        profile = _calibrate(program, profile, args)
    except (DataError, SourceError) as e:
        _data_error(e)
        return EXIT_USAGE
    _write(args.output, profile.model_dump_json(
        indent=1, exclude=None if profile.calibration else {"calibration"}) + "\n", out,
           f"baseline of {profile.rows:,} rows", args)
    return EXIT_OK


def _calibrate(program: object, profile: object, args: argparse.Namespace) -> Any:
    """The profile with the null quantiles of the plan's calibrated thresholds, if it has any."""
    from planspec.calibrate import calibrate_profile, calibrated_leaves
    from planspec.compile import CheckProgram
    from planspec.profile import Profile

    assert isinstance(program, CheckProgram) and isinstance(profile, Profile)
    if not calibrated_leaves(program):
        return profile
    return calibrate_profile(program, profile, args.data, seed=args.seed, replays=args.replays)


def _cmd_power(args: argparse.Namespace, out: TextIO) -> int:
    from planspec.data import DataError
    from planspec.power import analyze_power, format_power, power_json
    from planspec.sources import SourceError

    program = _compiled(args.plan)
    if isinstance(program, int):
        return program
    try:
        profile = _profile_arg(program, args.baseline)
        table = analyze_power(program, profile, seed=args.seed, replays=args.replays)
    except (DataError, SourceError) as e:
        _data_error(e)
        return EXIT_USAGE
    if args.format == "json":
        text = json.dumps(power_json(table), indent=1) + "\n"
    else:
        text = format_power(table, "markdown" if args.format == "markdown" else "text")
    _write(args.output, text, out)
    return EXIT_OK


def _cmd_test(args: argparse.Namespace, out: TextIO) -> int:
    from planspec.data import DataError
    from planspec.plantest import plan_test_schema, report_json, run_plan_tests
    from planspec.sources import SourceError

    if args.schema:
        out.write(json.dumps(plan_test_schema(), indent=2) + "\n")
        return EXIT_OK
    if args.testfile is None:
        raise _Usage("the following arguments are required: TESTFILE (or --schema)")
    try:
        report = run_plan_tests(args.testfile)
    except (DataError, SourceError) as e:
        _data_error(e)
        return EXIT_USAGE
    except (OSError, UnicodeDecodeError) as e:
        raise _Usage(f"{args.testfile}: cannot read it: {getattr(e, 'strerror', None) or e}"
                     ) from None
    if report.diagnostics:
        for d in report.diagnostics:
            print(format_text(d, {report.file: report.text}) + "\n", file=sys.stderr)
        print(f"planspec: error: {args.testfile} cannot be run (see above)", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "json":
        _write(args.output, json.dumps(report_json(report), indent=1) + "\n", out)
        return EXIT_OK if report.passed else EXIT_FINDINGS
    lines = [f"{report.file} (plan {report.plan})"]
    for c in report.cases:
        lines.append(f"  {'ok  ' if c.passed else 'FAIL'}  {c.name}: {len(c.windows)} windows, "
                     f"{c.checked} expectations" + (f", {len(c.mismatches)} failed"
                                                    if c.mismatches else ""))
        for m in c.mismatches:
            lines.append(f"        {m.text()}")
            if m.span:
                lines.append(f"          --> {m.span.file}:{m.span.line}:{m.span.col}")
    failed = sum(not c.passed for c in report.cases)
    lines.append(f"{len(report.cases)} case{'s' * (len(report.cases) != 1)}: "
                 f"{len(report.cases) - failed} passed, {failed} failed")
    _write(args.output, "\n".join(lines) + "\n", out)
    return EXIT_OK if report.passed else EXIT_FINDINGS


def _profile_arg(program: Any, paths: list[str]) -> Any:
    """A baseline profile (.json), or one built (and calibrated) from baseline data files."""
    from planspec.calibrate import calibrate_profile, calibrated_leaves
    from planspec.profile import build_profile, check_profile, load_profile

    if len(paths) == 1 and paths[0].endswith(".json"):
        try:
            text = Path(paths[0]).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise DataError("PS407", f"{paths[0]}: cannot read it: {e}") from None
        profile = load_profile(text, paths[0])
    else:
        profile = build_profile(program, paths)
        if calibrated_leaves(program):
            profile = calibrate_profile(program, profile, paths)
    check_profile(program, profile, paths[0])
    return profile


def _outcome_args(values: list[str]) -> dict[str, list[str]]:
    """`NAME=SOURCE`, a path whose file name (before its suffix) is the source's name, or a
    database URI whose `?table=` is the source's name."""
    import re
    from urllib.parse import parse_qs, urlsplit

    out: dict[str, list[str]] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not (sep and re.fullmatch(r"[a-z][a-z0-9_]*", name)):
            path = value
            table = parse_qs(urlsplit(value).query).get("table")
            name = table[0] if table else Path(value).name.split(".")[0]
        out.setdefault(name, []).append(path)
    return out


def _since(text: str | None) -> datetime.datetime | None:
    """`--since` as a UTC time (a date is its midnight)."""
    from planspec.data import DataError

    if text is None:
        return None
    try:
        t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DataError("PS404", f"--since `{text}` is not a time",
                        "write it as ISO 8601, e.g. 2026-11-01 or 2026-11-01T06:00:00Z") from None
    return t if t.tzinfo else t.replace(tzinfo=datetime.UTC)


def _cmd_check(args: argparse.Namespace, out: TextIO) -> int:
    from planspec.compile import compile_plan
    from planspec.data import DataError, read_events
    from planspec.engine import run_program
    from planspec.profile import load_profile
    from planspec.render import render_report, render_results_text
    from planspec.sources import SourceError

    parsed = _valid_plan(args.plan)
    if isinstance(parsed, int):
        return parsed
    assert parsed.plan is not None
    progress = _progress(args)
    try:
        events = read_events(args.events, [r.id for r in parsed.plan.drift_risks]) \
            if args.events else None
        program = compile_plan(parsed.plan, parsed.source_map, events)
        data: object = args.data or parsed.plan.data.source
        if data is None and not args.store:
            print("planspec: error: give --data, or name the plan's source under "
                  "`data: {source: …}`", file=sys.stderr)
            return EXIT_USAGE
        since = _since(args.since)
        if since is not None and data is not None:
            from planspec.sources import open_source

            data = open_source(data, since=since)
        baseline: object = args.baseline
        if len(args.baseline) == 1 and args.baseline[0].endswith(".json"):
            try:
                text = Path(args.baseline[0]).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                raise DataError("PS407", f"{args.baseline[0]}: cannot read it: {e}") from None
            baseline = load_profile(text, args.baseline[0])
        if args.scheduler and args.engine != "dask":
            print("planspec: error: --scheduler needs --engine dask", file=sys.stderr)
            return EXIT_USAGE
        outcomes = _outcome_args(args.outcomes or [])
        if args.store:
            zone = parsed.source_map.values.get(("timezone",))
            where_zone = f"{args.plan}:{zone.line}:{zone.col}" if zone else None
            results = _check_store(args, data, program, baseline, progress, where_zone)
        else:
            results = run_program(program, data, baseline, progress,
                                  outcomes=outcomes, as_of=args.as_of,
                                  judge_partial=args.judge_partial, engine=args.engine,
                                  scheduler=args.scheduler)
    except (DataError, SourceError) as e:
        _data_error(e)
        return EXIT_USAGE
    unscored = [m.id for m in program.monitors if m.source.name not in outcomes]
    if unscored:
        print(f"warning: no outcomes given for {', '.join(unscored)}: their windows stay "
              "immature (pass --outcomes SOURCE=FILE)", file=sys.stderr)
    if args.format == "json":
        text = results.model_dump_json(indent=1) + "\n"
    elif args.format == "markdown":
        text = render_report(results)
    elif args.format in OUTPUT_FORMATS:
        text = OUTPUT_FORMATS[args.format](results)
    else:
        text = render_results_text(results, colour=_colour(args, out), width=_width(out))
    _write(args.output, text, out)
    _write_metrics(args, results)
    return results.exit_code(args.fail_on)


def _check_store(args: argparse.Namespace, data: object, program: Any, baseline: object,
                 progress: Callable[[str], None] | None, where_zone: str | None = None
                 ) -> Results:
    """`check --store`: merge the new data's sums into the store, judge from the store, and
    say what was skipped, re-judged or lacks history."""
    from planspec.engine.run import run_store

    results, report = run_store(program, data or [], baseline, args.store, progress,
                                outcomes=_outcome_args(args.outcomes or []), as_of=args.as_of,
                                where_plan=args.plan, where_baseline=" ".join(args.baseline),
                                judge_partial=args.judge_partial, where_timezone=where_zone,
                                engine=args.engine, scheduler=args.scheduler)
    for where, before in report.skipped:
        same = "" if where == before else f" (as {before})"
        print(f"planspec: skipped {where}: the store already holds its content{same}",
              file=sys.stderr)
    if report.late_buckets:
        late = report.late_buckets
        print(f"planspec: late rows for {len(late)} bucket{'s' * (len(late) != 1)} the store "
              f"already held ({late[0]} to {late[-1]}): their windows were re-judged",
              file=sys.stderr)
    for where, since, held in report.live:
        read = f"from {since}" if since else "from its first row"
        print(f"planspec: read {where} {read}: " + (
            f"its last bucket (from {held}) is judged but kept out of the store until the "
            "next run reads it again" if held else "no new rows"), file=sys.stderr)
    for where, others in report.beside:
        print(f"planspec: {where} is new to this store, which already reads "
              f"{', '.join(others)}: it was read from its first row as another feed beside "
              f"{'it' if len(others) == 1 else 'them'}. If it is one of them at a new address, "
              "its rows are now counted twice: rebuild the store, giving the moved source "
              "`--since` the store's end", file=sys.stderr)
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
    from planspec.data import DataError
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

    from planspec.format import format_parsed
    from planspec.load import PLAN_SUFFIXES, PlanFileError, parse_text

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
        canonical = format_parsed(parsed, target)
        if target != source and _unconvertible(parsed, path, text, canonical, target):
            return EXIT_FINDINGS
        if args.check:
            if canonical != text:
                status = EXIT_FINDINGS
                out.writelines(difflib.unified_diff(
                    text.splitlines(keepends=True), canonical.splitlines(keepends=True),
                    fromfile=path, tofile=f"{path} (formatted)"))
            continue
        if args.write:
            if canonical != text:
                _save(path, canonical)
                if not args.quiet:
                    print(f"planspec: reformatted {path}", file=sys.stderr)
        else:
            _write(args.output, canonical, out)
    return status


def _unconvertible(parsed: ParsedPlan, path: str, text: str, converted: str,
                   target: str) -> bool:
    """`fmt --to`: whether to refuse (after printing why) a plan with errors, which the other
    surface may not be able to express, or a conversion that would not read back the same."""
    from planspec.check import check_plan
    from planspec.parse import parse_plan
    from planspec.parse_yaml import parse_yaml

    assert parsed.plan is not None
    errors = [d for d in check_plan(parsed.plan, parsed.source_map) if d.severity == "error"]
    for d in errors:
        print(format_text(d, {path: text}) + "\n", file=sys.stderr)
    if errors:
        print(f"planspec: error: {path} cannot be converted until it is valid",
              file=sys.stderr)
        return True
    if (parse_plan if target == "plan" else parse_yaml)(converted).plan != parsed.plan:
        print(f"planspec: error: {path} cannot be converted to {target} faithfully "
              "(a planspec bug: please report it)", file=sys.stderr)  # pragma: no cover
        return True  # pragma: no cover
    return False


def _cmd_render(args: argparse.Namespace, out: TextIO) -> int:
    from planspec.render import render_runbook

    parsed = _valid_plan(args.plan)
    if isinstance(parsed, int):
        return parsed
    power = None
    if args.baseline:
        from planspec.compile import compile_plan
        from planspec.data import DataError
        from planspec.power import analyze_power
        from planspec.sources import SourceError

        assert parsed.plan is not None
        program = compile_plan(parsed.plan, parsed.source_map)
        try:
            power = analyze_power(program, _profile_arg(program, args.baseline),
                                  replays=args.replays)
        except (DataError, SourceError) as e:
            _data_error(e)
            return EXIT_USAGE
    _write(args.output, render_runbook(parsed, power), out, "runbook", args)
    return EXIT_OK


def _cmd_report(args: argparse.Namespace, out: TextIO) -> int:
    from planspec.render import render_report

    results = _read_results(args.results)
    if isinstance(results, int):
        return results
    text = OUTPUT_FORMATS["html"](results) if args.format == "html" else render_report(results)
    _write(args.output, text, out, "report", args)
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
        _write(args.metrics, _render_openmetrics(results), sys.stdout, "metrics", args)


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
        _save(args.state, state.dumps())
    return EXIT_USAGE if any(d.error for d in deliveries) else EXIT_OK


def _read_results(path: str) -> Results | int:
    """Results read from a results JSON file, or an exit code after saying why not."""
    from pydantic import ValidationError

    try:
        from planspec.results import Results

        return Results.model_validate_json(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        print(f"planspec: error: {path}: {e}", file=sys.stderr)
    except ValidationError as e:
        first = e.errors()[0]
        print(f"planspec: error: {path} is not planspec results JSON "
              f"({'.'.join(map(str, first['loc']))}: {first['msg']})", file=sys.stderr)
    return EXIT_USAGE


def _add_notify(sub: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    n = sub.add_parser("notify", help="send firing alerts to webhooks, Slack or Alertmanager",
                       description="Send the alerts firing in a run's results to webhooks, "
                       "Slack or Alertmanager, once each (with --state).", parents=[common],
                       epilog=f"exit codes: {_EXITS['notify']}.")
    n.add_argument("results", metavar="RESULTS.json",
                   help="results JSON written by `check --format json`")
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
    try:
        paths = write_demo_data(Path(args.out), rows=args.rows, seed=args.seed)
    except OSError as e:
        raise _Usage(f"{args.out}: cannot write the demo data there: {e.strerror or e}"
                     ) from None
    for name, path in paths.items():
        out.write(f"{name}: {path}\n")
    return EXIT_OK


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


SOURCES_HELP = ("Parquet or CSV files or globs, a Parquet dataset directory, "
                "duckdb:FILE?table=T or postgresql://USER@HOST/DB?table=T")

_EXITS = {
    "validate": "0 every plan is valid (warnings allowed), 1 a plan has errors, "
                "2 a file cannot be read or the arguments are wrong",
    "schema": "0 always",
    "explain": "0 explained, 2 no diagnostic has that code",
    "fmt": "0 formatted (or already canonical), 1 with --check: a file is not canonical, "
           "or with --to: a plan with errors is not converted, 2 a plan does not parse, a "
           "file cannot be read or written, or the arguments are wrong",
    "baseline": "0 profile written, 2 the plan is not valid, the baseline data cannot be "
                "used, the output cannot be written, or the arguments are wrong",
    "check": "0 nothing fires at the --fail-on level in the latest window, 1 something does, "
             "2 the plan is not valid, the data or baseline cannot be used, the output cannot "
             "be written, or the arguments are wrong",
    "render": "0 runbook written, 2 the plan is not valid, the output cannot be written, or "
              "the arguments are wrong",
    "report": "0 report written, 2 the results file cannot be read or is not planspec "
              "results JSON, the output cannot be written, or the arguments are wrong",
    "notify": "0 every notification delivered (or nothing new to send), 2 a delivery failed, "
              "the results or state cannot be read or written, or the arguments are wrong",
    "power": "0 table written, 2 the plan is not valid, the baseline cannot be used, the "
             "output cannot be written, or the arguments are wrong",
    "test": "0 every expectation of every case holds (or --schema printed), 1 an "
            "expectation does not hold (each is listed), 2 the test file, its plan or its "
            "baseline cannot be used, the output cannot be written, or the arguments are wrong",
    "store": "0 summary printed, 2 no store there, the store is damaged, or the arguments "
             "are wrong",
    "demo-data": "0 data written, 2 the folder cannot be written or the arguments are wrong",
}


def _common() -> _Parser:
    """Options every subcommand takes: how much to say, and whether to colour it."""
    p = _Parser(add_help=False)
    say = p.add_mutually_exclusive_group()
    say.add_argument("-q", "--quiet", action="store_true",
                     help="print only results and errors: no progress, summaries or "
                     "'written to' messages")
    say.add_argument("-v", "--verbose", action="store_true",
                     help="print progress messages even when stderr is not a terminal")
    p.add_argument("--color", "--colour", choices=("auto", "always", "never"), default="auto",
                   help="colour the text output: auto (the default) colours only a terminal, "
                   "and only when the NO_COLOR environment variable is unset or empty")
    return p


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand; each documents every argument and its exit
    codes in its ``--help``."""
    p = _Parser(prog="planspec", description="Monitoring plans for deployed ML models: "
                "write, validate, compile, run and render them.",
                epilog="`planspec COMMAND --help` describes each command, its arguments and "
                "its exit codes.")
    p.add_argument("--version", action="version", version=f"planspec {__version__}",
                   help="print planspec's version and exit")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser,
                           metavar="COMMAND")
    common = _common()

    def command(name: str, help: str, description: str = "") -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=description or help,
                              parents=[common], epilog=f"exit codes: {_EXITS[name]}.")

    v = command("validate", "parse and check plans; exit 1 on errors",
                "Parse and check plans (.yaml, .yml or .plan), reporting every error in one run.")
    v.add_argument("plans", nargs="+", metavar="PLAN", help="plan files to check")
    v.add_argument("--baseline", nargs="+", metavar="FILE",
                   help="also warn about alerts that cry wolf or miss large shifts on this "
                   "baseline (a profile .json or data files)")
    v.add_argument("--format", choices=("text", "json", "github"), default="text",
                   help="text for people (default), json for tools, github for workflow "
                   "annotations")
    v.set_defaults(run=_cmd_validate)

    s = command("schema", "print the JSON Schema of the YAML plan form",
                "Print the JSON Schema of the YAML plan form, for editors.")
    s.set_defaults(run=_cmd_schema)

    e = command("explain", "explain a diagnostic code (or list them all)",
                "Explain what a diagnostic code means, with the mistake that raises it and the "
                "fix; with no code, list every code that way.")
    e.add_argument("code", metavar="CODE", nargs="?", help="a code such as PS303 (default: all)")
    e.set_defaults(run=_cmd_explain)

    f = command("fmt", "print a plan in canonical form, or convert it",
                "Print plans in canonical form, rewrite them in place, check them, or convert "
                "between YAML and the plan language.")
    f.add_argument("plans", nargs="+", metavar="PLAN", help="plan files to format")
    f.add_argument("--to", choices=("yaml", "plan"),
                   help="convert to this surface (default: the plan's own)")
    mode = f.add_mutually_exclusive_group()
    mode.add_argument("-w", "--write", action="store_true",
                      help="rewrite each file in place (atomically, keeping its mode)")
    mode.add_argument("--check", action="store_true",
                      help="exit 1 (with a diff) when a file is not canonical")
    mode.add_argument("-o", "--output", metavar="FILE",
                      help="write here (atomically), not stdout")
    f.set_defaults(run=_cmd_fmt)

    b = command("baseline", "profile baseline data for a plan's checks",
                "Profile baseline (training) data for a plan's checks; `check --baseline` "
                "reads the profile.")
    b.add_argument("plan", metavar="PLAN", nargs="?",
                   help="the plan (anywhere among the arguments)")
    b.add_argument("--data", nargs="+", required=True, metavar="SOURCE",
                   help=f"baseline data: {SOURCES_HELP}")
    b.add_argument("-o", "--output", metavar="FILE", help="write here (atomically), not stdout")
    b.add_argument("--seed", type=int, default=0,
                   help="seed of the replays behind calibrated thresholds (default 0)")
    b.add_argument("--replays", type=_positive, default=5000,
                   help="replayed windows per window size for calibrated thresholds")
    b.set_defaults(run=_cmd_baseline)

    c = command("check", "run every check over every window of the data",
                "Run every alert and outcome monitor of a plan over every window of the data.")
    c.add_argument("plan", metavar="PLAN", nargs="?",
                   help="the plan (anywhere among the arguments)")
    c.add_argument("--baseline", nargs="+", required=True, metavar="FILE",
                   help="a baseline profile (.json) or baseline data files")
    c.add_argument("--data", nargs="+", metavar="SOURCE",
                   help=f"{SOURCES_HELP} (default: the plan's data.source; with --store: the "
                   "new data only)")
    c.add_argument("--since", metavar="TIME",
                   help="read only rows at or after this time (pushed into the database)")
    c.add_argument("--store", metavar="DIR",
                   help="a sums store: merge the new data's sums into it and judge every "
                   "window it holds (created when missing)")
    c.add_argument("--outcomes", nargs="+", metavar="[NAME=]SOURCE",
                   help="outcome tables for the outcome monitors, by source name (a file "
                   "named after its source, or a database ?table= of that name, needs no "
                   "NAME=)")
    c.add_argument("--engine", choices=("local", "dask"), default="local",
                   help="where sums are gathered: this process (default), or per partition on "
                   "a Dask cluster (pip install planspec[dask])")
    c.add_argument("--scheduler", metavar="ADDRESS",
                   help="with --engine dask: the Dask scheduler (tcp://HOST:8786; default: a "
                   "local cluster of 2 worker processes, started for the run)")
    c.add_argument("--as-of", metavar="TIME",
                   help="look from this time: windows ending later are partial and outcomes "
                   "known later not yet in (default: the newest scored timestamp)")
    c.add_argument("--judge-partial", action="store_true",
                   help="judge partial windows (not over, or begun before the data) too")
    c.add_argument("--events", metavar="FILE",
                   help="dates of drift risks (JSON or CSV: risk, date); they override the plan")
    c.add_argument("--format", choices=("text", "json", "markdown", *OUTPUT_FORMATS),
                   default="text", help="text table (default), results JSON, the markdown "
                   "report, the HTML report, or OpenMetrics")
    c.add_argument("-o", "--output", metavar="FILE", help="write here (atomically), not stdout")
    c.add_argument("--metrics", metavar="FILE", help="also write OpenMetrics here (atomically)")
    c.add_argument("--fail-on", choices=("warn", "fail", "never"), default="fail",
                   help="exit 1 when something fires at this level in the latest window")
    c.set_defaults(run=_cmd_check)

    pw = command("power", "per alert: false alarms and firings under no drift, and the least "
                 "change caught with 80%% power (simulated from the baseline)")
    pw.add_argument("plan", metavar="PLAN", help="the plan")
    pw.add_argument("--baseline", nargs="+", required=True, metavar="FILE",
                    help="a baseline profile (.json) or baseline data files")
    pw.add_argument("--replays", type=_positive, default=2000,
                    help="replayed no-drift windows per alert (default 2000)")
    pw.add_argument("--seed", type=int, default=0, help="seed of the replays (default 0)")
    pw.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                    help="text (default), json or markdown")
    pw.add_argument("-o", "--output", metavar="FILE", help="write here (atomically), not stdout")
    pw.set_defaults(run=_cmd_power)

    t = command("test", "run a plan's tests: synthetic windows, expected alerts",
                "Run plan tests (in the manner of promtool's rule tests): a YAML file names a "
                "plan, a baseline and cases; each case draws synthetic windows from the "
                "baseline, changes them by recipe (mean_shift, share, missing, out_of_range, "
                "new_categories, volume, label_delay, quality_drop), runs every check through "
                "the engine, and compares the alerts firing at the end of each window with "
                "those expected. The README describes the file; --schema prints its JSON "
                "Schema.")
    t.add_argument("testfile", metavar="TESTFILE", nargs="?",
                   help="the plan test file (YAML); its `plan` and baseline paths are relative "
                   "to it")
    t.add_argument("--format", choices=("text", "json"), default="text",
                   help="text: one line per case and per failed expectation (default); json "
                   "for tools")
    t.add_argument("--schema", action="store_true",
                   help="print the JSON Schema of plan test files and exit")
    t.add_argument("-o", "--output", metavar="FILE", help="write here (atomically), not stdout")
    t.set_defaults(run=_cmd_test)

    r = command("render", "write the reviewers' runbook of a plan (markdown)")
    r.add_argument("plan", metavar="PLAN", help="the plan")
    r.add_argument("-o", "--output", metavar="FILE", help="write here (atomically), not stdout")
    r.add_argument("--baseline", nargs="+", metavar="FILE",
                   help="add each alert's false alarms, firings and least change caught, "
                   "simulated from this baseline (a profile .json or data)")
    r.add_argument("--replays", type=_positive, default=1000,
                   help="replayed windows per alert with --baseline (default 1000)")
    r.set_defaults(run=_cmd_render)

    rp = command("report", "write the readable report of a run's results JSON")
    rp.add_argument("results", metavar="RESULTS.json",
                    help="results JSON written by `check --format json`")
    rp.add_argument("-o", "--output", metavar="FILE", help="write here (atomically), not stdout")
    rp.add_argument("--format", choices=("markdown", "html"), default="markdown",
                    help="markdown (default) or a self-contained HTML page")
    rp.set_defaults(run=_cmd_report)
    _add_notify(sub, common)

    st = command("store", "inspect a sums store (`check --store DIR` writes one)")
    st_sub = st.add_subparsers(dest="store_command", required=True, parser_class=_Parser,
                               metavar="ACTION", help="info: summarise a store")
    si = st_sub.add_parser("info", help="summarise a store: buckets, time span, files, runs",
                           description="Summarise a sums store: buckets, time span, rows, "
                           "inputs ingested, runs and what fired.", parents=[common],
                           epilog=f"exit codes: {_EXITS['store']}.")
    si.add_argument("store", metavar="DIR", help="the store's directory (`check --store DIR`)")
    si.add_argument("--format", choices=("text", "json"), default="text",
                    help="text for people (default) or json for tools")
    si.set_defaults(run=_cmd_store_info)

    g = command("demo-data", "write the worked example's seeded demo data")
    g.add_argument("--out", required=True, metavar="DIR", help="the folder to write into")
    g.add_argument("--rows", type=int, default=200_000, help="scored rows (and baseline rows)")
    g.add_argument("--seed", type=int, default=7, help="the random seed")
    g.set_defaults(run=_cmd_demo_data)
    return p


def _is_plan(path: str) -> bool:
    from planspec.load import PLAN_SUFFIXES, YAML_SUFFIXES

    return path.endswith(PLAN_SUFFIXES + YAML_SUFFIXES)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse a command line. Positionals may come anywhere: a plan that a many-valued option
    (``--data``, ``--baseline``, ``--outcomes``) took is recognised by its suffix and given back,
    and plans after options are still plans."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "plans") and not any(x.startswith("-") for x in extra):
            args.plans += extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if hasattr(args, "plan") and args.plan is None:
        for option in ("outcomes", "baseline", "data"):
            values = getattr(args, option, None) or []
            found = [x for x in values if _is_plan(x)]
            if found:
                args.plan = found[-1]
                values.remove(found[-1])
                if not values and option != "outcomes":
                    parser.error(f"argument --{option}: expected at least one file besides "
                                 f"the plan {args.plan}")
                break
        else:
            parser.error("the following arguments are required: PLAN")
    return args


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; return the exit code."""
    args = parse_args(argv)
    try:
        return int(args.run(args, out or sys.stdout))
    except _Usage as e:
        print(f"planspec: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # pragma: no cover - `planspec … | head`
        return EXIT_OK
    except KeyboardInterrupt:  # pragma: no cover
        return 130


def entry() -> None:
    """The console script."""
    raise SystemExit(main())
