"""Event snapshots: the frame with boxes (and the rule zone) drawn, saved as JPEG, referenced by path + sha256."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import cv2
import numpy as np

from analytics.detections import Detections
from sharpeyes.schema import SnapshotRef

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
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    h, w = image.shape[:2]
    return SnapshotRef(ref=rel, sha256=hashlib.sha256(data).hexdigest(), width=w, height=h)
