"""Start-up: the commands a pre-commit hook runs load no numerical stack, and the grammar's
parser tables come from a cache after the first run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "scipy", "pyarrow", "pandas", "polars")
#: What the plan model no longer needs: pydantic (its import and validator build alone cost
#: more than the start-up budget); only `schema` and the engine's results load it.
PYDANTIC = ("pydantic", "pydantic_core", "annotated_types")

_PROBE = f"""
import io, json, sys
from planspec.cli import main
rc = main(sys.argv[1:], out=io.StringIO())
print(json.dumps({{"rc": rc, "loaded": [m for m in {HEAVY!r} if m in sys.modules],
                  "pydantic": [m for m in {PYDANTIC!r} if m in sys.modules]}}))
"""


def _run(args: list[str], env_cache: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True,
                          cwd=ROOT, env={"PLANSPEC_CACHE_DIR": str(env_cache),
                                         "PATH": "/usr/bin:/bin"}, check=False)
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("args", [
    ["validate", "plans/rental_inspector.yaml", "plans/rental_inspector.plan"],
    ["validate", "-q", "plans/rental_inspector.yaml", "plans/rental_inspector.plan"],
    ["validate", "tests/cases/PS303_unknown_column.yaml"],
    ["fmt", "plans/rental_inspector.plan"],
    ["fmt", "--check", "plans/rental_inspector.yaml"],
    ["fmt", "--to", "plan", "plans/rental_inspector.yaml"],
    ["schema"],
    ["explain", "PS303"],
])
def test_light_commands_load_no_numerical_stack(args: list[str], tmp_path: Path) -> None:
    result = _run(args, tmp_path)
    assert result["rc"] in (0, 1)
    assert result["loaded"] == []
    # The schema is written by pydantic twins of the plan's classes; nothing else here loads
    # pydantic (validate's summary is plain text).
    if args[0] != "schema":
        assert result["pydantic"] == []


def test_importing_planspec_loads_no_numerical_stack(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", "import sys, planspec, planspec.load; "
                           f"print([m for m in {HEAVY!r} if m in sys.modules])"],
                          capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"


BROKEN = "tests/cases/PS102_condition_syntax.plan"  # a syntax error: lark reads it


def test_a_broken_plan_loads_lark_and_its_grammar_once(tmp_path: Path) -> None:
    first = _structure(["validate", "-q", BROKEN], tmp_path)
    assert first["rc"] == 1 and first["grammar_builds"] == 1  # an empty cache: built once
    assert "lark" in first["modules"]
    again = _structure(["validate", "-q", BROKEN], tmp_path)
    assert again["rc"] == 1 and again["grammar_builds"] == 0  # loaded from the cache


def test_grammar_tables_are_cached_and_reused(tmp_path: Path) -> None:
    first = _run(["validate", BROKEN], tmp_path)
    cached = list(tmp_path.glob("grammar-*.lark"))
    assert first["rc"] == 1 and len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    assert _run(["validate", BROKEN], tmp_path)["rc"] == 1
    assert cached[0].stat().st_mtime_ns == stamp  # read, not rebuilt
    assert not list(tmp_path.glob(".grammar-*"))  # no temporary files left behind


def test_a_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    _run(["validate", BROKEN], tmp_path)
    (cached,) = tmp_path.glob("grammar-*.lark")
    cached.write_bytes(b"not a parser")
    assert _run(["validate", BROKEN], tmp_path)["rc"] == 1
    assert cached.read_bytes() != b"not a parser"


def test_an_unwritable_cache_still_parses(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert _run(["validate", BROKEN], blocker / "sub")["rc"] == 1


_STRUCTURE = """
import io, json, sys
built = []
import builtins
real_import = builtins.__import__
def watching(name, *a, **k):  # counts Lark() compiling the grammar (Lark.load() does not),
    # without importing lark before planspec would
    module = real_import(name, *a, **k)
    ll = sys.modules.get("lark.lark")
    if ll is not None and hasattr(ll, "Lark") and not getattr(ll, "_counted", False):
        ll._counted = True
        real = ll.load_grammar
        def counting(*a, **k):
            built.append(1)
            return real(*a, **k)
        ll.load_grammar = counting
    return module
