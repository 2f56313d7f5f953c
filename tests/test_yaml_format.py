"""The YAML formatter keeps what people wrote: comments, blank lines, key order, quoting and
integers; only the layout becomes canonical. The shipped plan is canonical."""

from __future__ import annotations

import io
from pathlib import Path

import yaml

from planspec.cli import main
from planspec.format import format_yaml
from planspec.load import load_plan

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "plans" / "rental_inspector.yaml"


def _fmt(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(["fmt", *args], out=out), out.getvalue()


def test_shipped_yaml_is_canonical() -> None:
    assert _fmt("--check", str(SHIPPED)) == (0, "")


def test_fmt_w_keeps_comments_and_integers(tmp_path: Path) -> None:
    path = tmp_path / "plan.yaml"
    original = SHIPPED.read_text()
    path.write_text(original)
    assert _fmt("-w", str(path))[0] == 0
    text = path.read_text()
    assert text == original
    comments = [line.strip() for line in original.splitlines() if line.strip().startswith("#")]
    assert comments and all(c in text for c in comments)
    assert "range: [200, 25000]" in text and "200.0" not in text


def test_layout_becomes_canonical_without_loss(tmp_path: Path) -> None:
    messy = SHIPPED.read_text().replace("key: listing_id", "key:     listing_id").replace(
        "range: [200, 25000]", "range: [ 200,25000 ]   # dollars")
    path = tmp_path / "messy.yaml"
    path.write_text(messy)
    code, out = _fmt(str(path))
    assert code == 0
    assert yaml.safe_load(out) == yaml.safe_load(messy)
    assert "range: [200, 25000]" in out and "# dollars" in out
    path.write_text(out)
    assert _fmt("--check", str(path))[0] == 0  # formatting is idempotent


def test_quoting_and_block_styles_are_kept(tmp_path: Path) -> None:
    text = SHIPPED.read_text()
    assert 'version: 3.2.0' in text or "version: '3.2.0'" in text or 'version: "3.2.0"' in text
    assert "description: >-" in text
    plan = load_plan(SHIPPED).plan
    assert plan is not None
    out = format_yaml(plan, text)
    assert out.count("description: >-") == text.count("description: >-")


def test_plan_to_yaml_writes_whole_numbers_as_integers(tmp_path: Path) -> None:
    code, out = _fmt("--to", "yaml", str(ROOT / "plans" / "rental_inspector.plan"))
    assert code == 0
    assert "- 200\n" in out and "- 25000\n" in out and "200.0" not in out
