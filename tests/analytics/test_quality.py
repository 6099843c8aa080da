"""Quality diagnosis on real vtest frames: each synthetic degradation is detected as its own fault, clean footage
passes, and a fault episode is raised once and cleared on recovery."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import pytest

from analytics.quality import Fault, QualityMonitor, QualitySettings
from tests.support.media import vtest_frames


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """One vtest frame per second of footage (80 frames, 768×576)."""
    out = vtest_frames(None)
    assert len(out) >= 60
    return out


def monitor(frames: list[np.ndarray]) -> QualityMonitor:
    """A monitor that checks every frame, raises at the first sighting, and has learned its reference."""
    qm = QualityMonitor(QualitySettings(interval_s=0, confirm_checks=1, clear_checks=1, reference_checks=3))
    for k in range(3):
        assert qm.check(frames[k], float(k)) == []
    assert qm.reference is not None
    return qm


def shifted(img: np.ndarray) -> np.ndarray:
    m = np.float32([[1, 0, 60], [0, 1, 30]])  # camera knocked: 60 px right, 30 px down
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)


def colour_shifted(img: np.ndarray) -> np.ndarray:
    out = img.astype(np.int16)
    out[:, :, 2] += 60  # red up
    out[:, :, 0] -= 30  # blue down
    return np.clip(out, 0, 255).astype(np.uint8)


def half_covered(img: np.ndarray) -> np.ndarray:
    out = img.copy()
    out[:, : img.shape[1] // 2] = (90, 90, 90)  # a board or a bag over the left half
    return out


DEGRADATIONS: dict[Fault, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    Fault.SIGNAL_LOSS: lambda img, _prev: np.zeros_like(img),
    Fault.FREEZE: lambda _img, prev: prev.copy(),
    Fault.BLUR: lambda img, _prev: cv2.GaussianBlur(img, (0, 0), 3),
    Fault.TOO_DARK: lambda img, _prev: (img * 0.15).astype(np.uint8),
    Fault.TOO_BRIGHT: lambda img, _prev: cv2.convertScaleAbs(img, alpha=1.0, beta=180),
    Fault.COLOUR_CAST: lambda img, _prev: colour_shifted(img),
    Fault.OCCLUSION: lambda img, _prev: half_covered(img),
    Fault.SCENE_CHANGE: lambda img, _prev: shifted(img),
}


@pytest.mark.parametrize("fault", list(DEGRADATIONS), ids=[f.value for f in DEGRADATIONS])
def test_each_degradation_is_detected(frames: list[np.ndarray], fault: Fault) -> None:
    qm = monitor(frames)
    assert qm.check(frames[39], 10.0) == []
    changes = qm.check(DEGRADATIONS[fault](frames[40], frames[39]), 11.0)
    assert [(c.fault, c.raised) for c in changes] == [(fault, True)], qm.last_measures
    assert qm.active == {fault}


def test_clean_footage_passes(frames: list[np.ndarray]) -> None:
    qm = monitor(frames)
    for k, f in enumerate(frames[3:], start=3):
        assert qm.check(f, float(k)) == [], (k, qm.last_measures)
    assert qm.ok


def test_one_episode_one_raise_and_recovery_clears(frames: list[np.ndarray]) -> None:
    qm = QualityMonitor(QualitySettings(interval_s=10, confirm_checks=2, clear_checks=2, reference_checks=3))
    t = 0.0
    log: list[tuple[float, Fault, bool]] = []

    def feed(img: np.ndarray) -> None:
        nonlocal t
        log.extend((t, c.fault, c.raised) for c in qm.observe(img, t))
        t += 1.0  # 1 fps sampling; a check every 10 s

    for f in frames[:40]:
        feed(f)
    assert qm.checks == 4 and log == []
    for f in frames[40:70]:  # 30 s of blur: 3 checks
        feed(cv2.GaussianBlur(f, (0, 0), 3))
    for f in frames[:30]:  # sharp again
        feed(f)
    assert log == [(50.0, Fault.BLUR, True), (80.0, Fault.BLUR, False)]


def test_single_bad_check_is_not_a_fault(frames: list[np.ndarray]) -> None:
    qm = QualityMonitor(QualitySettings(interval_s=0, confirm_checks=2, reference_checks=1))
    qm.check(frames[0], 0.0)
    assert qm.check(np.zeros_like(frames[1]), 1.0) == []
    assert qm.check(frames[2], 2.0) == []
    assert qm.ok


def test_low_rate(frames: list[np.ndarray]) -> None:
    qm = QualityMonitor(QualitySettings(interval_s=10))
    for k in range(25):
        qm.observe(frames[k], float(k))
    assert qm.checks == 3  # at 0, 10 and 20 s
