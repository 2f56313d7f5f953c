"""Formatting plans back to text: canonical `.plan` and YAML, and conversion between them."""

from __future__ import annotations

import datetime
import io
import re
from typing import Any

import yaml
from pydantic import BaseModel

from planspec._expr import format_condition, format_filter, format_number, keywords
from planspec.model import Defaults, Duration, Plan
from planspec.source import Path


class _Dumper(yaml.SafeDumper):
    """Block style, keys in model order, long lines left alone."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _whole_numbers(value: Any) -> Any:
    """Floats that hold whole numbers written as integers (`200`, not `200.0`)."""
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return value


def plan_data(plan: Plan) -> dict[str, Any]:
    """The plan as plain data in the YAML form: conditions and durations as text, no empty keys."""
    data = plan.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
    return _whole_numbers(data)  # type: ignore[no-any-return]


_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _round_trip() -> Any:
    """ruamel.yaml in round-trip mode with planspec's layout: two-space mappings, list dashes
    indented under their key, lines up to 100 characters."""
    from ruamel.yaml import YAML

    rt = YAML(typ="rt")
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.width = 100
    rt.preserve_quotes = True
    rt.allow_unicode = True
    return rt


def format_yaml(plan: Plan, source: str | None = None) -> str:
    """The plan as YAML text that loads back to an equal plan.

    With ``source`` (the YAML text the plan was read from), the text is laid out canonically
    but keeps what its author wrote: comments, blank lines between items, key order, quoting
    and block styles, and integers as integers.

    >>> from planspec.load import load_plan
    >>> from planspec.parse_yaml import parse_yaml
    >>> plan = load_plan("plans/rental_inspector.yaml").plan
    >>> parse_yaml(format_yaml(plan)).plan == plan
    True
    >>> print(format_yaml(plan, "plan:   x   # the name\\nmodel: {name: m}\\n"), end="")
    plan: x     # the name
    model: {name: m}
    """
    if source is not None:
        out = io.StringIO()
        rt = _round_trip()
        rt.dump(rt.load(source), out)
        text = out.getvalue()
        # ruamel leaves a space at the end of a folded plain line; dropping it changes no value
        # (folding drops it too), which the check below confirms before keeping the change.
        tidy = re.sub(r"[ \t]+$", "", text, flags=re.MULTILINE)
        if tidy != text and yaml.load(tidy, Loader=_Loader) == yaml.load(text, Loader=_Loader):
            return tidy
        return text
    return yaml.dump(plan_data(plan), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     width=100, default_flow_style=False)


# ------------------------------------------------------------------------------ .plan surface

#: Fields whose values are names or fixed words, written bare; other text is always quoted.
WORD_FIELDS = frozenset({
    "timestamp", "key", "label", "type", "kind", "task", "deployment", "severity", "playbook",
    "correction", "flag", "join_key", "time", "weights", "prediction", "to", "if_firing",
    "calibrate",
    "unless_firing", "caught_by", "stand_ins", "affects"})
#: Segment settings, also written bare (kept apart: other helpers edit the set above).
WORD_FIELDS |= frozenset({"by", "unseen_segments"})
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _string(s: str) -> str:
    out = s.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + out.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t") + '"'


def _word(s: str) -> str:
    """A bare word when the grammar reads it back as the same text, else a string."""
    return s if _WORD.match(s) and s not in keywords() else _string(s)


def _label(s: str) -> str:
    return _word(s)


def _ratio(v: float) -> str:
    pct = format_number(v * 100)
    return f"{pct}%" if float(pct) / 100 == v else format_number(v)


def _value(name: str, v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return _ratio(v) if name in ("min_coverage", "tighten") else format_number(float(v))
    if isinstance(v, Duration):
        return str(v)
    if isinstance(v, datetime.date):
        return v.isoformat()
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(_value(name, x) for x in v) + "]"
    return _word(str(v)) if name in WORD_FIELDS else _string(str(v))


class _Writer:
    """Lines of canonical text, each tied to the model path it shows, with comments around it."""

    def __init__(self, comments: Any) -> None:
        self.lines: list[str] = []
        self.comments = comments

    def line(self, depth: int, text: str, path: Path | None = None) -> None:
        pad = "  " * depth
        if path is not None and self.comments is not None:
            for c in self.comments.leading.get(path, []):
                self.lines.append(pad + c)
        trailing = self.comments.trailing.get(path) if path is not None and self.comments \
            else None
        self.lines.append(pad + text + (f"  {trailing}" if trailing else ""))

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")


def _settings(w: _Writer, node: BaseModel, path: Path, depth: int,
              skip: tuple[str, ...] = ()) -> None:
    """One line per field that differs from its default, in the model's field order."""
    for name, info in type(node).model_fields.items():
        if name in skip:
            continue
        value = getattr(node, name)
        if value == info.get_default(call_default_factory=True):
            continue
        key = info.alias or name
        sub = (*path, key)
        if key in ("when", "warn"):
            prefix = "when" if key == "when" else "warn when"
            w.line(depth, f"{prefix} {format_condition(value)}", sub)
        elif key == "where":
            w.line(depth, f"where {format_filter(value)}", sub)
        elif key in ("for", "keep_firing_for"):
            w.line(depth, f"{key} {value}" + (" windows" if value != 1 else ""), sub)
        elif key == "range":
            w.line(depth, f"range {format_number(value[0])} to {format_number(value[1])}", sub)
        elif key in ("steps", "biases"):
            word = "step" if key == "steps" else "bias"
            for i, text in enumerate(value):
                w.line(depth, f"{word} {_string(text)}", (*sub, i))
        elif key == "escalate":
            for i, e in enumerate(value):
                esc: Path = (*sub, i)
                if e == type(e)(to=e.to):
                    w.line(depth, f"escalate to {_word(e.to)}", esc)
                    continue
                w.line(depth, f"escalate to {_word(e.to)} {{", esc)
                _settings(w, e, esc, depth + 1, skip=("to",))
                w.line(depth, "}")
        elif isinstance(value, BaseModel) and not isinstance(value, Duration):
            name_part = f" {_word(value.name)}" if hasattr(value, "name") and key == "source" \
                else ""
            w.line(depth, f"{key}{name_part} {{", sub)
            _settings(w, value, sub, depth + 1, skip=("name",) if name_part else ())
            w.line(depth, "}")
        else:
            w.line(depth, f"{key} {_value(key, value)}", sub)


