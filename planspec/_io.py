"""Writing output files atomically: a reader sees the old file or the new one, never half.

A new file gets the permissions any other program would give it (``0666`` less the umask); a file
that is replaced keeps its mode (and, where we may, its owner); a symbolic link is written through,
so the link stays a link. The temporary file lives beside the target under a name that says whose
it is, ``.NAME.planspec-PID-RANDOM.tmp``; one left behind by a run that was killed is removed by
the next write to the same target.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import time
from pathlib import Path

#: When this process started writing anything: only temporary files older than this are stale.
_STARTED = time.time()
#: Test hook: seconds to sleep with the temporary file written but not yet renamed, so a test can
#: kill the process at the worst moment.
PAUSE_ENV = "PLANSPEC_TEST_PAUSE_BEFORE_RENAME"


class OutputError(Exception):
    """An output path that cannot be written (its folder is missing, it is a folder, ...)."""


def temp_pattern(name: str) -> re.Pattern[str]:
    """The names of planspec's temporary files for a target called ``name``.

    >>> bool(temp_pattern("runbook.md").match(".runbook.md.planspec-123-0a1b2c3d.tmp"))
    True
    >>> bool(temp_pattern("runbook.md").match(".runbook.md.swp"))
    False
    """
    return re.compile(rf"\A\.{re.escape(name)}\.planspec-(\d+)-[0-9a-f]+\.tmp\Z")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but is not ours to signal
        return True
    return True


def remove_stale(target: Path) -> list[Path]:
    """Remove temporary files an earlier, interrupted planspec run left beside ``target``.

    Only files matching planspec's own pattern for this target, last changed before this run
    started, whose process is gone, are removed. Returns what was removed.
    """
    pattern = temp_pattern(target.name)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        m = pattern.match(entry.name)
        if not m or _alive(int(m.group(1))):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) and \
                    entry.stat(follow_symlinks=False).st_mtime < _STARTED:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _resolve(path: str | Path) -> Path:
    """The file to write: the final target of a symbolic link, checked to be writable-to."""
    given = Path(path)
    target = Path(os.path.realpath(given)) if given.is_symlink() else given
    if target.is_dir():
        raise OutputError(f"{path} is a folder; give the name of a file to write")
    folder = target.parent if str(target.parent) else Path(".")
    if not folder.exists():
        raise OutputError(f"{path}: the folder {folder} does not exist; create it first")
    if not folder.is_dir():
        raise OutputError(f"{path}: {folder} is not a folder")
    return target


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and a rename.

    If anything fails, the temporary file is removed and ``path`` is left as it was. A path that
    is not a regular file (``/dev/null``, a pipe) is written to directly. Raises
    :class:`OutputError` for a path that cannot be a file (and ``OSError`` for the rest, e.g. a
    folder without write permission). Returns the file written (a link's target).
    """
    target = _resolve(path)
    if target.exists() and not target.is_file():
        # Not a regular file (``/dev/null``, a pipe): written to directly, as renaming over it
        # would replace the device with a file.
        with open(target, "w", encoding="utf-8") as f:
            f.write(text)
        return target
    remove_stale(target)
    try:
        before: os.stat_result | None = target.stat()
    except FileNotFoundError:
        before = None
    import secrets  # here, not at the top: `validate` writes no file and need not load it

    while True:
        tmp = target.with_name(f".{target.name}.planspec-{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            # 0o666 less the umask, as for any new file; an existing file's mode is restored below.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # pragma: no cover - 32 random bits collided
            continue
        break
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            if before is not None:
                os.fchmod(f.fileno(), stat.S_IMODE(before.st_mode))
                with contextlib.suppress(OSError):  # only root may give a file away
                    os.fchown(f.fileno(), before.st_uid, before.st_gid)
            os.fsync(f.fileno())
        pause = os.environ.get(PAUSE_ENV)
        if pause:
            time.sleep(float(pause))
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target
