"""Formatting plans back to text: canonical `.plan` and YAML, and conversion between them."""

from __future__ import annotations

import bisect
import datetime
import io
import re
from typing import Any

import yaml

from planspec._expr import format_condition, format_filter, format_number, keywords
from planspec._node import Node
from planspec.diagnostics import Span
from planspec.model import CONDITION_FIELDS, Defaults, Duration, Plan
from planspec.source import LineIndex, ParsedPlan, Path, SourceMap


class _Dumper(yaml.SafeDumper):
    """Block style, keys in model order, long lines left alone."""


#: Characters that only a double-quoted YAML scalar keeps exactly: YAML 1.1 (what planspec reads)
#: takes NEL, LS and PS for line breaks and folds them in every other style, and control
#: characters, a byte-order mark and a carriage return need escapes.
_ESCAPED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if _ESCAPED.search(value) else "|" if "\n" in value else None
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


def format_yaml(plan: Plan, source: str | None = None, comments: Any = None) -> str:
    """The plan as YAML text that loads back to an equal plan.

    With ``source`` (the YAML text the plan was read from), the text is laid out canonically
    but keeps what its author wrote: comments, blank lines between items, key order, quoting
    and block styles, and integers as integers. Without it (converting from `.plan`),
    ``comments`` from :func:`planspec.parse.parse_plan` land beside the items they annotated.

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
        kept = _canonical_yaml(source)
        if kept is not None:
            return kept
    # PyYAML writes the text first: it quotes what YAML 1.1 would read as another type (`yes`,
    # `1_000`), which ruamel (YAML 1.2) would leave plain; ruamel then lays it out canonically.
    text = yaml.dump(plan_data(plan), Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                     width=100, default_flow_style=False)
    text = _canonical_yaml(text) or text
    return _yaml_laid_out(text, comments)


def _canonical_yaml(source: str) -> str | None:
    """``source`` laid out canonically by ruamel.yaml, or None when that would change a value
    (what planspec's YAML 1.1 loader reads must stay exactly the same)."""
    from ruamel.yaml.error import YAMLError as RuamelError

    out = io.StringIO()
    rt = _round_trip()
    try:
        data = rt.load(source)
        _quote_escaped(data)
        rt.dump(data, out)
    except (RuamelError, ValueError, TypeError, AttributeError, KeyError, RecursionError):
        return None  # ruamel reads some YAML 1.1 differently: the caller formats from the plan
    text = out.getvalue()
    try:
        before = yaml.load(source, Loader=_Loader)
        if yaml.load(text, Loader=_Loader) != before:
            return None
        # ruamel leaves a space at the end of a folded plain line; dropping it changes no value
        # (folding drops it too), which the check confirms before keeping the change.
        tidy = re.sub(r"[ \t]+$", "", text, flags=re.MULTILINE)
        # ruamel drops one blank line at the top of a file and keeps the rest: drop them all,
        # and those at the end (unless a `|+` block holds them, which the check below sees).
        tidy = re.sub(r"\A\n+", "", tidy).rstrip("\n") + "\n"
        if tidy != text and yaml.load(tidy, Loader=_Loader) == before:
            return tidy
    except (yaml.YAMLError, RecursionError):
        return None
    return text


def _quote_escaped(node: Any) -> None:
    """Double-quote every string (value or key) holding a character only escapes keep."""
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if isinstance(node, dict):
        for key in list(node):
            value = node[key]
            if isinstance(value, str) and _ESCAPED.search(value) \
                    and not isinstance(value, DoubleQuotedScalarString):
                node[key] = DoubleQuotedScalarString(value)
            else:
                _quote_escaped(value)
            if isinstance(key, str) and _ESCAPED.search(key) \
                    and not isinstance(key, DoubleQuotedScalarString):
                at = list(node).index(key)
                value = node.pop(key)
                node.insert(at, DoubleQuotedScalarString(key), value)  # type: ignore[attr-defined]
    elif isinstance(node, list):
        for i, value in enumerate(node):
            if isinstance(value, str) and _ESCAPED.search(value) \
                    and not isinstance(value, DoubleQuotedScalarString):
                node[i] = DoubleQuotedScalarString(value)
            else:
                _quote_escaped(value)


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
        self.written: dict[Path, int] = {}  # the line that shows each path

    def line(self, depth: int, text: str, path: Path | None = None) -> None:
        pad = "  " * depth
        if path is not None and self.comments is not None:
            inner = pad + "  " if path[-1:] == ("}",) else pad  # above a `}`: inside its block
            for c in self.comments.leading.get(path, []):
                self.lines.append(inner + c)
        trailing = self.comments.trailing.get(path) if path is not None and self.comments \
            else None
        if path is not None:
            self.written[path] = len(self.lines)
        self.lines.append(pad + text + (f"  {trailing}" if trailing else ""))

    def leftovers(self) -> list[str]:
        """Comments on what the text no longer shows (a setting at its default, the `}` of a
        block that became one line) go with the closest thing it shows, never lost; those with
        nothing shown are returned, for the end of the file."""
        if self.comments is None:
            return []
        lost: list[str] = []
        for path in dict.fromkeys([*self.comments.leading, *self.comments.trailing]):
            if path in self.written:
                continue
            shown = path
            while shown and shown not in self.written:
                shown = shown[:-1]
            texts = [*self.comments.leading.get(path, [])]
            if path in self.comments.trailing:
                texts.append(self.comments.trailing[path])
            if shown:
                self.lines[self.written[shown]] += "".join("  " + t for t in texts)
            else:
                lost += texts
        return lost

    def blank(self) -> None:
        if self.lines and self.lines[-1] != "":
            self.lines.append("")


def _settings(w: _Writer, node: Node, path: Path, depth: int,
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
                w.line(depth, "}", (*esc, "}"))
        elif isinstance(value, Node) and not isinstance(value, Duration):
            name_part = f" {_word(value.name)}" if hasattr(value, "name") and key == "source" \
                else ""
            w.line(depth, f"{key}{name_part} {{", sub)
            _settings(w, value, sub, depth + 1, skip=("name",) if name_part else ())
            w.line(depth, "}", (*sub, "}"))
        else:
            w.line(depth, f"{key} {_value(key, value)}", sub)


def _entry(w: _Writer, word: str, name: str, node: Node, path: Path, depth: int,
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
    w.line(depth, "}", (*path, "}"))


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
    w.line(0, "}", ("model", "}"))
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
    w.line(0, "}", ("data", "}"))
    if plan.defaults != Defaults():
        w.blank()
        w.line(0, "defaults {", ("defaults",))
        _settings(w, plan.defaults, ("defaults",), 1)
        w.line(0, "}", ("defaults", "}"))
    sections = (("input_alerts", "input alert"), ("output_alerts", "output alert"),
                ("outcome_monitors", "outcome monitor"), ("playbooks", "playbook"),
                ("drift_risks", "drift risk"))
    for section, word in sections:
        for i, item in enumerate(getattr(plan, section)):
            w.blank()
            w.line(0, f"{word} {item.id} {{", (section, i))
            _settings(w, item, (section, i), 1, skip=("id",))
            w.line(0, "}", (section, i, "}"))
    end = [*w.leftovers(), *(comments.end if comments is not None else [])]
    if end:
        w.blank()
        w.lines += end
    return "\n".join(w.lines).rstrip("\n") + "\n"


# ------------------------------------------------------- comments across surfaces (conversion)
#
# The rule: a comment travels with the item it annotates. A comment on a line of its own goes
# above the next thing the target surface writes on a line of its own (an item, a setting, a
# step); a comment after code goes at the end of the line that shows the last key or item
# before it, or the nearest enclosing thing the target writes on a line (`id: x  # c` ends the
# item's head line in `.plan`, `range: [1, 2]  # c` the range's line). A comment with nothing
# after it goes at the end of the file. No comment is ever dropped: two that land on one line
# are joined there, in order; a character a YAML comment cannot hold (NEL, a control) is
# written as a visible `\uXXXX`.


def format_parsed(parsed: ParsedPlan, to: str) -> str:
    """A parsed plan (from either surface) as canonical text in surface ``to`` (`yaml` or
    `plan`), keeping its comments. The plan must be valid: a plan with errors may not be
    expressible in the other surface (``escalate to "not a name"``).

    >>> from planspec.parse_yaml import parse_yaml
    >>> parsed = parse_yaml("# the plan\\nplan: p   # its name\\nmodel: {name: m, version: '1',"
    ...                     " task: regression, deployment: batch, owners: [o], cadence: 1d}\\n"
    ...                     "data:\\n  timestamp: t\\n  features: {x: {type: numeric}}  # one\\n")
    >>> print(format_parsed(parsed, "plan"), end="")
    # the plan
    plan p  # its name
    <BLANKLINE>
    model m {
      version "1"
      task regression
      deployment batch
      owners ["o"]
      cadence 1d
    }
    <BLANKLINE>
    data {
      timestamp t
      feature x numeric  # one
    }
    """
    assert parsed.plan is not None, "format_parsed needs a plan that parsed"
    from_yaml = not parsed.source_map.file.endswith(".plan")
    if to == "plan":
        comments = _yaml_comments_for_plan(parsed) if from_yaml else parsed.comments
        return format_plan(parsed.plan, comments)
    if from_yaml:
        return format_yaml(parsed.plan, parsed.text)
    return format_yaml(parsed.plan, comments=parsed.comments)


def _in_condition(path: Path) -> bool:
    return len(path) > 3 and (path[0], path[2]) in CONDITION_FIELDS


def _anchors(smap: SourceMap, index: LineIndex) -> list[tuple[int, int, Path]]:
    """(offset, depth, path) of every key and list item in a YAML plan, in text order."""
    def offset(span: Span) -> int:
        return index.starts[span.line - 1] + span.col - 1

    found = [(offset(s), len(p), p) for p, s in smap.keys.items() if not _in_condition(p)]
    found += [(offset(s), len(p), p) for p, s in smap.values.items()
              if p and isinstance(p[-1], int) and p not in smap.keys and not _in_condition(p)]
    return sorted(found, key=lambda a: (a[0], a[1]))


def _shown_paths(plan: Plan, paths: list[Path]) -> set[Path]:
    """Which of ``paths`` the `.plan` text writes on a line of its own: the formatter is asked
    to put a marker comment above each, and the markers that appear say."""
    from planspec.parse import Comments

    probe = Comments(leading={p: [f"# planspec-probe {n}"] for n, p in enumerate(paths)})
    text = format_plan(plan, probe)
    return {paths[int(n)] for n in re.findall(r"^[ \t]*# planspec-probe (\d+)$", text, re.M)}


def _yaml_comments_for_plan(parsed: ParsedPlan) -> Any:
    """The comments of a YAML plan attached to the paths the `.plan` formatter writes."""
    from planspec.parse import Comments
    from planspec.parse_yaml import yaml_comments

    out = Comments()
    found = yaml_comments(parsed.text)
    if not found or parsed.plan is None:
        return out
    index = LineIndex(parsed.text)
    anchors = _anchors(parsed.source_map, index)
    candidates = sorted({p[:k] for _, _, p in anchors for k in range(1, len(p) + 1)},
                        key=lambda p: tuple(str(x) for x in p))
    shown = _shown_paths(parsed.plan, candidates)
    offsets = [a[0] for a in anchors]

    def next_shown(offset: int) -> Path | None:
        k = bisect.bisect_right(offsets, offset)
        return next((p for _, _, p in anchors[k:] if p in shown), None)

    def lead(offset: int, text: str) -> None:
        path = next_shown(offset)
        if path is None:
            out.end.append(text)
        else:
            out.leading.setdefault(path, []).append(text)

    for c in found:
        if c.own_line:
            lead(c.offset, c.text)
            continue
        # The last key or item before the comment: on its line, or the one a line such as
        # `]  # c` closes.
        k = bisect.bisect_left(offsets, c.offset) - 1
        path: Path | None = anchors[k][2] if k >= 0 else None
        while path and path not in shown:
            path = path[:-1]
        if not path:
            lead(c.offset, c.text)
        elif path in out.trailing:
            out.trailing[path] += "  " + c.text
        else:
            out.trailing[path] = c.text
    return out


#: What a YAML comment cannot hold as it is (YAML reads NEL, LS and PS as line breaks, and
#: refuses control characters): written as visible escapes instead.
_NOT_IN_YAML_COMMENT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


def _yaml_comment(text: str) -> str:
    return _NOT_IN_YAML_COMMENT.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _yaml_laid_out(text: str, comments: Any) -> str:
    """Canonical YAML ``text`` written from a plan, spaced as a person would (a blank line
    before each top-level section but `description` and between the items of a section),
    with a `.plan` file's ``comments`` beside what they annotated: above a key or list item, or
    at the end of the line that shows it."""
    from planspec.parse import Comments
    from planspec.parse_yaml import parse_yaml

    comments = comments or Comments()
    smap = parse_yaml(text).source_map
    data = yaml.load(text, Loader=_Loader)
    lines = text.split("\n")
    above: dict[int, list[str]] = {}
    after: dict[int, list[str]] = {}
    end = [_yaml_comment(c) for c in comments.end]
    spaced = [s for p, s in smap.keys.items() if len(p) == 1 and p[0] not in ("plan",
                                                                             "description")]
    spaced += [s for p, s in smap.values.items()
               if len(p) == 2 and isinstance(p[1], int) and p[1] > 0]
    for span in spaced:
        above.setdefault(span.line - 1, [""])

    def written(path: Path) -> Path:
        """The closest path the YAML text shows (`severity medium` is a default YAML omits)."""
        while path and path not in smap.keys and not (
                isinstance(path[-1], int) and path in smap.values):
            path = path[:-1]
        return path

    def value_at(path: Path) -> Any:
        node = data
        for part in path:
            node = node[part]
        return node

    for path, texts in comments.leading.items():
        shown = written(path)
        if not shown:
            end[:0] = [_yaml_comment(t) for t in texts]
            continue
        line = (smap.keys.get(shown) or smap.values[shown]).line - 1
        pad = lines[line][:len(lines[line]) - len(lines[line].lstrip())]
        above.setdefault(line, []).extend(pad + _yaml_comment(t) for t in texts)
    for path, comment in comments.trailing.items():
        shown = written(path)
        if not shown:
            end.append(_yaml_comment(comment))
            continue
        key, span = smap.keys.get(shown), smap.values[shown]
        first = lines[span.line - 1][span.col - 1:span.col]
        if (isinstance(value_at(shown), (dict, list)) and first not in ("[", "{")) \
                or first in ("|", ">"):
            line = (key or span).line - 1  # `key:` heads a block: the comment ends that line
        else:
            line = span.end_line - 1
        after.setdefault(line, []).append(_yaml_comment(comment))
    out: list[str] = []
    for i, line_text in enumerate(lines):
        out += above.get(i, [])
        out.append(line_text + "".join("  " + c for c in after.get(i, [])))
    result = "\n".join(out).rstrip("\n") + "\n"
    if end:
        result += "\n" + "\n".join(end) + "\n"
    try:
        if yaml.load(result, Loader=_Loader) != data:
            raise ValueError(result)
    except (yaml.YAMLError, ValueError):  # pragma: no cover - kept at the end rather than lost
        every = [*(t for ts in comments.leading.values() for t in ts),
                 *comments.trailing.values(), *comments.end]
        result = text + "\n" + "\n".join(_yaml_comment(c) for c in every) + "\n"
    if result == text or not (comments.leading or comments.trailing or comments.end):
        return result  # blank lines between items: ruamel keeps them as they are
    return _canonical_yaml(result) or result
