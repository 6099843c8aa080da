"""Zone intrusion, crowd gathering and loitering (``analytics/rules/zone.py``) on hand-made detection sequences
(``sequences.py``). Each rule returns a ``started`` incident once when one starts, then ``updated``/``ended``
changes of the same incident (same key); ``fired_at`` looks at starts only, these tests pin down when they happen.
"""

from __future__ import annotations

import numpy as np
import pytest

from analytics.detections import Detections
from analytics.labels import ModelLabels
from analytics.rules import CrowdGathering, Loitering, ZoneIntrusion
from analytics.tracker import ByteTracker
from registry.config import CrowdGatheringRule, ZoneIntrusionRule
from registry.rules import LoiteringRule
from sharpeyes.schema import EventType, Severity
from tests.analytics.rules.sequences import BOTTOM_HALF, SQUARE, H, W, at, changes, dets, fired_at, run, statuses


def intrusion(min_duration_s: float = 2.0, **kw: object) -> ZoneIntrusion:
    cfg = ZoneIntrusionRule(type="zone_intrusion", name="lawn", zone=SQUARE, min_duration_s=min_duration_s, **kw)
    return ZoneIntrusion(cfg)


def crowd(min_count: int = 3, min_duration_s: float = 2.0, clear_after_s: float = 5.0) -> CrowdGathering:
    cfg = CrowdGatheringRule(type="crowd_gathering", name="square", zone=BOTTOM_HALF, min_count=min_count,
                             min_duration_s=min_duration_s, clear_after_s=clear_after_s)
    return CrowdGathering(cfg)


def loiter(min_dwell_s: float = 10.0, grace_s: float = 3.0) -> Loitering:
    return Loitering(LoiteringRule(type="loitering", name="l", zone=SQUARE, min_dwell_s=min_dwell_s,
                                   grace_s=grace_s, clear_after_s=5.0))


# ----------------------------------------------------------------------------------------------------- zone intrusion


def test_intrusion_fires_once_after_min_duration() -> None:
    inside = dets([at(400, 500)], ids=[1])
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
    inside = dets([at(400, 500)], ids=[1])
    assert fired_at(rule, [(0.0, inside), (1.0, inside), (1.99, inside)]) == []
    assert fired_at(rule, [(2.0, inside)]) == [2.0]


def test_intrusion_zero_duration_fires_on_first_frame() -> None:
    assert fired_at(intrusion(0.0), [(5.0, dets([at(400, 500)], ids=[3]))]) == [5.0]


def test_leaving_the_zone_restarts_the_clock() -> None:
    inside = dets([at(400, 500)], ids=[1])
    outside = dets([at(800, 900)], ids=[1])
    frames = [(0.0, inside), (1.0, inside), (2.0, outside), (3.0, inside), (4.0, inside), (5.0, inside)]
    assert fired_at(intrusion(2.0), frames) == [5.0]


def test_object_outside_zone_never_fires() -> None:
    outside = dets([at(800, 900), at(100, 100), at(400, 700)], ids=[1, 2, 3])
    assert fired_at(intrusion(0.0), [(float(t), outside) for t in range(60)]) == []


def test_untracked_detections_never_fire() -> None:
    """The rule needs track ids to measure dwell time; raw detector output does not trigger it."""
    assert fired_at(intrusion(0.0), [(float(t), dets([at(400, 500)])) for t in range(5)]) == []


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
    assert fired_at(intrusion(0.0), [(0.0, dets([at(600, 600)], ids=[1]))]) == [0.0]


def test_two_intruders_crossing_threshold_together_make_one_incident() -> None:
    both = dets([at(300, 500), at(500, 500)], ids=[1, 2])
    out = run(intrusion(2.0), [(float(t), both) for t in range(10)])
    assert [t for t, _ in out] == [2.0]
    inc = out[0][1]
    assert sorted(int(i) for i in inc.objects.tracker_id) == [1, 2]  # type: ignore[union-attr]
    assert inc.detail == {"intruders": 2, "in_zone": 2}


