"""Motion gating: decides which sampled frames of one camera reach the detector, and where to look in them.

Owns a cheap frame difference on a downscaled, blurred grey copy of the frame, against the last frame that *was*
detected (so slow creep accumulates until it counts, and the detections the pipeline holds describe that frame).
Before differencing, the current frame is matched to the reference's mean and contrast, so a global lighting change
(clouds, auto-exposure, street lights) is not motion. A frame passes when the changed area exceeds
``min_changed_fraction``; whatever happens, a detection is forced every ``force_every_s`` so stationary objects keep
their tracks and dwell rules keep running. On motion the decision carries the boxes of the blobs that changed, and
:func:`detection_regions` turns them (with the last detection's boxes) into the parts of the frame worth detecting:
each box widened by a margin, boxes merged where one crop costs less than two (Frigate's regions, not one box
around everything); the detector cuts them on its own input grid (``analytics/openvino_engine.py``). With regions
on, a motion frame carries no boxes once ``force_every_s`` has passed since the last whole-frame pass, so a camera
that never stops moving still has its whole view detected that often (someone standing still beside the movement,
missed once by a crop, is found again).
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
Regions = tuple[Box, ...]  # the parts of one frame to detect; None where the whole frame is detected
Share = tuple[float, float, float, float]  # x0, y0, x1, y1 as shares of the frame's width and height
FBox = tuple[float, float, float, float]  # x0, y0, x1, y1 in frame pixels, before rounding

_MAX_BOXES = 64  # more boxes than this (noise all over the view) are not worth merging one by one: whole frame
_MAX_REGIONS = 6  # each crop costs the detector a fixed few ms: more are merged, the cheapest pair first


@dataclass(frozen=True)
class GateDecision:
    detect: bool
    reason: Reason
    changed_fraction: float
    blobs: tuple[Share, ...] | None = None  # on motion: each changed blob's box; None: the whole frame is due


def _area(b: FBox | Box) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def merge_boxes(boxes: list[FBox], join_area: float, most: int = 0) -> list[FBox]:
    """Merge boxes two at a time, the pair whose surrounding box adds the least area first, while that box's area
    is less than theirs plus ``join_area`` (the pixels one more detector call is worth) or while there are more
    than ``most`` (0: no limit): overlapping or nearby boxes become one crop, far apart ones stay apart. Returns
    the boxes, largest first."""
    b = np.array(boxes, np.float64).reshape(-1, 4)
    while len(b) > 1:
        x0 = np.minimum(b[:, None, 0], b[None, :, 0])
        y0 = np.minimum(b[:, None, 1], b[None, :, 1])
        x1 = np.maximum(b[:, None, 2], b[None, :, 2])
        y1 = np.maximum(b[:, None, 3], b[None, :, 3])
        area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
        extra = (x1 - x0) * (y1 - y0) - area[:, None] - area[None, :]
        extra[np.tril_indices(len(b))] = np.inf
        i, j = np.unravel_index(int(np.argmin(extra)), extra.shape)
        if extra[i, j] >= join_area and not (most and len(b) > most):
            break
        b[i] = (x0[i, j], y0[i, j], x1[i, j], y1[i, j])
        b = np.delete(b, j, axis=0)
    out: list[FBox] = [(float(r[0]), float(r[1]), float(r[2]), float(r[3])) for r in b]
    return sorted(out, key=_area, reverse=True)


def detection_regions(decision: GateDecision, last_boxes: np.ndarray, width: int, height: int,
                      settings: MotionSettings) -> Regions | None:
    """Where to detect a frame the gate passed: the boxes of what moved and of what was found last time
    (``last_boxes``, N×4 pixels, so objects that stopped stay detected), each widened by ``region_margin``, merged
    (:func:`merge_boxes`, ``region_merge``, at most six) and clipped to the frame; None (the whole frame) unless
    the decision is motion, regions are on, and the crops cover at most ``region_max_fraction`` of the frame."""
    if not settings.regions or decision.reason != "motion" or decision.blobs is None:
        return None
    boxes: list[FBox] = [(x0 * width, y0 * height, x1 * width, y1 * height) for x0, y0, x1, y1 in decision.blobs]
    boxes += [(float(b[0]), float(b[1]), float(b[2]), float(b[3])) for b in last_boxes]
    if not boxes or len(boxes) > _MAX_BOXES:
        return None
    margin = settings.region_margin * max(width, height)
    widened: list[FBox] = [(max(0.0, x0 - margin), max(0.0, y0 - margin),
                            min(float(width), x1 + margin), min(float(height), y1 + margin))
                           for x0, y0, x1, y1 in boxes]
    merged = merge_boxes(widened, settings.region_merge * width * height, _MAX_REGIONS)
    if sum(_area(b) for b in merged) > settings.region_max_fraction * width * height:
        return None
    return tuple((int(x0), int(y0), min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1))))
                 for x0, y0, x1, y1 in merged if x1 > x0 and y1 > y0) or None


def regions_area(regions: Regions | None, width: int, height: int) -> float:
    """Share of the frame's area the regions cover (1.0 for the whole frame; overlaps counted twice, as the
    detector computes them twice)."""
    if regions is None:
        return 1.0
    return sum(_area(r) for r in regions) / (width * height)


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
                whole_due = s.regions and t - self._whole_t >= s.force_every_s
                decision = GateDecision(True, "motion", fraction, None if whole_due else _blob_boxes(blobs))
            elif t - self._ref_t >= s.force_every_s:
                decision = GateDecision(True, "forced", fraction)
            elif shift > s.lighting_shift:
                decision = GateDecision(False, "lighting", fraction)
            else:
                decision = GateDecision(False, "static", fraction)
        if decision.detect:
            self._ref, self._ref_t = grey, t
            if decision.blobs is None:
                self._whole_t = t
        self.counts[decision.reason] = self.counts.get(decision.reason, 0) + 1
        return decision

    def regions(self, decision: GateDecision, last_boxes: np.ndarray, width: int, height: int,
                t: float) -> Regions | None:
        """:func:`detection_regions` for a frame this gate passed at frame time ``t``; when it comes out as the
        whole frame (the crops too large), that pass counts as the whole-frame one, so the next is due
        ``force_every_s`` after it rather than earlier."""
        regions = detection_regions(decision, last_boxes, width, height, self.settings)
        if regions is None and decision.blobs is not None:
            self._whole_t = max(self._whole_t, t)
        return regions


def _blob_boxes(blobs: np.ndarray) -> tuple[Share, ...]:
    """The box of each connected blob of a changed-pixel mask, as shares of the mask's size."""
    n, _, stats, _ = cv2.connectedComponentsWithStats(blobs, connectivity=8)
    gh, gw = blobs.shape
    return tuple((x / gw, y / gh, (x + w) / gw, (y + h) / gh) for x, y, w, h, _ in stats[1:n])
