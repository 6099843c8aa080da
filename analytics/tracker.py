"""Multi-object tracking for one camera: ByteTrack (ultralytics' ``BYTETracker``) adapted to sparse sampling.

Owns track identity and each track's history: stable ``tracker_id`` on :class:`Detections`, and a :class:`Track`
per id with dwell time (``first_seen``/``last_seen``) and path (bottom-centre points). Rules read both.

Why not ByteTrack as shipped: it is tuned for 25–30 fps video, where a person's box overlaps its previous one.
The hub usually samples 1 frame/s, where a walker moves about a body width between frames, so IoU alone loses
people and a new track is never confirmed. Two changes, both in :class:`_SparseByteTrack`:

* the association cost is ``1 - max(IoU, distance similarity)``: the distance similarity falls linearly from 1
  (same centre) to 0 at ``max_relative_distance`` box sizes (the geometric mean of the two boxes' sides), and is
  only given to boxes of similar size (area ratio within 2×) — the old IoU tracker's distance fallback, now inside
  ByteTrack's Hungarian assignment and applied to Kalman-predicted boxes;
* lost tracks are kept for ``max_age_s`` seconds of wall time, not a number of frames, so the behaviour does not
  depend on the sampling rate or on dropped frames.

Objects of different canonical classes are never matched (a person is not a car), but a person's model label may
change (``Normal`` → ``Fall``) on the same track.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import numpy as np

from analytics.detections import Detections, canonical_class

log = logging.getLogger(__name__)

_PATH_POINTS = 600  # bottom-centre points kept per track (10 min at 1 fps)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of N×4 and M×4 xyxy boxes → N×M."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def distance_similarity(a: np.ndarray, b: np.ndarray, max_relative_distance: float) -> np.ndarray:
    """N×M similarity in [0, 1] from centre distance relative to box size; 0 where the areas differ > 2×."""
    if len(a) == 0 or len(b) == 0 or max_relative_distance <= 0:
        return np.zeros((len(a), len(b)), np.float32)
    area_a = np.clip((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]), 0, None)
    area_b = np.clip((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]), 0, None)
    ca = np.stack([(a[:, 0] + a[:, 2]) / 2, (a[:, 1] + a[:, 3]) / 2], axis=1)
    cb = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=1)
    dist = np.linalg.norm(ca[:, None, :] - cb[None, :, :], axis=2)
    size = np.sqrt(np.sqrt(area_a[:, None] * area_b[None, :]))
    ratio = area_a[:, None] / np.maximum(area_b[None, :], 1e-9)
    similar = (size > 0) & (ratio >= 0.5) & (ratio <= 2.0)
    rel = dist / np.maximum(size, 1e-9)
    sim = np.clip(1.0 - rel / max_relative_distance, 0.0, 1.0)
    return np.where(similar, sim, 0.0).astype(np.float32)


@dataclass
class Track:
    """One object's history on one camera."""

    id: int
    box: np.ndarray  # last box, xyxy pixels
    label: str  # last model label
    first_seen: float  # monotonic seconds
    last_seen: float
    hits: int = 1
    labels: dict[str, int] = field(default_factory=dict)  # model label → frames seen with it
    path: deque[tuple[float, float, float]] = field(default_factory=lambda: deque(maxlen=_PATH_POINTS))

    @property
    def dwell_s(self) -> float:
        """Time from first to last sighting."""
        return self.last_seen - self.first_seen

    @property
    def cls(self) -> str:
        return canonical_class(self.label)


class _Boxes:
    """The results-like object ``BYTETracker.update`` reads: ``conf``, ``cls``, ``xywh``, ``xyxy``, boolean
    indexing."""

    def __init__(self, xyxy: np.ndarray, conf: np.ndarray, cls: np.ndarray) -> None:
        self.xyxy, self.conf, self.cls = xyxy, conf, cls

    @property
    def xywh(self) -> np.ndarray:
        x1, y1, x2, y2 = self.xyxy.T
        return np.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], axis=1)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, mask: Any) -> _Boxes:
        return _Boxes(self.xyxy[mask], self.conf[mask], self.cls[mask])


