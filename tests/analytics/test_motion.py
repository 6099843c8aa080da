"""Motion gate on real vtest frames: a static scene is gated, a moving person passes, a lighting change is
suppressed, and a detection is forced periodically."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.motion import MotionGate, MotionSettings
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
