"""Motion gating: decides which sampled frames of one camera reach the detector.

Owns a cheap frame difference on a downscaled, blurred grey copy of the frame, against the last frame that *was*
detected (so slow creep accumulates until it counts, and the detections the pipeline holds describe that frame).
Before differencing, the current frame is matched to the reference's mean and contrast, so a global lighting change
(clouds, auto-exposure, street lights) is not motion. A frame passes when the changed area exceeds
``min_changed_fraction``; whatever happens, a detection is forced every ``force_every_s`` so stationary objects keep
their tracks and dwell rules keep running. Pure computation: no I/O.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from sharpeyes.settings import MotionSettings

log = logging.getLogger(__name__)

_KERNEL = np.ones((3, 3), np.uint8)

Reason = Literal["first", "motion", "forced", "static", "lighting", "disabled"]


@dataclass(frozen=True)
class GateDecision:
    detect: bool
    reason: Reason
    changed_fraction: float


class MotionGate:
    """The gate of one camera. :meth:`decide` is called once per sampled frame, in order."""

    def __init__(self, settings: MotionSettings | None = None) -> None:
        self.settings = settings or MotionSettings()  # type: ignore[call-arg]
        self._ref: np.ndarray | None = None  # grey copy of the last detected frame
        self._ref_t = 0.0
        self.counts: dict[str, int] = {}

    def _small(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        width = self.settings.width
        small = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
        grey: np.ndarray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        return grey

    def changed_fraction(self, grey: np.ndarray) -> tuple[float, float]:
        """(share of changed pixels after lighting normalisation, mean grey shift) against the reference."""
        assert self._ref is not None
        ref = self._ref
        # histogram matching: any global monotonic change of brightness (offset, gain, gamma, clipping) maps back
        # onto the reference, while a local change (an object) does not
        levels = np.arange(256, dtype=np.float32)
        hist_c = np.bincount(grey.ravel(), minlength=256) / grey.size
        cdf_c = np.cumsum(hist_c) - hist_c / 2  # each level at the middle of its quantile range
        cdf_r = np.cumsum(np.bincount(ref.ravel(), minlength=256)) / ref.size
        lut = np.interp(cdf_c, cdf_r, levels).astype(np.float32)
        normalised = cv2.GaussianBlur(lut[grey], (5, 5), 0)
        smooth_ref = cv2.GaussianBlur(ref.astype(np.float32), (5, 5), 0)
        changed = np.abs(normalised - smooth_ref) > self.settings.pixel_threshold
        # pixels clipped to black or white in either frame carry no information about objects
        lo, hi = 8, 247
        informative = (grey > lo) & (grey < hi) & (ref > lo) & (ref < hi)
        # objects are blobs: an opening drops the thin residue of edges and noise
        blobs = cv2.morphologyEx((changed & informative).astype(np.uint8), cv2.MORPH_OPEN, _KERNEL)
        return float(blobs.mean()), abs(float(grey.mean()) - float(ref.mean()))

    def decide(self, image: np.ndarray, t: float) -> GateDecision:
        """Whether the frame at frame time ``t`` (monotonic seconds) should be detected."""
        s = self.settings
        grey = self._small(image)
        if not s.enabled:
            decision = GateDecision(True, "disabled", 1.0)
        elif self._ref is None or self._ref.shape != grey.shape:
            decision = GateDecision(True, "first", 1.0)
        else:
            fraction, shift = self.changed_fraction(grey)
            if fraction >= s.min_changed_fraction:
                decision = GateDecision(True, "motion", fraction)
            elif t - self._ref_t >= s.force_every_s:
                decision = GateDecision(True, "forced", fraction)
            elif shift > s.lighting_shift:
                decision = GateDecision(False, "lighting", fraction)
            else:
                decision = GateDecision(False, "static", fraction)
        if decision.detect:
            self._ref, self._ref_t = grey, t
        self.counts[decision.reason] = self.counts.get(decision.reason, 0) + 1
        return decision
