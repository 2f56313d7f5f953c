"""The command line: argument parsing, output formats and exit codes over the quiet library."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TextIO

from planspec import __version__
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
from planspec.render import render_summary

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
