"""Supervised workers: each long-running part of the hub has a name, a heartbeat and a restart policy.

A :class:`Worker` runs :meth:`Worker.run` in its own thread and calls :meth:`Worker.beat` while healthy. The
:class:`Supervisor` restarts a worker whose ``run`` raised (exponential backoff, bounded), reports workers whose
heartbeat is stale, and stops everything in reverse start order. Heavy work lives in child processes (ffmpeg,
redis-server, the RTSP server) or in native code that releases the GIL (OpenVINO, OpenCV, NumPy), so threads are
enough inside one hub process; scale-out is more hub processes sharing one Redis and one database.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Literal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestartPolicy:
    mode: Literal["always", "on-failure", "never"] = "on-failure"
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    max_restarts: int | None = None  # None: unbounded


class Worker:
    """Base class. Subclasses implement :meth:`run`, returning when :attr:`stopping` is set."""

    heartbeat_timeout_s: float = 30.0

    def __init__(self, name: str, policy: RestartPolicy | None = None) -> None:
        self.name = name
        self.policy = policy or RestartPolicy()
        self.stopping = threading.Event()
        self.last_beat = time.monotonic()
        self.restarts = 0
        self.last_error: str | None = None
        self._thread: threading.Thread | None = None

    # -- to override -----------------------------------------------------------------------------------
    def run(self) -> None:
        raise NotImplementedError

    def on_stop(self) -> None:
        """Called from the supervisor's thread when stopping: unblock :meth:`run` (kill a child, close a pipe)."""

    # -- helpers ---------------------------------------------------------------------------------------
    def beat(self) -> None:
        self.last_beat = time.monotonic()

    def sleep(self, seconds: float) -> bool:
        """Interruptible sleep; returns True when the worker is asked to stop."""
        return self.stopping.wait(seconds)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def healthy(self) -> bool:
        return self.alive and time.monotonic() - self.last_beat < self.heartbeat_timeout_s

    def status(self) -> dict[str, object]:
        return {
            "name": self.name,
            "alive": self.alive,
            "healthy": self.healthy,
            "heartbeat_age_s": round(time.monotonic() - self.last_beat, 1),
            "restarts": self.restarts,
            "last_error": self.last_error,
        }

    # -- lifecycle (used by Supervisor) ----------------------------------------------------------------
    def _main(self) -> None:
        backoff = self.policy.backoff_initial_s
        while not self.stopping.is_set():
            self.beat()
            try:
                self.run()
                failed = False
            except Exception as exc:  # a worker crash must never take the hub down
                failed = True
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("worker %s crashed", self.name)
            if self.stopping.is_set():
                break
            if self.policy.mode == "never" or (self.policy.mode == "on-failure" and not failed):
                break
            if self.policy.max_restarts is not None and self.restarts >= self.policy.max_restarts:
                log.error("worker %s: restart limit %d reached, giving up", self.name, self.policy.max_restarts)
                break
            self.restarts += 1
            log.warning("worker %s: restarting in %.1fs (restart #%d)", self.name, backoff, self.restarts)
            if self.sleep(backoff):
                break
            backoff = min(backoff * 2, self.policy.backoff_max_s)

    def start(self) -> None:
        self.stopping.clear()
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        try:
            self.on_stop()
        except Exception:  # stopping must go on for the other workers
            log.exception("worker %s: on_stop failed", self.name)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("worker %s did not stop within %.0fs", self.name, timeout)


class Supervisor:
    """Starts, watches and stops a set of workers."""

    def __init__(self) -> None:
        self.workers: list[Worker] = []
        self._lock = threading.Lock()

    def add(self, worker: Worker, *, start: bool = True) -> Worker:
        with self._lock:
            if any(w.name == worker.name for w in self.workers):
                raise ValueError(f"duplicate worker name {worker.name!r}")
            self.workers.append(worker)
        if start:
            worker.start()
        return worker

    def remove(self, name: str) -> None:
        with self._lock:
            found = [w for w in self.workers if w.name == name]
            self.workers = [w for w in self.workers if w.name != name]
        for w in found:
            w.stop()

    def get(self, name: str) -> Worker | None:
        with self._lock:
            return next((w for w in self.workers if w.name == name), None)

    def status(self) -> list[dict[str, object]]:
        with self._lock:
            return [w.status() for w in self.workers]

    def stop_all(self) -> None:
        with self._lock:
            workers = list(reversed(self.workers))
        for w in workers:
            w.stopping.set()
        for w in workers:
            w.stop()
