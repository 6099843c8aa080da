"""What every rule shares: :class:`Incident`, the :class:`Rule` base (schedules, incident keys), :class:`Zone`, the
per-object lifecycle of fall and stationary rules (:class:`PerObjectRule`), and the check that a model has the
classes each rule needs (:func:`check_rule_classes`).

Every rule keeps per-camera state and returns :class:`Incident` changes: ``started`` once when an incident begins,
``updated`` when something material changes (more objects involved, a higher count), ``ended`` once when it is
over. All changes of one incident share its ``key``; the pipeline maps a key to one event id.

Zones are normalised polygons, tested against each box's bottom centre (its anchor on the ground). Times are the
frame's monotonic seconds; schedules use the frame's wall clock in the hub's timezone. What a detection's label
means (a person, a person on the ground) is the :class:`~analytics.labels.ModelLabels` of the model that made it.
Must not touch Redis, SQL, HTTP or the detector.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from analytics.detections import Detections
from analytics.labels import DEFAULT_MODEL_LABELS, ModelLabels
from analytics.tracker import iou_matrix
from registry.rules import AnyRule, FallRule, ScheduleWindow, required_classes
from sharpeyes.schema import EventType, Severity

log = logging.getLogger(__name__)

Status = Literal["started", "updated", "ended"]
Detail = dict[str, float | int | str]
FORGET_S = 30.0  # per-track rule memory is dropped after a track is unseen this long
MAX_IDS = 50  # track ids listed in an event's detail (the latest ones)


@dataclass
class Incident:
    """One change of one incident; ``key`` is the same for all changes of an incident."""

    rule: str
    type: EventType
    severity: Severity
    zone: str | None
    objects: Detections
    detail: Detail = field(default_factory=dict)
    key: str = ""
    status: Status = "started"


class RuleClassError(ValueError):
    """Rules need classes the loaded model does not have; the message names camera, rule and classes."""


def check_rule_classes(camera_id: str, rules: list[AnyRule], model_labels: ModelLabels | Iterable[str]) -> list[str]:
    """Problems (one line each) for rules of ``camera_id`` that need classes its model lacks. ``model_labels`` is
    the model's :class:`ModelLabels` (``analytics.detector.read_labels``), or its class names, read with
    :meth:`ModelLabels.from_names`. A fall rule without ``fall_labels`` needs the model's fallen labels."""
    model = model_labels if isinstance(model_labels, ModelLabels) else ModelLabels.from_names(model_labels)
    names = set(model.names)
    canonical = {model.canonical(lbl) for lbl in names}
    problems = []
    for rule in rules:
        classes, labels = required_classes(rule)
        missing = sorted(classes - canonical) + sorted(labels - names)
        if isinstance(rule, FallRule) and rule.fall_labels is None and not model.fallen_labels:
            problems.append(
                f"camera {camera_id}: rule {rule.name!r} ({rule.type}) needs a class of a person on the ground "
                f"(like the default model's {sorted(DEFAULT_MODEL_LABELS.fallen_labels)}) that the loaded model "
                f"lacks (it has {sorted(names)}); import a model with one (`sharpeyes model import FILE`) and name "
                "it in the camera's detector_model, name the model's label in the rule's fall_labels, or remove "
                "the rule"
            )
        elif missing:
            problems.append(
                f"camera {camera_id}: rule {rule.name!r} ({rule.type}) needs classes {missing} that the loaded "
                f"model lacks (it has {sorted(names)}); import a model with them "
                "(`sharpeyes model import FILE`) and name it in the camera's detector_model, or remove the rule"
            )
    return problems


class Zone:
    def __init__(self, name: str, points: list[list[float]] | None) -> None:
        self.name = name
        whole = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
        self.points = np.asarray(points if points is not None else whole, np.float32)

    def contains(self, anchors_px: np.ndarray, width: int, height: int) -> np.ndarray:
        """Boolean mask: which anchors (N×2 pixels) lie inside or on the polygon."""
        if not len(anchors_px):
            return np.zeros((0,), bool)
        poly = (self.points * np.array([width, height], np.float32)).reshape(-1, 1, 2)
        return np.array(
            [cv2.pointPolygonTest(poly, (float(x), float(y)), False) >= 0 for x, y in anchors_px], dtype=bool
        )


def in_schedule(windows: list[ScheduleWindow] | None, wall: datetime, tz: ZoneInfo) -> bool:
    """Whether ``wall`` (aware) falls in any window, read in ``tz``; no schedule means always."""
    if not windows:
        return True
    local = wall.astimezone(tz)
    minute = local.hour * 60 + local.minute
    return any(w.contains(local.weekday(), minute) for w in windows)


