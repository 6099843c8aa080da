"""Per-camera analytics and the shared detector worker.

Ingest hands every sampled frame to :meth:`AnalyticsWorker.submit`, which keeps only the newest frame per camera
(a slow detector drops stale frames instead of falling behind). One worker thread owns the detector and serves
all cameras: it takes the pending frames of up to ``batch_size`` cameras, screens each (:class:`FrameScreen`:
privacy mask, quality diagnosis, motion gate), detects the frames that passed the gate in one batch, and per camera
tracks, applies the rules and turns each incident into one :class:`~sharpeyes.schema.Event` with a snapshot, handed
to ``emit``. Later states of the same incident (more people, a higher count, its end) are the same event — same id,
``updated_at``/``ended_at`` set — handed to ``emit_update``, at most every ``update_interval_s`` per incident (the
end is always sent). A gated frame reuses the camera's last detections (its scene has not changed since), so tracks
and dwell rules keep running. It never talks to Redis itself: quality state changes go to ``on_quality``.
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
from analytics.detector import Detector, ModelError
from analytics.motion import GateDecision, MotionGate, Regions, regions_area
from analytics.privacy import PrivacyMasker
from analytics.quality import QualityChange, QualityMonitor
from analytics.rules import Incident, Rule, build_rules
from analytics.snapshot import attach_snapshot, render
from analytics.tracker import ByteTracker
from registry.config import RuleConfig
from sharpeyes import metrics
from sharpeyes.frames import Frame
from sharpeyes.schema import Event, EventType, Severity
from sharpeyes.settings import AnalyticsSettings
from sharpeyes.supervisor import RestartPolicy, Worker

log = logging.getLogger(__name__)


def _publish_detector(name: str | None, detector: Detector) -> None:
    """The ``sharpeyes_detector_info`` metric of an imported model ``name`` or (None) the worker's default."""
    info = detector.describe()
    shown = {k: str(info[k]) for k in ("backend", "precision", "execution", "mode", "requests", "imgsz")}
    metrics.DETECTOR.labels(name or str(info.get("model", "default"))).info(shown)


@dataclass
class _OpenEvent:
    event: Event
    last_sent: float  # monotonic
    pending: bool = False  # a newer state than the one last sent


@dataclass
class FrameScreen:
    """What happens to a camera's frame before detection: privacy mask first (nothing downstream ever sees the
    masked region), then the low-rate quality diagnosis, then the motion gate."""

    privacy: PrivacyMasker = field(default_factory=lambda: PrivacyMasker([]))
    quality: QualityMonitor | None = None
    gate: MotionGate | None = None

    @classmethod
    def build(cls, privacy_polygons: list[list[list[float]]] | None = None,
              settings: AnalyticsSettings | None = None) -> FrameScreen:
        s = settings or AnalyticsSettings()  # type: ignore[call-arg]
        return cls(
            PrivacyMasker(privacy_polygons or []),
            QualityMonitor(s.quality) if s.quality.enabled else None,
            MotionGate(s.motion) if s.motion.enabled else None,
        )

    def apply(self, frame: Frame) -> tuple[Frame, list[QualityChange], GateDecision | None]:
        if self.privacy:
            frame = Frame(frame.camera_id, self.privacy.apply(frame.image), frame.captured_at, frame.seq,
                          frame.monotonic)
        changes = self.quality.observe(frame.image, frame.monotonic) if self.quality is not None else []
        decision = self.gate.decide(frame.image, frame.monotonic) if self.gate is not None else None
        return frame, changes, decision


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
    screen: FrameScreen = field(default_factory=FrameScreen)
    last_raw: Detections = field(default_factory=Detections)  # detector output of the last detected frame
    model: str | None = None  # an imported model's name (analytics/models.py); None: the worker's default

    @classmethod
    def build(cls, camera_id: str, camera_name: str, civil_codes: list[str], rule_configs: list[RuleConfig],
              screen: FrameScreen | None = None, *, tz: ZoneInfo | None = None,
              model: str | None = None) -> CameraAnalytics:
        return cls(camera_id, camera_name, civil_codes, build_rules(rule_configs, tz),  # type: ignore[arg-type]
                   screen=screen or FrameScreen(), model=model)

    def quality_events(self, frame: Frame, changes: list[QualityChange], snapshot_root: Path) -> list[Event]:
        """One ``quality_fault`` event per fault raised (a fault episode), with the (masked) frame as snapshot."""
        events = []
        for change in changes:
            if not change.raised:
                continue
            detail: dict[str, float | int | str] = {"fault": change.fault.value}
            detail.update(change.measures.as_detail())
            draft = Event(
                type=EventType.QUALITY_FAULT,
                severity=Severity.MINOR,
                camera_id=self.camera_id,
                camera_name=self.camera_name,
                civil_codes=self.civil_codes,
                occurred_at=frame.captured_at,
                detail=detail,
            )
            day = frame.captured_at.strftime("%Y/%m/%d")
            events.append(attach_snapshot(draft, snapshot_root, f"{day}/{self.camera_id}/{draft.id}.jpg",
                                          frame.image))
        return events

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
        return attach_snapshot(draft, snapshot_root, f"{day}/{self.camera_id}/{draft.id}.jpg", image)


