"""Workers' heartbeats in Redis, for other hub processes and operators.

Owns the writer of ``Keys.worker_heartbeat`` (the status of every supervised worker, JSON, short TTL). Imports no
stage package; a Redis failure is logged and retried at the next beat.
"""

from __future__ import annotations

import json
import logging

import redis

from sharpeyes.keys import Keys
from sharpeyes.supervisor import RestartPolicy, Supervisor, Worker

log = logging.getLogger(__name__)


class HeartbeatPublisher(Worker):
    """Writes every worker's status to Redis (``sharpeyes:worker:<name>:heartbeat``, JSON, TTL three intervals),
    so other hub processes and operators see which parts are alive."""

    def __init__(self, supervisor: Supervisor, client: redis.Redis, keys: Keys, interval_s: float = 5.0) -> None:
        super().__init__("heartbeats", RestartPolicy(mode="always"))
        self.supervisor, self.client, self.keys, self.interval_s = supervisor, client, keys, interval_s

    def publish(self) -> None:
        """Write the heartbeats once (raises ``RedisError``)."""
        pipe = self.client.pipeline(transaction=False)
        for status in self.supervisor.status():
            pipe.set(self.keys.worker_heartbeat(str(status["name"])), json.dumps(status), ex=int(self.interval_s * 3))
        pipe.execute()

    def run(self) -> None:
        while True:
            self.beat()
            try:
                self.publish()
            except redis.RedisError as exc:
                log.debug("heartbeats not written: %s", exc)
            if self.sleep(self.interval_s):
                return