builtins.__import__ = watching
from planspec.cli import main
rc = main(sys.argv[1:], out=io.StringIO())
import planspec.model as m
from planspec._node import Node
models = [n for n, c in vars(m).items() if isinstance(c, type) and issubclass(c, Node)
          and c.__module__ == m.__name__]
print(json.dumps({"rc": rc, "grammar_builds": len(built),
                  "modules": sorted(k for k in sys.modules if k.split(".")[0] in
                                    ("jinja2", "markupsafe", "ruamel", "planspec", "lark",
                                     "pydantic", "pydantic_core", "annotated_types"))
                  , "built": [n for n in models if "_spec_" in vars(getattr(m, n))],
                  "models": models}))
"""


def _structure(args: list[str], cache: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", _STRUCTURE, *args], capture_output=True,
                          text=True, cwd=ROOT, check=False,
                          env={"PLANSPEC_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"})
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_validate_quiet_loads_only_what_validating_needs(tmp_path: Path) -> None:
    """What `planspec validate --quiet` (the pre-commit hook) costs is set by what it loads:
    no renderers (jinja2), no results or engine models, no round-trip YAML library, the
    grammar's tables from the cache, and no pydantic: the plan's classes build their own
    validators, and only those of the classes a plan holds."""
    args = ["validate", "-q", "plans/rental_inspector.yaml", "plans/rental_inspector.plan"]
    result = _structure(args, tmp_path)
    assert result["rc"] == 0
    modules = set(result["modules"])
    # Valid plans are read by the hand-written parser: lark is never imported, nor its
    # grammar built or loaded.
    assert not {m for m in modules if m.split(".")[0] == "lark"}
    assert result["grammar_builds"] == 0 and not list(tmp_path.glob("grammar-*.lark"))
    assert not {m for m in modules if m.split(".")[0] in ("jinja2", "markupsafe", "ruamel")}
    for heavy in ("planspec.render", "planspec.results", "planspec.compile", "planspec.engine",
                  "planspec.format", "planspec.thresholds"):
        assert heavy not in modules, heavy
    # The plan model is not pydantic (whose import and validator build alone cost more than
    # the start-up budget), and the pydantic twins that write the schema are not loaded.
    assert not {m for m in modules if m.split(".")[0] in ("pydantic", "pydantic_core",
                                                           "annotated_types")}
    assert "planspec._schema" not in modules
    # A class resolves its annotations and compiles its validators when first used: a plan
    # without row filters or `between` never builds theirs. (The parser builds a condition's
    # nodes without validating them, so their classes need not build theirs either.)
    built = set(result["built"])
    assert {"Plan", "Alert", "Duration"} <= built
    assert set(result["models"]) > built


def test_validate_with_its_summary_loads_no_renderer(tmp_path: Path) -> None:
    """The summary `validate` prints is plain text: it loads no template engine either."""
    loud = _structure(["validate", "plans/rental_inspector.yaml"], tmp_path)
    assert loud["rc"] == 0
    assert not {m for m in loud["modules"] if m.split(".")[0] in ("jinja2", "markupsafe")}
    assert "planspec.render" not in loud["modules"]


@pytest.mark.parametrize("args", [["--version"], ["explain", "PS303"], ["explain"]])
def test_commands_that_read_no_plan_load_no_plan_machinery(args: list[str],
                                                           tmp_path: Path) -> None:
    """`--version` and `explain` answer from the catalogue: no parser, model or validator."""
    probe = ("import io, json, sys\nfrom planspec.cli import main\n"
             "try:\n    main(sys.argv[1:], out=io.StringIO())\nexcept SystemExit:\n    pass\n"
             "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True,
                          cwd=ROOT, check=True, env={"PATH": "/usr/bin:/bin"})
    loaded = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert not loaded & {"planspec.load", "planspec.model", "planspec.check", "planspec._expr",
                         "pydantic", "yaml", "lark"}, loaded
