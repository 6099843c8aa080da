"""Motion gating: decides which sampled frames of one camera reach the detector.

Owns a cheap frame difference on a downscaled, blurred grey copy of the frame, against the last frame that *was*
detected (so slow creep accumulates until it counts, and the detections the pipeline holds describe that frame).
Before differencing, the current frame is matched to the reference's mean and contrast, so a global lighting change
(clouds, auto-exposure, street lights) is not motion. A frame passes when the changed area exceeds
``min_changed_fraction``; whatever happens, a detection is forced every ``force_every_s`` so stationary objects keep
their tracks and dwell rules keep running. On motion the decision carries the box of what changed, and
:func:`detection_region` turns it (with the last detection's boxes) into the part of the frame worth detecting;
with regions on, a motion frame carries no box once ``force_every_s`` has passed since the last whole-frame pass,
so a camera that never stops moving still has its whole view detected that often (someone standing still beside
the movement, missed once by a crop, is found again).
Pure computation: no I/O.
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


Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels


@dataclass(frozen=True)
class GateDecision:
    detect: bool
    reason: Reason
    changed_fraction: float
    region: tuple[float, float, float, float] | None = None  # on motion: the changed blobs' box, share of the frame


def detection_region(decision: GateDecision, last_boxes: np.ndarray, width: int, height: int,
                     settings: MotionSettings) -> Box | None:
    """Where to detect a frame the gate passed: the box around what moved and what was found last time
    (``last_boxes``, N×4 pixels, so objects that stopped stay detected), widened by ``region_margin`` and grown to
    at least a 64-pixel square; None (the whole frame) unless the decision is motion, regions are on and the box
    covers at most ``region_max_fraction`` of the frame."""
    if not settings.regions or decision.reason != "motion" or decision.region is None:
        return None
    rx0, ry0, rx1, ry1 = decision.region
    x0, y0, x1, y1 = rx0 * width, ry0 * height, rx1 * width, ry1 * height
    if len(last_boxes):
        x0, y0 = min(x0, float(last_boxes[:, 0].min())), min(y0, float(last_boxes[:, 1].min()))
        x1, y1 = max(x1, float(last_boxes[:, 2].max())), max(y1, float(last_boxes[:, 3].max()))
    margin = settings.region_margin * max(width, height)
    x0, y0, x1, y1 = x0 - margin, y0 - margin, x1 + margin, y1 + margin
    for lo, hi, size in ((0, 2, width), (1, 3, height)):  # at least 64 px on each side, inside the frame
        box = [x0, y0, x1, y1]
        short = max(0.0, min(64.0, size) - (box[hi] - box[lo]))
        box[lo], box[hi] = box[lo] - short / 2, box[hi] + short / 2
        x0, y0, x1, y1 = box
    ix0, iy0 = max(0, int(x0)), max(0, int(y0))
    ix1, iy1 = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
    if (ix1 - ix0) * (iy1 - iy0) > settings.region_max_fraction * width * height:
        return None
    return ix0, iy0, ix1, iy1


class MotionGate:
    """The gate of one camera. :meth:`decide` is called once per sampled frame, in order."""

    def __init__(self, settings: MotionSettings | None = None) -> None:
        self.settings = settings or MotionSettings()  # type: ignore[call-arg]
        self._ref: np.ndarray | None = None  # grey copy of the last detected frame
        self._ref_t = 0.0
        self._whole_t = 0.0  # frame time of the last pass without a region (the whole frame detected)
        self.counts: dict[str, int] = {}

    def _small(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        width = self.settings.width
        small = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
        grey: np.ndarray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        return grey

    def changed_fraction(self, grey: np.ndarray) -> tuple[float, float]:
        """(share of changed pixels after lighting normalisation, mean grey shift) against the reference."""
        blobs, shift = self._changed(grey)
        return float(blobs.mean()), shift

    def _changed(self, grey: np.ndarray) -> tuple[np.ndarray, float]:
        """(mask of the changed blobs after lighting normalisation, mean grey shift) against the reference."""
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
        return blobs, abs(float(grey.mean()) - float(ref.mean()))

    def decide(self, image: np.ndarray, t: float) -> GateDecision:
        """Whether the frame at frame time ``t`` (monotonic seconds) should be detected."""
        s = self.settings
        grey = self._small(image)
        if not s.enabled:
            decision = GateDecision(True, "disabled", 1.0)
        elif self._ref is None or self._ref.shape != grey.shape:
            decision = GateDecision(True, "first", 1.0)
        else:
            blobs, shift = self._changed(grey)
            fraction = float(blobs.mean())
            if fraction >= s.min_changed_fraction:
                x, y, w, h = cv2.boundingRect(blobs)
                gh, gw = grey.shape
                box = (x / gw, y / gh, (x + w) / gw, (y + h) / gh)
                whole_due = s.regions and t - self._whole_t >= s.force_every_s
                decision = GateDecision(True, "motion", fraction, None if whole_due else box)
            elif t - self._ref_t >= s.force_every_s:
                decision = GateDecision(True, "forced", fraction)
            elif shift > s.lighting_shift:
                decision = GateDecision(False, "lighting", fraction)
            else:
                decision = GateDecision(False, "static", fraction)
        if decision.detect:
            self._ref, self._ref_t = grey, t
            if decision.region is None:
                self._whole_t = t
        self.counts[decision.reason] = self.counts.get(decision.reason, 0) + 1
        return decision

    def region(self, decision: GateDecision, last_boxes: np.ndarray, width: int, height: int,
               t: float) -> Box | None:
        """:func:`detection_region` for a frame this gate passed at frame time ``t``; when it comes out as the whole
        frame (the widened box too large), that pass counts as the whole-frame one, so the next is due
        ``force_every_s`` after it rather than earlier."""
        box = detection_region(decision, last_boxes, width, height, self.settings)
        if box is None and decision.region is not None:
            self._whole_t = max(self._whole_t, t)
        return box
