"""Files planspec writes: the umask for new files, the mode and link of replaced ones, clear
errors for paths that cannot be files, and nothing left behind by a run that was killed."""

from __future__ import annotations

import io
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from planspec._io import PAUSE_ENV, OutputError, remove_stale, temp_pattern, write_atomic
from planspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
PLAN = str(ROOT / "plans" / "rental_inspector.plan")


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out), out.getvalue()


@pytest.fixture
def umask() -> object:
    old = os.umask(0o027)
    yield 0o027
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_files_honour_the_umask(tmp_path: Path, umask: int) -> None:
    out = tmp_path / "runbook.md"
    assert run("render", PLAN, "-o", str(out))[0] == 0
    assert mode(out) == 0o666 & ~umask == 0o640
    os.umask(0o022)
    write_atomic(tmp_path / "other.txt", "x")
    assert mode(tmp_path / "other.txt") == 0o644


def test_fmt_w_keeps_the_mode_and_writes_through_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real" / "plan.plan"
    real.parent.mkdir()
    real.write_text((ROOT / "plans" / "rental_inspector.plan").read_text() + "\n\n\n")
    real.chmod(0o604)
    link = tmp_path / "link.plan"
    link.symlink_to(real)
    assert run("fmt", "-w", str(link))[0] == 0
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert mode(real) == 0o604
    assert real.read_text() == (ROOT / "plans" / "rental_inspector.plan").read_text()
    assert run("fmt", "--check", str(link))[0] == 0


def test_replacing_an_output_keeps_its_mode(tmp_path: Path) -> None:
    out = tmp_path / "runbook.md"
    out.write_text("old")
    out.chmod(0o600)
    assert run("render", PLAN, "-o", str(out))[0] == 0
    assert mode(out) == 0o600 and out.read_text().startswith("# Runbook")


@pytest.mark.parametrize("where", ["missing/runbook.md", ".", "afile/runbook.md"])
def test_output_that_cannot_be_a_file_is_a_usage_error(
        tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "afile").write_text("x")
    target = tmp_path / where
    code, _ = run("render", PLAN, "-o", str(target))
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "planspec: error:" in err and ("does not exist" in err or "folder" in err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing written
    with pytest.raises(OutputError):
        write_atomic(target, "x")


def test_unwritable_folder_is_a_usage_error(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    assert run("render", PLAN, "-o", str(folder / "x.md"))[0] == 2
    assert "cannot write" in capsys.readouterr().err


def test_temp_files_are_named_for_planspec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                           ) -> None:
    seen: list[str] = []
    real_replace = os.replace

    def spy(src: str | Path, dst: str | Path) -> None:
        seen.append(Path(src).name)
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    write_atomic(tmp_path / "out.md", "x")
    assert len(seen) == 1 and temp_pattern("out.md").match(seen[0]), seen
    assert seen[0].startswith(f".out.md.planspec-{os.getpid()}-")


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(done.stdout)


def test_stale_files_only_of_planspec_and_of_dead_runs_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "out.md"
    dead, old = _dead_pid(), time.time() - 3600
    stale = tmp_path / f".out.md.planspec-{dead}-0123abcd.tmp"
    live = tmp_path / f".out.md.planspec-{os.getppid()}-0123abcd.tmp"  # a running process
    other_target = tmp_path / f".other.md.planspec-{dead}-0123abcd.tmp"
    editor = tmp_path / ".out.md.swp"
    for p in (stale, live, other_target, editor):
        p.write_text("x")
        os.utime(p, (old, old))
    fresh = tmp_path / f".out.md.planspec-{dead}-fedcba98.tmp"  # newer than this run
    fresh.write_text("x")
    os.utime(fresh, (time.time() + 60, time.time() + 60))
    assert remove_stale(target) == [stale]
    assert {p.name for p in tmp_path.iterdir()} == {
        live.name, other_target.name, editor.name, fresh.name}


def test_a_killed_run_leaves_litter_that_the_next_run_removes(tmp_path: Path) -> None:
    out = tmp_path / "runbook.md"
    out.write_text("before")
    env = {**os.environ, PAUSE_ENV: "60"}
    planspec = shutil.which("planspec", path=str(Path(sys.executable).parent)) or "planspec"
    proc = subprocess.Popen([planspec, "render", PLAN, "-o", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        pattern = temp_pattern(out.name)
        while not [p for p in tmp_path.iterdir() if pattern.match(p.name)]:
            assert proc.poll() is None and time.monotonic() < deadline, "never paused"
            time.sleep(0.05)
        # The temporary file is complete; the run is killed before it can rename it.
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    [litter] = [p for p in tmp_path.iterdir() if pattern.match(p.name)]
    assert out.read_text() == "before"  # the target was never half-written
    os.utime(litter, (time.time() - 5, time.time() - 5))  # it predates the next run
    done = subprocess.run([planspec, "render", PLAN, "-o", str(out)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runbook.md"]
    assert out.read_text().startswith("# Runbook")
