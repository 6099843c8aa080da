"""Rules turn tracked detections into incidents, and each incident into one event that is updated, not many.

Owns the behaviour of every rule type configured in camera YAML (the models are in ``registry/rules.py``): area
intrusion, loitering, crowd gathering, line crossing, fall, illegal parking and left object; and the check that
the loaded model has the classes each rule needs (:func:`check_rule_classes`).

Every rule keeps per-camera state and returns :class:`Incident` changes: ``started`` once when an incident begins,
``updated`` when something material changes (more objects involved, a higher count), ``ended`` once when it is
over. All changes of one incident share its ``key``; the pipeline maps a key to one event id. Same zone and
overlapping time is one incident: an intruder who arrives while another is still inside joins that incident.

Zones are normalised polygons and lines normalised segments, tested against each box's bottom centre (its anchor
on the ground). Times are the frame's monotonic seconds; schedules use the frame's wall clock in the hub's
timezone.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

import cv2
import numpy as np

from analytics.detections import Detections, canonical_class
from analytics.tracker import iou_matrix
from registry.rules import (
    AnyRule,
    CrowdGatheringRule,
    FallRule,
    IllegalParkingRule,
    LeftObjectRule,
    LineCrossingRule,
    LoiteringRule,
    ScheduleWindow,
    ZoneIntrusionRule,
    required_classes,
)
from sharpeyes.schema import EventType, Severity

log = logging.getLogger(__name__)

Status = Literal["started", "updated", "ended"]
Detail = dict[str, float | int | str]
_FORGET_S = 30.0  # per-track rule memory is dropped after a track is unseen this long
_MAX_IDS = 50  # track ids listed in an event's detail (the latest ones)


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


FALLEN_LABELS = frozenset({"Fall"})
"""Model labels of a person on the ground (the default model's ``Fall``)."""
_UPRIGHT_MEMORY_S = 600.0  # how long a track counts as once seen upright after its last upright sighting


class RuleClassError(ValueError):
    """Rules need classes the loaded model does not have; the message names camera, rule and classes."""


def check_rule_classes(camera_id: str, rules: list[AnyRule], model_labels: set[str]) -> list[str]:
    """Problems (one line each) for rules of ``camera_id`` that need classes missing from ``model_labels``."""
    canonical = {canonical_class(lbl) for lbl in model_labels}
    problems = []
    for rule in rules:
        classes, labels = required_classes(rule)
        missing = sorted(classes - canonical) + sorted(labels - model_labels)
        if missing:
            problems.append(
                f"camera {camera_id}: rule {rule.name!r} ({rule.type}) needs classes {missing} that the loaded "
                f"model lacks (it has {sorted(model_labels)}); import a model with them "
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


def _ids(d: Detections) -> list[int]:
    return [] if d.tracker_id is None else [int(i) for i in d.tracker_id]


def _tracked(d: Detections) -> Detections:
    """Only detections with a track id (the rules measure time per track)."""
    if d.tracker_id is None:
        return Detections()
    return d[d.tracker_id >= 0]


def _select(d: Detections, ids: set[int]) -> Detections:
    return d[np.array([i in ids for i in _ids(d)], dtype=bool)] if len(d) else d


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
        return self._update(_tracked(dets), t, width, height)

    def _update(self, dets: Detections, t: float, width: int, height: int) -> list[Incident]:
        raise NotImplementedError

    def _off(self, t: float) -> list[Incident]:
        """Outside the schedule: end what is open and forget per-track state."""
        raise NotImplementedError


# ------------------------------------------------------------------------------- zone incidents (intrusion, …)


@dataclass
class _Open:
    """An open zone-level incident."""

    key: str
    since: float
    last_hit: float
    track_ids: set[int]
    objects: Detections
    peak: int
    detail: Detail
    below_since: float | None = None  # first frame without a qualifying object since the last one


class _ZoneIncidentRule(Rule):
    """Shared lifecycle: one incident per zone while qualifying objects are present; it ends after none has been
    seen for ``clear_after_s``. Objects that qualify while it is open join it (an ``updated`` change)."""

    clear_after_s: float

    def __init__(self, cfg: AnyRule, tz: ZoneInfo | None = None) -> None:
        super().__init__(cfg, tz)
        self.zone = Zone(cfg.name, getattr(cfg, "zone", None))
        self.open: _Open | None = None

    def _detail(self, hits: Detections, in_zone: Detections, t: float) -> Detail:
        raise NotImplementedError

    def _step(self, hits: Detections, in_zone: Detections, t: float) -> list[Incident]:
        """``hits``: objects qualifying now (tracked); ``in_zone``: everything watched in the zone."""
        ids = set(_ids(hits))
        out: list[Incident] = []
        if self.open is None:
            if ids:
                detail = self._detail(hits, in_zone, t)
                self.open = _Open(self._key(), t, t, ids, hits, len(ids), detail)
                out.append(self._incident(self.open.key, "started", hits, dict(detail)))
            return out
        inc = self.open
        if ids:
            inc.last_hit, inc.below_since = t, None
            grew = not ids <= inc.track_ids or len(ids) > inc.peak
            inc.track_ids |= ids
            inc.peak = max(inc.peak, len(ids))
            inc.objects = hits
            inc.detail.update(self._detail(hits, in_zone, t))
            if grew:
                out.append(self._incident(inc.key, "updated", hits, self._summary(inc, t)))
        else:
            if inc.below_since is None:
                inc.below_since = t
            if t - inc.below_since >= self.clear_after_s:
                out += self._close(t)
        return out

    def _summary(self, inc: _Open, t: float) -> Detail:
        ids = sorted(inc.track_ids)
        return {**inc.detail, "peak": inc.peak, "tracks": len(ids), "track_ids": ",".join(map(str, ids[-_MAX_IDS:])),
                "duration_s": round(inc.last_hit - inc.since, 1)}

    def _close(self, t: float) -> list[Incident]:
        inc, self.open = self.open, None
        if inc is None:
            return []
        return [self._incident(inc.key, "ended", inc.objects, self._summary(inc, t))]


class _DwellInZone(_ZoneIncidentRule):
    """Per-track time in the zone; tracks in it for ``min_s`` qualify. A track may step out (or be unseen) for
    ``grace_s`` without losing its time."""

    min_s: float
    grace_s: float

    def __init__(self, cfg: AnyRule, tz: ZoneInfo | None = None) -> None:
        super().__init__(cfg, tz)
        self.classes = set(getattr(cfg, "classes", ["person"]))
        self.entered: dict[int, tuple[float, float]] = {}  # track id → (since, last seen inside)
        self.upright: dict[int, float] = {}  # track id → last time seen with a label other than a fallen one

    def _seen_upright(self, watched: Detections, t: float) -> Detections:
        """Drop detections labelled fallen (``Fall``) whose track was never seen upright: the default model calls
        a jacket on the ground or a dog 'Fall', and such a thing lying in a zone is no intruder or loiterer. With
        models that have no fallen class this keeps everything."""
        ids = _ids(watched)
        if not ids:
            return watched
        for tid, label in zip(ids, watched.labels, strict=True):
            if label not in FALLEN_LABELS:
                self.upright[tid] = t
        self.upright = {i: seen for i, seen in self.upright.items() if t - seen <= _UPRIGHT_MEMORY_S}
        keep = [label not in FALLEN_LABELS or tid in self.upright for tid, label in zip(ids, watched.labels,
                                                                                          strict=True)]
        return watched if all(keep) else watched[np.array(keep, dtype=bool)]

    def _update(self, dets: Detections, t: float, width: int, height: int) -> list[Incident]:
        watched = self._seen_upright(dets.of_classes(self.classes), t)
        assert self.zone is not None
        inside = watched[self.zone.contains(watched.anchors(), width, height)]
        for i in _ids(inside):
            self.entered[i] = (self.entered.get(i, (t, t))[0], t)
        # outside (or unseen) longer than grace_s: the clock restarts (grace 0: at once)
        self.entered = {i: v for i, v in self.entered.items() if v[1] == t or t - v[1] <= self.grace_s}
        qualifying = {i for i in _ids(inside) if t - self.entered[i][0] >= self.min_s}
        return self._step(_select(inside, qualifying), inside, t)

    def _off(self, t: float) -> list[Incident]:
        self.entered.clear()
        return self._close(t)


class ZoneIntrusion(_DwellInZone):
    """Area intrusion: a watched object inside the zone ≥ ``min_duration_s`` (leaving restarts its clock)."""

    type = EventType.ZONE_INTRUSION

    def __init__(self, cfg: ZoneIntrusionRule, tz: ZoneInfo | None = None) -> None:
        super().__init__(cfg, tz)
        self.min_s, self.grace_s, self.clear_after_s = cfg.min_duration_s, 0.0, cfg.clear_after_s

    def _detail(self, hits: Detections, in_zone: Detections, t: float) -> Detail:
        return {"intruders": len(hits), "in_zone": len(in_zone)}


class Loitering(_DwellInZone):
    """Loitering: one track in the zone ≥ ``min_dwell_s`` (absences up to ``grace_s`` forgiven)."""

    type = EventType.LOITERING

    def __init__(self, cfg: LoiteringRule, tz: ZoneInfo | None = None) -> None:
        super().__init__(cfg, tz)
        self.min_s, self.grace_s, self.clear_after_s = cfg.min_dwell_s, cfg.grace_s, cfg.clear_after_s

    def _detail(self, hits: Detections, in_zone: Detections, t: float) -> Detail:
        dwell = max((t - self.entered[i][0] for i in _ids(hits)), default=0.0)
        return {"loiterers": len(hits), "max_dwell_s": round(dwell, 1), "min_dwell_s": self.min_s}


class CrowdGathering(_ZoneIncidentRule):
    """≥ ``min_count`` persons in the zone for ≥ ``min_duration_s`` → one incident, which ends after the count
    stays below ``min_count`` for ``clear_after_s``; a higher peak is an update."""

    type = EventType.CROWD_GATHERING

    def __init__(self, cfg: CrowdGatheringRule, tz: ZoneInfo | None = None) -> None:
        super().__init__(cfg, tz)
        self.crowd_cfg = cfg
        self.clear_after_s = cfg.clear_after_s
        self.since: float | None = None  # count ≥ N since

    def _detail(self, hits: Detections, in_zone: Detections, t: float) -> Detail:
        held = 0.0 if self.since is None else t - self.since
        return {"count": len(hits), "min_count": self.crowd_cfg.min_count, "held_s": round(held, 1)}

    def _update(self, dets: Detections, t: float, width: int, height: int) -> list[Incident]:
        persons = dets.of_classes({"person"})
        assert self.zone is not None
        inside = persons[self.zone.contains(persons.anchors(), width, height)]
        if len(inside) >= self.crowd_cfg.min_count:
            if self.since is None:
                self.since = t
            if self.open is None and t - self.since < self.crowd_cfg.min_duration_s:
                return []
            return self._step(inside, inside, t)
        if self.open is None:
            self.since = None
            return []
        out = self._step(Detections(), inside, t)
        if self.open is None:
            self.since = None
        return out

    def _off(self, t: float) -> list[Incident]:
        self.since = None
        return self._close(t)


# ------------------------------------------------------------------------------------------------ line crossing


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
        self.open: _Open | None = None
        self.incident_counts = {"a_to_b": 0, "b_to_a": 0}  # crossings in the open incident
        self.crossed: deque[int] = deque(maxlen=_MAX_IDS)  # their track ids, the latest ones

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
        for k, (tid, p) in enumerate(zip(_ids(watched), watched.anchors(), strict=True)):
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
        self.side = {i: v for i, v in self.side.items() if t - v[2] <= _FORGET_S}
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
            self.open = _Open(self._key(), t, t, {tid for _, _, tid in crossings}, objects, len(crossings), {})
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


# ------------------------------------------------------------------------------------------ per-object incidents


@dataclass
class _ObjState:
    key: str | None  # open incident, if any
    since: float  # condition true since
    last_true: float
    last_seen: float
    box: np.ndarray
    frames: int = 0
    ref: np.ndarray | None = None  # stationary reference centre


class _PerObjectRule(Rule):
    """One incident per object (track); a new track id where a remembered object was (IoU ≥ 0.5 with its last
    box, unseen) continues that object, so a fragmented track is not a second incident."""

    clear_after_s: float

    def __init__(self, cfg: AnyRule, tz: ZoneInfo | None = None) -> None:
        super().__init__(cfg, tz)
        self.zone = Zone(cfg.name, getattr(cfg, "zone", None))
        self.objs: dict[int, _ObjState] = {}

    def _adopt(self, tid: int, box: np.ndarray, present: set[int]) -> _ObjState | None:
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
                out.append(self._incident(s.key, "ended", _select(objects, {i}), self._detail(s, t, ended=True)))
                s.key = None
            if t - s.last_seen > max(_FORGET_S, self.clear_after_s):
                del self.objs[i]

    def _detail(self, s: _ObjState, t: float, ended: bool = False) -> Detail:
        raise NotImplementedError

    def _off(self, t: float) -> list[Incident]:
        out = [self._incident(s.key, "ended", Detections(), self._detail(s, t, ended=True))
               for s in self.objs.values() if s.key is not None]
        self.objs.clear()
        return out


class Fall(_PerObjectRule):
    """The model's fall class on a person-sized, persistent track (DESIGN.md §5: ``Fall`` also fires on dogs).

    By default the track must also have been seen upright within ``upright_window_s`` before, within one body
    height of where it now lies: on vtest.avi the default model labels a jacket lying on the lawn ``Fall`` in
    almost every frame, and it never stood up."""

    type = EventType.FALL

    def __init__(self, cfg: FallRule, tz: ZoneInfo | None = None) -> None:
        super().__init__(cfg, tz)
        self.fall_cfg = cfg
        self.clear_after_s = cfg.clear_after_s
        self.fall_labels = set(cfg.fall_labels)
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
        present = set(_ids(persons))
        anchors = persons.anchors()
        out: list[Incident] = []
        for k, tid in enumerate(_ids(persons)):
            box = persons.xyxy[k]
            if persons.labels[k] not in self.fall_labels:
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
                s = _ObjState(s.key if s else None, t, t, t, box.copy())
            self.objs[tid] = s
            s.last_true, s.last_seen, s.box = t, t, box.copy()
            s.frames += 1
            if (s.key is None and s.frames >= self.fall_cfg.min_frames
                    and t - s.since >= self.fall_cfg.min_duration_s):
                s.key = self._key()
                out.append(self._incident(s.key, "started", _select(persons, {tid}), self._detail(s, t)))
        self._finish(t, persons, out)
        self.upright_h = {i: v for i, v in self.upright_h.items() if t - v[1] <= _FORGET_S}
        return out

    def _detail(self, s: _ObjState, t: float, ended: bool = False) -> Detail:
        return {"fallen_s": round(s.last_true - s.since, 1), "frames": s.frames}


class _Stationary(_PerObjectRule):
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
        present = set(_ids(watched))
        out: list[Incident] = []
        for k, tid in enumerate(_ids(watched)):
            box = watched.xyxy[k]
            centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)
            size = float(np.sqrt(max((box[2] - box[0]) * (box[3] - box[1]), 1.0)))
            s = self.objs.get(tid) or self._adopt(tid, box, present)
            if s is None:
                s = _ObjState(None, t, t, t, box.copy(), ref=centre)
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
                out.append(self._incident(s.key, "started", _select(watched, {tid}), self._detail(s, t)))
        self._finish(t, watched, out)
        return out

    def _detail(self, s: _ObjState, t: float, ended: bool = False) -> Detail:
        return {"stationary_s": round(s.last_true - s.since, 1), "min_stationary_s": self.st_cfg.min_stationary_s}


class IllegalParking(_Stationary):
    type = EventType.ILLEGAL_PARKING


class LeftObject(_Stationary):
    type = EventType.LEFT_OBJECT


_RULES: dict[type, type[Rule]] = {
    ZoneIntrusionRule: ZoneIntrusion,
    LoiteringRule: Loitering,
    CrowdGatheringRule: CrowdGathering,
    LineCrossingRule: LineCrossing,
    FallRule: Fall,
    IllegalParkingRule: IllegalParking,
    LeftObjectRule: LeftObject,
}


def build_rules(configs: list[AnyRule], tz: ZoneInfo | None = None) -> list[Rule]:
    """One rule object per config, evaluating schedules in ``tz`` (the hub's timezone; UTC when unset)."""
    return [_RULES[type(cfg)](cfg, tz) for cfg in configs]  # type: ignore[arg-type]
