"""Event snapshots: the frame with boxes (and the rule zone) drawn, saved as JPEG, referenced by path + sha256.

A snapshot that cannot be written (disk full, read-only folder) never costs the event: :func:`attach_snapshot`
returns the event without one, flagged ``detail.snapshot_error``, and :data:`STORAGE` says so until a write works.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from analytics.detections import Detections
from sharpeyes.schema import Event, SnapshotRef

log = logging.getLogger(__name__)

_ALL = (200, 200, 200)  # BGR
_HIT = (0, 0, 255)
_ZONE = (0, 215, 255)


def render(image: np.ndarray, everything: Detections, involved: Detections,
           zone: np.ndarray | None = None) -> np.ndarray:
    """A copy of ``image`` with all detections thin, the incident's objects thick and the zone outlined."""
    out = image.copy()
    h, w = out.shape[:2]
    if zone is not None and len(zone) >= 3:
        pts = (zone * np.array([w, h])).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(out, [pts], True, _ZONE, 2)
    for dets, colour, thick in ((everything, _ALL, 1), (involved, _HIT, 2)):
        for i in range(len(dets)):
            x1, y1, x2, y2 = (int(v) for v in dets.xyxy[i])
            cv2.rectangle(out, (x1, y1), (x2, y2), colour, thick)
            tid = "" if dets.tracker_id is None else f"#{int(dets.tracker_id[i])} "
            label = f"{tid}{dets.classes[i]} {dets.confidence[i]:.2f}"
            cv2.putText(out, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
    return out


def save_snapshot(root: Path, rel: str, image: np.ndarray, quality: int = 85) -> SnapshotRef:
    """Encode ``image`` as JPEG at ``root/rel`` (atomically) and return its reference."""
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    data = buf.tobytes()
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a partial file would only take more of a full disk
        raise
    h, w = image.shape[:2]
    return SnapshotRef(ref=rel, sha256=hashlib.sha256(data).hexdigest(), width=w, height=h)


class SnapshotStorage:
    """Whether snapshots are being written: the last write error (None: the last write worked) and a count of
    events that went out without their snapshot. Shared by every camera of the process (one folder)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.error: str | None = None
        self.failing_since: float | None = None
        self.events_without_snapshot = 0

    def failed(self, exc: OSError, rel: str) -> str:
        reason = f"{type(exc).__name__}: {exc.strerror or exc}"
        with self._lock:
            self.events_without_snapshot += 1
            if self.error is None:
                self.failing_since = time.monotonic()
                log.error("snapshots cannot be written (%s, %s): events go out without them until this is fixed",
                          reason, rel)
            self.error = reason
        return reason

    def worked(self) -> None:
        with self._lock:
            if self.error is not None:
                log.warning("snapshots are written again (%d event(s) went out without one)",
                            self.events_without_snapshot)
            self.error = None
            self.failing_since = None


STORAGE = SnapshotStorage()


def attach_snapshot(event: Event, root: Path, rel: str, image: np.ndarray) -> Event:
    """``event`` with its snapshot saved at ``root/rel``; when the file cannot be written, ``event`` without one
    and with ``detail.snapshot_error`` saying why (the event is worth more than its picture)."""
    try:
        snap = save_snapshot(root, rel, image)
    except OSError as exc:
        reason = STORAGE.failed(exc, rel)
        return event.model_copy(update={"detail": {**event.detail, "snapshot_error": reason}})
    STORAGE.worked()
    return event.model_copy(update={"snapshot": snap})