def ids_of(d: Detections) -> list[int]:
    return [] if d.tracker_id is None else [int(i) for i in d.tracker_id]


def tracked(d: Detections) -> Detections:
    """Only detections with a track id (the rules measure time per track)."""
    if d.tracker_id is None:
        return Detections(model_labels=d.model_labels)
    return d[d.tracker_id >= 0]


def select(d: Detections, ids: set[int]) -> Detections:
    return d[np.array([i in ids for i in ids_of(d)], dtype=bool)] if len(d) else d


class Rule:
    """Base: schedule handling and incident keys. Subclasses implement :meth:`_update` and :meth:`_off`."""

    name: str
    type: EventType
    zone: Zone | None = None

    def __init__(self, cfg: AnyRule, tz: ZoneInfo | None = None) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.severity = Severity(cfg.severity)
        self.tz = tz or ZoneInfo("UTC")
        self._seq = 0

    def _key(self) -> str:
        self._seq += 1
        return f"{self.name}#{self._seq}"

    def _incident(self, key: str, status: Status, objects: Detections, detail: Detail) -> Incident:
        log.debug("rule %s: incident %s %s (%d objects)", self.name, key, status, len(objects))
        return Incident(self.name, self.type, self.severity, self.zone.name if self.zone else None, objects,
                        detail, key, status)

    def update(self, dets: Detections, t: float, width: int, height: int,
               wall: datetime | None = None) -> list[Incident]:
        """Feed one frame's tracked detections seen at monotonic ``t`` (and wall clock ``wall``, UTC)."""
        if not in_schedule(self.cfg.schedule, wall or datetime.now(UTC), self.tz):
            return self._off(t)
        return self._update(tracked(dets), t, width, height)

    def _update(self, dets: Detections, t: float, width: int, height: int) -> list[Incident]:
        raise NotImplementedError

    def _off(self, t: float) -> list[Incident]:
        """Outside the schedule: end what is open and forget per-track state."""
        raise NotImplementedError


@dataclass
class OpenIncident:
    """An open incident of a zone (intrusion, loitering, crowd) or a line."""

    key: str
    since: float
    last_hit: float
    track_ids: set[int]
    objects: Detections
    peak: int
    detail: Detail
    below_since: float | None = None  # first frame without a qualifying object since the last one


# ------------------------------------------------------------------------------------------ per-object incidents


@dataclass
class ObjectState:
    key: str | None  # open incident, if any
    since: float  # condition true since
    last_true: float
    last_seen: float
    box: np.ndarray
    frames: int = 0
    ref: np.ndarray | None = None  # stationary reference centre


class PerObjectRule(Rule):
    """One incident per object (track); a new track id where a remembered object was (IoU ≥ 0.5 with its last
    box, unseen) continues that object, so a fragmented track is not a second incident."""

    clear_after_s: float

    def __init__(self, cfg: AnyRule, tz: ZoneInfo | None = None) -> None:
        super().__init__(cfg, tz)
        self.zone = Zone(cfg.name, getattr(cfg, "zone", None))
        self.objs: dict[int, ObjectState] = {}

    def _adopt(self, tid: int, box: np.ndarray, present: set[int]) -> ObjectState | None:
        lost = [(i, s) for i, s in self.objs.items() if i not in present]
        if not lost:
            return None
        ious = iou_matrix(box[None], np.stack([s.box for _, s in lost]))[0]
        j = int(np.argmax(ious))
        if ious[j] < 0.5:
            return None
        old_id, state = lost[j]
        del self.objs[old_id]
        return state

    def _finish(self, t: float, objects: Detections, out: list[Incident]) -> None:
        for i, s in list(self.objs.items()):
            if s.key is not None and t - s.last_true >= self.clear_after_s:
                out.append(self._incident(s.key, "ended", select(objects, {i}), self._detail(s, t, ended=True)))
                s.key = None
            if t - s.last_seen > max(FORGET_S, self.clear_after_s):
                del self.objs[i]

    def _detail(self, s: ObjectState, t: float, ended: bool = False) -> Detail:
        raise NotImplementedError

    def _off(self, t: float) -> list[Incident]:
        out = [self._incident(s.key, "ended", Detections(), self._detail(s, t, ended=True))
               for s in self.objs.values() if s.key is not None]
        self.objs.clear()
        return out
