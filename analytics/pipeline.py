"""Per-camera analytics and the shared detector worker.

Ingest hands every sampled frame to :meth:`AnalyticsWorker.submit`, which keeps only the newest frame per camera
(a slow detector drops stale frames instead of falling behind). One worker thread owns the detector and serves
all cameras in turn; per camera it tracks, applies the rules and turns each new incident into an
:class:`~sharpeyes.schema.Event` with a snapshot, handed to ``emit``. It never talks to Redis itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from analytics.detections import Detections
from analytics.detector import Detector
from analytics.rules import Incident, Rule, build_rules
from analytics.snapshot import render, save_snapshot
from analytics.tracker import IouTracker
from ingest.sampler import Frame
from registry.config import RuleConfig
from sharpeyes import metrics
from sharpeyes.schema import Event
from sharpeyes.supervisor import RestartPolicy, Worker

log = logging.getLogger(__name__)


@dataclass
class CameraAnalytics:
    camera_id: str
    camera_name: str
    civil_codes: list[str]
    rules: list[Rule]
    tracker: IouTracker = field(default_factory=IouTracker)
    frames: int = 0
    incidents: int = 0
    last_detections: Detections = field(default_factory=Detections)

    @classmethod
    def build(cls, camera_id: str, camera_name: str, civil_codes: list[str],
              rule_configs: list[RuleConfig]) -> CameraAnalytics:
        return cls(camera_id, camera_name, civil_codes, build_rules(rule_configs))

    def process(self, frame: Frame, dets: Detections, snapshot_root: Path) -> list[Event]:
        self.frames += 1
        tracked = self.tracker.update(dets, frame.monotonic)
        self.last_detections = tracked
        events = []
        for rule in self.rules:
            for incident in rule.update(tracked, frame.monotonic, frame.width, frame.height):
                events.append(self._event(incident, frame, tracked, rule, snapshot_root))
        self.incidents += len(events)
        return events

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
                 emit: Callable[[Event], None]) -> None:
        super().__init__("analytics", RestartPolicy(mode="always"))
        self.detector_factory = detector_factory
        self.detector: Detector | None = None
        self.snapshot_root = snapshot_root
        self.emit = emit
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
