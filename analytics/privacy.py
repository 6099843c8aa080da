"""Privacy masks: per-camera polygons (normalised coordinates, from camera YAML ``privacy_masks``) blacked out of
every frame before detection, diagnosis or storage, so a masked region (a window, a private yard: 条例 art. 8) never
appears in a snapshot or anywhere downstream.

Owns the rasterisation of the polygons, cached per frame size. Pure computation: no I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np

log = logging.getLogger(__name__)


class PrivacyMasker:
    """Fills the configured polygons with black. ``apply`` returns a new array and never writes into its input
    (ingest may still hold the frame)."""

    def __init__(self, polygons: Sequence[Sequence[Sequence[float]]]) -> None:
        self.polygons = [np.asarray(p, np.float64).reshape(-1, 2) for p in polygons if len(p) >= 3]
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def __bool__(self) -> bool:
        return bool(self.polygons)

    def mask(self, width: int, height: int) -> np.ndarray:
        """H×W bool: True where the frame is masked."""
        key = (width, height)
        if key not in self._cache:
            m = np.zeros((height, width), np.uint8)
            for poly in self.polygons:
                # pixel centres: a point at x=1.0 is the right edge of the last column
                pts = np.round(poly * np.array([width, height]) - 0.5).astype(np.int32).reshape(-1, 1, 2)
                cv2.fillPoly(m, [pts], 255)
                cv2.polylines(m, [pts], True, 255, 1)  # the border pixels too: no half-masked fringe
            self._cache[key] = m.astype(bool)
            log.debug("privacy mask %dx%d: %.1f%% of the frame", width, height, 100 * self._cache[key].mean())
        return self._cache[key]

    def apply(self, image: np.ndarray) -> np.ndarray:
        if not self.polygons:
            return image
        h, w = image.shape[:2]
        out = image.copy()
        out[self.mask(w, h)] = 0
        return out
