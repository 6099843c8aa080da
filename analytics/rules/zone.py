"""Zone incidents: area intrusion, loitering and crowd gathering.

One incident per zone while qualifying objects are present: same zone and overlapping time is one incident, so an
intruder who arrives while another is still inside joins it (an ``updated`` change); it ends after none has
qualified for ``clear_after_s``. Intrusion and loitering count a detection with one of its model's fallen labels
(the default model's ``Fall``) only when its track was seen upright before: that model calls a jacket lying on
vtest's lawn (and dogs) ``Fall``, which is no intruder. Crowd counts every person. Must not touch Redis, SQL, HTTP
or the detector.
"""

from __future__ import annotations

import logging
from zoneinfo import ZoneInfo

import numpy as np

from analytics.detections import Detections
from analytics.rules.base import MAX_IDS, Detail, Incident, OpenIncident, Rule, Zone, ids_of, select
from registry.rules import AnyRule, CrowdGatheringRule, LoiteringRule, ZoneIntrusionRule
from sharpeyes.schema import EventType

log = logging.getLogger(__name__)

_UPRIGHT_MEMORY_S = 600.0  # how long a track counts as once seen upright after its last upright sighting


class _ZoneIncidentRule(Rule):
    """Shared lifecycle: one incident per zone while qualifying objects are present; it ends after none has been
    seen for ``clear_after_s``. Objects that qualify while it is open join it (an ``updated`` change)."""

    clear_after_s: float

    def __init__(self, cfg: AnyRule, tz: ZoneInfo | None = None) -> None:
        super().__init__(cfg, tz)
        self.zone = Zone(cfg.name, getattr(cfg, "zone", None))
        self.open: OpenIncident | None = None

    def _detail(self, hits: Detections, in_zone: Detections, t: float) -> Detail:
        raise NotImplementedError

    def _step(self, hits: Detections, in_zone: Detections, t: float) -> list[Incident]:
        """``hits``: objects qualifying now (tracked); ``in_zone``: everything watched in the zone."""
        ids = set(ids_of(hits))
        out: list[Incident] = []
        if self.open is None:
            if ids:
                detail = self._detail(hits, in_zone, t)
                self.open = OpenIncident(self._key(), t, t, ids, hits, len(ids), detail)
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

    def _summary(self, inc: OpenIncident, t: float) -> Detail:
        ids = sorted(inc.track_ids)
        return {**inc.detail, "peak": inc.peak, "tracks": len(ids), "track_ids": ",".join(map(str, ids[-MAX_IDS:])),
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
        """Drop detections with a fallen label of their model (the default model's ``Fall``) whose track was never
        seen upright: the default model calls a jacket on the ground or a dog 'Fall', and such a thing lying in a
        zone is no intruder or loiterer. With models that have no fallen class this keeps everything."""
        ids = ids_of(watched)
        if not ids:
            return watched
        fallen = watched.model_labels.fallen_labels
        for tid, label in zip(ids, watched.labels, strict=True):
            if label not in fallen:
                self.upright[tid] = t
        self.upright = {i: seen for i, seen in self.upright.items() if t - seen <= _UPRIGHT_MEMORY_S}
        keep = [label not in fallen or tid in self.upright for tid, label in zip(ids, watched.labels, strict=True)]
        return watched if all(keep) else watched[np.array(keep, dtype=bool)]

    def _update(self, dets: Detections, t: float, width: int, height: int) -> list[Incident]:
        watched = self._seen_upright(dets.of_classes(self.classes), t)
        assert self.zone is not None
        inside = watched[self.zone.contains(watched.anchors(), width, height)]
        for i in ids_of(inside):
            self.entered[i] = (self.entered.get(i, (t, t))[0], t)
        # outside (or unseen) longer than grace_s: the clock restarts (grace 0: at once)
        self.entered = {i: v for i, v in self.entered.items() if v[1] == t or t - v[1] <= self.grace_s}
        qualifying = {i for i in ids_of(inside) if t - self.entered[i][0] >= self.min_s}
        return self._step(select(inside, qualifying), inside, t)

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
        dwell = max((t - self.entered[i][0] for i in ids_of(hits)), default=0.0)
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
