"""The wheel carries the grammar and the templates, and the installed package loads them."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(out), str(ROOT)], check=True, capture_output=True)
    [whl] = out.glob("planspec-*.whl")
    return whl


def test_wheel_contains_grammar_and_templates(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "planspec/_data/grammar/planspec.lark" in names
    assert "planspec/_data/renderers/report.md.j2" in names
    assert "planspec/py.typed" in names  # type checkers use the package's annotations


def test_installed_package_loads_its_own_resources(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    probe = (
        "import planspec, planspec._resources as r\n"
        "from planspec._expr import parse_condition\n"
        "from planspec.render import environment\n"
        f"site = {str(site)!r}\n"
        "assert planspec.__file__.startswith(site), planspec.__file__\n"
        "assert str(r.grammar_path()).startswith(site), r.grammar_path()\n"
        "assert str(r.templates_dir()).startswith(site), r.templates_dir()\n"
        "parse_condition('psi(x) > 0.2')\n"
        "environment().get_template('report.md.j2')\n"
        "print('ok')\n"
    )
    # Run from an empty folder with the unpacked wheel first on the path, so the checkout's
    # grammar/ and renderers/ cannot be what is found.
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
