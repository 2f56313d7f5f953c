"""Plan text is inert in every output: hostile text in every free-text field of a plan (and of a
results file) renders as the same visible text, and no element or attribute comes from it."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from planspec.english import plan_summary
from planspec.load import load_plan
from planspec.render import render_report, render_runbook
from planspec.results import Results

from .mdkit import inlines, structure

ROOT = Path(__file__).resolve().parent.parent

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<div onmouseover="alert(1)">hover me</div>',
    "[click](javascript:alert(1)) and ![pic](http://x.example/p.png)",
    "`tick` and ``two`` ticks",
    "a | b || c",
    "# not a heading",
    "line one\nline two\n\n# a new block\n- a list",
    "*em* _em_ **strong** ~~gone~~ __u__",
    "&lt;script&gt; &amp; &#60;b&#62;",
    "<http://auto.example> <mailto:x@y.example>",
    "1. not a list",
    "- not an item",
    "> not a quote",
    "---",
    "    not code",
    "back\\slash \\* \\<i>",
    "=====",
    "<!-- comment --> <?php ?> <![CDATA[x]]>",
    "+ plus",
    "1986) a year",
    "x\u2028y\u0085z\r\nw",
]


def _fields(d: dict[str, Any]) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every free-text field of a plan in YAML form."""
    yield d, "description"
    m = d["model"]
    yield from ((m, k) for k in ("name", "version", "description"))
    yield from ((m["owners"], i) for i in range(len(m["owners"])))
    for col in [*d["data"]["features"].values(), *d["data"]["predictions"].values()]:
        yield col, "description"
        if "unit" in col or "range" in col:
            yield col, "unit"
    for section in ("input_alerts", "output_alerts", "outcome_monitors"):
        for a in d[section]:
            yield a, "why"
            if section == "outcome_monitors":
                b = a["source"].setdefault("biases", [])
                yield from ((b, i) for i in range(len(b)))
    for p in d["playbooks"]:
        yield p, "title"
        yield p, "owner"
        n = p.setdefault("notify", ["x"])
        yield from ((n, i) for i in range(len(n)))
        yield from ((p["steps"], i) for i in range(len(p["steps"])))
        for e in p.get("escalate", []):
            yield e, "why"
    for r in d["drift_risks"]:
        yield r, "title"
        yield r, "why"


def _plan(tmp_path: Path, text: Callable[[int], str], name: str) -> tuple[Path, list[str]]:
    d = yaml.safe_load((ROOT / "plans" / "rental_inspector.yaml").read_text())
    d = copy.deepcopy(d)
    used = []
    for i, (container, key) in enumerate(_fields(d)):
        container[key] = text(i)
        used.append(text(i))
    path = tmp_path / name
    path.write_text(yaml.safe_dump(d, allow_unicode=True, sort_keys=False))
    return path, used


def _reads_the_same(written: str, shown: list[str]) -> bool:
    want = " ".join(written.replace("\u2028", " ").replace("\u0085", " ").split())
    return any(want in " ".join(s.split()) for s in shown)


def test_hostile_plan_text_is_inert_in_the_runbook(tmp_path: Path) -> None:
    hostile, texts = _plan(tmp_path, lambda i: f"{HOSTILE[i % len(HOSTILE)]} #{i}", "h.yaml")
    plain, _ = _plan(tmp_path, lambda i: f"plain text {i}", "p.yaml")
    parsed, baseline = load_plan(hostile), load_plan(plain)
    assert parsed.plan is not None and not [d for d in parsed.diagnostics
                                            if d.severity == "error"], parsed.diagnostics
    assert len(texts) > len(HOSTILE)  # every hostile string lands somewhere
    out = render_runbook(parsed)
    # The same elements and attributes as a plan with plain text: none came from the plan.
    assert structure(out) == structure(render_runbook(baseline))
    for t in ("html_block", "html_inline", "link_open", "image", "em_open", "strong_open"):
        assert t not in {s[0] for s in structure(out)} - {s[0] for s in
                                                           structure(render_runbook(baseline))}
    shown = inlines(out)
    missing = [t for t in texts if not _reads_the_same(t, shown)]
    assert not missing


