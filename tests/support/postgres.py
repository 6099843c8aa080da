"""A private PostgreSQL server for tests, from Debian's binaries: ``initdb`` into a temporary folder, ``postgres``
on a loopback port chosen at run time with its unix socket in that folder, a fresh database per test
(``CREATE DATABASE``, dropped after), always stopped and removed.

Owns only the temporary folder and the server it starts there; never touches the machine's own server (port
5432, /var/run/postgresql). Run as root (a container), the server runs as the ``postgres`` system user, since
PostgreSQL refuses to run as root. The server's time zone is ``Asia/Shanghai``, not UTC, so that a naive
timestamp sent to it (read in the session's zone) shows up as an 8-hour error instead of passing unnoticed.
"""

from __future__ import annotations

import ctypes
import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from sharpeyes.proc import free_port

INSTALL_HINT = "PostgreSQL server binaries missing: apt-get install -y postgresql (scripts/setup-system.sh)"
SUPERUSER = "sharpeyes"
SERVER_TIMEZONE = "Asia/Shanghai"


def postgres_bindir() -> Path:
    """The newest /usr/lib/postgresql/<major>/bin holding initdb and postgres; RuntimeError naming the package when
    there is none."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")
             if (Path(p).parent / "postgres").exists()]
    if not found:
        raise RuntimeError(INSTALL_HINT)
    return max(found, key=lambda d: int(d.parent.name) if d.parent.name.isdigit() else 0)


def _die_with_parent() -> None:  # in the child, after the switch of user: the server dies with the test run
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGQUIT)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class PostgresServer:
    """One throw-away PostgreSQL cluster. ``start()`` / ``stop()``, or use it as a context manager."""

    def __init__(self, *, timezone: str = SERVER_TIMEZONE) -> None:
        self.bindir = postgres_bindir()
        self.timezone = timezone
        self.root = Path(tempfile.mkdtemp(prefix="sharpeyes-pg-"))
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._user: str | None = None
        self._names = itertools.count(1)
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root, and there is no postgres user to run the server as: "
                                   + INSTALL_HINT) from None
            self._user = "postgres"
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.data = self.root / "data"
        self.log = self.root / "server.log"

    # ------------------------------------------------------------------------------------------ server
    def _run(self, cmd: list[str], **kw: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(cmd, user=self._user, stdin=subprocess.DEVNULL, cwd=self.root, **kw)

    def start(self, timeout: float = 30.0) -> PostgresServer:
        init = self._run([str(self.bindir / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                          "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = init.communicate(timeout=120)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}): {out.decode(errors='replace')[-800:]}")
        for attempt in range(5):
            self.port = free_port()
            try:
                self._start_server(timeout)
                return self
            except RuntimeError:
                if attempt == 4 or "could not bind" not in self._log_tail():
                    self.stop()
                    raise
        return self

    def _start_server(self, timeout: float) -> None:
        log = open(self.log, "ab")
        try:
            self.proc = self._run(
                [str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}",
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", f"timezone={self.timezone}", "-c", "max_connections=200", "-c", "shared_buffers=32MB"],
                stdout=log, stderr=log, start_new_session=True, preexec_fn=_die_with_parent)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.proc.returncode}: {self._log_tail()}")
            try:
                with psycopg.connect(self.dsn("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise RuntimeError(f"postgres did not accept connections on port {self.port} within {timeout:.0f}s: "
                           f"{self._log_tail()}")

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-800:] if self.log.exists() else ""

    def stop(self) -> None:
        """Fast shutdown (SIGINT: sessions ended), then SIGKILL; the folder is removed."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ databases
    def dsn(self, database: str) -> str:
        """A libpq connection string (TCP on loopback) for psycopg."""
        return f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname={database}"

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of ``database`` (psycopg 3 driver, TCP on loopback)."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _admin(self, sql: str) -> None:
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_database(self) -> str:
        """A new, empty database (a copy of template1); returns its name."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self._admin(f'CREATE DATABASE "{name}" STRATEGY FILE_COPY')
        return name

    def drop_database(self, name: str) -> None:
        """Drop ``name``, ending whatever sessions are still connected to it."""
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
