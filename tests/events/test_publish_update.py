"""EventPublisher.publish_update against a real redis-server: a later state of an incident replaces the stored
event (same id, TTL kept) and reaches the firehose (for the archive) but no center stream; an update whose
original never landed is published as the event itself; updates spooled while Redis is down are replayed in order;
the archive consumer follows the incident to its end."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
import redis

from events.archive import Archive
from events.consumer import CenterConsumer
from events.publisher import EventPublisher, decode_entry
from sharpeyes.schema import Event, EventType, Severity
from tests.support.events import T0, drain, make_event, make_publisher


def crowd(count: int = 5) -> Event:
    return make_event(etype=EventType.CROWD_GATHERING, severity=Severity.MAJOR, zone="square",
                      detail={"count": count})


def stream_ids(client: redis.Redis, stream: str) -> list[str]:
    """The event ids in ``stream``, an update's followed by "+"."""
    rows = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(stream))
    return [decode_entry(fields).id + ("+" if fields.get(b"update") == b"1" else "") for _id, fields in rows]


def test_update_replaces_stored_event_without_new_entries(publisher: EventPublisher,
                                                          redis_client: redis.Redis) -> None:
    keys = publisher.keys
    first = crowd(5)
    publisher.publish(first)
    redis_client.expire(keys.event(first.id), 1000)  # a TTL to check it is kept
    update = first.model_copy(update={"detail": {"count": 5, "peak": 9}, "updated_at": T0 + timedelta(seconds=30)})
    ended = update.model_copy(update={"updated_at": T0 + timedelta(seconds=60), "ended_at": T0 + timedelta(seconds=60)})
    publisher.publish_update(update)
    publisher.publish_update(ended)

    stored = publisher.get_event(first.id)
    assert stored == ended and stored is not None and stored.detail["peak"] == 9
    assert 990 <= cast(int, redis_client.ttl(keys.event(first.id))) <= 1000
    # the firehose tells the archive about each later state; centers are told of the incident once
    assert stream_ids(redis_client, keys.firehose) == [first.id, first.id + "+", first.id + "+"]
    assert stream_ids(redis_client, keys.center_stream("140429100")) == [first.id]
    publisher.publish_update(ended)  # a replay of the stored state adds nothing
    assert len(stream_ids(redis_client, keys.firehose)) == 3


def test_update_whose_original_never_landed_is_published_once(publisher: EventPublisher,
                                                              redis_client: redis.Redis) -> None:
    update = crowd().model_copy(update={"updated_at": T0 + timedelta(seconds=5)})
    publisher.publish_update(update)
    publisher.publish_update(update)
    assert stream_ids(redis_client, publisher.keys.firehose) == [update.id]
    assert publisher.get_event(update.id) == update


def test_publish_update_refuses_a_first_state(publisher: EventPublisher) -> None:
    with pytest.raises(ValueError, match="updated_at"):
        publisher.publish_update(crowd())


def test_updates_spooled_while_redis_is_down_replay_in_order(redis_client: redis.Redis, tmp_path: Path) -> None:
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    offline = make_publisher(dead, tmp_path / "s.db", maxlen=100)
    first = crowd()
    update = first.model_copy(update={"detail": {"count": 7}, "updated_at": T0 + timedelta(seconds=9)})
    offline.publish(first)
    offline.publish_update(update)
    assert len(offline.spool) == 2
    offline.spool.close()

    online = make_publisher(redis_client, tmp_path / "s.db", maxlen=100)
    assert online.drain() == 2
    assert online.get_event(first.id) == update
    assert stream_ids(redis_client, online.keys.firehose) == [first.id, first.id + "+"]
    assert stream_ids(redis_client, online.keys.center_stream("140429100")) == [first.id]
    online.spool.close()


def test_archive_follows_the_incident(publisher: EventPublisher, redis_client: redis.Redis, tmp_path: Path) -> None:
    archive = Archive(f"sqlite:///{tmp_path / 'a.db'}")
    archive.init()
    archiver = CenterConsumer(redis_client, "all", lambda ev: archive.record(ev, ["140429100"]), group="archive",
                              stream=publisher.keys.firehose, consumer="archiver")
    first = crowd(5)
    update = first.model_copy(update={"detail": {"count": 9}, "updated_at": T0 + timedelta(seconds=30)})
    ended = update.model_copy(update={"updated_at": T0 + timedelta(seconds=60), "ended_at": T0 + timedelta(seconds=60)})
    publisher.publish(first)
    publisher.publish_update(update)
    drain(archiver)
    archive.act(first.id, "ack", center="140429100", user="王工", reason="dispatched")
    publisher.publish_update(ended)
    drain(archiver)
    item = archive.get(first.id)
    assert item is not None and item.event == ended and item.status == "acknowledged"  # state kept
    # an out-of-order older state never overwrites a newer one
    assert archive.record(update, ["140429100"]) is False
    assert archive.get(first.id).event == ended  # type: ignore[union-attr]
    archive.close()
