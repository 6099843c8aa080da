"""Stationary objects: illegal parking (a vehicle) and left object (a bag or suitcase) staying in place in a zone.
Must not touch Redis, SQL, HTTP or the detector.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

import numpy as np

from analytics.detections import Detections
from analytics.rules.base import Detail, Incident, ObjectState, PerObjectRule, ids_of, select
from registry.rules import IllegalParkingRule, LeftObjectRule
from sharpeyes.schema import EventType

log = logging.getLogger(__name__)


class _Stationary(PerObjectRule):
    """An object of a watched class whose box centre stays within ``max_motion`` box sizes of where it stopped,
    for ``min_stationary_s``."""

    def __init__(self, cfg: IllegalParkingRule | LeftObjectRule, tz: ZoneInfo | None = None) -> None:
        super().__init__(cfg, tz)
        self.st_cfg = cfg
        self.classes = set(cfg.classes)
        self.clear_after_s = cfg.clear_after_s

    def _update(self, dets: Detections, t: float, width: int, height: int) -> list[Incident]:
        watched = dets.of_classes(self.classes)
        assert self.zone is not None
        watched = watched[self.zone.contains(watched.anchors(), width, height)]
        present = set(ids_of(watched))
        out: list[Incident] = []
        for k, tid in enumerate(ids_of(watched)):
            box = watched.xyxy[k]
            centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)
            size = float(np.sqrt(max((box[2] - box[0]) * (box[3] - box[1]), 1.0)))
            s = self.objs.get(tid) or self._adopt(tid, box, present)
            if s is None:
                s = ObjectState(None, t, t, t, box.copy(), ref=centre)
            self.objs[tid] = s
            assert s.ref is not None
            if float(np.linalg.norm(centre - s.ref)) > self.st_cfg.max_motion * size:  # it moved: start again
                s.ref, s.since = centre, t
            else:
                s.last_true = t
            s.last_seen, s.box = t, box.copy()
            s.frames += 1
            if s.key is None and t - s.since >= self.st_cfg.min_stationary_s:
                s.key = self._key()
                out.append(self._incident(s.key, "started", select(watched, {tid}), self._detail(s, t)))
        self._finish(t, watched, out)
        return out

    def _detail(self, s: ObjectState, t: float, ended: bool = False) -> Detail:
        return {"stationary_s": round(s.last_true - s.since, 1), "min_stationary_s": self.st_cfg.min_stationary_s}


class IllegalParking(_Stationary):
    type = EventType.ILLEGAL_PARKING


class LeftObject(_Stationary):
    type = EventType.LEFT_OBJECT
