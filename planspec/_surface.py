"""How each surface writes a setting or names a place, for the messages and hints of diagnostics:
YAML says `version:` and `input_alerts[0]`, a `.plan` file says `version` and `input alert`.

Every message or hint that shows plan syntax renders it here, so a diagnostic on a `.plan` file
speaks `.plan` and one on a YAML file speaks YAML.
"""

from __future__ import annotations

from typing import Literal

Surface = Literal["yaml", "plan"]

#: Model keys that a `.plan` file writes as other words (a keyword per entry, or per item).
PLAN_WORDS = {
    "features": "feature", "predictions": "output", "steps": "step", "biases": "bias",
    "warn": "warn when", "escalate": "escalate to", "input_alerts": "input alert",
    "output_alerts": "output alert", "outcome_monitors": "outcome monitor",
    "playbooks": "playbook", "drift_risks": "drift risk",
}
#: What a `.plan` entry of these takes after its keyword.
_PLAN_ARGS = {"features": "NAME TYPE", "predictions": "NAME KIND", "input_alerts": "NAME { … }",
              "output_alerts": "NAME { … }", "outcome_monitors": "NAME { … }",
              "playbooks": "NAME { … }", "drift_risks": "NAME { … }"}


def word(surface: Surface, key: str) -> str:
    """The word ``surface`` writes for the model key ``key``.

    >>> word("plan", "features"), word("yaml", "features")
    ('feature', 'features')
    """
    return PLAN_WORDS.get(key, key) if surface == "plan" else key


def setting(surface: Surface, key: str, value: str | None = None) -> str:
    """A setting as ``surface`` writes it, in backquotes: the key alone (what to add) or with a
    value. A ``range`` value is given as ``low, high``.

    >>> setting("yaml", "version"), setting("plan", "version")
    ('`version:`', '`version`')
    >>> setting("yaml", "range", "low, high"), setting("plan", "range", "low, high")
    ('`range: [low, high]`', '`range low to high`')
    >>> setting("plan", "features"), setting("plan", "known_at", "prediction + 30d")
    ('`feature NAME TYPE`', '`known_at "prediction + 30d"`')
    """
    if surface == "plan":
        head = PLAN_WORDS.get(key, key)
        if value is None:
            value = _PLAN_ARGS.get(key)
        elif key == "range":
            value = " to ".join(v.strip() for v in value.split(","))
        elif " " in value:
            value = f'"{value}"'  # text with spaces is a string in `.plan`
        return f"`{head} {value}`" if value else f"`{head}`"
    if value is None:
        return f"`{key}:`"
    return f"`{key}: [{value}]`" if key == "range" else f"`{key}: {value}`"


def place(surface: Surface, path: tuple[str | int, ...]) -> str:
    """Where ``path`` is, in the words of ``surface``: `input_alerts[0].source` in YAML,
    `the source of an outcome monitor` in a `.plan` file (whose diagnostics point at the line).

    >>> place("yaml", ("data", "features", "sqft", "range"))
    'data.features.sqft.range'
    >>> place("plan", ("data", "features", "sqft", "range"))
    '`range` of feature `sqft`'
    >>> place("plan", ("input_alerts", 0))
    'this input alert'
    """
    if surface == "yaml":
        out = ""
        for part in path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out or "the plan"
    parts = list(path)
    while parts and isinstance(parts[-1], int) and len(parts) > 2:
        parts.pop()  # the n-th value of a list: its key says where
    names: list[str] = []
    i = 0
    while i < len(parts):
        part = parts[i]
        nxt = parts[i + 1] if i + 1 < len(parts) else None
        if part in ("features", "predictions") and isinstance(nxt, str) and len(names) <= 1:
            names.append(f"{PLAN_WORDS[str(part)]} `{nxt}`")
            i += 2
        elif isinstance(nxt, int) and str(part) in PLAN_WORDS:
            names.append(f"this {PLAN_WORDS[str(part)]}")
            i += 2
        else:
            names.append(f"`{part}`")
            i += 1
    if not names:
        return "the plan"
    return " of ".join(reversed(names[-2:]))
