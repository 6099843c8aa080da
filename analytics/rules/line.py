"""Line crossing: a track's anchor (its box's bottom centre) moves from one side of a segment to the other.

Sides of a line: side ``a`` is on the left of the line as drawn from its first point to its second, looking at the
image; crossings close in time are one incident (a group passing is one event), a busy line starts a new one after
``max_incident_s``. Must not touch Redis, SQL, HTTP or the detector.
"""

from __future__ import annotations

import logging
from collections import deque
from zoneinfo import ZoneInfo

import numpy as np

from analytics.detections import Detections
from analytics.rules.base import FORGET_S, MAX_IDS, Detail, Incident, OpenIncident, Rule, Zone, ids_of
from registry.rules import LineCrossingRule
from sharpeyes.schema import EventType

log = logging.getLogger(__name__)


class LineCrossing(Rule):
    """A track's anchor moves from one side of the segment to the other across it.

    A side is only taken when the anchor is more than ``hysteresis`` (1% of the frame diagonal) from the line,
    so jitter on the line does not count; the move from the last definite side must intersect the segment itself.
    Crossings within ``merge_window_s`` of the previous one are one incident (a group passing is one event);
    :attr:`counts` keeps the running totals per direction.
    """

    type = EventType.LINE_CROSSING

    def __init__(self, cfg: LineCrossingRule, tz: ZoneInfo | None = None) -> None:
        super().__init__(cfg, tz)
        self.line_cfg = cfg
        self.classes = set(cfg.classes)
        self.line = np.asarray(cfg.line, np.float32)
        self.zone = Zone(cfg.name, [cfg.line[0], cfg.line[1], cfg.line[0]])  # drawn as the segment
        self.side: dict[int, tuple[int, np.ndarray, float]] = {}  # track → (side ±1, anchor px, last seen)
        self.counts = {"a_to_b": 0, "b_to_a": 0}
        self.open: OpenIncident | None = None
        self.incident_counts = {"a_to_b": 0, "b_to_a": 0}  # crossings in the open incident
        self.crossed: deque[int] = deque(maxlen=MAX_IDS)  # their track ids, the latest ones

    def _side(self, p: np.ndarray, a: np.ndarray, b: np.ndarray, hysteresis: float) -> int:
        d = b - a
        cross = float(d[0] * (p[1] - a[1]) - d[1] * (p[0] - a[0]))
        dist = abs(cross) / max(float(np.linalg.norm(d)), 1e-9)
        if dist <= hysteresis:
            return 0
        return -1 if cross < 0 else 1  # -1: side a (left of a→b on screen), +1: side b

    @staticmethod
    def _intersects(p: np.ndarray, q: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
        def orient(u: np.ndarray, v: np.ndarray, w: np.ndarray) -> float:
            return float((v[0] - u[0]) * (w[1] - u[1]) - (v[1] - u[1]) * (w[0] - u[0]))

        return orient(p, q, a) * orient(p, q, b) <= 0 and orient(a, b, p) * orient(a, b, q) <= 0

    def _update(self, dets: Detections, t: float, width: int, height: int) -> list[Incident]:
        watched = dets.of_classes(self.classes)
        scale = np.array([width, height], np.float32)
        a, b = self.line[0] * scale, self.line[1] * scale
        hysteresis = 0.01 * float(np.hypot(width, height))
        crossings: list[tuple[int, str, int]] = []  # (index in watched, direction, track id)
        for k, (tid, p) in enumerate(zip(ids_of(watched), watched.anchors(), strict=True)):
            s = self._side(p, a, b, hysteresis)
            prev = self.side.get(tid)
            if s == 0:
                if prev is not None:
                    self.side[tid] = (prev[0], prev[1], t)
                continue
            if prev is not None and prev[0] != s and self._intersects(prev[1], p, a, b):
                direction = "a_to_b" if prev[0] < 0 else "b_to_a"
                self.counts[direction] += 1
                if self.line_cfg.direction in ("both", direction):
                    crossings.append((k, direction, tid))
            self.side[tid] = (s, p.copy(), t)
        self.side = {i: v for i, v in self.side.items() if t - v[2] <= FORGET_S}
        out: list[Incident] = []
        if self.open is not None and (t - self.open.last_hit >= self.line_cfg.merge_window_s
                                      or t - self.open.since >= self.line_cfg.max_incident_s):
            out += self._close(t)
        if not crossings:
            return out
        mask = np.zeros(len(watched), bool)
        mask[[k for k, _, _ in crossings]] = True
        objects = watched[mask]
        if self.open is None:
            self.incident_counts = {"a_to_b": 0, "b_to_a": 0}
            self.crossed.clear()
        for _, d, tid in crossings:
            self.incident_counts[d] += 1
            self.crossed.append(tid)
        if self.open is None:
            self.open = OpenIncident(self._key(), t, t, {tid for _, _, tid in crossings}, objects, len(crossings), {})
            self.open.detail = self._detail()
            out.append(self._incident(self.open.key, "started", objects, dict(self.open.detail)))
        else:
            self.open.last_hit = t
            self.open.track_ids |= {tid for _, _, tid in crossings}
            self.open.objects = objects
            self.open.detail = self._detail()
            out.append(self._incident(self.open.key, "updated", objects, dict(self.open.detail)))
        return out

    def _detail(self) -> Detail:
        ab, ba = self.incident_counts["a_to_b"], self.incident_counts["b_to_a"]
        return {"crossings": ab + ba, "a_to_b": ab, "b_to_a": ba, "direction": self.line_cfg.direction,
                "total_a_to_b": self.counts["a_to_b"], "total_b_to_a": self.counts["b_to_a"],
                "track_ids": ",".join(str(i) for i in self.crossed)}

    def _close(self, t: float) -> list[Incident]:
        inc, self.open = self.open, None
        if inc is None:
            return []
        return [self._incident(inc.key, "ended", inc.objects, {**self._detail(),
                                                              "duration_s": round(inc.last_hit - inc.since, 1)})]

    def _off(self, t: float) -> list[Incident]:
        self.side.clear()
        return self._close(t)