def test_second_intruder_while_first_is_inside_joins_the_same_incident() -> None:
    """Same zone, overlapping time: one incident; the second intruder is an update of it, not a new event."""
    one = dets([at(300, 500)], ids=[1])
    two = dets([at(300, 500), at(500, 500)], ids=[1, 2])
    frames = [(0.0, one), (1.0, one), (2.0, one), (3.0, two), (4.0, two), (5.0, two), (6.0, two), (7.0, two)]
    out = changes(intrusion(2.0), frames)
    assert [(t, inc.status) for t, inc in out] == [(2.0, "started"), (5.0, "updated")]
    assert out[0][1].key == out[1][1].key
    assert sorted(int(i) for i in out[1][1].objects.tracker_id) == [1, 2]  # type: ignore[union-attr]
    assert out[1][1].detail["track_ids"] == "1,2" and out[1][1].detail["peak"] == 2


def test_intrusion_ends_after_zone_clear_for_clear_after_s() -> None:
    rule = ZoneIntrusion(ZoneIntrusionRule(type="zone_intrusion", name="z", zone=SQUARE, min_duration_s=0,
                                           clear_after_s=5))
    inside = dets([at(400, 500)], ids=[1])
    frames = [(0.0, inside), (1.0, inside), *[(float(t), dets([])) for t in range(2, 12)]]
    out = changes(rule, frames)
    assert [(t, inc.status) for t, inc in out] == [(0.0, "started"), (7.0, "ended")]
    assert out[1][1].detail["duration_s"] == 1.0


def test_only_watched_intruder_is_in_the_incident() -> None:
    d = dets([at(300, 500), at(800, 900)], ids=[1, 2])  # #2 is outside
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
    box = dets([at(400, 500)])
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
    a = dets([at(400, 500)], ids=[1])
    b = dets([at(400, 500)], ids=[2])
    frames = [(0.0, a), (1.0, a), (2.0, dets([])), (20.0, b), (21.0, b)]
    assert fired_at(rule, frames) == [1.0, 21.0]


def test_new_id_elsewhere_in_zone_while_open_is_the_same_incident() -> None:
    a = dets([at(250, 500)], ids=[1])
    b = dets([at(550, 500)], ids=[2])  # no overlap with #1's last box
    frames = [(0.0, a), (1.0, a), (2.0, a), (3.0, b), (4.0, b), (5.0, b)]
    assert fired_at(intrusion(2.0), frames) == [2.0]


def test_same_track_reentering_within_window_is_not_new() -> None:
    inside = dets([at(400, 500)], ids=[1])
    outside = dets([at(800, 900)], ids=[1])
    frames = [(0.0, inside), (1.0, inside), (2.0, outside), (3.0, inside), (4.0, inside), (5.0, inside)]
    assert fired_at(intrusion(1.0), frames) == [1.0]


def test_car_does_not_trigger_a_person_rule() -> None:
    car = dets([at(400, 500)], labels=["car"], ids=[1])
    assert fired_at(intrusion(0.0), [(float(t), car) for t in range(5)]) == []


@pytest.mark.parametrize("label", ["Normal", "Fall", "person"])
def test_model_labels_map_to_person(label: str) -> None:
    upright = dets([at(100, 900)], labels=["Normal"], ids=[1])  # outside the zone; 'Fall' needs an upright
    d = dets([at(400, 500)], labels=[label], ids=[1])           # sighting first (see the jacket test)
    out = run(intrusion(0.0), [(0.0, upright), (1.0, d)])
    assert len(out) == 1
    assert out[0][1].objects.labels == [label]


def test_rule_watching_cars_ignores_persons() -> None:
    rule = intrusion(0.0, classes=["car"])
    d = dets([at(300, 500), at(500, 500)], labels=["Normal", "car"], ids=[1, 2])
    (inc,) = rule.update(d, 0.0, W, H)
    assert inc.objects.labels == ["car"]


