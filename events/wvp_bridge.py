"""Alarm bridge to WVP-GB28181-pro: our events, as GB/T 28181 alarms and device states on WVP's Redis pub/sub.

Owns :class:`WvpBridge` (a :class:`events.consumer.CenterConsumer` with its own group, ``wvp-bridge``, on the
firehose, publishing to a configured Redis — usually WVP's own), :class:`WvpBridgeWorker` (the same under the hub's
supervisor), its settings (:class:`WvpBridgeSettings`), the mapping policy (``events/wvp_alarms.yaml``, or a file
named by ``mapping_file``), the alarm markers ``<prefix>:wvp:alarm:<event id>`` on our Redis, and the metrics
``sharpeyes_wvp_*``. It must not touch the publisher's keys (event records, center streams, the firehose itself),
other consumer groups, routing, or anything of WVP's beyond PUBLISH on the two channels.

What WVP expects (read in 648540858/wvp-GB28181-pro, master of 2026-08-06):

- ``alarm_receive`` (``VideoManagerConstants.VM_MSG_SUBSCRIBE_ALARM_RECEIVE``), listener
  ``service/redisMsg/RedisAlarmMsgListener.java``: ``JSON.parseObject(body, AlarmChannelMessage.class)`` with
  ``gb28181/bean/AlarmChannelMessage.java`` = ``String gbId`` (通道国标编号), ``Integer alarmSn`` (set as the
  alarm *method*, 报警方式), ``Integer alarmType``, ``String alarmDescription``. So gbId is a string, alarmSn and
  alarmType JSON integers. WVP sets priority 1 and the alarm time to its own "now". A non-empty gbId must be a
  channel WVP knows (a channel of a registered device, or one shared to an upper platform), else WVP logs
  "未查询到…所属的平台或设备" and drops it; an empty gbId goes to every enabled upper platform (``gb_id_mode``).
- ``device`` (``VM_MSG_SUBSCRIBE_DEVICE_STATUS``): WVP itself publishes ``"<deviceId>[:<channelId>] ON|OFF"`` there
  (``RedisCatchStorageImpl.sendDeviceOrChannelStatus``); the listener that parsed it
  (``RedisDeviceStatusMsgListener``: split on " ", then on ":", ON/OFF → channel online/offline) exists only in
  commit 06143eef (issue #967), not on master. We publish the same format with the camera's own 20-digit ID as
  deviceId and no channel part: a standalone IPC is its own device, and WVP's own messages for device-level
  changes have the same shape ("37010100002000104066 OFF").

Pub/sub is fire-and-forget: PUBLISH answers how many subscribers received the message. 0 is retried with
exponential backoff (``retry_tries`` over about ``retry_backoff_s`` × (2^(tries-1) - 1) s), then counted in
``sharpeyes_wvp_unreceived_total{kind}`` and reported through ``on_undelivered(event, reason)``. While a channel
has no subscriber, later messages on it are tried once (no backoff) until one is received again, so an absent WVP
does not slow the bridge to one event per retry window.

Delivery rules: the firehose entry is acknowledged after its message(s) were published or given up on; a Redis
error on the target leaves it pending (retried by the consumer after ``claim_idle_ms``). Alarms are sent for the
first state of an incident only: a later state (``updated_at`` set; the firehose entry has ``update`` = 1) never
publishes a second alarm, and a marker per event id on our Redis keeps a redelivered entry (consumer crash before
its XACK) from alarming twice. Events older than ``max_age_s`` (a backlog after an outage, or a group created
from the start of the stream) are not sent: WVP would stamp them with the current time.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

import redis
from prometheus_client import Counter
from pydantic import ConfigDict, Field, field_validator

from events.archive import Archive, EventNotFound
from events.consumer import CenterConsumer
from sharpeyes.connections import redis_client
from sharpeyes.keys import Keys
from sharpeyes.schema import Event, EventType, Severity, utcnow
from sharpeyes.settings import WvpBridgeSettings
from sharpeyes.strict import StrictModel
from sharpeyes.supervisor import RestartPolicy, Worker
from sharpeyes.urls import redact_url

log = logging.getLogger(__name__)

"""Consumer group of the bridge on the firehose (its own: it acknowledges only what it handled)."""

Kind = Literal["alarm", "device"]
UndeliveredHook = Callable[[Event, str], object]

PUBLISHED = Counter(
    "sharpeyes_wvp_published_total", "Messages to WVP received by at least one subscriber", ["kind"]
)
UNRECEIVED = Counter(
    "sharpeyes_wvp_unreceived_total", "Messages to WVP no subscriber received (after the retries)", ["kind"]
)
STALE = Counter(
    "sharpeyes_wvp_stale_total", "Messages to WVP not sent because the event was older than max_age_s", ["kind"]
)
for _kind in ("alarm", "device"):  # exported at 0 from the start, so rate() and alerts see the series
    PUBLISHED.labels(_kind)
    UNRECEIVED.labels(_kind)
    STALE.labels(_kind)

SEVERITY_ORDER: dict[Severity, int] = {Severity.INFO: 0, Severity.MINOR: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}
DESCRIPTION_MAX_CHARS = 200
DEVICE_STATUS: dict[EventType, str] = {EventType.CAMERA_ONLINE: "ON", EventType.CAMERA_OFFLINE: "OFF"}
FAULT_NAMES: dict[str, str] = {
    "signal_loss": "信号丢失", "freeze": "画面冻结", "blur": "图像模糊", "too_dark": "画面过暗",
    "too_bright": "画面过亮", "colour_cast": "偏色", "occlusion": "遮挡", "scene_change": "场景变更",
    "noise": "噪声", "stripes": "条纹",
}
_TEMPLATE_FIELDS = ("label", "camera_id", "camera_name", "place", "summary", "severity", "time", "id")


# ------------------------------------------------------------------------------------------------- policy
class AlarmCode(StrictModel):
    """The GB/T 28181 alarm one event type becomes."""

    model_config = ConfigDict(frozen=True)

    method: int = Field(ge=1, le=7, description="GB/T 28181 alarm method (报警方式), sent as alarmSn: 2 device, "
                                                "5 video, 6 device fault...")
    type: int = Field(ge=1, le=99, description="GB/T 28181 alarm type within the method, sent as alarmType.")
    label: str = Field(min_length=1, max_length=40, description="Name of the alarm in the description.")
    min_severity: Severity | None = Field(
        None, description="Least severity bridged for this type; unset: the file's (or the setting's) min_severity.")


class WvpMapping(StrictModel):
    """``events/wvp_alarms.yaml``: which events are bridged, and as which GB/T 28181 alarm."""

    model_config = ConfigDict(frozen=True)

    min_severity: Severity = Field(Severity.MINOR, description="Events below this severity publish no alarm.")
    device_status: bool = Field(True, description="Publish camera_online/camera_offline as ON/OFF on the device "
                                                  "channel.")
    description: str = Field(
        "{label}：{camera_name}（{camera_id}）{place}{summary}，{time}，事件 {id}",
        description="alarmDescription template; fields: " + ", ".join(_TEMPLATE_FIELDS) + ".")
    alarms: dict[EventType, AlarmCode] = Field(default_factory=dict, description="Event type -> GB/T 28181 alarm.")

    @field_validator("description")
    @classmethod
    def _template(cls, v: str) -> str:
        try:
            v.format(**dict.fromkeys(_TEMPLATE_FIELDS, "x"))
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"description template {v!r} is invalid ({exc!r}); fields: "
                             f"{', '.join(_TEMPLATE_FIELDS)}") from None
        return v

    @classmethod
    def load(cls, path: Path | None = None) -> WvpMapping:
        """The mapping in ``path``, or the built-in ``events/wvp_alarms.yaml``. Errors name the file and field."""
        return cls.from_yaml_file(path, package="events", default="wvp_alarms.yaml")

    def alarm_for(self, event: Event, min_severity: Severity | None = None) -> AlarmCode | None:
        """The alarm ``event`` becomes, or None (type unmapped, or below the severity threshold)."""
        code = self.alarms.get(event.type)
        if code is None:
            return None
        least = code.min_severity or min_severity or self.min_severity
        return code if SEVERITY_ORDER[event.severity] >= SEVERITY_ORDER[least] else None


# ------------------------------------------------------------------------------------------------- settings
# ------------------------------------------------------------------------------------------------- messages
def alarm_message(event: Event, code: AlarmCode, *, template: str, gb_id_mode: Literal["camera", "empty"] = "camera",
                  tz: ZoneInfo | None = None) -> dict[str, str | int]:
    """The JSON object WVP's ``AlarmChannelMessage`` is parsed from (field order as in WVP's class)."""
    return {
        "gbId": event.camera_id if gb_id_mode == "camera" else "",
        "alarmSn": code.method,
        "alarmType": code.type,
        "alarmDescription": describe(event, code, template, tz),
    }


def describe(event: Event, code: AlarmCode, template: str, tz: ZoneInfo | None = None) -> str:
    """alarmDescription of ``event`` from ``template`` (at most ``DESCRIPTION_MAX_CHARS``)."""
    where = event.zone or event.rule
    summary = ""
    if "count" in event.detail:
        summary = f" 人数 {event.detail['count']}"
    elif "fault" in event.detail:
        fault = str(event.detail["fault"])
        summary = f" {FAULT_NAMES.get(fault, fault)}"
    occurred = _local(event.occurred_at, tz)
    text = template.format(label=code.label, camera_id=event.camera_id, camera_name=event.camera_name or "",
                           place=f" {where}" if where else "", summary=summary, severity=event.severity.value,
                           time=occurred.strftime("%Y-%m-%d %H:%M:%S"), id=event.id)
    return text if len(text) <= DESCRIPTION_MAX_CHARS else text[: DESCRIPTION_MAX_CHARS - 1] + "…"


def device_status_message(event: Event) -> str | None:
    """``"<cameraId> ON|OFF"`` for camera_online/camera_offline (the camera is its own device), else None."""
    state = DEVICE_STATUS.get(event.type)
    return None if state is None else f"{event.camera_id} {state}"


def _local(at: datetime, tz: ZoneInfo | None) -> datetime:
    return at.astimezone(tz or ZoneInfo("Asia/Shanghai"))


# ------------------------------------------------------------------------------------------------- bridge
class WvpBridge:
    """Reads the firehose as group ``settings.group`` on ``source`` (our Redis) and PUBLISHes to ``target``.

    ``on_undelivered(event, reason)`` is called for every message no subscriber received, or not sent because the
    event was stale; its failures are logged, never raised. ``stop`` interrupts a retry wait (the worker's
    stopping event); ``beat`` is called while waiting, so a supervised worker stays healthy.
    """

    def __init__(
        self,
        source: redis.Redis,
        target: redis.Redis,
        settings: WvpBridgeSettings,
        *,
        keys: Keys | None = None,
        mapping: WvpMapping | None = None,
        on_undelivered: UndeliveredHook | None = None,
        tz: ZoneInfo | None = None,
        consumer: str | None = None,
        block_ms: int = 1_000,
        claim_idle_ms: int = 30_000,
        stop: threading.Event | None = None,
        beat: Callable[[], None] | None = None,
        target_label: str = "",
    ) -> None:
        self.source = source
        self.target = target
        self.settings = settings
        self.keys = keys or Keys()
        self.mapping = mapping or WvpMapping.load(settings.mapping_file)
        self.on_undelivered = on_undelivered
        self.tz = tz or ZoneInfo("Asia/Shanghai")
        self.stop = stop or threading.Event()
        self.beat = beat
        self.target_label = target_label
        self.consumer = CenterConsumer(source, "wvp", self.handle, keys=self.keys, group=settings.group,
                                       consumer=consumer, stream=self.keys.firehose, block_ms=block_ms,
                                       claim_idle_ms=claim_idle_ms)
        self._deaf: dict[str, bool] = {}

    # -- group ----------------------------------------------------------------------------------------
    def ensure_group(self) -> None:
        """Create the group at the stream's end (``$``) unless it exists: a new bridge starts with new events,
        it does not replay the firehose's history to WVP. An existing group resumes where it stopped."""
        try:
            self.source.xgroup_create(self.keys.firehose, self.settings.group, id="$", mkstream=True)
            log.info("created consumer group %s on %s at its end", self.settings.group, self.keys.firehose)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self.consumer.ensure_group()

    def run(self, stop_event: threading.Event | None = None, on_poll: Callable[[], None] | None = None) -> None:
        stop = stop_event or self.stop
        self.stop = stop
        self.ensure_group()
        log.info("wvp bridge: %s (group %s) -> %s channels %s, %s", self.keys.firehose, self.settings.group,
                 self.target_label or "target redis", self.settings.alarm_channel, self.settings.device_channel)
        self.consumer.run(stop, on_poll=on_poll)

    # -- per event ------------------------------------------------------------------------------------
    def handle(self, event: Event) -> None:
        """Publish what ``event`` becomes (nothing, an alarm, a device state, or both). Target Redis errors
        propagate (the entry stays pending and is retried)."""
        if event.updated_at is not None:  # a later state of an incident: its alarm went with the first state
            log.debug("wvp: event %s is an update: no alarm", event.id)
            return
        code = self.mapping.alarm_for(event, self.settings.min_severity)
        status = device_status_message(event) if self.mapping.device_status else None
        marker = self.keys.wvp_alarm_marker(event.id)
        if code is not None and self.source.exists(marker):  # a redelivered entry: its alarm went out already
            log.info("wvp: alarm for event %s already sent: not repeated", event.id)
            code = None
        if code is None and status is None:
            return
        age = (utcnow() - event.occurred_at).total_seconds()
        if self.settings.max_age_s is not None and age > self.settings.max_age_s:
            kinds: list[Kind] = []
            if code is not None:
                kinds.append("alarm")
            if status is not None:
                kinds.append("device")
            for kind in kinds:
                STALE.labels(kind).inc()
                self._report(event, f"{kind} not sent to the platform: event is {age:.0f} s old "
                                    f"(max_age_s={self.settings.max_age_s:g})")
            if code is not None:
                self.source.set(marker, "1", ex=self.settings.marker_ttl_s)  # given up on: not reported twice
            return
        if code is not None:
            message = alarm_message(event, code, template=self.mapping.description,
                                    gb_id_mode=self.settings.gb_id_mode, tz=self.tz)
            payload = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
            self._publish("alarm", self.settings.alarm_channel, payload, event)
            self.source.set(marker, "1", ex=self.settings.marker_ttl_s)  # sent, or given up on and reported
        if status is not None:
            self._publish("device", self.settings.device_channel, status, event)

    def _publish(self, kind: Kind, channel: str, payload: str, event: Event) -> bool:
        """PUBLISH until someone receives it, with backoff; False (counted, reported) when no one did."""
        tries = 1 if self._deaf.get(channel) else self.settings.retry_tries
        delay = self.settings.retry_backoff_s
        waited = 0.0
        for attempt in range(1, tries + 1):
            receivers = int(self.target.publish(channel, payload))
            if receivers > 0:
                PUBLISHED.labels(kind).inc()
                if self._deaf.pop(channel, False):
                    log.info("wvp: channel %s has a subscriber again", channel)
                log.info("wvp: %s for event %s (%s %s) on %s, %d receiver(s): %s", kind, event.id, event.type.value,
                         event.camera_id, channel, receivers, payload)
                return True
            if attempt < tries:
                if self.beat is not None:
                    self.beat()
                if self.stop.wait(delay):
                    break
                waited += delay
                delay *= 2
        UNRECEIVED.labels(kind).inc()
        self._deaf[channel] = True
        reason = (f"{kind} not delivered to the platform: no subscriber on {channel} received it "
                  f"({attempt} attempt(s) over {waited:g} s)")
        log.warning("wvp: event %s (%s %s): %s", event.id, event.type.value, event.camera_id, reason)
        self._report(event, reason)
        return False

    def _report(self, event: Event, reason: str) -> None:
        if self.on_undelivered is None:
            return
        try:
            self.on_undelivered(event, reason)
        except Exception:  # the hook (e.g. the archive's action log) must not stop the bridge
            log.exception("wvp: on_undelivered hook failed for event %s", event.id)


