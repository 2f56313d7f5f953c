"""planspec: monitoring plans for deployed ML models as reviewed, executable artifacts.

The public API is the names in ``__all__``. They are imported on first use (PEP 562), so
``import planspec`` stays cheap: validating or formatting a plan never loads numpy, scipy or
pyarrow, which only the engine, the profiler and the renderers need.

>>> from planspec import compile_plan, load_plan
>>> program = compile_plan(load_plan("plans/rental_inspector.yaml"))
>>> program.plan.plan
'rental_fmv_inspector'
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Each public name and the module that defines it.
_EXPORTS: dict[str, str] = {
    "CHECKS": "planspec.check",
    "check_plan": "planspec.check",
    "Diagnostic": "planspec.diagnostics",
    "PlanError": "planspec.diagnostics",
    "Span": "planspec.diagnostics",
    "PlanFileError": "planspec.load",
    "load_plan": "planspec.load",
    "Plan": "planspec.model",
    "parse_yaml": "planspec.parse_yaml",
    "ParsedPlan": "planspec.source",
    "SourceMap": "planspec.source",
    "CheckProgram": "planspec.compile",
    "compile_plan": "planspec.compile",
    "DataError": "planspec.data",
    "Profile": "planspec.profile",
    "build_profile": "planspec.profile",
    "load_profile": "planspec.profile",
    "run_program": "planspec.engine",
    "Results": "planspec.results",
    "render_report": "planspec.render",
    "render_runbook": "planspec.render",
}

__all__ = [
    "CHECKS",
    "CheckProgram",
    "DataError",
    "Diagnostic",
    "ParsedPlan",
    "Plan",
    "PlanError",
    "PlanFileError",
    "Profile",
    "Results",
    "SourceMap",
    "Span",
    "__version__",
    "build_profile",
    "check_plan",
    "compile_plan",
    "load_plan",
    "load_profile",
    "parse_yaml",
    "render_report",
    "render_runbook",
    "run_program",
]

if TYPE_CHECKING:  # what type checkers and editors see; at run time __getattr__ imports them
    from planspec.check import CHECKS, check_plan
    from planspec.compile import CheckProgram, compile_plan
    from planspec.data import DataError
    from planspec.diagnostics import Diagnostic, PlanError, Span
    from planspec.engine import run_program
    from planspec.load import PlanFileError, load_plan
    from planspec.model import Plan
    from planspec.parse_yaml import parse_yaml
    from planspec.profile import Profile, build_profile, load_profile
    from planspec.render import render_report, render_runbook
    from planspec.results import Results
    from planspec.source import ParsedPlan, SourceMap


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'planspec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next lookup is an ordinary attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