def _bytetrack_class() -> type[Any]:
    """Built lazily: importing ultralytics' trackers is slow and needs ``lap``."""
    from ultralytics.trackers.byte_tracker import BYTETracker

    class SparseByteTrack(BYTETracker):  # type: ignore[misc]
        def __init__(self, args: Any, max_relative_distance: float, max_age_s: float) -> None:
            super().__init__(args)
            self.max_relative_distance = max_relative_distance
            self.max_age_s = max_age_s
            self.now = 0.0
            self.frame_times: dict[int, float] = {}

        def get_dists(self, tracks: list[Any], detections: list[Any]) -> np.ndarray:
            if not tracks or not detections:
                return np.zeros((len(tracks), len(detections)), np.float32)
            a = np.asarray([t.xyxy for t in tracks], np.float32)
            b = np.asarray([d.xyxy for d in detections], np.float32)
            sim = np.maximum(iou_matrix(a, b), distance_similarity(a, b, self.max_relative_distance))
            if self.args.fuse_score:
                sim = sim * np.asarray([d.score for d in detections], np.float32)[None, :]
            same = np.asarray([t.cls for t in tracks])[:, None] == np.asarray([d.cls for d in detections])[None, :]
            return np.where(same, 1.0 - sim, 1.0).astype(np.float32)

        def update(self, results: Any, img: np.ndarray | None = None, feats: np.ndarray | None = None,
                   **kwargs: Any) -> np.ndarray:
            # lost tracks past max_age_s are dropped before association, so they cannot be matched again
            stale = [tr for tr in (*self.tracked_stracks, *self.lost_stracks)
                     if self.now - self.frame_times.get(tr.end_frame, self.now) > self.max_age_s]
            for tr in stale:
                tr.mark_removed()
            self.tracked_stracks = [tr for tr in self.tracked_stracks if tr not in stale]
            self.lost_stracks = [tr for tr in self.lost_stracks if tr not in stale]
            return super().update(results, img, feats, **kwargs)

        def _remove_stale_lost(self, removed: list[Any]) -> None:
            for track in self.lost_stracks:
                if self.now - self.frame_times.get(track.end_frame, self.now) > self.max_age_s:
                    track.mark_removed()
                    removed.append(track)
            alive = {t.end_frame for t in (*self.tracked_stracks, *self.lost_stracks)} | {self.frame_id}
            self.frame_times = {f: ts for f, ts in self.frame_times.items() if f in alive}

    return SparseByteTrack


_SPARSE_BYTETRACK: type[Any] | None = None


class ByteTracker:
    """ByteTrack for sampled frames. :meth:`update` gives every detection a ``tracker_id`` and keeps
    :attr:`tracks` (dwell time and path per id) for ``max_age_s`` after a track's last sighting.

    Defaults are tuned on vtest.avi sampled at 1 and 2 fps (see ``tests/analytics/test_tracker.py``).
    """

    def __init__(self, *, max_age_s: float = 3.0, max_relative_distance: float = 2.0, high_thresh: float = 0.3,
                 low_thresh: float = 0.1, new_track_thresh: float = 0.3, match_thresh: float = 0.8,
                 fuse_score: bool = False) -> None:
        global _SPARSE_BYTETRACK
        if _SPARSE_BYTETRACK is None:
            _SPARSE_BYTETRACK = _bytetrack_class()
        args = SimpleNamespace(track_high_thresh=high_thresh, track_low_thresh=low_thresh,
                               new_track_thresh=new_track_thresh, track_buffer=1 << 30, match_thresh=match_thresh,
                               fuse_score=fuse_score)
        self._bt = _SPARSE_BYTETRACK(args, max_relative_distance, max_age_s)
        self.max_age_s = max_age_s
        self.tracks: dict[int, Track] = {}
        self._class_index: dict[str, int] = {}

    def _cls_ids(self, dets: Detections) -> np.ndarray:
        return np.asarray([self._class_index.setdefault(c, len(self._class_index)) for c in dets.classes],
                          np.float32)

    def update(self, dets: Detections, t: float) -> Detections:
        """Assign ids to ``dets`` observed at time ``t`` (seconds, monotonic) and return them, in the same order.

        A detection ByteTrack leaves without a track (low confidence, unmatched) gets ``tracker_id`` -1.
        """
        bt = self._bt
        bt.now = t
        bt.frame_times[bt.frame_id + 1] = t
        boxes = _Boxes(dets.xyxy.astype(np.float32), dets.confidence.astype(np.float32), self._cls_ids(dets))
        bt.update(boxes)
        ids = np.full(len(dets), -1, dtype=np.int64)
        for st in bt.tracked_stracks:  # confirmed and just-started tracks updated in this frame
            if st.end_frame == bt.frame_id and st.idx is not None:
                ids[int(st.idx)] = int(st.track_id)
        anchors = dets.anchors()
        for i, tid in enumerate(ids):
            if tid < 0:
                continue
            tr = self.tracks.get(int(tid))
            if tr is None:
                tr = self.tracks[int(tid)] = Track(int(tid), dets.xyxy[i].copy(), dets.labels[i], t, t, hits=0)
            tr.box, tr.label, tr.last_seen = dets.xyxy[i].copy(), dets.labels[i], t
            tr.hits += 1
            tr.labels[dets.labels[i]] = tr.labels.get(dets.labels[i], 0) + 1
            tr.path.append((t, float(anchors[i, 0]), float(anchors[i, 1])))
        self.tracks = {k: tr for k, tr in self.tracks.items() if t - tr.last_seen <= self.max_age_s}
        return Detections(dets.xyxy, dets.confidence, dets.labels, ids)