def _entry(w: _Writer, word: str, name: str, node: BaseModel, path: Path, depth: int,
           field: str) -> None:
    head = f"{word} {_label(name)} {_word(getattr(node, field))}"
    rest = node.model_copy(update={field: getattr(node, field)})
    has_more = any(getattr(rest, n) != i.get_default(call_default_factory=True)
                   for n, i in type(rest).model_fields.items() if n != field)
    if not has_more:
        w.line(depth, head, path)
        return
    w.line(depth, head + " {", path)
    _settings(w, node, path, depth + 1, skip=(field,))
    w.line(depth, "}")


def format_plan(plan: Plan, comments: Any = None) -> str:
    """The canonical `.plan` text of a plan; ``comments`` from :func:`planspec.parse.parse_plan`
    are put back beside what they annotated.

    >>> from planspec.load import load_plan
    >>> from planspec.parse import parse_plan
    >>> plan = load_plan("plans/rental_inspector.yaml").plan
    >>> parse_plan(format_plan(plan)).plan == plan
    True
    """
    w = _Writer(comments)
    description = f" {_string(plan.description)}" if plan.description is not None else ""
    w.line(0, f"plan {plan.plan}{description}", ("plan",))
    if plan.timezone != "UTC":
        w.line(0, f"timezone {_string(plan.timezone)}", ("timezone",))
    w.blank()
    w.line(0, f"model {_label(plan.model.name)} {{", ("model",))
    _settings(w, plan.model, ("model",), 1, skip=("name",))
    w.line(0, "}")
    w.blank()
    d = plan.data
    w.line(0, "data {", ("data",))
    if d.source is not None:
        w.line(1, f"source {_string(d.source)}", ("data", "source"))
    w.line(1, f"timestamp {_word(d.timestamp)}", ("data", "timestamp"))
    if d.key is not None:
        w.line(1, f"key {_word(d.key)}", ("data", "key"))
    if d.label is not None:
        w.line(1, f"label {_word(d.label)}", ("data", "label"))
    for name, f in d.features.items():
        _entry(w, "feature", name, f, ("data", "features", name), 1, "type")
    for name, p in d.predictions.items():
        _entry(w, "output", name, p, ("data", "predictions", name), 1, "kind")
    w.line(0, "}")
    if plan.defaults != Defaults():
        w.blank()
        w.line(0, "defaults {", ("defaults",))
        _settings(w, plan.defaults, ("defaults",), 1)
        w.line(0, "}")
    sections = (("input_alerts", "input alert"), ("output_alerts", "output alert"),
                ("outcome_monitors", "outcome monitor"), ("playbooks", "playbook"),
                ("drift_risks", "drift risk"))
    for section, word in sections:
        for i, item in enumerate(getattr(plan, section)):
            w.blank()
            w.line(0, f"{word} {item.id} {{", (section, i))
            _settings(w, item, (section, i), 1, skip=("id",))
            w.line(0, "}")
    if comments is not None and comments.end:
        w.blank()
        w.lines += comments.end
    return "\n".join(w.lines).rstrip("\n") + "\n"
