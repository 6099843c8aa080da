"""CenterConsumer against a real redis-server: at-least-once delivery, takeover of a killed consumer's pending
entries (XAUTOCLAIM), poison entries dead-lettered without blocking the stream, and ``sharpeyes consume``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import pytest
import redis

from events.consumer import CenterConsumer
from events.publisher import EventPublisher
from sharpeyes.keys import CENTER_GROUP, Keys
from sharpeyes.proc import EmbeddedRedis
from sharpeyes.schema import Event
from sharpeyes.settings import PROJECT_ROOT
from tests.support.events import CAMERAS, VILLAGE, drain, make_event
from tests.support.wait import wait_until


def pending(client: redis.Redis, stream: str, group: str = CENTER_GROUP) -> int:
    return int(cast(dict[str, Any], client.xpending(stream, group))["pending"])


def test_handles_in_order_and_acks(publisher: EventPublisher, redis_client: redis.Redis) -> None:
    events = [make_event(i, camera=CAMERAS[i % 2]) for i in range(25)]
    for e in events:
        publisher.publish(e)
    got: list[Event] = []
    consumer = CenterConsumer(redis_client, VILLAGE, got.append, consumer="c1", batch=10)
    drain(consumer)
    assert [e.id for e in got] == [e.id for e in events]
    assert got[3] == events[3]
    assert pending(redis_client, Keys().center_stream(VILLAGE)) == 0
    assert consumer.stats.handled == 25


def test_failed_handler_leaves_entry_pending_then_retried(publisher: EventPublisher,
                                                          redis_client: redis.Redis) -> None:
    event = make_event(0)
    publisher.publish(event)
    calls: list[str] = []

    def flaky(ev: Event) -> None:
        calls.append(ev.id)
        if len(calls) == 1:
            raise RuntimeError("database busy")

    consumer = CenterConsumer(redis_client, VILLAGE, flaky, consumer="c1", claim_idle_ms=100)
    assert consumer.poll_once(block_ms=0) == 0
    stream = Keys().center_stream(VILLAGE)
    assert pending(redis_client, stream) == 1 and consumer.stats.failed == 1
    time.sleep(0.2)
    assert consumer.poll_once(block_ms=0) == 1  # claimed back after claim_idle_ms, handled
    assert calls == [event.id, event.id]
    assert pending(redis_client, stream) == 0


KILLABLE = """
import sys, time
import redis
from events.consumer import CenterConsumer
import threading
out = open(sys.argv[2], "a", buffering=1)
def slow(ev):
    out.write(ev.id + "\\n")
    time.sleep(0.3)
client = redis.Redis.from_url(sys.argv[1])
CenterConsumer(client, sys.argv[3], slow, consumer="doomed", batch=10, block_ms=200).run(threading.Event())
"""


def test_consumer_killed_mid_batch_its_pending_entries_go_to_another(
        publisher: EventPublisher, redis_client: redis.Redis, redis_server: EmbeddedRedis, tmp_path: Path) -> None:
    events = [make_event(i) for i in range(20)]
    for e in events:
        publisher.publish(e)
    stream = Keys().center_stream(VILLAGE)
    seen_by_doomed = tmp_path / "doomed.txt"
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, redis_server.url, str(seen_by_doomed), VILLAGE],
                            cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    try:
        assert wait_until(lambda: seen_by_doomed.exists() and len(seen_by_doomed.read_text().split()) >= 3, 30)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    doomed = seen_by_doomed.read_text().split()
    # it read a batch of 10 and died handling it: acked only what it finished, the rest of the batch is pending
    assert 3 <= len(doomed) < 10
    stuck = pending(redis_client, stream)
    assert 10 - len(doomed) <= stuck <= 10

    got: list[str] = []
    heir = CenterConsumer(redis_client, VILLAGE, lambda ev: got.append(ev.id), consumer="heir", claim_idle_ms=300)
    time.sleep(0.4)
    drain(heir)
    assert heir.stats.claimed == stuck
    assert pending(redis_client, stream) == 0
    # at least once: every event handled by someone; after dedupe by id, each exactly once, in stream order
    assert set(doomed) | set(got) == {e.id for e in events}
    assert len(set(doomed) & set(got)) <= 1  # only the entry it was handling when killed can come twice
    assert got == [e.id for e in events if e.id in set(got)]  # stream order


@pytest.mark.parametrize("fields, reason", [
    ({"event": "{not json"}, "invalid event"),
    ({"id": "x"}, "no 'event' field"),
    ({"event": "UNKNOWN_FIELD"}, "surprise"),
    ({"event": "OLD_VERSION"}, "schema_version"),
    ({"event": "HUGE"}, "over max_entry_bytes"),
])
def test_poison_entries_are_dead_lettered_and_do_not_block(publisher: EventPublisher, redis_client: redis.Redis,
                                                           fields: dict[str, str], reason: str) -> None:
    keys = Keys()
    stream = keys.center_stream(VILLAGE)
    good_before, good_after = make_event(0), make_event(1)
    publisher.publish(good_before)
    body = json.loads(good_before.to_json())
    body["id"] = make_event(2).id
    raw = fields.get("event", "")
    if raw == "UNKNOWN_FIELD":
        raw = json.dumps({**body, "surprise": 1})
    elif raw == "OLD_VERSION":
        raw = json.dumps({**body, "schema_version": 0})
    elif raw == "HUGE":
        raw = json.dumps({**body, "detail": {"blob": "x" * 300_000}})
    redis_client.xadd(stream, {**fields, "event": raw} if "event" in fields else fields)
    publisher.publish(good_after)

    got: list[str] = []
    consumer = CenterConsumer(redis_client, VILLAGE, lambda ev: got.append(ev.id), consumer="c1")
    drain(consumer)
    assert got == [good_before.id, good_after.id]
    assert consumer.stats.deadlettered == 1
    assert pending(redis_client, stream) == 0
    dead = cast(list[tuple[bytes, dict[bytes, bytes]]], redis_client.xrange(keys.deadletter))
    assert len(dead) == 1
    meta = dead[0][1]
    assert reason in meta[b"reason"].decode()
    assert meta[b"source_stream"].decode() == stream
    assert len(b"".join(meta.values())) < 300_000  # bounded copy


def test_publisher_refuses_oversized_event(publisher: EventPublisher, redis_client: redis.Redis,
                                           caplog: pytest.LogCaptureFixture) -> None:
    big = make_event(0).model_copy(update={"detail": {"blob": "x" * 100_000}})
    with pytest.raises(ValueError, match="max_event_bytes"):
        publisher.publish(big)
    assert "max_event_bytes" in caplog.text
    assert redis_client.xlen(Keys().firehose) == 0 and len(publisher.spool) == 0


def test_cli_consume_prints_and_acks(publisher: EventPublisher, redis_client: redis.Redis,
                                     redis_server: EmbeddedRedis) -> None:
    events = [make_event(i) for i in range(3)]
    for e in events:
        publisher.publish(e)
    exe = Path(sys.executable).with_name("sharpeyes")
    res = subprocess.run([str(exe), "consume", "--center", VILLAGE, "--count", "3"], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "REDIS_URL": redis_server.url})
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert [line.split()[4] for line in lines] == [e.id for e in events]
    assert all("zone_intrusion minor" in line for line in lines)
    assert pending(redis_client, Keys().center_stream(VILLAGE)) == 0

    bad = subprocess.run([str(exe), "consume", "--center", VILLAGE], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert bad.returncode != 0 and "cannot reach Redis" in bad.stderr and "Traceback" not in bad.stderr
