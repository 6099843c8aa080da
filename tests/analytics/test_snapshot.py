"""Snapshots: render draws boxes and the zone on a copy; save_snapshot writes a JPEG that matches its reference."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from analytics.detections import Detections
from analytics.snapshot import render, save_snapshot


def frame(h: int = 480, w: int = 640) -> np.ndarray:
    """A deterministic textured BGR frame."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 255 // w), (y * 255 // h), ((x + y) % 64) * 2], axis=2)
    return img.astype(np.uint8)


def dets(boxes: list[list[float]], ids: list[int] | None = None) -> Detections:
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.full(len(boxes), 0.9, np.float32),
                      ["Normal"] * len(boxes), None if ids is None else np.asarray(ids, np.int64))


def test_save_snapshot_file_matches_reference(tmp_path: Path) -> None:
    img = frame()
    ref = save_snapshot(tmp_path, "2025/01/02/cam/abc.jpg", img)
    path = tmp_path / ref.ref
    assert ref.ref == "2025/01/02/cam/abc.jpg"
    data = path.read_bytes()
    assert data[:3] == b"\xff\xd8\xff"  # JPEG SOI marker
    assert hashlib.sha256(data).hexdigest() == ref.sha256
    assert (ref.width, ref.height) == (640, 480)
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == img.shape
    assert float(np.abs(decoded.astype(int) - img.astype(int)).mean()) < 4.0  # a faithful JPEG of this frame
    assert [p.name for p in path.parent.iterdir()] == ["abc.jpg"]  # no temporary file left behind


def test_save_snapshot_is_deterministic_and_content_addressed(tmp_path: Path) -> None:
    img = frame()
    a = save_snapshot(tmp_path, "a.jpg", img)
    b = save_snapshot(tmp_path, "b.jpg", img.copy())
    assert a.sha256 == b.sha256
    other = img.copy()
    other[0:50, 0:50] = 0
    assert save_snapshot(tmp_path, "c.jpg", other).sha256 != a.sha256


def test_save_snapshot_overwrites_atomically(tmp_path: Path) -> None:
    first = save_snapshot(tmp_path, "x/s.jpg", frame())
    second = save_snapshot(tmp_path, "x/s.jpg", np.zeros((480, 640, 3), np.uint8))
    assert first.sha256 != second.sha256
    assert hashlib.sha256((tmp_path / "x/s.jpg").read_bytes()).hexdigest() == second.sha256


def test_render_draws_box_outline_and_leaves_input_alone() -> None:
    img = np.full((480, 640, 3), 50, np.uint8)
    before = img.copy()
    involved = dets([[100, 120, 300, 400]], ids=[7])
    out = render(img, involved, involved)
    np.testing.assert_array_equal(img, before)
    assert out is not img
    assert out.shape == img.shape and out.dtype == img.dtype
    # the incident's box is outlined in red (BGR 0,0,255) on all four sides
    for y, x in [(120, 200), (400, 200), (250, 100), (250, 300)]:
        assert tuple(out[y, x]) == (0, 0, 255), (y, x)
    # the inside of the box, away from the label, is untouched
    np.testing.assert_array_equal(out[200:380, 110:290], img[200:380, 110:290])


def test_render_draws_uninvolved_detections_thin_grey() -> None:
    img = np.zeros((480, 640, 3), np.uint8)
    everything = dets([[100, 120, 300, 400], [400, 100, 500, 300]], ids=[1, 2])
    out = render(img, everything, everything[[True, False]])
    assert tuple(out[200, 400]) == (200, 200, 200)  # left edge of the uninvolved box
    assert tuple(out[200, 402]) == (0, 0, 0)  # thickness 1
    assert tuple(out[250, 100]) == (0, 0, 255)


def test_render_draws_zone() -> None:
    img = np.zeros((400, 400, 3), np.uint8)
    zone = np.array([[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]], np.float32)
    out = render(img, Detections(), Detections(), zone)
    assert tuple(out[100, 200]) == (0, 215, 255)  # top edge of the zone at y = 0.25 × 400
    assert tuple(out[200, 200]) == (0, 0, 0)
    np.testing.assert_array_equal(render(img, Detections(), Detections()), img)  # nothing to draw


@pytest.mark.parametrize("ids", [None, [3]])
def test_render_labels_with_and_without_track_ids(ids: list[int] | None) -> None:
    img = np.zeros((200, 200, 3), np.uint8)
    out = render(img, Detections(), dets([[50, 60, 150, 190]], ids=ids))
    assert out[40:58, 50:150].any()  # the label text above the box


def test_snapshot_on_a_full_disk_costs_the_picture_not_the_event(tmp_path: Path) -> None:
    from analytics.snapshot import STORAGE, attach_snapshot
    from tests.support.events import make_event

    rel = "2025/01/02/cam/full.jpg"
    (tmp_path / rel).parent.mkdir(parents=True)
    (tmp_path / rel).with_suffix(".tmp").symlink_to("/dev/full")  # every write there fails with ENOSPC
    event = make_event(1)
    out = attach_snapshot(event, tmp_path, rel, frame())
    assert out.id == event.id and out.snapshot is None
    assert "No space left on device" in str(out.detail["snapshot_error"])
    assert STORAGE.error is not None and not (tmp_path / rel).exists()
    assert not (tmp_path / rel).with_suffix(".tmp").exists()  # the partial file is removed
    again = attach_snapshot(event, tmp_path, rel, frame())  # room again
    assert again.snapshot is not None and "snapshot_error" not in again.detail and STORAGE.error is None
