"""Calibration frames for INT8 quantisation, from what the machine has: never downloaded.

Owns reading up to N frames, spread evenly, from an operator's folder of images (``.jpg``, ``.png``, ``.bmp``) and
videos (``.mp4``, ``.avi``, ``.mkv``, ``.mov``, ``.ts``), from one video file, or by default from the demo footage
(``vtest.avi``, frames disjoint from those ``bench/detect.py`` and the tests measure accuracy on). Frames of the
cameras the model will see are the best calibration set: an operator can save some with ``ffmpeg`` into a
folder and pass it to ``sharpeyes model export --int8 --calibration DIR``. Must not load models.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from ingest.demo import VTEST_AVI

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp"})
VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mkv", ".mov", ".ts"})
# the default calibration frames of vtest: every 6th frame from the 5th (5, 11, 17, …); the accuracy frames of
# bench/detect.py and tests are every 10th from the 0th, and 5 + 6k is odd where 10m is even: never the same frame
DEFAULT_PHASE, DEFAULT_STEP = 5, 6


class CalibrationError(ValueError):
    """No usable calibration frames: the message names the path and what was wrong."""


def video_frames(path: Path, n: int, *, phase: int = 0, step: int | None = None) -> list[np.ndarray]:
    """Up to ``n`` frames of a video: every ``step``-th from ``phase``, or (``step`` None) spread evenly."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise CalibrationError(f"{path}: not a video OpenCV can read")
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or 0
        if step is None:
            step = max(1, total // max(n, 1)) if total else 1
        out: list[np.ndarray] = []
        i = 0
        while len(out) < n:
            ok, frame = cap.read()
            if not ok:
                break
            if i >= phase and (i - phase) % step == 0:
                out.append(frame)
            i += 1
        return out
    finally:
        cap.release()


def calibration_frames(source: Path | None, n: int = 120) -> list[np.ndarray]:
    """Up to ``n`` BGR frames from ``source`` (folder, video or image; None: the demo footage)."""
    if n < 1:
        raise CalibrationError("the number of calibration frames must be at least 1")
    if source is None:
        if not VTEST_AVI.exists():
            raise CalibrationError(f"the demo footage {VTEST_AVI} is missing (Debian package opencv-doc): "
                                   "pass --calibration DIR with frames of your cameras")
        return video_frames(VTEST_AVI, n, phase=DEFAULT_PHASE, step=DEFAULT_STEP)
    source = source.expanduser()
    if not source.exists():
        raise CalibrationError(f"calibration source {source} does not exist")
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    images = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    videos = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
    if not images and not videos:
        raise CalibrationError(f"{source}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) or videos "
                               f"({', '.join(sorted(VIDEO_SUFFIXES))})")
    out: list[np.ndarray] = []
    if images:
        stride = max(1, len(images) // n)
        for path in images[::stride]:
            img = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if img is None:
                log.warning("calibration: %s is not a readable image, skipped", path)
                continue
            out.append(img)
    per_video = max(1, (n - len(out)) // max(len(videos), 1))
    for video in videos:
        if len(out) >= n:
            break
        try:
            out.extend(video_frames(video, min(per_video, n - len(out))))
        except CalibrationError as exc:
            log.warning("calibration: %s, skipped", exc)
    if not out:
        raise CalibrationError(f"{source}: none of its images or videos could be read")
    return out[:n]
