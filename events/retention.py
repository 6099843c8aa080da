"""Retention (2025 regulation art. 17: keep ≥ 30 days, then delete): trims streams by age (XTRIM MINID), purges
archived events and their snapshots older than the retention period. Events on hold are exempt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis

from events.archive import Archive
from sharpeyes.keys import Keys
from sharpeyes.supervisor import RestartPolicy, Worker

log = logging.getLogger(__name__)

MIN_RETENTION_DAYS = 30


def purge_once(client: redis.Redis, keys: Keys, archive: Archive, snapshot_dir: Path, *, days: float,
               streams: list[str], now: datetime | None = None) -> dict[str, int]:
    """One retention pass; returns counts (stream entries trimmed, events purged, snapshot files deleted)."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=days)
    minid = f"{int(cutoff.timestamp() * 1000)}-0"
    trimmed = 0
    for stream in streams:
        trimmed += int(client.xtrim(stream, minid=minid, approximate=False))
    refs = archive.purge(cutoff)
    held = archive.held_snapshot_refs()
    root = snapshot_dir.resolve()
    deleted = 0
    for ref in refs:
        if ref in held:
            continue
        path = (root / ref).resolve()
        if root not in path.parents:
            log.warning("retention: refusing to delete %s outside the snapshot folder", ref)
            continue
        try:
            path.unlink()
            deleted += 1
        except FileNotFoundError:
            pass
    return {"stream_entries": trimmed, "events": len(refs), "snapshots": deleted}


class RetentionWorker(Worker):
    def __init__(self, client: redis.Redis, keys: Keys, archive: Archive, snapshot_dir: Path, *, days: float,
                 streams: Callable[[], list[str]], interval_s: float = 3600.0) -> None:
        super().__init__("events:retention", RestartPolicy(mode="always"))
        if days < MIN_RETENTION_DAYS:
            raise ValueError(f"retention must be at least {MIN_RETENTION_DAYS} days (2025 regulation), got {days}")
        self.client, self.keys, self.archive, self.snapshot_dir = client, keys, archive, snapshot_dir
        self.days, self.streams, self.interval_s = days, streams, interval_s
        self.heartbeat_timeout_s = interval_s * 2 + 60

    def run(self) -> None:
        while True:
            self.beat()
            try:
                counts = purge_once(self.client, self.keys, self.archive, self.snapshot_dir, days=self.days,
                                    streams=self.streams())
                if any(counts.values()):
                    log.info("retention: %s", counts)
            except redis.RedisError as exc:
                log.warning("retention pass postponed: %s", exc)
            if self.sleep(self.interval_s):
                return
