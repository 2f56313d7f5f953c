"""Formatting plans back to text: the YAML surface (the `.plan` surface comes with its parser)."""

from __future__ import annotations

from typing import Any

import yaml

from planspec.model import Plan


class _Dumper(yaml.SafeDumper):
    """Block style, keys in model order, long lines left alone."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def plan_data(plan: Plan) -> dict[str, Any]:
    """The plan as plain data in the YAML form: conditions and durations as text, no empty keys."""
    return plan.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)


def format_yaml(plan: Plan) -> str:
    """The plan as YAML text that loads back to an equal plan.

    >>> from planspec.load import load_plan
    >>> from planspec.parse_yaml import parse_yaml
    >>> plan = load_plan("plans/rental_inspector.yaml").plan
    >>> parse_yaml(format_yaml(plan)).plan == plan
    True
    """
    return yaml.dump(plan_data(plan), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     width=100, default_flow_style=False)
