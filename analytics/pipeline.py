"""Per-camera analytics and the shared detector worker.

Ingest hands every sampled frame to :meth:`AnalyticsWorker.submit`, which keeps only the newest frame per camera
(a slow detector drops stale frames instead of falling behind). One worker thread owns the detector and serves
all cameras in turn; per camera it tracks, applies the rules and turns each incident into one
:class:`~sharpeyes.schema.Event` with a snapshot, handed to ``emit``. Later states of the same incident (more
people, a higher count, its end) are the same event — same id, ``updated_at``/``ended_at`` set — handed to
``emit_update``, at most every ``update_interval_s`` per incident (the end is always sent). It never talks to Redis
itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from analytics.detections import Detections
from analytics.detector import Detector
from analytics.rules import Incident, Rule, build_rules
from analytics.snapshot import render, save_snapshot
from analytics.tracker import ByteTracker
from ingest.sampler import Frame
from registry.config import RuleConfig
from sharpeyes import metrics
from sharpeyes.schema import Event
from sharpeyes.supervisor import RestartPolicy, Worker

log = logging.getLogger(__name__)


@dataclass
class _OpenEvent:
    event: Event
    last_sent: float  # monotonic
    pending: bool = False  # a newer state than the one last sent


@dataclass
class CameraAnalytics:
    camera_id: str
    camera_name: str
    civil_codes: list[str]
    rules: list[Rule]
    tracker: ByteTracker = field(default_factory=ByteTracker)
    update_interval_s: float = 5.0
    frames: int = 0
    incidents: int = 0
    last_detections: Detections = field(default_factory=Detections)
    open_events: dict[str, _OpenEvent] = field(default_factory=dict)  # incident key → its event

    @classmethod
    def build(cls, camera_id: str, camera_name: str, civil_codes: list[str],
              rule_configs: list[RuleConfig], tz: ZoneInfo | None = None) -> CameraAnalytics:
        return cls(camera_id, camera_name, civil_codes, build_rules(rule_configs, tz))  # type: ignore[arg-type]

    def process(self, frame: Frame, dets: Detections, snapshot_root: Path) -> list[Event]:
        """Track, apply the rules; return new events (``updated_at`` unset) and updates of open ones (set)."""
        self.frames += 1
        tracked = self.tracker.update(dets, frame.monotonic, frame.image)
        self.last_detections = tracked
        events = []
        for rule in self.rules:
            for incident in rule.update(tracked, frame.monotonic, frame.width, frame.height, frame.captured_at):
                ev = self._apply(incident, frame, tracked, rule, snapshot_root)
                if ev is not None:
                    events.append(ev)
        for oe in list(self.open_events.values()):  # flush throttled updates that are due
            if oe.pending and frame.monotonic - oe.last_sent >= self.update_interval_s and not any(
                    e.id == oe.event.id for e in events):
                oe.pending, oe.last_sent = False, frame.monotonic
                events.append(oe.event)
        return events

    def _apply(self, incident: Incident, frame: Frame, tracked: Detections, rule: Rule,
               snapshot_root: Path) -> Event | None:
        if incident.status == "started":
            self.incidents += 1
            ev = self._event(incident, frame, tracked, rule, snapshot_root)
            self.open_events[incident.key] = _OpenEvent(ev, frame.monotonic)
            return ev
        oe = self.open_events.get(incident.key)
        if oe is None:
            return None
        at = frame.captured_at.replace(microsecond=frame.captured_at.microsecond // 1000 * 1000)  # ms, as Event
        update: dict[str, object] = {"detail": incident.detail, "updated_at": at}
        if len(incident.objects):
            update["objects"] = incident.objects.to_event_objects()
        if incident.status == "ended":
            update["ended_at"] = at
        oe.event = oe.event.model_copy(update=update)
        if incident.status == "ended":
            del self.open_events[incident.key]
            return oe.event
        if frame.monotonic - oe.last_sent >= self.update_interval_s:
            oe.pending, oe.last_sent = False, frame.monotonic
            return oe.event
        oe.pending = True
        return None

    def _event(self, incident: Incident, frame: Frame, tracked: Detections, rule: Rule,
               snapshot_root: Path) -> Event:
        zone_pts = getattr(getattr(rule, "zone", None), "points", None)
        image = render(frame.image, tracked, incident.objects, zone_pts)
        draft = Event(
            type=incident.type,
            severity=incident.severity,
            camera_id=self.camera_id,
            camera_name=self.camera_name,
            civil_codes=self.civil_codes,
            occurred_at=frame.captured_at,
            objects=incident.objects.to_event_objects(),
            zone=incident.zone,
            rule=incident.rule,
            detail=incident.detail,
        )
        day = frame.captured_at.strftime("%Y/%m/%d")
        snap = save_snapshot(snapshot_root, f"{day}/{self.camera_id}/{draft.id}.jpg", image)
        return draft.model_copy(update={"snapshot": snap})


class AnalyticsWorker(Worker):
    """Owns the detector; one per hub process, shared by all its cameras."""

    def __init__(self, detector_factory: Callable[[], Detector], snapshot_root: Path,
                 emit: Callable[[Event], None], emit_update: Callable[[Event], None] | None = None) -> None:
        super().__init__("analytics", RestartPolicy(mode="always"))
        self.detector_factory = detector_factory
        self.detector: Detector | None = None
        self.snapshot_root = snapshot_root
        self.emit = emit
        self.emit_update = emit_update
        self.cameras: dict[str, CameraAnalytics] = {}
        self._pending: OrderedDict[str, Frame] = OrderedDict()
        self._cv = threading.Condition()
        self.ready = threading.Event()
        self.heartbeat_timeout_s = 120.0  # model loading and export can take a while

    def add_camera(self, cam: CameraAnalytics) -> None:
        with self._cv:
            self.cameras[cam.camera_id] = cam

    def remove_camera(self, camera_id: str) -> None:
        with self._cv:
            self.cameras.pop(camera_id, None)
            self._pending.pop(camera_id, None)

    def submit(self, frame: Frame) -> None:
        """Called from ingest threads. Keeps only the newest frame per camera."""
        metrics.FRAMES_SAMPLED.labels(frame.camera_id).inc()
        with self._cv:
            if frame.camera_id in self._pending:
                metrics.FRAMES_DROPPED.labels(frame.camera_id).inc()
                del self._pending[frame.camera_id]
            self._pending[frame.camera_id] = frame  # moves to the end: cameras served in arrival order
            self._cv.notify()

    def _next(self, timeout: float) -> Frame | None:
        with self._cv:
            if not self._pending and not self._cv.wait_for(lambda: bool(self._pending) or self.stopping.is_set(),
                                                            timeout):
                return None
            if not self._pending:
                return None
            _, frame = self._pending.popitem(last=False)
            return frame

    def run(self) -> None:
        if self.detector is None:
            self.detector = self.detector_factory()
        self.ready.set()
        while not self.stopping.is_set():
            self.beat()
            frame = self._next(1.0)
            if frame is None:
                continue
            cam = self.cameras.get(frame.camera_id)
            if cam is None:
                continue
            t0 = time.perf_counter()
            dets = self.detector.detect(frame.image)
            metrics.DETECT_SECONDS.observe(time.perf_counter() - t0)
            metrics.FRAMES_DETECTED.labels(frame.camera_id).inc()
            for event in cam.process(frame, dets, self.snapshot_root):
                if event.updated_at is not None:
                    log.debug("event %s updated (ended: %s)", event.id, event.ended_at)
                    if self.emit_update is not None:
                        self.emit_update(event)
                    continue
                log.info("event %s %s on %s (%s)", event.id, event.type, event.camera_id, event.rule)
                self.emit(event)
                metrics.FRAME_TO_EVENT_SECONDS.observe(time.monotonic() - frame.monotonic)

    def on_stop(self) -> None:
        with self._cv:
            self._cv.notify_all()

    def status(self) -> dict[str, object]:
        out = super().status()
        out.update(backend=self.detector.backend if self.detector else None, cameras=len(self.cameras),
                   pending=len(self._pending))
        return out
