"""The workers of which a deployment runs one at a time: the archiver, the SLA escalator, retention and the platform
(WVP) bridge. Several nodes may be started with them (``--singletons``) for failover; one Redis lock
(:class:`sharpeyes.leases.SingletonLock`: expiry plus a fencing token) decides which node runs them now.

Part of the composition root (it adds and removes workers on the hub's supervisor; no stage imports it). Owns the
start and stop of the singleton workers only, never what they do.

Why a lock and not only "where ``--singletons`` is given": a flag alone leaves the choice to the person writing
the units, and two nodes given it by mistake (or a standby started for failover) would both escalate every
overdue event. With the lock a standby is safe: it waits, and takes over within two lock periods of the holder's
death. A holder cut off from Redis stops them at its local deadline, before the lock expires in Redis.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis

from sharpeyes.leases import SingletonLock
from sharpeyes.supervisor import RestartPolicy, Supervisor, Worker

log = logging.getLogger(__name__)


class SingletonKeeper(Worker):
    """Every third of the lock period: takes or renews the singleton lock; starts ``workers`` on ``supervisor`` when
    this node gains it, stops them when it loses it (or its local deadline passes)."""

    def __init__(self, lock: SingletonLock, supervisor: Supervisor, workers: Sequence[Worker]) -> None:
        super().__init__("cluster:singletons", RestartPolicy(mode="always"))
        self.lock, self.supervisor, self.workers = lock, supervisor, tuple(workers)
        self.interval_s = lock.ttl_s / 3
        self.running = False

    def run(self) -> None:
        try:
            while True:
                self.beat()
                self.keep()
                if self.sleep(self.interval_s):
                    return
        finally:  # stopped (or crashed, then restarted): the workers stop here, the lock is handed over
            self._hand_over()

    def keep(self) -> None:
        """One round: take or renew the lock, then start or stop the workers to match."""
        try:
            self.lock.step()
        except redis.RedisError as exc:
            log.warning("singleton lock not renewed (%s)", exc)
        held = self.lock.held
        if held and not self.running:
            for worker in self.workers:
                self.supervisor.add(worker)
            self.running = True
            log.info("singletons: this node runs %s (lock token %s)", ", ".join(w.name for w in self.workers),
                     self.lock.token)
        elif not held and self.running:
            self._stop_workers()
            log.warning("singletons: lock gone, %s stopped here", ", ".join(w.name for w in self.workers))

    def _stop_workers(self) -> None:
        for worker in reversed(self.workers):
            self.supervisor.remove(worker.name)
        self.running = False

    def _hand_over(self) -> None:
        """Stop the workers, then release the lock at once (a killed node's lock expires instead)."""
        if self.running:
            self._stop_workers()
        try:
            self.lock.release()
        except redis.RedisError as exc:
            log.warning("singleton lock not released (%s); it expires in %.0f s", exc, self.lock.ttl_s)

    def status(self) -> dict[str, object]:
        return {**super().status(), "singletons": self.running, "token": self.lock.token}
