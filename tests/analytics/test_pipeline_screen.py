"""The worker's screening hook on real vtest frames with a stub detector: motion gating decides which frames are
detected (gated frames reuse the last detections, so rules keep running), frames of several cameras are detected
in one batch, and a quality fault episode gives exactly one ``quality_fault`` event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from analytics.detections import Detections
from analytics.pipeline import AnalyticsWorker, CameraAnalytics, FrameScreen
from registry.config import CrowdGatheringRule
from sharpeyes.frames import Frame
from sharpeyes.schema import Event, EventType
from sharpeyes.settings import AnalyticsSettings, MotionSettings, QualitySettings
from tests.support.media import vtest_frames

CAMS = ["14042900001325000001", "14042900001325000002"]
CODES = ["140429", "140429100", "140429100001"]
T0 = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return vtest_frames(30)


class StubDetector:
    """Three persons, wherever; records every batch."""

    backend = "stub"
    cuts_regions = True

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.regions: list[object] = []  # what each frame was detected on: None the whole frame

    def describe(self) -> dict[str, object]:
        return {"backend": self.backend, "precision": "fp32", "execution": "fp32", "mode": "sync", "requests": 1,
                "imgsz": 640}

    def detect_batch(self, images: list[np.ndarray], regions: object = None) -> list[Detections]:
        self.batches.append(len(images))
        self.regions.extend(regions if regions is not None else [None] * len(images))  # type: ignore[call-overload]
        boxes = np.array([[100, 300, 140, 400], [300, 300, 340, 400], [500, 300, 540, 400]], np.float32)
        return [Detections(boxes, np.full(3, 0.9, np.float32), ["Normal"] * 3) for _ in images]


Made = tuple[AnalyticsWorker, StubDetector, list[Event], list[tuple[str, list[str]]]]


def make_worker(tmp_path: Path, settings: AnalyticsSettings, batch_size: int = 8, cams: list[str] = CAMS[:1]) -> Made:
    events: list[Event] = []
    states: list[tuple[str, list[str]]] = []
    det = StubDetector()
    worker = AnalyticsWorker(lambda: det, tmp_path, events.append, batch_size=batch_size,  # type: ignore[arg-type,return-value]
                             on_quality=lambda c, f: states.append((c, f)))
    worker.detector = det  # type: ignore[assignment]
    rule = CrowdGatheringRule(type="crowd_gathering", name="聚集", zone=[[0, 0], [1, 0], [1, 1], [0, 1]],
                              min_count=3, min_duration_s=8, clear_after_s=5)
    for cam in cams:
        worker.add_camera(CameraAnalytics.build(cam, "x", CODES, [rule], FrameScreen.build([], settings)))
    return worker, det, events, states


def frame(cam: str, img: np.ndarray, t: int) -> Frame:
    return Frame(cam, img, T0 + timedelta(seconds=t), t, monotonic=1000.0 + t)


def settings(force_every_s: float = 5.0, quality: bool = False) -> AnalyticsSettings:
    return AnalyticsSettings(
        motion=MotionSettings(force_every_s=force_every_s),  # type: ignore[call-arg]
        quality=QualitySettings(enabled=quality, interval_s=0, confirm_checks=2, clear_checks=2),  # type: ignore[call-arg]
    )


def test_static_camera_is_gated_but_rules_keep_running(tmp_path: Path, frames: list[np.ndarray]) -> None:
    worker, det, events, _ = make_worker(tmp_path, settings(force_every_s=5))
    for t in range(12):  # a frozen-still scene at 1 fps: the first frame, then forced every 5 s
        worker.handle([frame(CAMS[0], frames[0], t)])
    assert sum(det.batches) == 3  # t = 0, 5, 10
    cam = worker.cameras[CAMS[0]]
    assert cam.screen.gate is not None and cam.screen.gate.counts == {"first": 1, "forced": 2, "static": 9}
    # the crowd held 8 s although only 2 of those frames were detected
    assert [e.type for e in events] == [EventType.CROWD_GATHERING]
    assert events[0].occurred_at == T0 + timedelta(seconds=8)


def test_moving_scene_is_detected_every_frame(tmp_path: Path, frames: list[np.ndarray]) -> None:
    worker, det, _, _ = make_worker(tmp_path, settings(force_every_s=100))
    for t in range(10):
        worker.handle([frame(CAMS[0], frames[t], t)])
    assert sum(det.batches) == 10


def test_motion_regions_reach_the_detector(tmp_path: Path, frames: list[np.ndarray]) -> None:
    """Regions on: the first frame and one every force_every_s are detected whole, the motion frames between on
    regions that hold the last detection's boxes (the stub's three persons, who never move)."""
    s = settings(force_every_s=3)
    s.motion.regions = True
    worker, det, _, _ = make_worker(tmp_path, s)
    for t in range(7):
        worker.handle([frame(CAMS[0], frames[t], t)])
    assert sum(det.batches) == 7
    assert [r is None for r in det.regions] == [True, False, False, True, False, False, True], det.regions
    for regions in det.regions[1:3] + det.regions[4:6]:
        assert isinstance(regions, tuple) and regions
        for x0, y0, x1, y1 in ((100, 300, 140, 400), (300, 300, 340, 400), (500, 300, 540, 400)):
            assert any(r[0] <= x0 and r[1] <= y0 and x1 <= r[2] and y1 <= r[3] for r in regions), regions


def test_a_detector_that_cannot_cut_regions_gets_whole_frames(tmp_path: Path, frames: list[np.ndarray]) -> None:
    """Ultralytics' predictor (PyTorch, ONNX) does not cut regions: the worker hands it whole frames even with
    regions on."""
    s = settings(force_every_s=3)
    assert s.motion.regions  # the default
    worker, det, _, _ = make_worker(tmp_path, s)
    det.cuts_regions = False
    for t in range(4):
        worker.handle([frame(CAMS[0], frames[t], t)])
    assert det.regions == [None] * 4


def test_gating_off_detects_everything(tmp_path: Path, frames: list[np.ndarray]) -> None:
    s = settings()
    s.motion.enabled = False
    worker, det, _, _ = make_worker(tmp_path, s)
    for t in range(6):
        worker.handle([frame(CAMS[0], frames[0], t)])
    assert sum(det.batches) == 6


def test_frames_of_several_cameras_share_a_batch(tmp_path: Path, frames: list[np.ndarray]) -> None:
    worker, det, _, _ = make_worker(tmp_path, settings(), batch_size=8, cams=CAMS)
    for t in range(3):
        for cam in CAMS:
            worker.submit(frame(cam, frames[t], t))
        worker.handle(worker._next_batch(0.1, worker.batch_size))
    assert det.batches == [2, 2, 2]
    worker.batch_size = 1
    for cam in CAMS:
        worker.submit(frame(cam, frames[5], 5))
    worker.handle(worker._next_batch(0.1, worker.batch_size))
    assert det.batches[-1] == 1 and len(worker._pending) == 1


def test_quality_fault_episode_gives_one_event(tmp_path: Path, frames: list[np.ndarray]) -> None:
    worker, _, events, states = make_worker(tmp_path, settings(quality=True))
    t = 0
    for img in frames[:5]:
        worker.handle([frame(CAMS[0], img, t)])
        t += 1
    for _ in range(6):  # signal lost for 6 checks
        worker.handle([frame(CAMS[0], np.zeros_like(frames[0]), t)])
        t += 1
    for img in frames[5:10]:  # back
        worker.handle([frame(CAMS[0], img, t)])
        t += 1
    faults = [e for e in events if e.type == EventType.QUALITY_FAULT]
    assert len(faults) == 1
    (ev,) = faults
    assert ev.detail["fault"] == "signal_loss" and ev.camera_id == CAMS[0]
    assert ev.occurred_at == T0 + timedelta(seconds=6)  # second check in a row
    assert ev.snapshot is not None and (tmp_path / ev.snapshot.ref).exists()
    assert states == [(CAMS[0], ["signal_loss"]), (CAMS[0], [])]
