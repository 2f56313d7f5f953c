"""Every code block in README.md runs: Python is executed, console sessions are replayed and their
output compared, the YAML plan validates, the `.plan` snippet parses, and `make` targets exist.
A block in any other language fails this test until it gets a runner here."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from planspec.cli import main, parse_args
from planspec.parse import parse_plan

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
BLOCKS = [(m.group(1), m.group(2), README[:m.start()].count("\n") + 1)
          for m in re.finditer(r"^```(\w*)\n(.*?)^```$", README, re.M | re.S)]
RUNNERS = {"python", "console", "sh", "yaml", "plan"}


def _yaml_plan() -> str:
    """The README's plan: its first YAML block (later ones are fragments of a plan)."""
    return next(t for lang, t, _ in BLOCKS if lang == "yaml")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder as `make demo` leaves a checkout: the plans and a small demo-out/."""
    from planspec.demo import write_demo_data

    d = tmp_path_factory.mktemp("readme")
    (d / "plans").mkdir()
    for p in (ROOT / "plans").iterdir():
        (d / "plans" / p.name).write_bytes(p.read_bytes())
    write_demo_data(d / "demo-out", rows=20_000)
    assert main(["baseline", str(d / "plans" / "rental_inspector.yaml"), "--data",
                 str(d / "demo-out" / "baseline.parquet"), "-q", "-o",
                 str(d / "demo-out" / "baseline.json")]) == 0
    assert main(["check", str(d / "plans" / "rental_inspector.yaml"), "--baseline",
                 str(d / "demo-out" / "baseline.json"), "--data",
                 str(d / "demo-out" / "scored.parquet"), "--format", "json", "-q", "-o",
                 str(d / "demo-out" / "results.json"), "--fail-on", "never"]) == 0
    # The error example: the README's plan with one column misspelt.
    broken = _yaml_plan().replace("when: mean(listing_price)", "when: mean(listing_prise)", 1)
    (d / "plans" / "broken.yaml").write_text(broken)
    return d


def test_every_block_has_a_runner() -> None:
    assert BLOCKS
    assert [(lang, line) for lang, _, line in BLOCKS if lang not in RUNNERS] == []


@pytest.mark.parametrize(("code", "line"), [(t, n) for lang, t, n in BLOCKS if lang == "python"])
def test_python_block_runs(code: str, line: int, workdir: Path) -> None:
    done = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, f"README.md:{line}: {done.stderr}"


@pytest.mark.parametrize(("session", "line"),
                         [(t, n) for lang, t, n in BLOCKS if lang == "console"])
def test_console_block_replays(session: str, line: int, workdir: Path) -> None:
    commands = re.split(r"^\$ ", session, flags=re.M)[1:]
    assert commands, f"README.md:{line}: a console block shows `$ command` lines"
    for command in commands:
        first, _, expected = command.partition("\n")
        argv = shlex.split(first)
        assert argv[0] == "planspec", f"README.md:{line}: only planspec commands are replayed"
        done = subprocess.run([sys.executable, "-m", "planspec", *argv[1:]], cwd=workdir,
                              capture_output=True, text=True, timeout=300)
        shown = (done.stdout + done.stderr).rstrip("\n")
        assert shown == expected.rstrip("\n"), f"README.md:{line}: `{first}` printed\n{shown}"


#: Commands that reach the network are only parsed (their arguments must still be valid).
PARSED_ONLY = {"notify"}


@pytest.mark.parametrize(("text", "line"), [(t, n) for lang, t, n in BLOCKS if lang == "sh"])
def test_shell_block_runs(text: str, line: int, workdir: Path) -> None:
    makefile = (ROOT / "Makefile").read_text()
    for command in text.replace("\\\n", " ").splitlines():
        argv = shlex.split(command, comments=True)
        if not argv:
            continue
        if argv[0] == "make":
            # Checked by name: running make inside the suite would run the suite recursively.
            assert re.search(rf"^{re.escape(argv[1])}:", makefile, re.M), command
            continue
        if argv[0] == "export":  # the environment of a command that is only parsed here
            continue
        assert argv[0] == "planspec", f"README.md:{line}: add a runner for {command!r}"
        if argv[1] in PARSED_ONLY or "postgresql://" in command:  # needs a server
            parse_args(argv[1:])
            continue
        done = subprocess.run([sys.executable, "-m", "planspec", *argv[1:]], cwd=workdir,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"README.md:{line}: `{command}`: {done.stderr}"


def _merge(into: dict[str, object], fragment: dict[str, object]) -> None:
    for key, value in fragment.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)  # type: ignore[arg-type]
        else:
            into[key] = value


@pytest.mark.parametrize(("text", "line"), [(t, n) for lang, t, n in BLOCKS if lang == "yaml"])
def test_yaml_block_validates(text: str, line: int, tmp_path: Path) -> None:
    import yaml

    plan = yaml.safe_load(_yaml_plan())
    _merge(plan, yaml.safe_load(text))  # a fragment shows part of the README's plan
    path = tmp_path / "readme.yaml"
    path.write_text(yaml.safe_dump(plan))
    assert main(["validate", "-q", str(path)]) == 0, f"README.md:{line}"


@pytest.mark.parametrize(("text", "line"), [(t, n) for lang, t, n in BLOCKS if lang == "plan"])
def test_plan_snippet_parses(text: str, line: int) -> None:
    # A snippet, not a whole plan: it must parse; only the items it leaves out may be missing.
    found = parse_plan(text, "snippet.plan").diagnostics
    assert not [d for d in found if not d.code.startswith("PS2")], found
