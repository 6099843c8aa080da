"""Motion gate on real vtest frames: a static scene is gated, a moving person passes, a lighting change is
suppressed, and a detection is forced periodically."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.motion import GateDecision, MotionGate, MotionSettings, detection_regions, merge_boxes, regions_area
from tests.support.media import vtest_frames


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """Ten consecutive seconds of vtest, one frame a second."""
    return vtest_frames(10)


def noisy(img: np.ndarray, seed: int) -> np.ndarray:
    """The same view with sensor noise (what a static scene looks like from a real camera)."""
    rng = np.random.default_rng(seed)
    return np.clip(img.astype(np.int16) + rng.normal(0, 3, img.shape).round().astype(np.int16), 0, 255).astype(
        np.uint8
    )


def test_first_frame_is_detected(frames: list[np.ndarray]) -> None:
    d = MotionGate().decide(frames[0], 0.0)
    assert d.detect and d.reason == "first"


def test_static_scene_is_gated(frames: list[np.ndarray]) -> None:
    gate = MotionGate(MotionSettings(force_every_s=100))
    gate.decide(frames[0], 0.0)
    decisions = [gate.decide(noisy(frames[0], s), float(s)) for s in range(1, 20)]
    assert not any(d.detect for d in decisions), decisions
    assert {d.reason for d in decisions} == {"static"}


def test_moving_people_pass(frames: list[np.ndarray]) -> None:
    gate = MotionGate(MotionSettings(force_every_s=100))
    decisions = [gate.decide(f, float(k)) for k, f in enumerate(frames)]
    assert all(d.detect for d in decisions), decisions
    assert {d.reason for d in decisions[1:]} == {"motion"}


def test_one_person_stepping_in_passes(frames: list[np.ndarray]) -> None:
    """Only a person-sized patch (about 1% of the frame) changes."""
    base = frames[0]
    gate = MotionGate(MotionSettings(force_every_s=100))
    gate.decide(base, 0.0)
    assert not gate.decide(noisy(base, 1), 1.0).detect
    stepped = base.copy()
    stepped[300:400, 600:645] = (30, 40, 150)  # a red-coated pedestrian, 45×100 px
    d = gate.decide(stepped, 2.0)
    assert d.detect and d.reason == "motion", d


@pytest.mark.parametrize("change", ["darker", "brighter", "gain"])
def test_lighting_change_is_suppressed(frames: list[np.ndarray], change: str) -> None:
    gate = MotionGate(MotionSettings(force_every_s=100))
    gate.decide(frames[0], 0.0)
    img = frames[0].astype(np.float32)
    lit = {"darker": img - 45, "brighter": img + 40, "gain": img * 1.35}[change]
    d = gate.decide(np.clip(lit, 0, 255).astype(np.uint8), 1.0)
    assert not d.detect and d.reason == "lighting", d


def test_periodic_forced_detection(frames: list[np.ndarray]) -> None:
    gate = MotionGate(MotionSettings(force_every_s=5))
    detected = [t for t in range(21) if gate.decide(noisy(frames[0], t), float(t)).detect]
    assert detected == [0, 5, 10, 15, 20]
    assert gate.counts == {"first": 1, "forced": 4, "static": 16}


def test_disabled_gate_passes_everything(frames: list[np.ndarray]) -> None:
    gate = MotionGate(MotionSettings(enabled=False))
    assert all(gate.decide(frames[0], float(t)).detect for t in range(5))


def test_motion_regions_are_where_things_moved(frames: list[np.ndarray]) -> None:
    """A person pasted into a still view: the decision's blob covers it, and detection_regions widens it by the
    margin, keeps a far last box as a region of its own, joins a near one, and gives up (whole frame) when the
    regions are too large."""
    still = frames[0].copy()
    gate = MotionGate(MotionSettings(force_every_s=100, regions=True))
    gate.decide(still, 0.0)
    moved = still.copy()
    moved[200:330, 500:560] = frames[0][200:330, 100:160][::-1]  # a real patch, flipped, where nothing was
    d = gate.decide(moved, 1.0)
    assert d.detect and d.reason == "motion" and d.blobs
    h, w = moved.shape[:2]
    x0, y0 = min(b[0] for b in d.blobs), min(b[1] for b in d.blobs)
    x1, y1 = max(b[2] for b in d.blobs), max(b[3] for b in d.blobs)
    # around the pasted patch (where its pixels differ from what was there), nowhere else
    assert 480 <= x0 * w <= 510 and 550 <= x1 * w <= 580 and 180 <= y0 * h <= 240 and 260 <= y1 * h <= 350, d.blobs
    s = gate.settings
    regions = detection_regions(d, np.zeros((0, 4), np.float32), w, h, s)
    assert regions is not None and len(regions) == 1
    margin = s.region_margin * w
    assert regions[0][0] <= 500 - margin + 6 and regions[0][2] >= 560 + margin - 6
    far = detection_regions(d, np.array([[20, 400, 60, 500]], np.float32), w, h, s)
    assert far is not None and len(far) == 2  # a person who stopped far away: a crop of their own
    assert any(r[0] <= 20 and r[3] >= 500 for r in far)
    near = detection_regions(d, np.array([[440, 220, 480, 320]], np.float32), w, h, s)
    assert near is not None and len(near) == 1 and near[0][0] <= 440  # close by: one crop around both
    assert regions_area(far, w, h) < 0.2
    assert detection_regions(d, np.array([[0, 0, w, h]], np.float32), w, h, s) is None  # too large: whole frame
    off = MotionSettings(force_every_s=100, regions=False)
    assert MotionSettings().regions and detection_regions(d, np.zeros((0, 4), np.float32), w, h, off) is None
    forced = MotionGate(MotionSettings(force_every_s=0.5, regions=True))
    forced.decide(still, 0.0)
    f = forced.decide(still, 1.0)
    assert f.reason == "forced" and detection_regions(f, np.zeros((0, 4), np.float32), w, h, s) is None


def test_regions_give_way_to_a_whole_frame_every_force_every_s(frames: list[np.ndarray]) -> None:
    """vtest moves every second, so the gate never forces a pass; with regions on, a motion frame still comes
    without blobs (the whole frame detected) once force_every_s has passed since the last whole-frame pass."""
    gate = MotionGate(MotionSettings(force_every_s=3, regions=True))
    decisions = [gate.decide(f, float(t)) for t, f in enumerate(frames)]
    assert all(d.detect for d in decisions) and {d.reason for d in decisions[1:]} == {"motion"}
    whole = [t for t, d in enumerate(decisions) if d.blobs is None]
    assert whole == [0, 3, 6, 9], whole
    assert all(d.blobs for t, d in enumerate(decisions) if t not in whole)
    plain = MotionGate(MotionSettings(force_every_s=3, regions=False))  # off: blobs still reported, never used
    plain_decisions = [plain.decide(f, float(t)) for t, f in enumerate(frames)]
    assert all(d.blobs for d in plain_decisions[1:])


def test_regions_too_large_to_crop_count_as_the_whole_frame_pass(frames: list[np.ndarray]) -> None:
    """A motion frame whose regions exceed region_max_fraction is detected whole (``MotionGate.regions`` gives
    None), and that pass starts the next force_every_s: with last time's boxes covering the frame on every frame
    from 1, no decision needs to drop its blobs to force a whole pass."""
    gate = MotionGate(MotionSettings(force_every_s=3, regions=True))
    h, w = frames[0].shape[:2]
    everywhere = np.array([[0, 0, w, h]], np.float32)
    decisions, found = [], []
    for t, f in enumerate(frames):
        d = gate.decide(f, float(t))
        decisions.append(d)
        found.append(gate.regions(d, everywhere if t else np.zeros((0, 4), np.float32), w, h, float(t)))
    assert all(r is None for r in found)  # every pass detects the whole frame
    assert all(d.blobs is not None for d in decisions[1:]), [t for t, d in enumerate(decisions) if d.blobs is None]


def test_boxes_merge_where_one_crop_costs_less_than_two() -> None:
    """Overlapping and near boxes become one; far ones stay apart; the merge is cost-driven, not distance-driven."""
    a, b = (0.0, 0.0, 100.0, 100.0), (90.0, 0.0, 190.0, 100.0)
    assert merge_boxes([a, b], 0.0) == [(0.0, 0.0, 190.0, 100.0)]  # overlapping: the union is smaller than both
    c = (400.0, 400.0, 500.0, 500.0)
    assert sorted(merge_boxes([a, c], 1000.0)) == [a, c]  # far apart: two crops
    assert merge_boxes([a, c], 300_000.0) == [(0.0, 0.0, 500.0, 500.0)]  # one call is worth a lot: one crop
    # at most `most`: the pair whose box adds the least goes first
    far = [(0.0, 0.0, 10.0, 10.0), (20.0, 0.0, 30.0, 10.0), (500.0, 500.0, 510.0, 510.0)]
    assert sorted(merge_boxes(far, 0.0, most=2)) == [(0.0, 0.0, 30.0, 10.0), (500.0, 500.0, 510.0, 510.0)]
    assert len(merge_boxes(far, 0.0)) == 3
    d = GateDecision(True, "motion", 0.01, ((0.5, 0.5, 0.51, 0.51),))
    s = MotionSettings(regions=True, region_margin=0.0)
    assert detection_regions(d, np.zeros((0, 4), np.float32), 768, 576, s) == ((384, 288, 392, 294),)
