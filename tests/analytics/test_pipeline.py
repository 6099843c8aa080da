"""CameraAnalytics.process: hand-made detections on synthetic frames → tracked incidents → events with snapshots.

Also the worker's frame queue: only the newest frame per camera is kept.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from analytics.detections import Detections
from analytics.pipeline import AnalyticsWorker, CameraAnalytics
from registry.config import CrowdGatheringRule, ZoneIntrusionRule
from sharpeyes.frames import Frame
from sharpeyes.schema import Event, EventType, Severity

CAM = "14042900001325000001"
CODES = ["140429", "140429100", "140429100001"]
T0 = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)
W, H = 640, 480


def image(seq: int) -> np.ndarray:
    img = np.full((H, W, 3), 40, np.uint8)
    cv2.putText(img, f"frame {seq}", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    return img


def frame(seq: int) -> Frame:
    """Frames one second apart, both on the wall clock and on the monotonic clock."""
    return Frame(CAM, image(seq), T0 + timedelta(seconds=seq), seq, monotonic=1000.0 + seq)


def crowd_dets(dx: float = 0.0) -> Detections:
    """Three persons in the bottom half (anchors at y=400) and one in the top half (anchor at y=150)."""
    boxes = [[50 + dx, 250, 110 + dx, 400], [200 + dx, 240, 260 + dx, 400], [350 + dx, 260, 410 + dx, 400],
             [500 + dx, 30, 560 + dx, 150]]
    return Detections(np.asarray(boxes, np.float32), np.array([0.91, 0.82, 0.73, 0.64], np.float32),
                      ["Normal", "Fall", "Normal", "Normal"])


def camera() -> CameraAnalytics:
    rules = [
        CrowdGatheringRule(type="crowd_gathering", name="路口聚集", zone=[[0, 0.5], [1, 0.5], [1, 1], [0, 1]],
                           min_count=3, min_duration_s=2, clear_after_s=5),
        # nobody ever stands in this corner: it must stay silent
        ZoneIntrusionRule(type="zone_intrusion", name="禁入区", zone=[[0.9, 0.9], [1, 0.9], [1, 1], [0.9, 1]],
                          min_duration_s=0),
    ]
    return CameraAnalytics.build(CAM, "示范社区 校园路口 1", CODES, rules)


def test_one_crowd_event_with_snapshot(tmp_path: Path) -> None:
    cam = camera()
    per_frame: list[list[Event]] = []
    frames = [frame(seq) for seq in range(8)]
    for f in frames:
        per_frame.append(cam.process(f, crowd_dets(dx=2.0 * f.seq), tmp_path))  # slow drift: same tracks
    assert [len(evs) for evs in per_frame] == [0, 0, 1, 0, 0, 0, 0, 0]
    (event,) = per_frame[2]
    assert cam.frames == 8
    assert cam.incidents == 1

    assert event.type is EventType.CROWD_GATHERING
    assert event.severity is Severity.MAJOR
    assert event.camera_id == CAM
    assert event.camera_name == "示范社区 校园路口 1"
    assert event.civil_codes == CODES
    assert event.rule == event.zone == "路口聚集"
    assert event.occurred_at == T0.replace(microsecond=123000) + timedelta(seconds=2)
    assert event.detail == {"count": 3, "min_count": 3, "held_s": 2.0}

    # the three in-zone persons, with the tracker's ids (stable since frame 0) and canonical classes
    assert [o.track_id for o in event.objects] == [1, 2, 3]
    assert [o.cls for o in event.objects] == ["person"] * 3
    assert [o.confidence for o in event.objects] == [0.91, 0.82, 0.73]
    assert event.objects[0].box == [54.0, 250.0, 114.0, 400.0]

    snap = event.snapshot
    assert snap is not None
    assert snap.ref == f"2025/03/04/{CAM}/{event.id}.jpg"
    assert (snap.width, snap.height) == (W, H)
    data = (tmp_path / snap.ref).read_bytes()
    assert hashlib.sha256(data).hexdigest() == snap.sha256
    assert [p.name for p in (tmp_path / snap.ref).parent.iterdir()] == [f"{event.id}.jpg"]

    # the snapshot is the triggering frame with the boxes drawn, not the bare frame
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).astype(int)
    bare = frames[2].image.astype(int)
    assert np.abs(decoded - bare).max() > 100
    b, g, r = decoded[320, 54]  # left edge of the first involved box (x = 50 + 2·2)
    assert r > 180 and g < 80 and b < 80, (b, g, r)
    np.testing.assert_array_equal(frames[2].image, image(2))  # the frame itself was not drawn on

    assert Event.from_json(event.to_json()) == event


def test_last_detections_are_tracked(tmp_path: Path) -> None:
    cam = camera()
    cam.process(frame(0), crowd_dets(), tmp_path)
    tracked = cam.last_detections
    assert tracked.tracker_id is not None
    assert [int(i) for i in tracked.tracker_id] == [1, 2, 3, 4]
    cam.process(frame(1), crowd_dets(dx=3.0), tmp_path)
    assert [int(i) for i in cam.last_detections.tracker_id] == [1, 2, 3, 4]  # type: ignore[union-attr]


def test_crowd_dispersing_and_regathering_gives_a_second_event(tmp_path: Path) -> None:
    cam = camera()
    empty = Detections()
    plan = [crowd_dets()] * 3 + [empty] * 6 + [crowd_dets()] * 3  # below from seq 3, cleared at seq 8
    per_frame = [cam.process(frame(seq), d, tmp_path) for seq, d in enumerate(plan)]
    counts = [sum(e.updated_at is None for e in evs) for evs in per_frame]
    assert counts == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    (ended,) = per_frame[8]  # below from seq 3, clear_after_s 5: the first incident ends at seq 8
    assert ended.id == per_frame[2][0].id and ended.ended_at == T0.replace(microsecond=123000) + timedelta(seconds=8)
    assert len(list(tmp_path.rglob("*.jpg"))) == 2


def test_no_rules_no_events(tmp_path: Path) -> None:
    cam = CameraAnalytics.build(CAM, "x", CODES, [])
    assert all(cam.process(frame(s), crowd_dets(), tmp_path) == [] for s in range(5))
    assert not any(tmp_path.iterdir())


def test_worker_keeps_only_newest_frame_per_camera(tmp_path: Path) -> None:
    worker = AnalyticsWorker(lambda: None, tmp_path, lambda e: None)  # type: ignore[arg-type,return-value]
    other = "14042900001325000002"
    worker.submit(frame(0))
    worker.submit(Frame(other, image(0), T0, 0, monotonic=0.0))
    worker.submit(frame(1))  # replaces frame 0 of CAM and moves CAM behind the other camera
    first, second = worker._next(0.01), worker._next(0.01)
    assert first is not None and second is not None
    assert (first.camera_id, second.camera_id) == (other, CAM)
    assert second.seq == 1
    assert worker._next(0.01) is None


def test_incident_updates_reuse_the_event_id_throttled_and_end(tmp_path: Path) -> None:
    """A second intruder joining is an update of the same event, held back until update_interval_s after the
    last send; the end is always sent; only the first state gets a snapshot."""
    rule = ZoneIntrusionRule(type="zone_intrusion", name="禁入区", zone=[[0, 0.5], [1, 0.5], [1, 1], [0, 1]],
                             min_duration_s=0, clear_after_s=3)
    cam = CameraAnalytics.build(CAM, "x", CODES, [rule])
    one = Detections(np.array([[50, 300, 110, 400]], np.float32), np.array([0.9], np.float32), ["Normal"])
    two = Detections(np.array([[50, 300, 110, 400], [400, 300, 460, 400]], np.float32),
                     np.array([0.9, 0.8], np.float32), ["Normal", "Normal"])
    plan = [one, one, two, two, two, two, Detections(), Detections(), Detections(), Detections(), Detections()]
    out = [(seq, e) for seq, d in enumerate(plan) for e in cam.process(frame(seq), d, tmp_path)]
    assert [(seq, e.updated_at is not None, e.ended_at is not None) for seq, e in out] == [
        (0, False, False), (5, True, False), (9, True, True)]
    ids = {e.id for _, e in out}
    assert len(ids) == 1
    assert out[1][1].detail["track_ids"] == "1,2" and len(out[1][1].objects) == 2
    assert out[2][1].ended_at == T0.replace(microsecond=123000) + timedelta(seconds=9)
    assert out[2][1].snapshot == out[0][1].snapshot and len(list(tmp_path.rglob("*.jpg"))) == 1
    assert cam.open_events == {}
