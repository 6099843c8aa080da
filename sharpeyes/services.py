"""Child services the hub starts (the embedded redis-server, the demo RTSP server) kept alive by a watchdog.

Owns :class:`ServiceWatchdog`, a supervised :class:`~sharpeyes.supervisor.Worker` that polls one child service and
starts it again, with exponential backoff, when it died. The service is restarted in place (same port, same data
folder), so clients reconnect to the same address and an AOF-persisted Redis comes back with its streams, groups
and pending entries. It must not know what the service is for: that is the caller's business.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Protocol

from sharpeyes.supervisor import RestartPolicy, Worker

log = logging.getLogger(__name__)


class Service(Protocol):
    """A child process that can be started again after it died."""

    @property
    def running(self) -> bool: ...

    def start(self) -> Any: ...


class ServiceWatchdog(Worker):
    """Checks ``service`` every ``interval_s`` and restarts it when it is not running: after ``backoff_initial_s``,
    doubling up to ``backoff_max_s`` while restarts fail. ``restarts`` counts successful restarts,
    ``down_since`` is the monotonic time the service was found dead (None while it runs)."""

    def __init__(self, name: str, service: Service, *, interval_s: float = 0.5, backoff_initial_s: float = 0.5,
                 backoff_max_s: float = 10.0) -> None:
        super().__init__(name, RestartPolicy(mode="always"))
        self.service = service
        self.interval_s = interval_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.service_restarts = 0
        self.down_since: float | None = None
        self.last_recovery_s: float | None = None

    def run(self) -> None:
        backoff = self.backoff_initial_s
        while not self.sleep(self.interval_s):
            self.beat()
            if self.service.running:
                backoff = self.backoff_initial_s
                continue
            if self.down_since is None:
                self.down_since = time.monotonic()
                log.error("%s: the service died; restarting it in %.1fs", self.name, backoff)
            if self.sleep(backoff):
                return
            try:
                self.service.start()
            except (RuntimeError, OSError) as exc:  # it may fail while its port or disk is not back yet
                self.last_error = f"{type(exc).__name__}: {exc}"
                backoff = min(backoff * 2, self.backoff_max_s)
                log.error("%s: restart failed (%s); next try in %.1fs", self.name, exc, backoff)
                continue
            self.service_restarts += 1
            self.last_recovery_s = round(time.monotonic() - self.down_since, 2)
            log.warning("%s: service restarted (restart #%d, down %.1fs)", self.name, self.service_restarts,
                        self.last_recovery_s)
            self.down_since = None
            backoff = self.backoff_initial_s

    def status(self) -> dict[str, object]:
        out = super().status()
        up = self.service.running
        out.update(service_running=up, service_restarts=self.service_restarts,
                   last_recovery_s=self.last_recovery_s)
        if not up:  # a dead service makes the hub degraded, even though its watchdog thread is fine
            out["healthy"] = False
        return out
