"""Video-quality diagnosis (视频质量诊断) of one camera, at a low rate: owns the fault checks, the camera's
reference (learned from its first clean checks) and the fault episodes.

Faults (docs/domain.md §Video-quality faults), each measured on a downscaled copy of the frame:

========================  ==========================================================================================
``signal_loss``           one grey level (±4) covers more than ``signal_loss_fraction`` of the frame (black/blue screen)
``freeze``                the frame is identical (mean absolute difference below ``freeze_mad``) to the previous check's
``blur``                  variance of the Laplacian below ``blur_ratio`` × the reference's (or below ``blur_floor``)
``too_dark``/``too_bright``  mean grey outside ``dark_mean``..``bright_mean``
``colour_cast``           mean Lab chroma offset (a*, b* from neutral) ``cast_offset`` above the reference's, or above
                          ``cast_absolute``
``occlusion``             at least ``occlusion_fraction`` of the grid cells turned low-texture since the reference
``scene_change``          under ``scene_match_fraction`` of the reference's ORB features found again where they were
========================  ==========================================================================================

Texture-based checks (blur, occlusion, scene change) are skipped while the picture is lost, too dark or too bright:
those faults explain the missing texture. A fault is *raised* after ``confirm_checks`` consecutive checks show it and
*cleared* after ``clear_checks`` consecutive checks without it: one episode gives one :class:`QualityChange` with
``raised`` and one with ``cleared``. The caller turns raised faults into ``quality_fault`` events and keeps the
per-camera state (see ``analytics/README.md``). Pure computation: no I/O.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from sharpeyes.settings import QualitySettings

log = logging.getLogger(__name__)


class Fault(StrEnum):
    SIGNAL_LOSS = "signal_loss"
    FREEZE = "freeze"
    BLUR = "blur"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"
    COLOUR_CAST = "colour_cast"
    OCCLUSION = "occlusion"
    SCENE_CHANGE = "scene_change"


@dataclass
class Measures:
    """What one check measured (also put into the fault event's detail)."""

    mean: float
    dominant_fraction: float
    laplacian_var: float
    chroma_offset: float
    mad_prev: float | None
    low_texture_new: float
    scene_match: float | None

    def as_detail(self) -> dict[str, float]:
        out = {
            "mean_grey": round(self.mean, 1),
            "dominant_fraction": round(self.dominant_fraction, 3),
            "laplacian_var": round(self.laplacian_var, 1),
            "chroma_offset": round(self.chroma_offset, 1),
            "low_texture_new": round(self.low_texture_new, 3),
        }
        if self.mad_prev is not None:
            out["mad_prev"] = round(self.mad_prev, 3)
        if self.scene_match is not None:
            out["scene_match"] = round(self.scene_match, 3)
        return out


@dataclass
class Reference:
    """A camera's clean look: sharpness, chroma offset, cells without texture, ORB features."""

    laplacian_var: float
    chroma_offset: float
    low_texture: np.ndarray  # grid×grid bool
    keypoints: np.ndarray  # K×2 float32 positions
    descriptors: np.ndarray | None  # K×32 uint8


@dataclass(frozen=True)
class QualityChange:
    """A fault raised or cleared at a check."""

    fault: Fault
    raised: bool  # False: cleared
    measures: Measures


@dataclass
class _Sample:
    grey: np.ndarray
    lab_offset: float
    low_texture: np.ndarray
    measures: Measures


_ORB = cv2.ORB_create(nfeatures=500)  # type: ignore[attr-defined]
_MATCHER = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)


def _low_texture_cells(grey: np.ndarray, grid: int, std_max: float) -> np.ndarray:
    h, w = grey.shape
    ch, cw = h // grid, w // grid
    cells = grey[: ch * grid, : cw * grid].astype(np.float32).reshape(grid, ch, grid, cw)
    return np.asarray(cells.std(axis=(1, 3)) < std_max)


