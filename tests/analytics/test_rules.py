"""ZoneIntrusion and CrowdGathering on hand-made detection sequences (frame 1000×1000 px, zones normalised).

Each rule returns a ``started`` incident once when one starts, then ``updated``/``ended`` changes of the same
incident (same key); ``fired_at`` looks at starts only, these tests pin down when they happen.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pytest

from analytics.detections import Detections
from analytics.rules import CrowdGathering, Incident, Rule, ZoneIntrusion, build_rules
from analytics.tracker import ByteTracker
from registry.config import CrowdGatheringRule, ZoneIntrusionRule
from sharpeyes.schema import EventType, Severity

W = H = 1000
SQUARE = [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6], [0.2, 0.6]]  # 200..600 px both ways
BOTTOM_HALF = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]

Box = tuple[float, float, float, float]


def dets(boxes: Sequence[Box], labels: Sequence[str] | None = None, ids: Sequence[int] | None = None) -> Detections:
    n = len(boxes)
    return Detections(
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.full(n, 0.8, np.float32),
        list(labels) if labels is not None else ["person"] * n,
        None if ids is None else np.asarray(ids, np.int64),
    )


def person_at(x: float, y: float, w: float = 60, h: float = 160) -> Box:
    """A box whose bottom centre (anchor) is at (x, y)."""
    return (x - w / 2, y - h, x + w / 2, y)


def intrusion(min_duration_s: float = 2.0, **kw: object) -> ZoneIntrusion:
    cfg = ZoneIntrusionRule(type="zone_intrusion", name="lawn", zone=SQUARE, min_duration_s=min_duration_s, **kw)
    return ZoneIntrusion(cfg)


def crowd(min_count: int = 3, min_duration_s: float = 2.0, clear_after_s: float = 5.0) -> CrowdGathering:
    cfg = CrowdGatheringRule(type="crowd_gathering", name="square", zone=BOTTOM_HALF, min_count=min_count,
                             min_duration_s=min_duration_s, clear_after_s=clear_after_s)
    return CrowdGathering(cfg)


def changes(rule: Rule, frames: Iterable[tuple[float, Detections]]) -> list[tuple[float, Incident]]:
    """Feed (t, detections) frames; return every (t, incident change) produced."""
    return [(t, inc) for t, d in frames for inc in rule.update(d, t, W, H)]


def run(rule: Rule, frames: Iterable[tuple[float, Detections]]) -> list[tuple[float, Incident]]:
    """Feed (t, detections) frames; return every (t, incident) that started."""
    return [(t, inc) for t, inc in changes(rule, frames) if inc.status == "started"]


def fired_at(rule: Rule, frames: Iterable[tuple[float, Detections]]) -> list[float]:
    return [t for t, _ in run(rule, frames)]


# --------------------------------------------------------------------------------------------- zone intrusion


def test_intrusion_fires_once_after_min_duration() -> None:
    inside = dets([person_at(400, 500)], ids=[1])
    out = run(intrusion(2.0), [(t, inside) for t in np.arange(0.0, 20.0, 0.5)])
    assert [t for t, _ in out] == [2.0]
    inc = out[0][1]
    assert inc.type is EventType.ZONE_INTRUSION
    assert inc.severity is Severity.MINOR
    assert inc.rule == inc.zone == "lawn"
    assert [int(i) for i in inc.objects.tracker_id] == [1]  # type: ignore[union-attr]
    assert inc.detail == {"intruders": 1, "in_zone": 1}


def test_intrusion_not_before_min_duration() -> None:
    rule = intrusion(2.0)
    inside = dets([person_at(400, 500)], ids=[1])
    assert fired_at(rule, [(0.0, inside), (1.0, inside), (1.99, inside)]) == []
    assert fired_at(rule, [(2.0, inside)]) == [2.0]


def test_intrusion_zero_duration_fires_on_first_frame() -> None:
    assert fired_at(intrusion(0.0), [(5.0, dets([person_at(400, 500)], ids=[3]))]) == [5.0]


def test_leaving_the_zone_restarts_the_clock() -> None:
    inside = dets([person_at(400, 500)], ids=[1])
    outside = dets([person_at(800, 900)], ids=[1])
    frames = [(0.0, inside), (1.0, inside), (2.0, outside), (3.0, inside), (4.0, inside), (5.0, inside)]
    assert fired_at(intrusion(2.0), frames) == [5.0]


def test_object_outside_zone_never_fires() -> None:
    outside = dets([person_at(800, 900), person_at(100, 100), person_at(400, 700)], ids=[1, 2, 3])
    assert fired_at(intrusion(0.0), [(float(t), outside) for t in range(60)]) == []


def test_untracked_detections_never_fire() -> None:
    """The rule needs track ids to measure dwell time; raw detector output does not trigger it."""
    assert fired_at(intrusion(0.0), [(float(t), dets([person_at(400, 500)])) for t in range(5)]) == []


def test_anchor_is_bottom_centre_top_inside_bottom_outside() -> None:
    # top edge y=300 inside the square, bottom y=700 below it: the anchor is outside
    box = (370, 300, 430, 700)
    assert fired_at(intrusion(0.0), [(float(t), dets([box], ids=[1])) for t in range(5)]) == []


def test_anchor_is_bottom_centre_top_outside_bottom_inside() -> None:
    # top edge y=50 above the square, bottom y=550 inside: the anchor is inside
    box = (370, 50, 430, 550)
    assert fired_at(intrusion(0.0), [(0.0, dets([box], ids=[1]))]) == [0.0]


def test_anchor_uses_horizontal_centre() -> None:
    # left edge outside (x=100) but centre x=250 inside → counts; right edge inside but centre x=150 → does not
    centre_in = (100, 300, 400, 500)
    centre_out = (0, 300, 300, 500)
    assert fired_at(intrusion(0.0), [(0.0, dets([centre_in], ids=[1]))]) == [0.0]
    assert fired_at(intrusion(0.0), [(0.0, dets([centre_out], ids=[1]))]) == []


def test_anchor_on_zone_edge_counts() -> None:
    assert fired_at(intrusion(0.0), [(0.0, dets([person_at(600, 600)], ids=[1]))]) == [0.0]


def test_two_intruders_crossing_threshold_together_make_one_incident() -> None:
    both = dets([person_at(300, 500), person_at(500, 500)], ids=[1, 2])
    out = run(intrusion(2.0), [(float(t), both) for t in range(10)])
    assert [t for t, _ in out] == [2.0]
    inc = out[0][1]
    assert sorted(int(i) for i in inc.objects.tracker_id) == [1, 2]  # type: ignore[union-attr]
    assert inc.detail == {"intruders": 2, "in_zone": 2}


def test_second_intruder_while_first_is_inside_joins_the_same_incident() -> None:
    """Same zone, overlapping time: one incident; the second intruder is an update of it, not a new event."""
    one = dets([person_at(300, 500)], ids=[1])
    two = dets([person_at(300, 500), person_at(500, 500)], ids=[1, 2])
    frames = [(0.0, one), (1.0, one), (2.0, one), (3.0, two), (4.0, two), (5.0, two), (6.0, two), (7.0, two)]
    out = changes(intrusion(2.0), frames)
    assert [(t, inc.status) for t, inc in out] == [(2.0, "started"), (5.0, "updated")]
    assert out[0][1].key == out[1][1].key
    assert sorted(int(i) for i in out[1][1].objects.tracker_id) == [1, 2]  # type: ignore[union-attr]
    assert out[1][1].detail["track_ids"] == "1,2" and out[1][1].detail["peak"] == 2


def test_intrusion_ends_after_zone_clear_for_clear_after_s() -> None:
    rule = ZoneIntrusion(ZoneIntrusionRule(type="zone_intrusion", name="z", zone=SQUARE, min_duration_s=0,
                                           clear_after_s=5))
    inside = dets([person_at(400, 500)], ids=[1])
    frames = [(0.0, inside), (1.0, inside), *[(float(t), dets([])) for t in range(2, 12)]]
    out = changes(rule, frames)
    assert [(t, inc.status) for t, inc in out] == [(0.0, "started"), (7.0, "ended")]
    assert out[1][1].detail["duration_s"] == 1.0


def test_only_watched_intruder_is_in_the_incident() -> None:
    d = dets([person_at(300, 500), person_at(800, 900)], ids=[1, 2])  # #2 is outside
    (inc,) = intrusion(0.0).update(d, 0.0, W, H)
    assert [int(i) for i in inc.objects.tracker_id] == [1]  # type: ignore[union-attr]
    np.testing.assert_array_equal(inc.objects.xyxy, d.xyxy[:1])


def test_fragmented_track_within_dedupe_window_is_not_new() -> None:
    rule = intrusion(2.0)
    first = dets([(370, 340, 430, 500)], ids=[1])
    fragment = dets([(375, 345, 435, 505)], ids=[2])  # same person, new id, IoU ≈ 0.8
    frames = [(float(t), first) for t in range(5)] + [(float(t), fragment) for t in range(6, 20)]
    assert fired_at(rule, frames) == [2.0]


def test_fragmented_track_through_the_tracker_is_not_new() -> None:
    """The detector misses the person longer than max_age_s: the tracker gives a new id, the rule dedupes it."""
    tracker = ByteTracker(max_age_s=3.0)
    rule = intrusion(2.0)
    box = dets([person_at(400, 500)])
    nothing = dets([])
    seq = [box] * 5 + [nothing] * 5 + [box] * 10
    seen_ids: set[int] = set()
    fired: list[tuple[int, str]] = []
    for t, d in enumerate(seq):
        tracked = tracker.update(d, float(t))
        seen_ids.update(int(i) for i in tracked.tracker_id)  # type: ignore[union-attr]
        fired += [(t, inc.status) for inc in rule.update(tracked, float(t), W, H)]
    assert len(seen_ids) == 2  # the track did fragment
    assert fired == [(2, "started"), (12, "updated")]  # the fragment joins the open incident


def test_same_place_after_dedupe_window_is_a_new_incident() -> None:
    rule = ZoneIntrusion(ZoneIntrusionRule(type="zone_intrusion", name="z", zone=SQUARE, min_duration_s=1.0,
                                           clear_after_s=10.0))
    a = dets([person_at(400, 500)], ids=[1])
    b = dets([person_at(400, 500)], ids=[2])
    frames = [(0.0, a), (1.0, a), (2.0, dets([])), (20.0, b), (21.0, b)]
    assert fired_at(rule, frames) == [1.0, 21.0]


def test_new_id_elsewhere_in_zone_while_open_is_the_same_incident() -> None:
    a = dets([person_at(250, 500)], ids=[1])
    b = dets([person_at(550, 500)], ids=[2])  # no overlap with #1's last box
    frames = [(0.0, a), (1.0, a), (2.0, a), (3.0, b), (4.0, b), (5.0, b)]
    assert fired_at(intrusion(2.0), frames) == [2.0]


def test_same_track_reentering_within_window_is_not_new() -> None:
    inside = dets([person_at(400, 500)], ids=[1])
    outside = dets([person_at(800, 900)], ids=[1])
    frames = [(0.0, inside), (1.0, inside), (2.0, outside), (3.0, inside), (4.0, inside), (5.0, inside)]
    assert fired_at(intrusion(1.0), frames) == [1.0]


def test_car_does_not_trigger_a_person_rule() -> None:
    car = dets([person_at(400, 500)], labels=["car"], ids=[1])
    assert fired_at(intrusion(0.0), [(float(t), car) for t in range(5)]) == []


@pytest.mark.parametrize("label", ["Normal", "Fall", "person"])
def test_model_labels_map_to_person(label: str) -> None:
    upright = dets([person_at(100, 900)], labels=["Normal"], ids=[1])  # outside the zone; 'Fall' needs an upright
    d = dets([person_at(400, 500)], labels=[label], ids=[1])           # sighting first (see the jacket test)
    out = run(intrusion(0.0), [(0.0, upright), (1.0, d)])
    assert len(out) == 1
    assert out[0][1].objects.labels == [label]


def test_rule_watching_cars_ignores_persons() -> None:
    rule = intrusion(0.0, classes=["car"])
    d = dets([person_at(300, 500), person_at(500, 500)], labels=["Normal", "car"], ids=[1, 2])
    (inc,) = rule.update(d, 0.0, W, H)
    assert inc.objects.labels == ["car"]


def test_severity_from_config() -> None:
    (inc,) = intrusion(0.0, severity="critical").update(dets([person_at(400, 500)], ids=[1]), 0.0, W, H)
    assert inc.severity is Severity.CRITICAL


# --------------------------------------------------------------------------------------------- crowd gathering


def group(n_in: int, n_out: int = 0, labels: str = "person") -> Detections:
    """n_in persons in the bottom half (anchors at y=800), n_out in the top half (anchors at y=300)."""
    boxes = [person_at(100 + 100 * i, 800) for i in range(n_in)] + [person_at(100 + 100 * i, 300)
                                                                      for i in range(n_out)]
    return dets(boxes, labels=[labels] * len(boxes), ids=list(range(1, len(boxes) + 1)))


def test_crowd_fires_once_when_held() -> None:
    out = run(crowd(3, 2.0), [(float(t), group(3)) for t in range(30)])
    assert [t for t, _ in out] == [2.0]
    inc = out[0][1]
    assert inc.type is EventType.CROWD_GATHERING
    assert inc.severity is Severity.MAJOR
    assert inc.rule == inc.zone == "square"


def test_crowd_not_before_min_duration() -> None:
    assert fired_at(crowd(3, 2.0), [(0.0, group(3)), (1.0, group(4)), (1.9, group(3))]) == []


def test_crowd_hold_must_be_continuous() -> None:
    frames = [(0.0, group(3)), (1.0, group(3)), (2.0, group(2)), (3.0, group(3)), (4.0, group(3)), (5.0, group(3))]
    assert fired_at(crowd(3, 2.0), frames) == [5.0]


def test_short_dip_does_not_refire() -> None:
    frames = ([(float(t), group(3)) for t in range(0, 5)]
              + [(float(t), group(2)) for t in range(5, 9)]  # 4 s below < clear_after_s 5
              + [(float(t), group(3)) for t in range(9, 20)])
    assert fired_at(crowd(3, 2.0, clear_after_s=5.0), frames) == [2.0]


def test_new_gathering_after_clear_fires_again() -> None:
    frames = ([(float(t), group(3)) for t in range(0, 5)]
              + [(float(t), group(1)) for t in range(5, 11)]  # below from t=5, cleared at t=10
              + [(float(t), group(4)) for t in range(11, 20)])
    assert fired_at(crowd(3, 2.0, clear_after_s=5.0), frames) == [2.0, 13.0]


def test_dip_just_short_of_clear_after_does_not_refire() -> None:
    frames = ([(float(t), group(3)) for t in range(0, 5)]
              + [(t, group(0)) for t in (5.0, 9.9)]  # 4.9 s below
              + [(float(t), group(3)) for t in range(10, 20)])
    assert fired_at(crowd(3, 2.0, clear_after_s=5.0), frames) == [2.0]


def test_count_just_below_threshold_never_fires() -> None:
    assert fired_at(crowd(3, 0.0), [(float(t), group(2)) for t in range(100)]) == []


def test_people_outside_the_zone_are_not_counted() -> None:
    assert fired_at(crowd(3, 0.0), [(float(t), group(2, n_out=5)) for t in range(10)]) == []


def test_non_persons_are_not_counted() -> None:
    mixed = dets([person_at(100, 800), person_at(200, 800), person_at(300, 800), person_at(400, 800)],
                 labels=["Normal", "car", "car", "Fall"], ids=[1, 2, 3, 4])
    assert fired_at(crowd(3, 0.0), [(float(t), mixed) for t in range(10)]) == []
    three = dets(mixed.xyxy.tolist(), labels=["Normal", "Fall", "car", "person"], ids=[1, 2, 3, 4])
    assert fired_at(crowd(3, 0.0), [(0.0, three)]) == [0.0]


def test_crowd_incident_carries_in_zone_objects_and_count() -> None:
    d = group(4, n_out=2)
    out = run(crowd(3, 2.0), [(0.0, d), (1.0, d), (2.5, d)])
    assert [t for t, _ in out] == [2.5]
    inc = out[0][1]
    assert len(inc.objects) == 4
    assert [int(i) for i in inc.objects.tracker_id] == [1, 2, 3, 4]  # type: ignore[union-attr]
    np.testing.assert_array_equal(inc.objects.xyxy, d.xyxy[:4])
    assert inc.detail == {"count": 4, "min_count": 3, "held_s": 2.5}


def test_build_rules_maps_configs() -> None:
    rules = build_rules([
        ZoneIntrusionRule(type="zone_intrusion", name="a", zone=SQUARE),
        CrowdGatheringRule(type="crowd_gathering", name="b", zone=BOTTOM_HALF, min_count=2),
    ])
    assert [type(r) for r in rules] == [ZoneIntrusion, CrowdGathering]
    assert [r.name for r in rules] == ["a", "b"]


def test_intrusion_ignores_a_thing_only_ever_labelled_fallen() -> None:
    """The default model calls a jacket on vtest's lawn 'Fall' in every frame: lying in the zone, never seen upright,
    it is no intruder; a person who walks in upright and then falls is one."""
    rule = intrusion(min_duration_s=2.0)
    jacket = person_at(300, 500, w=80, h=30)
    frames = [(float(t), dets([jacket], ["Fall"], [7])) for t in range(10)]
    assert run(rule, frames) == []

    rule = intrusion(min_duration_s=2.0)
    walker = [(float(t), dets([jacket, person_at(400, 400)], ["Fall", "Normal" if t < 12 else "Fall"], [7, 8]))
              for t in range(10, 20)]
    started = run(rule, walker)
    assert [t for t, _ in started] == [12.0]
    assert started[0][1].detail["intruders"] == 1  # the walker (8), not the jacket (7)