class WvpBridgeWorker(Worker):
    """A :class:`WvpBridge` under the hub's supervisor (restarted if it crashes)."""

    def __init__(self, bridge: WvpBridge, policy: RestartPolicy | None = None, name: str = "events:wvp-bridge") \
            -> None:
        super().__init__(name, policy or RestartPolicy(mode="always"))
        self.bridge = bridge
        bridge.stop = self.stopping
        bridge.beat = self.beat
        s = bridge.settings
        # a retry window per message kind may pass between two polls
        window = s.retry_backoff_s * (2 ** (s.retry_tries - 1) - 1)
        self.heartbeat_timeout_s = max(self.heartbeat_timeout_s, 3 * bridge.consumer.block_ms / 1000 + 2 * window)

    def run(self) -> None:
        self.bridge.run(self.stopping, on_poll=self.beat)


def log_undelivered(archive: Archive, centers: Callable[[Event], list[str]], *, tries: int = 10,
                    wait_s: float = 0.5) -> UndeliveredHook:
    """A hook writing "not delivered to the platform" into the event's action log (user ``wvp-bridge``), as seen
    by the event's first center. The bridge can be faster than the archiver: an event not archived yet is retried
    ``tries`` times, ``wait_s`` apart, then only logged here."""

    def hook(event: Event, reason: str) -> None:
        center = next(iter(centers(event)), event.civil_codes[-1] if event.civil_codes else "-")
        for _ in range(tries):
            try:
                archive.act(event.id, "platform_undelivered", center=center, user="wvp-bridge",
                            reason=f"not delivered to the GB/T 28181 platform: {reason}")
                return
            except EventNotFound:
                time.sleep(wait_s)
        log.warning("event %s not delivered to the platform (%s), and not in the archive to say so", event.id, reason)

    return hook


def build_wvp_bridge(settings: WvpBridgeSettings, source: redis.Redis, hub_redis_url: str, *,
                     keys: Keys | None = None, on_undelivered: UndeliveredHook | None = None,
                     tz: ZoneInfo | None = None) -> WvpBridgeWorker | None:
    """The supervised bridge for ``settings`` (None when disabled). ``source`` is the hub's Redis client (its socket
    timeout must exceed the 1 s block); the target client is made from ``settings.redis_url`` or
    ``hub_redis_url``. The mapping file is read (and validated) here, so a bad file fails the hub's start."""
    if not settings.enabled:
        return None
    url = settings.target_url(hub_redis_url)
    bridge = WvpBridge(source, redis_client(url), settings, keys=keys, on_undelivered=on_undelivered, tz=tz,
                       target_label=redact_url(url))
    return WvpBridgeWorker(bridge)
