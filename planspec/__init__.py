"""planspec: monitoring plans for deployed ML models as reviewed, executable artifacts."""

from __future__ import annotations

__version__ = "0.1.0"

from planspec.check import CHECKS, check_plan
from planspec.diagnostics import Diagnostic, Span
from planspec.load import PlanFileError, load_plan
from planspec.model import Plan
from planspec.parse_yaml import parse_yaml
from planspec.source import ParsedPlan, SourceMap

__all__ = [
    "CHECKS",
    "CheckProgram",
    "DataError",
    "Diagnostic",
    "ParsedPlan",
    "Plan",
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
    "parse_yaml",
]
