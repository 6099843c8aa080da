"""The live state of each camera in Redis, beside its keys (``Keys.camera_status``, ``Keys.camera_quality``).

Owns how the two camera hashes are written and read: the online/offline status an ingest worker reports (with the
``sharpeyes_camera_online`` gauge) and the video-quality periods the 完好率 audit sums. A Redis failure is logged
and never raised, so a reporting ingest or analytics worker goes on. Must not touch SQL (the availability and
quality ledgers are the registry's; ``sharpeyes.maintainer`` writes both) and imports no stage package.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Literal

import redis

from sharpeyes import metrics
from sharpeyes.keys import Keys

log = logging.getLogger(__name__)

CameraState = Literal["unknown", "online", "offline"]
"""A camera's stream state, as its ingest worker reports it (``ingest.worker.State``)."""

REASON_MAX = 300
"""Longest reason kept with a state change."""


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def write_quality_state(client: redis.Redis, key: str, faults: list[str], now: datetime) -> None:
    """Keep a camera's video-quality state for the 完好率 audit in the hash ``key`` (``Keys.camera_quality``):
    ``ok`` (1/0), ``faults`` (comma-separated), ``since`` (ISO UTC start of the current ok/faulty period) and
    ``fault_seconds`` (cumulative time spent faulty, added when a faulty period ends). Raises ``RedisError``."""
    prev = {_text(k): _text(v) for k, v in client.hgetall(key).items()}
    was_ok = prev.get("ok", "1") == "1"
    since = prev.get("since")
    pipe = client.pipeline()
    if not was_ok and not faults and since:
        faulty_s = (now - datetime.fromisoformat(since)).total_seconds()
        pipe.hincrbyfloat(key, "fault_seconds", max(0.0, faulty_s))
    ok = "0" if faults else "1"
    if was_ok == (not faults) and since:  # same kind of period (faulty with other faults, or ok): it goes on
        pipe.hset(key, mapping={"ok": ok, "faults": ",".join(faults)})
    else:
        pipe.hset(key, mapping={"ok": ok, "faults": ",".join(faults), "since": now.isoformat()})
    pipe.execute()


class CameraStates:
    """Reads and writes the cameras' Redis state hashes through one client; never raises ``RedisError``."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client, self.keys = client, keys

    def last_state(self, camera_id: str) -> CameraState:
        """The state last written for the camera (``unknown`` when none, or when Redis cannot be read): an ingest
        worker starts from it, so a restart does not report the camera online or offline again."""
        try:
            state = self.client.hget(self.keys.camera_status(camera_id), "state")
        except redis.RedisError:
            return "unknown"
        if state == b"online":
            return "online"
        return "offline" if state == b"offline" else "unknown"

    def write_state(self, camera_id: str, state: str, reason: str, now: datetime | None = None) -> None:
        """Record a state change: the online gauge, and ``state``, ``since`` and ``reason`` in the status hash."""
        metrics.CAMERA_ONLINE.labels(camera_id).set(1 if state == "online" else 0)
        at = now or datetime.now(UTC)
        try:
            self.client.hset(self.keys.camera_status(camera_id),
                             mapping={"state": state, "since": at.isoformat(), "reason": reason[:REASON_MAX]})
        except redis.RedisError as exc:
            log.warning("camera %s: state not written to redis: %s", camera_id, exc)

    def write_quality(self, camera_id: str, faults: list[str], now: datetime | None = None) -> None:
        """Record a change of the quality diagnosis (:func:`write_quality_state`)."""
        try:
            write_quality_state(self.client, self.keys.camera_quality(camera_id), faults, now or datetime.now(UTC))
        except redis.RedisError as exc:
            log.warning("camera %s: quality state not written to redis: %s", camera_id, exc)
