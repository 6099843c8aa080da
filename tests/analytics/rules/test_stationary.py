"""Illegal parking and left object (``analytics/rules/stationary.py``) on hand-made tracks.
"""

from __future__ import annotations

from analytics.rules import IllegalParking, LeftObject
from registry.rules import IllegalParkingRule, LeftObjectRule
from sharpeyes.schema import EventType
from tests.analytics.rules.sequences import at, changes, dets, statuses

CAR = (600.0, 400.0, 800.0, 500.0)


def parking(min_s: float = 30.0) -> IllegalParking:
    return IllegalParking(IllegalParkingRule(type="illegal_parking", name="no parking", min_stationary_s=min_s,
                                             clear_after_s=5))


def test_parked_car_fires_after_min_stationary() -> None:
    frames = [(float(t), dets([CAR], [7], ["car"])) for t in range(0, 60, 2)]
    out = changes(parking(30.0), frames)
    assert [(t, inc.status) for t, inc in out] == [(30.0, "started")]
    assert out[0][1].type is EventType.ILLEGAL_PARKING
    assert [int(i) for i in out[0][1].objects.tracker_id] == [7]  # type: ignore[union-attr]


def test_moving_car_is_not_parked() -> None:
    frames = [(float(t), dets([(600 + 20 * t, 400, 800 + 20 * t, 500)], [7], ["car"])) for t in range(0, 60, 2)]
    assert statuses(parking(30.0), frames) == []


def test_car_that_stops_later_counts_from_when_it_stopped() -> None:
    moving = [(float(t), dets([(20 * t, 400, 200 + 20 * t, 500)], [7], ["car"])) for t in range(0, 20, 2)]
    stopped = [(float(t), dets([(380, 400, 580, 500)], [7], ["car"])) for t in range(20, 70, 2)]
    assert statuses(parking(30.0), moving + stopped) == [(50.0, "started")]


def test_parked_car_with_a_new_track_id_is_the_same_car() -> None:
    frames = [(float(t), dets([CAR], [7], ["car"])) for t in range(0, 40, 2)] + \
        [(float(t), dets([CAR], [9], ["car"])) for t in range(40, 80, 2)]
    assert statuses(parking(30.0), frames) == [(30.0, "started")]


def test_parked_car_leaving_ends_the_incident() -> None:
    frames = [(float(t), dets([CAR], [7], ["car"])) for t in range(0, 40, 2)] + \
        [(float(t), dets([], [])) for t in range(40, 60, 2)]
    assert statuses(parking(30.0), frames) == [(30.0, "started"), (44.0, "ended")]


def test_left_suitcase_fires_person_does_not() -> None:
    rule = LeftObject(LeftObjectRule(type="left_object", name="bag", min_stationary_s=20))
    frames = [(float(t), dets([(400, 500, 440, 560), at(600, 700)], [3, 4], ["suitcase", "person"]))
              for t in range(0, 40, 2)]
    out = changes(rule, frames)
    assert [(t, inc.status) for t, inc in out] == [(20.0, "started")]
    assert out[0][1].type is EventType.LEFT_OBJECT and out[0][1].objects.labels == ["suitcase"]