class AnalyticsWorker(Worker):
    """Owns the detectors; one worker per hub process, shared by all its cameras.

    ``detector_factory`` makes the default detector; ``model_factory(name)`` the detector of an imported model
    that some cameras name (``CameraAnalytics.model``), each loaded once and shared by the cameras naming it."""

    def __init__(self, detector_factory: Callable[[], Detector], snapshot_root: Path,
                 emit: Callable[[Event], None], emit_update: Callable[[Event], None] | None = None, *,
                 batch_size: int = 1, on_quality: Callable[[str, list[str]], None] | None = None,
                 model_factory: Callable[[str], Detector] | None = None, measure_s: float = 0.0) -> None:
        super().__init__("analytics", RestartPolicy(mode="always"))
        self.measure_s = measure_s  # > 0: measure the default detector's frames/s for that long once it is loaded
        self.detect_fps = 0.0  # what that measurement found (0: not measured)
        self.frames_detected = 0  # frames run through a detector by this worker (a running total)
        self.detector_factory = detector_factory
        self.detector: Detector | None = None
        self.model_factory = model_factory
        self.detectors: dict[str, Detector] = {}  # imported models by name
        self._models_lock = threading.Lock()
        self.snapshot_root = snapshot_root
        self.emit = emit
        self.emit_update = emit_update
        self.batch_size = batch_size
        self.on_quality = on_quality  # (camera id, active faults) after every change
        self.cameras: dict[str, CameraAnalytics] = {}
        self._pending: OrderedDict[str, Frame] = OrderedDict()
        self._cv = threading.Condition()
        self.ready = threading.Event()
        self.heartbeat_timeout_s = 120.0  # model loading and export can take a while

    def load_model(self, name: str) -> Detector:
        """The detector of imported model ``name``, loaded on first use (call it before :meth:`add_camera` to load
        outside the worker thread and see a loading error where the camera is started)."""
        with self._models_lock:
            det = self.detectors.get(name)
            if det is None:
                if self.model_factory is None:
                    raise ModelError(f"model {name!r} requested but this worker has no model factory")
                det = self.detectors[name] = self.model_factory(name)
                _publish_detector(name, det)
            return det

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
        batch = self._next_batch(timeout, 1)
        return batch[0] if batch else None

    def _next_batch(self, timeout: float, n: int) -> list[Frame]:
        """The oldest pending frames of up to ``n`` cameras (one each); waits up to ``timeout`` for the first."""
        with self._cv:
            if not self._pending and not self._cv.wait_for(lambda: bool(self._pending) or self.stopping.is_set(),
                                                            timeout):
                return []
            return [self._pending.popitem(last=False)[1] for _ in range(min(n, len(self._pending)))]

    def run(self) -> None:
        if self.detector is None:
            self.detector = self.detector_factory()
            _publish_detector(None, self.detector)
            if self.measure_s > 0:
                self.detect_fps = self.detector.measure_fps(self.batch_size, self.measure_s)
                log.info("detector: %.1f frames/s in batches of %d on this machine", self.detect_fps,
                         self.batch_size)
        self.ready.set()
        while not self.stopping.is_set():
            self.beat()
            batch = self._next_batch(1.0, self.batch_size)
            if batch:
                self.handle(batch)

    def handle(self, frames: list[Frame]) -> None:
        """Screen each frame, detect those that passed the gate in one batch, then track, apply rules and emit."""
        assert self.detector is not None
        todo: list[tuple[CameraAnalytics, Frame, Detections | None]] = []
        regions: list[Regions | None] = []  # where to detect each frame: None the whole frame
        for raw in frames:
            cam = self.cameras.get(raw.camera_id)
            if cam is None:
                continue
            frame, changes, decision = cam.screen.apply(raw)
            if changes:
                self._quality(cam, frame, changes)
            region = None
            if decision is not None and not decision.detect:
                metrics.FRAMES_GATED.labels(frame.camera_id, decision.reason).inc()
                todo.append((cam, frame, cam.last_raw))
            else:
                todo.append((cam, frame, None))
                gate = cam.screen.gate
                if decision is not None and gate is not None:
                    region = gate.regions(decision, cam.last_raw.xyxy, frame.width, frame.height, frame.monotonic)
            regions.append(region)
        groups: dict[str | None, list[int]] = {}  # one batch per model
        for i, (cam, _, dets) in enumerate(todo):
            if dets is None:
                groups.setdefault(cam.model, []).append(i)
        for model, to_detect in groups.items():
            detector = self.detector if model is None else self.load_model(model)
            t0 = time.perf_counter()
            where = [regions[i] if detector.cuts_regions else None for i in to_detect]
            for i, region in zip(to_detect, where, strict=True):
                metrics.DETECTED_AREA.observe(regions_area(region, todo[i][1].width, todo[i][1].height))
            results = detector.detect_batch([todo[i][1].image for i in to_detect], where)
            metrics.DETECT_SECONDS.observe((time.perf_counter() - t0) / len(to_detect))
            metrics.DETECT_BATCH_SIZE.observe(len(to_detect))
            for i, dets in zip(to_detect, results, strict=True):
                cam, frame, _ = todo[i]
                cam.last_raw = dets
                todo[i] = (cam, frame, dets)
                metrics.FRAMES_DETECTED.labels(frame.camera_id).inc()
                self.frames_detected += 1
        for cam, frame, found in todo:
            assert found is not None
            for event in cam.process(frame, found, self.snapshot_root):
                if event.updated_at is not None:
                    log.debug("event %s updated (ended: %s)", event.id, event.ended_at)
                    if self.emit_update is not None:
                        self.emit_update(event)
                    continue
                log.info("event %s %s on %s (%s)", event.id, event.type, event.camera_id, event.rule)
                self.emit(event)
                metrics.FRAME_TO_EVENT_SECONDS.observe(time.monotonic() - frame.monotonic)

    def _quality(self, cam: CameraAnalytics, frame: Frame, changes: list[QualityChange]) -> None:
        assert cam.screen.quality is not None
        active = sorted(f.value for f in cam.screen.quality.active)
        metrics.QUALITY_OK.labels(cam.camera_id).set(0 if active else 1)
        for change in changes:
            log.info("camera %s: quality fault %s %s", cam.camera_id, change.fault.value,
                     "raised" if change.raised else "cleared")
            if change.raised:
                metrics.QUALITY_FAULTS.labels(cam.camera_id, change.fault.value).inc()
        if self.on_quality is not None:
            self.on_quality(cam.camera_id, active)
        for event in cam.quality_events(frame, changes, self.snapshot_root):
            self.emit(event)

    def on_stop(self) -> None:
        with self._cv:
            self._cv.notify_all()

    def status(self) -> dict[str, object]:
        out = super().status()
        out.update(backend=self.detector.backend if self.detector else None,
                   detector=self.detector.describe() if self.detector else None, cameras=len(self.cameras),
                   pending=len(self._pending), models={n: d.backend for n, d in self.detectors.items()},
                   model_detectors={n: d.describe() for n, d in self.detectors.items()})
        return out
