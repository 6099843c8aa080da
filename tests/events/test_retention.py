"""Retention against a real redis-server and an archive on SQLite and on PostgreSQL: streams trimmed by age (MINID),
archived events and their snapshots purged after the period, events on hold exempt, and the legal minimum
enforced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
import redis

from events.archive import Archive
from events.retention import MIN_RETENTION_DAYS, RetentionWorker, purge_once
from sharpeyes.keys import Keys
from sharpeyes.schema import Event, SnapshotRef
from tests.support.events import CAM, VILLAGE, make_event

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def event_with_snapshot(age_days: float, snapshots: Path) -> Event:
    occurred = NOW - timedelta(days=age_days)
    event = make_event(occurred_at=occurred)
    ref = f"{CAM}/{occurred.date()}/{event.id}.jpg"
    (snapshots / ref).parent.mkdir(parents=True, exist_ok=True)
    (snapshots / ref).write_bytes(b"\xff\xd8jpeg\xff\xd9")
    return event.model_copy(update={"snapshot": SnapshotRef(ref=ref, sha256="0" * 64, width=1, height=1)})


def test_purge_trims_streams_and_archive_keeps_holds(redis_client: redis.Redis, tmp_path: Path,
                                                    database_url: str) -> None:
    redis_client.flushall()
    keys = Keys()
    snapshots = tmp_path / "snapshots"
    archive = Archive(database_url)
    archive.init()
    old, held, recent = (event_with_snapshot(age, snapshots) for age in (45, 45, 5))
    for e in (old, held, recent):
        archive.record(e, [VILLAGE])
    archive.act(held.id, "hold", center=VILLAGE, user="审计员", reason="evidence for case 2026-17")
    stream = keys.center_stream(VILLAGE)
    for seq, e in enumerate((old, held, recent)):  # entries with ids at their event's time
        redis_client.xadd(stream, {"event": e.to_json()}, id=f"{int(e.occurred_at.timestamp() * 1000)}-{seq}")

    counts = purge_once(redis_client, keys, archive, snapshots, days=30, streams=[stream], now=NOW)

    assert counts == {"stream_entries": 2, "events": 1, "snapshots": 1}
    rows = cast(list[tuple[bytes, dict[bytes, bytes]]], redis_client.xrange(stream))
    assert [Event.from_json(f[b"event"]).id for _i, f in rows] == [recent.id]
    assert archive.get(old.id) is None
    assert archive.get(held.id) is not None and archive.get(recent.id) is not None
    assert not (snapshots / old.snapshot.ref).exists()  # type: ignore[union-attr]
    assert (snapshots / held.snapshot.ref).exists()  # type: ignore[union-attr]
    assert (snapshots / recent.snapshot.ref).exists()  # type: ignore[union-attr]

    # released from hold: purged on the next pass
    archive.act(held.id, "release", center=VILLAGE, user="审计员", reason="case closed")
    assert purge_once(redis_client, keys, archive, snapshots, days=30, streams=[stream], now=NOW)["events"] == 1
    assert not (snapshots / held.snapshot.ref).exists()  # type: ignore[union-attr]
    archive.close()


def test_retention_below_legal_minimum_is_refused(redis_client: redis.Redis, tmp_path: Path) -> None:
    archive = Archive("sqlite://")
    with pytest.raises(ValueError, match=f"at least {MIN_RETENTION_DAYS} days"):
        RetentionWorker(redis_client, Keys(), archive, tmp_path, days=7, streams=lambda: [])


def test_snapshot_ref_outside_the_folder_is_never_deleted(redis_client: redis.Redis, tmp_path: Path) -> None:
    snapshots = tmp_path / "snapshots"
    snapshots.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    archive = Archive(f"sqlite:///{tmp_path / 'a.db'}")
    archive.init()
    event = make_event(occurred_at=NOW - timedelta(days=60),
                       snapshot=SnapshotRef(ref="../victim.txt", sha256="0" * 64, width=1, height=1))
    archive.record(event, [VILLAGE])
    purge_once(redis_client, Keys(), archive, snapshots, days=30, streams=[], now=NOW)
    assert victim.exists()
    archive.close()


def test_purge_keeps_young_access_records(redis_client: redis.Redis, tmp_path: Path, database_url: str) -> None:
    archive = Archive(database_url)
    archive.init()
    for age_days in (45, 30.01, 29.99, 5):
        archive.log_access(user="张三", unit="派出所", reason="核查", action="view_snapshot", target=f"{age_days}",
                           at=NOW - timedelta(days=age_days))
    young = purge_once(redis_client, Keys(), archive, tmp_path / "snapshots", days=30, streams=[], now=NOW)
    assert young["events"] == 0
    # the same cut-off as events: older than the retention period goes, younger stays
    assert [a.target for a in archive.access_log()] == ["5", "29.99"]
    archive.close()
