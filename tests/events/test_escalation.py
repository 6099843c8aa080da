"""SLA escalation against a real redis-server and an archive on SQLite and on PostgreSQL: an event nobody
acknowledged within its SLA is delivered one tier up once, with ``escalated_from``; an acknowledged one is not; the
top tier stops there."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from events.archive import Archive
from events.consumer import CenterConsumer
from events.escalation import Escalator, SlaEscalationWorker
from events.publisher import EventPublisher
from sharpeyes.keys import ARCHIVE_GROUP, Keys
from sharpeyes.schema import Event, Severity
from sharpeyes.supervisor import Supervisor
from tests.support.events import COUNTY, TOWNSHIP, TTL_S, VILLAGE, drain, make_event, stream_events
from tests.support.wait import wait_until

SLA = {"minor": 2.0, "major": 2.0, "critical": 2.0}


@dataclass
class Env:
    client: redis.Redis
    keys: Keys
    publisher: EventPublisher
    archive: Archive
    archiver: CenterConsumer
    escalator: Escalator

    def publish(self, *events: Event) -> None:
        for e in events:
            self.publisher.publish(e)
        drain(self.archiver)

    def stream(self, center: str) -> list[Event]:
        return stream_events(self.client, self.keys.center_stream(center))


@pytest.fixture()
def env(redis_client: redis.Redis, publisher: EventPublisher, database_url: str) -> Iterator[Env]:
    keys, router = publisher.keys, publisher.router
    archive = Archive(database_url)
    archive.init()
    archiver = CenterConsumer(redis_client, "all", lambda ev: archive.record(ev, router.centers_for(ev)), keys=keys,
                              group=ARCHIVE_GROUP, stream=keys.firehose, consumer="archiver")
    escalator = Escalator(redis_client, keys, router, archive, ttl_s=TTL_S, maxlen=10_000)
    yield Env(redis_client, keys, publisher, archive, archiver, escalator)
    archive.close()


def aged_event(severity: Severity, age_s: float) -> Event:
    return make_event(severity=severity, occurred_at=datetime.now(UTC) - timedelta(seconds=age_s))


def test_unacknowledged_event_goes_one_tier_up_once_acked_does_not(env: Env) -> None:
    unacked, acked, fresh = (aged_event(Severity.MINOR, 10), aged_event(Severity.MINOR, 10),
                             aged_event(Severity.MINOR, 0))
    env.publish(unacked, acked, fresh)
    env.archive.act(acked.id, "ack", center=VILLAGE, user="王工", reason="on it")
    assert env.stream(TOWNSHIP) == []  # minor: village only

    worker = SlaEscalationWorker(env.escalator, SLA)
    assert worker.scan_once() == 1
    up = env.stream(TOWNSHIP)
    assert [e.id for e in up] == [unacked.id]
    assert up[0].escalated_from == VILLAGE
    assert up[0].model_copy(update={"escalated_from": None}) == unacked

    # once: later scans (and a second process' scan) do not deliver it again, not even to the county
    assert worker.scan_once() == 0
    assert SlaEscalationWorker(env.escalator, SLA).scan_once() == 0
    assert len(env.stream(TOWNSHIP)) == 1 and env.stream(COUNTY) == []
    item = env.archive.get(unacked.id)
    assert item is not None and item.escalated_to == TOWNSHIP and item.centers == [VILLAGE, TOWNSHIP]
    assert [a["action"] for a in env.archive.actions(unacked.id)] == ["sla_escalate"]
    assert env.archive.actions(unacked.id)[0]["user"] == "system"

    # the fresh one escalates when its SLA has passed
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert worker.scan_once(now=later) == 1
    assert [e.id for e in env.stream(TOWNSHIP)] == [unacked.id, fresh.id]
    assert env.archive.get(acked.id).escalated_to is None  # type: ignore[union-attr]


def test_major_event_goes_from_township_to_county(env: Env) -> None:
    major = aged_event(Severity.MAJOR, 10)  # village + township
    env.publish(major)
    assert SlaEscalationWorker(env.escalator, SLA).scan_once() == 1
    assert [e.escalated_from for e in env.stream(COUNTY)] == [TOWNSHIP]


def test_top_tier_is_not_escalated_and_not_rescanned(env: Env) -> None:
    critical = aged_event(Severity.CRITICAL, 10)  # already at village, township and county
    env.publish(critical)
    worker = SlaEscalationWorker(env.escalator, SLA)
    assert worker.scan_once() == 0
    assert env.archive.overdue(SLA) == []  # recorded as "nowhere higher"
    assert len(env.stream(COUNTY)) == 1


def test_escalation_worker_runs_under_the_supervisor(env: Env) -> None:
    event = aged_event(Severity.MINOR, 10)
    env.publish(event)
    sup = Supervisor()
    sup.add(SlaEscalationWorker(env.escalator, SLA, interval_s=0.1))
    try:
        assert wait_until(lambda: len(env.stream(TOWNSHIP)) == 1, 10)
    finally:
        sup.stop_all()
    assert env.stream(TOWNSHIP)[0].escalated_from == VILLAGE


def test_redis_down_during_escalation_leaves_it_for_later(env: Env, tmp_path: Path) -> None:
    event = aged_event(Severity.MINOR, 10)
    env.publish(event)
    item = env.archive.get(event.id)
    assert item is not None
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    broken = Escalator(dead, env.keys, env.escalator.router, env.archive, ttl_s=60, maxlen=10)
    with pytest.raises(redis.ConnectionError):
        broken.escalate(item, user="system", reason="test")
    assert env.archive.get(event.id).escalated_to is None  # type: ignore[union-attr]  # claim rolled back
    assert SlaEscalationWorker(env.escalator, SLA).scan_once() == 1  # a later scan delivers it


def test_escalation_whose_reply_is_lost_keeps_the_center_it_reached(env: Env) -> None:
    """The escalation script ran (the township has the event) but its reply never came back (a timeout, a dropped
    connection): the claim stays, so the archive still routes the event to the township its staff can see it
    in, and a later scan does not deliver it again."""
    event = aged_event(Severity.MINOR, 10)
    env.publish(event)
    item = env.archive.get(event.id)
    assert item is not None
    script = env.escalator._script

    def reply_lost(**kw: object) -> object:
        script(**kw)
        raise redis.TimeoutError("Timeout reading from socket")

    env.escalator._script = reply_lost  # type: ignore[assignment]
    assert env.escalator.escalate(item, user="system", reason="test") == TOWNSHIP
    after = env.archive.get(event.id)
    assert after is not None and after.escalated_to == TOWNSHIP and TOWNSHIP in after.centers
    env.escalator._script = script
    assert SlaEscalationWorker(env.escalator, SLA).scan_once() == 0
    assert [e.id for e in env.stream(TOWNSHIP)] == [event.id]
