"""A small IoU tracker: gives detections of one camera stable ``tracker_id``s across sampled frames.

Greedy matching by IoU, best pairs first, then by centre distance relative to box size for what is left (at
1 fps a walker's box may not overlap its previous one); a track survives ``max_age_s`` without a match. Enough for the
foundation's one-incident-one-event de-duplication at 1 fps; the tracking issue replaces it with ByteTrack.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.detections import Detections


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


@dataclass
class Track:
    id: int
    box: np.ndarray
    label: str
    first_seen: float
    last_seen: float
    hits: int = 1


class IouTracker:
    def __init__(self, *, iou_threshold: float = 0.25, max_age_s: float = 3.0,
                 max_relative_distance: float = 0.75) -> None:
        self.iou_threshold = iou_threshold
        self.max_relative_distance = max_relative_distance
        self.max_age_s = max_age_s
        self.tracks: dict[int, Track] = {}
        self._next_id = 1

    @staticmethod
    def _relative_distance(a: np.ndarray, b: np.ndarray) -> float | None:
        """Centre distance over the geometric mean box size; None when the sizes differ by more than 2×."""
        area_a = float((a[2] - a[0]) * (a[3] - a[1]))
        area_b = float((b[2] - b[0]) * (b[3] - b[1]))
        if area_a <= 0 or area_b <= 0 or not 0.5 <= area_a / area_b <= 2.0:
            return None
        ca = np.array([(a[0] + a[2]) / 2, (a[1] + a[3]) / 2])
        cb = np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2])
        return float(np.linalg.norm(ca - cb) / (area_a * area_b) ** 0.25)

    def update(self, dets: Detections, t: float) -> Detections:
        """Assign ids to ``dets`` observed at time ``t`` (seconds, monotonic) and return them."""
        self.tracks = {k: tr for k, tr in self.tracks.items() if t - tr.last_seen <= self.max_age_s}
        ids = np.full(len(dets), -1, dtype=np.int64)
        track_list = list(self.tracks.values())
        if track_list and len(dets):
            ious = iou_matrix(dets.xyxy, np.stack([tr.box for tr in track_list]))
            pairs = sorted(
                ((ious[i, j], i, j) for i in range(ious.shape[0]) for j in range(ious.shape[1])
                 if ious[i, j] >= self.iou_threshold),
                reverse=True,
            )
            used_d: set[int] = set()
            used_t: set[int] = set()
            for _, i, j in pairs:
                if i in used_d or j in used_t:
                    continue
                used_d.add(i)
                used_t.add(j)
                tr = track_list[j]
                tr.box, tr.label, tr.last_seen = dets.xyxy[i].copy(), dets.labels[i], t
                tr.hits += 1
                ids[i] = tr.id
            # second pass for sparse sampling (1 fps): a walker's box may no longer overlap its last position;
            # match what is left by centre distance relative to the box size, with similar sizes
            rest_d = [i for i in range(len(dets)) if i not in used_d]
            rest_t = [j for j in range(len(track_list)) if j not in used_t]
            near = []
            for i in rest_d:
                for j in rest_t:
                    d = self._relative_distance(dets.xyxy[i], track_list[j].box)
                    if d is not None and d <= self.max_relative_distance:
                        near.append((d, i, j))
            for _, i, j in sorted(near):
                if i in used_d or j in used_t:
                    continue
                used_d.add(i)
                used_t.add(j)
                tr = track_list[j]
                tr.box, tr.label, tr.last_seen = dets.xyxy[i].copy(), dets.labels[i], t
                tr.hits += 1
                ids[i] = tr.id
        for i in (int(k) for k in np.flatnonzero(ids < 0)):
            tr = Track(self._next_id, dets.xyxy[i].copy(), dets.labels[i], t, t)
            self.tracks[tr.id] = tr
            ids[i] = tr.id
            self._next_id += 1
        return Detections(dets.xyxy, dets.confidence, dets.labels, ids)