def _features(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    kps, desc = _ORB.detectAndCompute(grey, None)
    pts = np.array([kp.pt for kp in kps], np.float32).reshape(-1, 2)
    return pts, desc


def _in_place(ref_pts: np.ndarray, ref_desc: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """Bool per reference feature: matched in ``grey`` at (about) the same place."""
    found = np.zeros(len(ref_pts), bool)
    pts, desc = _features(grey)
    if desc is None or len(pts) == 0:
        return found
    tol = 0.03 * grey.shape[1]
    for m in _MATCHER.match(ref_desc, desc):
        if float(np.linalg.norm(ref_pts[m.queryIdx] - pts[m.trainIdx])) <= tol:
            found[m.queryIdx] = True
    return found


def _scene_match(ref: Reference, grey: np.ndarray) -> float | None:
    """Share of the reference's features matched at (about) the same place: ~1 unchanged, ~0 camera moved."""
    if ref.descriptors is None or len(ref.keypoints) < 20:
        return None  # a featureless reference says nothing
    return float(_in_place(ref.keypoints, ref.descriptors, grey).mean())


class QualityMonitor:
    """The diagnosis of one camera. Call :meth:`observe` with every sampled frame; it checks at most every
    ``interval_s`` and returns the faults raised or cleared at that check."""

    def __init__(self, settings: QualitySettings | None = None) -> None:
        self.settings = settings or QualitySettings()  # type: ignore[call-arg]
        self.reference: Reference | None = None
        self.active: set[Fault] = set()
        self.last_check: float | None = None
        self.last_measures: Measures | None = None
        self._prev_grey: np.ndarray | None = None
        self._seen: dict[Fault, int] = {}
        self._absent: dict[Fault, int] = {}
        self._ref_samples: list[_Sample] = []
        self.checks = 0

    # ------------------------------------------------------------------------------------------ measuring
    def _sample(self, image: np.ndarray) -> _Sample:
        s = self.settings
        h, w = image.shape[:2]
        small = cv2.resize(image, (s.width, max(1, round(h * s.width / w))), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        hist = np.bincount(grey.ravel(), minlength=256).astype(np.float64)
        window = np.convolve(hist, np.ones(9), mode="same")  # ±4 grey levels
        dominant = float(window.max() / grey.size)
        lab = cv2.cvtColor(small, cv2.COLOR_BGR2LAB).reshape(-1, 3).astype(np.float32)
        offset = float(np.hypot(lab[:, 1].mean() - 128.0, lab[:, 2].mean() - 128.0))
        lap = float(cv2.Laplacian(grey, cv2.CV_64F).var())
        mad = None
        if self._prev_grey is not None and self._prev_grey.shape == grey.shape:
            mad = float(cv2.absdiff(grey, self._prev_grey).mean())
        low = _low_texture_cells(grey, s.grid, s.low_texture_std)
        new_low = 0.0
        if self.reference is not None:
            new_low = float((low & ~self.reference.low_texture).mean())
        measures = Measures(float(grey.mean()), dominant, lap, offset, mad, new_low, None)
        return _Sample(grey, offset, low, measures)

    def _faults(self, sample: _Sample) -> set[Fault]:
        s, m, ref = self.settings, sample.measures, self.reference
        found: set[Fault] = set()
        if m.dominant_fraction > s.signal_loss_fraction:
            return {Fault.SIGNAL_LOSS}
        if m.mad_prev is not None and m.mad_prev < s.freeze_mad:
            found.add(Fault.FREEZE)
        if m.mean < s.dark_mean:
            found.add(Fault.TOO_DARK)
        elif m.mean > s.bright_mean:
            found.add(Fault.TOO_BRIGHT)
        cast_vs_ref = ref is not None and m.chroma_offset - ref.chroma_offset > s.cast_offset
        if m.chroma_offset > s.cast_absolute or cast_vs_ref:
            found.add(Fault.COLOUR_CAST)
        if found & {Fault.TOO_DARK, Fault.TOO_BRIGHT}:
            return found  # no texture judgement on a picture without light
        if m.laplacian_var < s.blur_floor or (ref is not None and m.laplacian_var < s.blur_ratio * ref.laplacian_var):
            found.add(Fault.BLUR)
        if ref is not None and m.low_texture_new >= s.occlusion_fraction:
            found.add(Fault.OCCLUSION)
        if ref is not None and not found & {Fault.BLUR, Fault.OCCLUSION}:
            m.scene_match = _scene_match(ref, sample.grey)
            if m.scene_match is not None and m.scene_match < s.scene_match_fraction:
                found.add(Fault.SCENE_CHANGE)
        return found

    def _learn(self, sample: _Sample, *, at_once: bool = False) -> None:
        self._ref_samples.append(sample)
        if not at_once and len(self._ref_samples) < self.settings.reference_checks:
            return
        samples, self._ref_samples = self._ref_samples, []
        last = samples[-1]
        pts, desc = _features(last.grey)
        if desc is not None and len(samples) > 1:
            # keep the features of the fixed scene, not of passers-by: those found in place in most other samples
            hits = np.stack([_in_place(pts, desc, x.grey) for x in samples[:-1]]).mean(axis=0)
            stable = hits >= 0.5
            pts, desc = pts[stable], desc[stable]
        low = np.median(np.stack([x.low_texture for x in samples]).astype(np.float32), axis=0) >= 0.5
        self.reference = Reference(
            laplacian_var=float(np.median([x.measures.laplacian_var for x in samples])),
            chroma_offset=float(np.median([x.lab_offset for x in samples])),
            low_texture=low,
            keypoints=pts,
            descriptors=desc,
        )
        log.info("quality reference learned: laplacian var %.1f, chroma offset %.1f, %d features, %d%% flat cells",
                 self.reference.laplacian_var, self.reference.chroma_offset, len(pts), round(100 * low.mean()))

    def set_reference(self, image: np.ndarray) -> None:
        """Use ``image`` (a known clean view) as the reference at once."""
        self.reference = None
        self._ref_samples = []
        self._learn(self._sample(image), at_once=True)

    # ------------------------------------------------------------------------------------------ checking
    def due(self, t: float) -> bool:
        return self.settings.enabled and (self.last_check is None or t - self.last_check >= self.settings.interval_s)

    def check(self, image: np.ndarray, t: float) -> list[QualityChange]:
        """Measure ``image`` now (frame time ``t``, monotonic seconds) and update the fault episodes."""
        self.last_check = t
        self.checks += 1
        sample = self._sample(image)
        faults = self._faults(sample)
        self._prev_grey = sample.grey
        self.last_measures = sample.measures
        if not faults and self.reference is None:
            self._learn(sample)
        s = self.settings
        changes: list[QualityChange] = []
        for fault in Fault:
            if fault in faults:
                self._absent[fault] = 0
                self._seen[fault] = self._seen.get(fault, 0) + 1
                if fault not in self.active and self._seen[fault] >= s.confirm_checks:
                    self.active.add(fault)
                    changes.append(QualityChange(fault, True, sample.measures))
            else:
                self._seen[fault] = 0
                self._absent[fault] = self._absent.get(fault, 0) + 1
                if fault in self.active and self._absent[fault] >= s.clear_checks:
                    self.active.discard(fault)
                    changes.append(QualityChange(fault, False, sample.measures))
        if changes:
            log.debug("quality changes %s (measures %s)", changes, sample.measures)
        return changes

    def observe(self, image: np.ndarray, t: float) -> list[QualityChange]:
        """:meth:`check` when one is due, else nothing."""
        return self.check(image, t) if self.due(t) else []

    @property
    def ok(self) -> bool:
        return not self.active