def test_hostile_text_in_a_results_file_is_inert_in_the_report() -> None:
    counter = itertools.count()

    def h() -> str:
        i = next(counter)
        return f"{HOSTILE[i % len(HOSTILE)]} #{i}"

    def results(text: Callable[[], str]) -> Results:
        playbook = {"id": "pb", "title": text(), "kind": "investigate", "owner": text(),
                    "response_time": "1 day", "notify": [text()], "steps": [text(), text()]}
        window = {"start": "2026-01-05T00:00:00Z", "end": "2026-01-12T00:00:00Z", "n": 10,
                  "value": 0.5, "status": "fail", "firing": "fail"}
        return Results.model_validate({
            "plan": "p", "planspec_version": "0", "baseline": {"rows": 10},
            "data": {"rows": 10, "start": "2026-01-05T00:00:00Z", "end": "2026-01-12T00:00:00Z"},
            "windows": [],
            "checks": [{"id": "a", "kind": "input", "column": "x", "statistic": "psi",
                        "when": text(), "warn": None, "source": "p.yaml:3", "playbook": "pb",
                        "severity": "high", "window": "7d", "windows": [window]}],
            "firing": [{"id": "a", "kind": "input", "level": "fail", "since": window["start"],
                        "playbook": "pb", "severity": "high"}],
            "actions": [{"alert": "a", "level": "fail", "since": window["start"],
                         "playbook": playbook,
                         "escalations": [{"playbook": playbook, "why": text()}],
                         "risks": [{"id": "r", "title": text(), "kind": "concept",
                                    "date": "2026-01-01"}]}]})

    hostile = render_report(results(h))
    plain = render_report(results(lambda: "plain text"))
    assert structure(hostile) == structure(plain)
    shown = inlines(hostile)
    written = [f"{HOSTILE[i % len(HOSTILE)]} #{i}" for i in range(next(counter))]
    # The condition sits in a code span: its text shows as written, on one line.
    assert not [t for t in written if not _reads_the_same(t, shown)]


@pytest.mark.parametrize("text", ["\x1b[2J\x1b[31mred", "two\nlines", "bell\x07"])
def test_summary_for_a_terminal_is_one_line_without_control_characters(
        tmp_path: Path, text: str) -> None:
    path, _ = _plan(tmp_path, lambda i: "x", "t.yaml")
    d = yaml.safe_load(path.read_text())
    d["model"]["name"] = text
    path.write_text(yaml.safe_dump(d))
    parsed = load_plan(path)
    assert parsed.plan is not None
    out = plan_summary(parsed.plan, parsed.source_map.file)
    first = out.splitlines()[0]
    assert "\x1b" not in out and "\x07" not in out
    assert " ".join(text.split("\n")).replace("\x1b", "\\x1b").replace("\x07", "\\x07") in first


@pytest.mark.parametrize("name", ["<script>x</script>", "a`b", "``", "` x `", "a|b", "a\nb",
                                  "</code><img src=x onerror=alert(1)>", "[l](http://x)"])
def test_code_spans_hold_any_name_inertly(name: str) -> None:
    from planspec.english import code

    text = f"| a | b |\n|---|---|\n| {code(name)} | x |\n\nSee {code(name)}.\n"
    found = structure(text)
    assert [t for t in found if t[0] in ("html_inline", "html_block", "link_open", "image")] == []
    assert sum(t[0] == "td_open" for t in found) == 2  # the table keeps its two cells
    folded = name.replace("\n", " ")
    shown = inlines(text)
    assert shown[2] == folded  # in a table cell, the escaped pipe reads as a pipe
    # In prose a code span has no escapes: a pipe shows its backslash (names rarely hold one).
    assert shown[-1] == f"See {folded.replace('|', chr(92) + '|')}."
