"""Escalation: "矛盾不上交" unless it must be. An event not acknowledged within its severity's SLA is delivered
once to the center one tier above the highest center that received it, with ``escalated_from`` set; staff can
also escalate by hand with a reason.

The Redis write is guarded by a ``SET NX`` marker (one escalation per event, whichever process gets there
first); the archive records the target and an action-log line.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import redis

from events.archive import Archive, ArchivedEvent
from events.publisher import create_group
from events.routing import Router
from sharpeyes.keys import CENTER_GROUP, Keys
from sharpeyes.schema import Event
from sharpeyes.supervisor import RestartPolicy, Worker

log = logging.getLogger(__name__)

_ESCALATE_LUA = """
-- KEYS[1] marker, KEYS[2] entries hash, KEYS[3] target center stream
-- ARGV: json, ttl, maxlen, id, type, severity, camera, center
if redis.call('SET', KEYS[1], ARGV[8], 'NX', 'EX', ARGV[2]) == false then
  return 0
end
local entry = redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'id', ARGV[4], 'type', ARGV[5],
                         'severity', ARGV[6], 'camera_id', ARGV[7], 'centers', ARGV[8], 'event', ARGV[1])
redis.call('HSET', KEYS[2], KEYS[3], entry)
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""


class AlreadyEscalated(RuntimeError):
    """The event was escalated before (each event goes up once)."""


class NoHigherTier(RuntimeError):
    """The event already reached the highest center on its path."""


class Escalator:
    """Delivers an archived event one tier up, once, and records it in the archive's action log."""

    def __init__(self, client: redis.Redis, keys: Keys, router: Router, archive: Archive, *, ttl_s: int,
                 maxlen: int) -> None:
        self.client = client
        self.keys = keys
        self.router = router
        self.archive = archive
        self.ttl_s = ttl_s
        self.maxlen = maxlen
        self._script = client.register_script(_ESCALATE_LUA)

    def escalate(self, item: ArchivedEvent, *, user: str, reason: str, sla: bool = False) -> str:
        """Deliver ``item`` one tier up; returns the target center. Raises :class:`AlreadyEscalated` or
        :class:`NoHigherTier`."""
        if item.escalated_to:
            raise AlreadyEscalated(f"event {item.event.id} was already escalated to {item.escalated_to}")
        target = self.router.escalation_target(item.event, item.centers)
        if target is None:
            raise NoHigherTier(f"event {item.event.id} already reached the highest center on its path")
        reached = [c for c in item.centers if c in item.event.civil_codes]
        from_center = min(reached, key=len)  # the highest tier it reached
        # the SQL claim decides who escalates (once, across processes); the Redis marker keeps the XADD single
        # even if a claim is rolled back after a partial failure
        if not self.archive.claim_escalation(item.event.id, target):
            raise AlreadyEscalated(f"event {item.event.id} was already escalated")
        copy: Event = item.event.model_copy(update={"escalated_from": from_center})
        stream = self.keys.center_stream(target)
        try:
            create_group(self.client, stream, CENTER_GROUP)
            written = self._script(
                keys=[self.keys.escalation(copy.id), self.keys.event_entries(copy.id), stream],
                args=[copy.to_json(), self.ttl_s, self.maxlen, copy.id, copy.type.value, copy.severity.value,
                      copy.camera_id, target],
            )
        except redis.RedisError as exc:
            if not self._delivered(copy.id, stream):
                self.archive.unclaim_escalation(item.event.id, target)  # not delivered: let a later try do it
                raise
            # the script ran and only its reply was lost: the target center has the event, keep the claim
            log.warning("event %s: escalation to %s delivered, its reply lost (%s)", copy.id, target, exc)
            written = 1
        self.archive.act(copy.id, "sla_escalate" if sla else "escalate", center=from_center, user=user,
                         reason=f"{reason} (to {target})")
        if not written:
            log.info("event %s: escalation to %s was already delivered", copy.id, target)
        else:
            log.info("event %s escalated %s -> %s (%s)", copy.id, from_center, target, reason)
        return target

    def _delivered(self, event_id: str, stream: str) -> bool:
        """Whether the event has an entry in ``stream`` (the escalation script records it beside the XADD, in the
        same atomic step); False when Redis cannot say, so a claim is only kept for a delivery seen. A delivery
        not seen is claimed again by the next try, whose script finds the marker and writes nothing twice."""
        try:
            return self.client.hexists(self.keys.event_entries(event_id), stream)
        except redis.RedisError:
            return False


class SlaEscalationWorker(Worker):
    """Scans the archive for events unacknowledged past their SLA and escalates each once."""

    def __init__(self, escalator: Escalator, sla_s: dict[str, float], interval_s: float = 5.0) -> None:
        super().__init__("events:sla", RestartPolicy(mode="always"))
        self.escalator = escalator
        self.sla_s = sla_s
        self.interval_s = interval_s

    def scan_once(self, now: datetime | None = None) -> int:
        n = 0
        for item in self.escalator.archive.overdue(self.sla_s, now or datetime.now(UTC)):
            seconds = self.sla_s[item.event.severity.value]
            try:
                self.escalator.escalate(item, user="system",
                                        reason=f"not acknowledged within the {seconds:g} s SLA", sla=True)
                n += 1
            except NoHigherTier:
                # top of the tree: record it so the scan does not pick it up again
                self.escalator.archive.claim_escalation(item.event.id, "-")
            except AlreadyEscalated:
                pass
        return n

    def run(self) -> None:
        while not self.sleep(self.interval_s):
            self.beat()
            try:
                self.scan_once()
            except redis.RedisError as exc:
                log.warning("SLA scan postponed: %s", exc)
