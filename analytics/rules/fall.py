"""Fall (倒地): a person on the ground, by the model's fallen labels, on a person-sized, persistent track that was
seen upright shortly before where it now lies. Must not touch Redis, SQL, HTTP or the detector.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

import numpy as np

from analytics.detections import Detections
from analytics.rules.base import FORGET_S, Detail, Incident, ObjectState, PerObjectRule, ids_of, select
from registry.rules import FallRule
from sharpeyes.schema import EventType

log = logging.getLogger(__name__)


class Fall(PerObjectRule):
    """A fallen label on a person-sized, persistent track (docs/domain.md, "Detector": the default model's
    ``Fall`` also fires on dogs). The fallen labels are the rule's ``fall_labels`` when set, else those of the
    model that made the detections (:attr:`~analytics.labels.ModelLabels.fallen_labels`: the default model's
    ``Fall``; a COCO model has none, and :func:`~analytics.rules.base.check_rule_classes` refuses the rule
    there).

    By default the track must also have been seen upright within ``upright_window_s`` before, within one body
    height of where it now lies: on vtest.avi the default model labels a jacket lying on the lawn ``Fall`` in
    almost every frame, and it never stood up."""

    type = EventType.FALL

    def __init__(self, cfg: FallRule, tz: ZoneInfo | None = None) -> None:
        super().__init__(cfg, tz)
        self.fall_cfg = cfg
        self.clear_after_s = cfg.clear_after_s
        # the YAML override; unset: the fallen labels of the detections' model, read per frame
        self.fall_labels: frozenset[str] | None = None if cfg.fall_labels is None else frozenset(cfg.fall_labels)
        # track → (tallest upright box seen, last seen upright, last upright anchor x, y)
        self.upright_h: dict[int, tuple[float, float, float, float]] = {}

    def _person_sized(self, tid: int, box: np.ndarray, height: int) -> bool:
        long_side = float(max(box[2] - box[0], box[3] - box[1]))
        if long_side < self.fall_cfg.min_size * height:
            return False
        upright = self.upright_h.get(tid)
        return upright is None or long_side >= 0.5 * upright[0]

    def _fell_here(self, tid: int, box: np.ndarray, t: float) -> bool:
        """Seen upright recently, about where it now lies."""
        if not self.fall_cfg.require_upright_before:
            return True
        upright = self.upright_h.get(tid)
        if upright is None or t - upright[1] > self.fall_cfg.upright_window_s:
            return False
        anchor = np.array([(box[0] + box[2]) / 2, box[3]], np.float32)
        return float(np.linalg.norm(anchor - np.array(upright[2:], np.float32))) <= upright[0]

    def _update(self, dets: Detections, t: float, width: int, height: int) -> list[Incident]:
        persons = dets.of_classes({"person"})
        assert self.zone is not None
        persons = persons[self.zone.contains(persons.anchors(), width, height)]
        fallen = self.fall_labels if self.fall_labels is not None else persons.model_labels.fallen_labels
        present = set(ids_of(persons))
        anchors = persons.anchors()
        out: list[Incident] = []
        for k, tid in enumerate(ids_of(persons)):
            box = persons.xyxy[k]
            if persons.labels[k] not in fallen:
                tallest = max(self.upright_h.get(tid, (0.0,))[0], float(box[3] - box[1]))
                self.upright_h[tid] = (tallest, t, float(anchors[k, 0]), float(anchors[k, 1]))
                if tid in self.objs:
                    self.objs[tid].last_seen = t
                    self.objs[tid].box = box.copy()
                continue
            if not self._person_sized(tid, box, height):
                continue
            s = self.objs.get(tid) or self._adopt(tid, box, present)
            if s is None or t - s.last_true > self.fall_cfg.clear_after_s:
                if not self._fell_here(tid, box, t):
                    continue
                s = ObjectState(s.key if s else None, t, t, t, box.copy())
            self.objs[tid] = s
            s.last_true, s.last_seen, s.box = t, t, box.copy()
            s.frames += 1
            if (s.key is None and s.frames >= self.fall_cfg.min_frames
                    and t - s.since >= self.fall_cfg.min_duration_s):
                s.key = self._key()
                out.append(self._incident(s.key, "started", select(persons, {tid}), self._detail(s, t)))
        self._finish(t, persons, out)
        self.upright_h = {i: v for i, v in self.upright_h.items() if t - v[1] <= FORGET_S}
        return out

    def _detail(self, s: ObjectState, t: float, ended: bool = False) -> Detail:
        return {"fallen_s": round(s.last_true - s.since, 1), "frames": s.frames}
