"""Redis key names: the only place they are spelled out. Everything else asks this module."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Keys:
    """Key builder bound to a prefix (default ``sharpeyes``)."""

    prefix: str = "sharpeyes"

    def center_stream(self, civil_code: str) -> str:
        """Stream of events routed to the governance center hosted by jurisdiction ``civil_code``."""
        return f"{self.prefix}:center:{civil_code}:events"

    @property
    def firehose(self) -> str:
        """Every event once, for the archive and the live page."""
        return f"{self.prefix}:events:all"

    @property
    def deadletter(self) -> str:
        """Stream of entries a consumer refused (poison): their raw fields plus ``reason``, never retried."""
        return f"{self.prefix}:deadletter"

    def event(self, event_id: str) -> str:
        """JSON of one event, with a TTL of the retention period."""
        return f"{self.prefix}:event:{event_id}"

    def escalation(self, event_id: str) -> str:
        """Marker set once when an event has been escalated (so it is escalated once)."""
        return f"{self.prefix}:escalated:{event_id}"

    def event_entries(self, event_id: str) -> str:
        """Hash: center stream key → entry id of this event in that stream (for XACK by event id)."""
        return f"{self.prefix}:event:{event_id}:entries"

    def camera_status(self, camera_id: str) -> str:
        """Hash: state (online/offline), since (ISO UTC of the last change), reason: the sampler's stream state."""
        return f"{self.prefix}:camera:{camera_id}:status"

    def camera_quality(self, camera_id: str) -> str:
        """Hash: ok (1/0), faults (comma-separated fault kinds), since (ISO UTC of the last change),
        fault_seconds (cumulative time spent faulty): the camera's video-quality state for the 完好率 audit."""
        return f"{self.prefix}:camera:{camera_id}:quality"

    def wvp_alarm_marker(self, event_id: str) -> str:
        """String with a TTL: the WVP bridge sent (or gave up on) the alarm of this event, so a redelivered entry
        does not alarm twice (docs/gb28181.md)."""
        return f"{self.prefix}:wvp:alarm:{event_id}"

    def worker_heartbeat(self, name: str) -> str:
        """String with a TTL, refreshed by each supervised worker."""
        return f"{self.prefix}:worker:{name}:heartbeat"

    @property
    def nodes_alive(self) -> str:
        """Sorted set: worker node id → the Unix ms until which its last heartbeat keeps it alive."""
        return f"{self.prefix}:nodes:alive"

    @property
    def nodes_info(self) -> str:
        """Hash: worker node id → JSON of its capacity, labels and measured detector frames/s."""
        return f"{self.prefix}:nodes:info"

    @property
    def singleton_lock(self) -> str:
        """String with a TTL, ``<node>|<token>``: the node that runs the singleton workers (archiver, SLA escalator,
        retention, platform bridge) now (sharpeyes/leases.py ``SingletonLock``)."""
        return f"{self.prefix}:singletons:lock"

    @property
    def singleton_fence(self) -> str:
        """Counter: the fencing token of the singleton lock's latest holder."""
        return f"{self.prefix}:singletons:fence"

    def camera_lease(self, camera_id: str) -> str:
        """String with a TTL, ``<node>|<token>``: the worker node that may sample this camera (sharpeyes/leases.py)."""
        return f"{self.prefix}:camera:{camera_id}:lease"

    def camera_fence(self, camera_id: str) -> str:
        """Counter: the fencing token of the camera's latest lease (one more at every acquisition, never reset)."""
        return f"{self.prefix}:camera:{camera_id}:fence"


ARCHIVE_GROUP = "archive"
"""Consumer group on the firehose that writes the SQL archive."""

CENTER_GROUP = "center"
"""Default consumer group name created on every center stream."""
