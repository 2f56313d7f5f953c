"""A throwaway PostgreSQL server for tests: the machine's own `initdb` and `pg_ctl` on a temporary
directory and a free port, with password (SCRAM) authentication, stopped and removed afterwards.

As root the server runs as the `postgres` system user (PostgreSQL refuses to run as root). Where
no PostgreSQL binaries exist, :func:`find_bin` returns None and the tests that need a server skip
with the reason; `.ci/run` installs the `postgresql` package so CI always has one.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

USER = "planspec"
PASSWORD = "Tr0ub4dor-s3cret"
DATABASE = "ml"


def find_bin() -> Path | None:
    """The directory holding `initdb` and `pg_ctl`, newest version first, or None."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True,
                    key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit()
                    else 0):
        if os.access(f"{d}/initdb", os.X_OK) and os.access(f"{d}/pg_ctl", os.X_OK):
            return Path(d)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    """A running server: where it listens and how to reach it (the password is never in
    :attr:`uri`; tests pass it through PGPASSWORD or a pgpass file)."""

    port: int
    directory: Path

    @property
    def uri(self) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{DATABASE}"

    def admin_uri(self) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{DATABASE}"


def _repair_dev_null() -> None:
    """PostgreSQL's tools write to /dev/null as the `postgres` user. A program that renamed a
    file over /dev/null (as an atomic write to `-o /dev/null` once did) leaves a root-only
    regular file there; as root, put the device back."""
    import stat

    mode = os.stat("/dev/null").st_mode
    if stat.S_ISCHR(mode) and mode & 0o666 == 0o666:
        return
    if os.geteuid() != 0:
        raise RuntimeError("/dev/null is not a world-writable device; PostgreSQL cannot start")
    new = "/dev/null.planspec-repair"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(new)
    os.mknod(new, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.chmod(new, 0o666)
    os.replace(new, "/dev/null")


@contextlib.contextmanager
def running_postgres() -> Iterator[Server]:
    """Start a server (raising RuntimeError with the log when it cannot), yield it, stop it."""
    bin_dir = find_bin()
    if bin_dir is None:
        raise RuntimeError("no PostgreSQL binaries (initdb, pg_ctl) on this machine")
    as_user: list[str] = []
    uid = gid = None
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError("running as root and there is no `postgres` user to run the "
                               "server as") from None
        uid, gid = entry.pw_uid, entry.pw_gid
        as_user = ["runuser", "-u", "postgres", "--"]
        _repair_dev_null()
    # Directly under /tmp: pytest's own tmp folders are private to root.
    top = Path(tempfile.mkdtemp(prefix="planspec-pg-"))
    data = top / "data"
    pwfile = top / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if uid is not None and gid is not None:
        for p in (top, pwfile):
            os.chown(p, uid, gid)
    port = _free_port()
    log = top / "log"

    def run(*cmd: str) -> None:
        done = subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120)
        if done.returncode:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{Path(cmd[0]).name} failed: {done.stderr.strip()}\n{tail}")

    started = False
    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", USER, f"--pwfile={pwfile}",
            "--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync")
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60",
            "-o", f"-p {port} -k {top} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        started = True
        _create_database(port)
        yield Server(port, top)
    finally:
        if started:
            subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m",
                            "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(top, ignore_errors=True)


def _create_database(port: int) -> None:
    from adbc_driver_postgresql import dbapi

    con = dbapi.connect(f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{port}/postgres")
    try:
        con.adbc_connection.set_autocommit(True)  # CREATE DATABASE cannot run in a transaction
        with con.cursor() as cur:
            cur.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        con.close()


def load_tables(server: Server, tables: dict[str, object]) -> None:
    """Create and fill tables from Arrow tables (ADBC's bulk ingest: COPY under the hood)."""
    from adbc_driver_postgresql import dbapi

    con = dbapi.connect(server.admin_uri())
    try:
        with con.cursor() as cur:
            for name, table in tables.items():
                cur.adbc_ingest(name, table, mode="replace")
        con.commit()
    finally:
        con.close()