def test_severity_from_config() -> None:
    (inc,) = intrusion(0.0, severity="critical").update(dets([at(400, 500)], ids=[1]), 0.0, W, H)
    assert inc.severity is Severity.CRITICAL


def test_intrusion_ignores_a_thing_only_ever_labelled_fallen() -> None:
    """The default model calls a jacket on vtest's lawn 'Fall' in every frame: lying in the zone, never seen upright,
    it is no intruder; a person who walks in upright and then falls is one."""
    rule = intrusion(min_duration_s=2.0)
    jacket = at(300, 500, w=80, h=30)
    frames = [(float(t), dets([jacket], [7], ["Fall"])) for t in range(10)]
    assert run(rule, frames) == []

    rule = intrusion(min_duration_s=2.0)
    walker = [(float(t), dets([jacket, at(400, 400)], [7, 8], ["Fall", "Normal" if t < 12 else "Fall"]))
              for t in range(10, 20)]
    started = run(rule, walker)
    assert [t for t, _ in started] == [12.0]
    assert started[0][1].detail["intruders"] == 1  # the walker (8), not the jacket (7)


# ---------------------------------------------------------------------------------------------------- crowd gathering


def group(n_in: int, n_out: int = 0, labels: str = "person") -> Detections:
    """n_in persons in the bottom half (anchors at y=800), n_out in the top half (anchors at y=300)."""
    boxes = [at(100 + 100 * i, 800) for i in range(n_in)] + [at(100 + 100 * i, 300)
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
    mixed = dets([at(100, 800), at(200, 800), at(300, 800), at(400, 800)],
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


# ---------------------------------------------------------------------------------------------------------- loitering


def test_loitering_fires_after_dwell_once() -> None:
    inside = dets([at(400, 500)], [1])
    out = changes(loiter(10.0), [(float(t), inside) for t in range(30)])
    assert [(t, inc.status) for t, inc in out] == [(10.0, "started")]
    assert out[0][1].type is EventType.LOITERING
    assert out[0][1].detail == {"loiterers": 1, "max_dwell_s": 10.0, "min_dwell_s": 10.0}


def test_loitering_forgives_short_absence_but_not_long() -> None:
    inside, gone = dets([at(400, 500)], [1]), dets([], [])
    short = [(float(t), inside) for t in range(0, 5)] + [(5.0, gone), (6.0, gone)] + \
        [(float(t), inside) for t in range(7, 12)]
    assert statuses(loiter(10.0, grace_s=3.0), short) == [(10.0, "started")]
    long = [(float(t), inside) for t in range(0, 5)] + [(float(t), gone) for t in range(5, 10)] + \
        [(float(t), inside) for t in range(10, 20)]
    assert statuses(loiter(10.0, grace_s=3.0), long) == []  # clock restarted at 10 s


def test_walking_through_is_not_loitering() -> None:
    frames = [(float(t), dets([at(200 + 40 * t, 500)], [1])) for t in range(12)]  # 11 s in view, ~10 in zone
    assert statuses(loiter(15.0), frames) == []


def test_fallen_label_of_another_model_needs_an_upright_sighting_too() -> None:
    """The fallen labels are the detections' model's: an operator model's 'fallen' thing that never stood up is
    no intruder, a COCO person is one at once (a COCO model has no fallen label)."""
    fall_model = ModelLabels.from_names(["person", "fallen"])
    jacket = at(300, 500, w=80, h=30)
    assert run(intrusion(0.0), [(float(t), dets([jacket], [7], ["fallen"], fall_model)) for t in range(5)]) == []
    coco = ModelLabels.from_names(["person", "car"])
    assert fired_at(intrusion(0.0), [(0.0, dets([jacket], [7], ["person"], coco))]) == [0.0]
