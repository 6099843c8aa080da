"""Rules turn tracked detections into incidents: one incident is one event.

Each rule keeps per-camera state and returns an :class:`Incident` only when an incident *starts*; an incident
that goes on does not fire again. Zones are polygons in normalised coordinates tested against each box's
bottom centre (its anchor on the ground).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from analytics.detections import Detections
from analytics.tracker import iou_matrix
from registry.config import CrowdGatheringRule, RuleConfig, ZoneIntrusionRule
from sharpeyes.schema import EventType, Severity


@dataclass
class Incident:
    rule: str
    type: EventType
    severity: Severity
    zone: str
    objects: Detections
    detail: dict[str, float | int | str] = field(default_factory=dict)


class Zone:
    def __init__(self, name: str, points: list[list[float]]) -> None:
        self.name = name
        self.points = np.asarray(points, np.float32)

    def contains(self, anchors_px: np.ndarray, width: int, height: int) -> np.ndarray:
        """Boolean mask: which anchors (N×2 pixels) lie inside or on the polygon."""
        if not len(anchors_px):
            return np.zeros((0,), bool)
        poly = (self.points * np.array([width, height], np.float32)).reshape(-1, 1, 2)
        return np.array(
            [cv2.pointPolygonTest(poly, (float(x), float(y)), False) >= 0 for x, y in anchors_px], dtype=bool
        )


class Rule:
    name: str

    def update(self, dets: Detections, t: float, width: int, height: int) -> list[Incident]:
        raise NotImplementedError


class ZoneIntrusion(Rule):
    """An object of a watched class stays in the zone ≥ ``min_duration_s`` → one incident per intruder.

    A track that fragments (new id for the same object) is not a new incident while its box overlaps the last box
    of an intruder reported within the last ``dedupe_window_s`` and no longer seen.
    """

    def __init__(self, cfg: ZoneIntrusionRule, *, dedupe_window_s: float = 30.0) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.zone = Zone(cfg.name, cfg.zone)
        self.classes = set(cfg.classes)
        self.entered: dict[int, float] = {}  # track id → time first seen inside
        self.reported: dict[int, tuple[float, np.ndarray]] = {}  # track id → (last seen, last box)
        self.dedupe_window_s = dedupe_window_s

    def update(self, dets: Detections, t: float, width: int, height: int) -> list[Incident]:
        watched = dets.of_classes(self.classes)
        inside = watched[self.zone.contains(watched.anchors(), width, height)]
        if inside.tracker_id is None:  # untracked: dwell time cannot be measured, nothing is inside for us
            inside = Detections()
        ids = [] if inside.tracker_id is None else [int(i) for i in inside.tracker_id]
        self.entered = {i: self.entered.get(i, t) for i in ids}
        for i, box in zip(ids, inside.xyxy, strict=True):
            if i in self.reported:
                self.reported[i] = (t, box.copy())
        self.reported = {i: v for i, v in self.reported.items() if t - v[0] <= self.dedupe_window_s}
        new = [
            k for k, i in enumerate(ids)
            if i not in self.reported and t - self.entered[i] >= self.cfg.min_duration_s
        ]
        if not new:
            return []
        fresh = []
        # a fragment replaces a track that is no longer seen: compare only with reported intruders absent now,
        # so a second person next to a visible intruder is still a new incident
        current = set(ids)
        lost = [b for i, (_, b) in self.reported.items() if i not in current]
        recent_boxes = np.stack(lost) if lost else np.zeros((0, 4))
        for k in new:
            box = inside.xyxy[k]
            duplicate = len(recent_boxes) and float(iou_matrix(box[None], recent_boxes).max()) >= 0.3
            self.reported[ids[k]] = (t, box.copy())
            if not duplicate:
                fresh.append(k)
        if not fresh:
            return []
        mask = np.zeros(len(inside), bool)
        mask[fresh] = True
        return [
            Incident(
                rule=self.name,
                type=EventType.ZONE_INTRUSION,
                severity=Severity(self.cfg.severity),
                zone=self.zone.name,
                objects=inside[mask],
                detail={"intruders": int(mask.sum()), "in_zone": len(inside)},
            )
        ]


class CrowdGathering(Rule):
    """≥ ``min_count`` persons in the zone for ≥ ``min_duration_s`` → one incident, which ends after the count
    stays below ``min_count`` for ``clear_after_s``."""

    def __init__(self, cfg: CrowdGatheringRule) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.zone = Zone(cfg.name, cfg.zone)
        self.since: float | None = None  # count ≥ N since
        self.below_since: float | None = None
        self.active = False
        self.peak = 0

    def update(self, dets: Detections, t: float, width: int, height: int) -> list[Incident]:
        persons = dets.of_classes({"person"})
        inside = persons[self.zone.contains(persons.anchors(), width, height)]
        count = len(inside)
        if count >= self.cfg.min_count:
            self.below_since = None
            if self.since is None:
                self.since = t
            self.peak = max(self.peak, count)
            if not self.active and t - self.since >= self.cfg.min_duration_s:
                self.active = True
                return [
                    Incident(
                        rule=self.name,
                        type=EventType.CROWD_GATHERING,
                        severity=Severity(self.cfg.severity),
                        zone=self.zone.name,
                        objects=inside,
                        detail={"count": count, "min_count": self.cfg.min_count,
                                "held_s": round(t - self.since, 1)},
                    )
                ]
            return []
        # below threshold
        if self.active:
            if self.below_since is None:
                self.below_since = t
            if t - self.below_since >= self.cfg.clear_after_s:
                self.active, self.since, self.below_since, self.peak = False, None, None, 0
        else:
            self.since = None
        return []


def build_rules(configs: list[RuleConfig]) -> list[Rule]:
    rules: list[Rule] = []
    for cfg in configs:
        if isinstance(cfg, ZoneIntrusionRule):
            rules.append(ZoneIntrusion(cfg))
        elif isinstance(cfg, CrowdGatheringRule):
            rules.append(CrowdGathering(cfg))
    return rules
