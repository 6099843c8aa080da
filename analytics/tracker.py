"""Multi-object tracking for one camera: ultralytics' ByteTrack/BoT-SORT association adapted to sparse sampling.

Owns track identity and each track's history: stable ``tracker_id`` on :class:`Detections`, and a :class:`Track`
per id with dwell time (``first_seen``/``last_seen``) and path (bottom-centre points). Rules read both.

Why not ByteTrack as shipped: it is tuned for 25–30 fps video, where a person's box overlaps its previous one.
The hub usually samples 1–2 frames/s, where a walker moves about a body width between frames, so IoU alone loses
people and a new track is never confirmed. What :class:`ByteTracker` changes (measured on vtest.avi, see
``tests/analytics/test_rules_e2e.py``):

* the association similarity is ``max(IoU, distance similarity)``: the distance similarity falls linearly from 1
  (same centre) to 0 at a reach of ``max_relative_distance`` box sizes *per second since the track was last
  seen* (gaps clamped to 0.2–1.5 s), between the Kalman-predicted box and the detection, and only for boxes of
  similar size (area ratio within 2×) — the old IoU tracker's distance fallback, inside ByteTrack's two-stage
  Hungarian assignment and scaled by the sampling interval;
* appearance: when the frame is given, a colour signature of each box's torso (:func:`appearance`) is blended
  in (``appearance_weight``), so two people passing each other between samples keep their ids; BoT-SORT's track
  type smooths it over time (its ReID network and camera-motion compensation stay off: fixed cameras, nothing
  to download);
* tracks are kept for ``max_age_s`` seconds of wall time, not a number of frames, so the behaviour does not
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

import cv2
import numpy as np

from analytics.detections import Detections
from analytics.labels import DEFAULT_MODEL_LABELS, ModelLabels

log = logging.getLogger(__name__)

_PATH_POINTS = 600  # bottom-centre points kept per track (10 min at 1 fps)
MIN_GAP_S, MAX_GAP_S = 0.2, 1.5  # the distance reach is computed for gaps within these bounds


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


def distance_similarity(a: np.ndarray, b: np.ndarray, max_relative_distance: float | np.ndarray) -> np.ndarray:
    """N×M similarity in [0, 1] from centre distance relative to box size, falling to 0 at
    ``max_relative_distance`` (a scalar, or one value per row of ``a``); 0 where the areas differ > 2×."""
    mrd = np.broadcast_to(np.asarray(max_relative_distance, np.float32).reshape(-1, 1), (len(a), 1))
    if len(a) == 0 or len(b) == 0 or not (mrd > 0).any():
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
    sim = np.clip(1.0 - rel / np.maximum(mrd, 1e-9), 0.0, 1.0)
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
    model_labels: ModelLabels = DEFAULT_MODEL_LABELS  # what its labels mean (the detecting model's)

    @property
    def dwell_s(self) -> float:
        """Time from first to last sighting."""
        return self.last_seen - self.first_seen

    @property
    def cls(self) -> str:
        return self.model_labels.canonical(self.label)


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


def appearance(image: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """N×64 colour signatures: the square root of the normalised hue–saturation histogram of each box's torso
    (the middle of the box, away from background and legs), so that a dot product is the Bhattacharyya
    coefficient. Cheap, and enough to tell a red jacket from a black coat when people pass each other."""
    h, w = image.shape[:2]
    out = np.zeros((len(xyxy), 64), np.float32)
    for i, (x1, y1, x2, y2) in enumerate(xyxy):
        bw, bh = x2 - x1, y2 - y1
        xa, xb = int(max(0, x1 + 0.25 * bw)), int(min(w, x2 - 0.25 * bw))
        ya, yb = int(max(0, y1 + 0.15 * bh)), int(min(h, y1 + 0.55 * bh))
        if xb - xa < 2 or yb - ya < 2:
            continue
        hsv = cv2.cvtColor(np.ascontiguousarray(image[ya:yb, xa:xb]), cv2.COLOR_BGR2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, [16, 4], [0, 180, 0, 256]).ravel()
        total = float(hist.sum())
        if total > 0:
            out[i] = np.sqrt(hist / total)
    return out


def _bytetrack_class() -> type[Any]:
    """Built lazily: importing ultralytics' trackers is slow and needs ``lap``. BoT-SORT's track type carries a
    smoothed appearance feature; its camera-motion compensation and ReID network are off (fixed cameras, no
    downloads) — the features are :func:`appearance` signatures."""
    from ultralytics.trackers.bot_sort import BOTSORT, BOTrack
    from ultralytics.trackers.utils.stracks import parse_bboxes

    class SparseByteTrack(BOTSORT):  # type: ignore[misc]
        def __init__(self, args: Any, max_relative_distance: float, max_age_s: float,
                     appearance_weight: float) -> None:
            super().__init__(args)
            self.max_relative_distance = max_relative_distance
            self.max_age_s = max_age_s
            self.appearance_weight = appearance_weight
            self.now = 0.0
            self.frame_times: dict[int, float] = {}

        def init_track(self, results: Any, img: np.ndarray | None = None) -> list[Any]:
            if len(results) == 0:
                return []
            feats = img if img is not None and img.ndim == 2 and len(img) == len(results) else [None] * len(results)
            return [BOTrack(xywh, s, c, f if f is not None and f.any() else None)
                    for xywh, s, c, f in zip(parse_bboxes(results), results.conf, results.cls, feats, strict=True)]

        def get_dists(self, tracks: list[Any], detections: list[Any]) -> np.ndarray:
            if not tracks or not detections:
                return np.zeros((len(tracks), len(detections)), np.float32)
            a = np.asarray([t.xyxy for t in tracks], np.float32)
            b = np.asarray([d.xyxy for d in detections], np.float32)
            # how far an object may have moved grows with the time since its track was last seen
            dt = np.asarray([self.now - self.frame_times.get(t.end_frame, self.now) for t in tracks], np.float32)
            reach = self.max_relative_distance * np.clip(dt, MIN_GAP_S, MAX_GAP_S)
            sim = np.maximum(iou_matrix(a, b), distance_similarity(a, b, reach))
            wa = self.appearance_weight
            if wa > 0:
                for i, tr in enumerate(tracks):
                    if tr.smooth_feat is None:
                        continue
                    for j, det in enumerate(detections):
                        if det.curr_feat is not None and sim[i, j] > 0:
                            app = float(np.clip(np.dot(tr.smooth_feat, det.curr_feat), 0.0, 1.0))
                            sim[i, j] = (1 - wa) * sim[i, j] + wa * app * min(1.0, 4 * sim[i, j])
            if self.args.fuse_score:
                sim = sim * np.asarray([d.score for d in detections], np.float32)[None, :]
            same = np.asarray([t.cls for t in tracks])[:, None] == np.asarray([d.cls for d in detections])[None, :]
            return np.where(same, 1.0 - sim, 1.0).astype(np.float32)

        def update(self, results: Any, img: np.ndarray | None = None, feats: np.ndarray | None = None,
                   **kwargs: Any) -> np.ndarray:
            # tracks unseen for more than max_age_s are dropped before association, so they cannot match again
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

    def __init__(self, *, max_age_s: float = 3.0, max_relative_distance: float = 2.5, high_thresh: float = 0.3,
                 low_thresh: float = 0.1, new_track_thresh: float = 0.3, match_thresh: float = 0.8,
                 fuse_score: bool = False, appearance_weight: float = 0.7) -> None:
        global _SPARSE_BYTETRACK
        if _SPARSE_BYTETRACK is None:
            _SPARSE_BYTETRACK = _bytetrack_class()
        args = SimpleNamespace(track_high_thresh=high_thresh, track_low_thresh=low_thresh,
                               new_track_thresh=new_track_thresh, track_buffer=1 << 30, match_thresh=match_thresh,
                               fuse_score=fuse_score, gmc_method=None, proximity_thresh=0.5,
                               appearance_thresh=0.25, with_reid=False)
        self._bt = _SPARSE_BYTETRACK(args, max_relative_distance, max_age_s, appearance_weight)
        self.max_age_s = max_age_s
        log.debug("ByteTracker: max_age_s %.1f, reach %.1f box sizes/s, appearance weight %.2f",
                  max_age_s, max_relative_distance, appearance_weight)
        self.tracks: dict[int, Track] = {}
        self._class_index: dict[str, int] = {}

    def _cls_ids(self, dets: Detections) -> np.ndarray:
        return np.asarray([self._class_index.setdefault(c, len(self._class_index)) for c in dets.classes],
                          np.float32)

    def update(self, dets: Detections, t: float, image: np.ndarray | None = None,
               features: np.ndarray | None = None) -> Detections:
        """Assign ids to ``dets`` observed at time ``t`` (seconds, monotonic) and return them, in the same order.

        ``image`` (the frame, BGR) lets the tracker compare appearance (:func:`appearance`); ``features`` are
        precomputed signatures instead. A detection left without a track (low confidence, unmatched) gets
        ``tracker_id`` -1.
        """
        bt = self._bt
        bt.now = t
        bt.frame_times[bt.frame_id + 1] = t
        boxes = _Boxes(dets.xyxy.astype(np.float32), dets.confidence.astype(np.float32), self._cls_ids(dets))
        if features is None and image is not None and len(dets) and self._bt.appearance_weight > 0:
            features = appearance(image, dets.xyxy)
        bt.update(boxes, None, features)
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
                tr = self.tracks[int(tid)] = Track(int(tid), dets.xyxy[i].copy(), dets.labels[i], t, t, hits=0,
                                                   model_labels=dets.model_labels)
            tr.box, tr.label, tr.last_seen = dets.xyxy[i].copy(), dets.labels[i], t
            tr.hits += 1
            tr.labels[dets.labels[i]] = tr.labels.get(dets.labels[i], 0) + 1
            tr.path.append((t, float(anchors[i, 0]), float(anchors[i, 1])))
        self.tracks = {k: tr for k, tr in self.tracks.items() if t - tr.last_seen <= self.max_age_s}
        return Detections(dets.xyxy, dets.confidence, dets.labels, ids, dets.model_labels)
