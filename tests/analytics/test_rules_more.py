"""Line crossing, loitering, fall, illegal parking, left object, schedules and the model-class check, on hand-made
detection sequences (frame 1000×1000 px, coordinates normalised). Each incident is one key: ``started`` once,
then ``updated``/``ended`` changes of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pydantic import ValidationError

from analytics.detections import Detections
from analytics.rules import (
    Fall,
    IllegalParking,
    Incident,
    LeftObject,
    LineCrossing,
    Loitering,
    Rule,
    ZoneIntrusion,
    build_rules,
    check_rule_classes,
)
from registry.config import CameraConfigError, load_camera_file
from registry.rules import (
    FallRule,
    IllegalParkingRule,
    LeftObjectRule,
    LineCrossingRule,
    LoiteringRule,
    ScheduleWindow,
    ZoneIntrusionRule,
)
from sharpeyes.schema import EventType, Severity

W = H = 1000
SQUARE = [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6], [0.2, 0.6]]
WALL = datetime(2026, 3, 4, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai, a Wednesday
Box = tuple[float, float, float, float]


def dets(boxes: Sequence[Box], ids: Sequence[int], labels: Sequence[str] | None = None) -> Detections:
    n = len(boxes)
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.full(n, 0.8, np.float32),
                      list(labels) if labels is not None else ["person"] * n, np.asarray(ids, np.int64))


def at(x: float, y: float, w: float = 60, h: float = 160) -> Box:
    """A box whose bottom centre is at (x, y) px."""
    return (x - w / 2, y - h, x + w / 2, y)


def changes(rule: Rule, frames: Iterable[tuple[float, Detections]],
            wall: datetime = WALL) -> list[tuple[float, Incident]]:
    return [(t, inc) for t, d in frames for inc in rule.update(d, t, W, H, wall + timedelta(seconds=t))]


def statuses(rule: Rule, frames: Iterable[tuple[float, Detections]], wall: datetime = WALL) -> list[tuple[float, str]]:
    return [(t, inc.status) for t, inc in changes(rule, frames, wall)]


# ------------------------------------------------------------------------------------------------ line crossing

# vertical line x = 500 from y = 200 to 800, drawn top → bottom: side a is screen-right, side b screen-left
VLINE = [[0.5, 0.2], [0.5, 0.8]]


def line(direction: str = "both", merge_window_s: float = 5.0, classes: list[str] | None = None) -> LineCrossing:
    return LineCrossing(LineCrossingRule(type="line_crossing", name="gate", line=VLINE, direction=direction,
                                         merge_window_s=merge_window_s, classes=classes or ["person"]))


def walk(tid: int, xs: Sequence[float], y: float = 500, t0: float = 0.0) -> list[tuple[float, Detections]]:
    return [(t0 + k, dets([at(x, y)], [tid])) for k, x in enumerate(xs)]


def test_line_right_to_left_is_a_to_b() -> None:
    rule = line("a_to_b")
    out = changes(rule, walk(1, [700, 600, 400, 300]))
    assert [(t, inc.status) for t, inc in out] == [(2.0, "started")]
    inc = out[0][1]
    assert inc.type is EventType.LINE_CROSSING and inc.severity is Severity.INFO
    assert inc.detail["a_to_b"] == 1 and inc.detail["b_to_a"] == 0
    assert rule.counts == {"a_to_b": 1, "b_to_a": 0}


def test_line_direction_filter() -> None:
    left_to_right = walk(1, [300, 400, 600, 700])
    assert statuses(line("a_to_b"), left_to_right) == []
    assert statuses(line("b_to_a"), left_to_right) == [(2.0, "started")]
    assert statuses(line("both"), left_to_right) == [(2.0, "started")]
    rule = line("a_to_b")
    changes(rule, left_to_right)
    assert rule.counts == {"a_to_b": 0, "b_to_a": 1}  # counted, not reported


def test_line_jitter_on_the_line_is_not_a_crossing() -> None:
    # 500 ± 5 px: within the 1 % hysteresis (14 px) of the line, never on a definite other side
    assert statuses(line(), walk(1, [700, 505, 495, 503, 497, 700])) == []


def test_line_passing_beyond_the_segment_end_does_not_count() -> None:
    assert statuses(line(), walk(1, [700, 600, 400, 300], y=900)) == []  # the line stops at y = 800


def test_line_crossings_close_in_time_are_one_incident_and_it_ends() -> None:
    frames = walk(1, [700, 600, 400, 300]) + walk(2, [700, 600, 400, 300], t0=3.0) + \
        [(float(t), dets([], [])) for t in range(7, 15)]
    out = changes(line(merge_window_s=5.0), sorted(frames, key=lambda f: f[0]))
    assert [(t, inc.status) for t, inc in out] == [(2.0, "started"), (5.0, "updated"), (10.0, "ended")]
    assert len({inc.key for _, inc in out}) == 1
    assert out[-1][1].detail["crossings"] == 2 and out[-1][1].detail["track_ids"] == "1,2"


def test_line_crossings_far_apart_are_two_incidents() -> None:
    frames = walk(1, [700, 600, 400, 300]) + walk(2, [700, 600, 400, 300], t0=20.0)
    out = [(t, inc) for t, inc in changes(line(merge_window_s=5.0), frames) if inc.status == "started"]
    assert [t for t, _ in out] == [2.0, 22.0]
    assert out[0][1].key != out[1][1].key


def test_line_ignores_other_classes() -> None:
    car = [(float(k), dets([at(x, 500)], [1], ["car"])) for k, x in enumerate([700, 600, 400, 300])]
    assert statuses(line(), car) == []
    assert statuses(line(classes=["car"]), car) == [(2.0, "started")]


# --------------------------------------------------------------------------------------------------- loitering


def loiter(min_dwell_s: float = 10.0, grace_s: float = 3.0) -> Loitering:
    return Loitering(LoiteringRule(type="loitering", name="l", zone=SQUARE, min_dwell_s=min_dwell_s,
                                   grace_s=grace_s, clear_after_s=5.0))


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


# --------------------------------------------------------------------------------------------------- schedules


def night_intrusion() -> ZoneIntrusion:
    cfg = ZoneIntrusionRule(type="zone_intrusion", name="night", zone=SQUARE, min_duration_s=0,
                            schedule=[ScheduleWindow(start="22:00", end="06:00")])
    return ZoneIntrusion(cfg, ZoneInfo("Asia/Shanghai"))


@pytest.mark.parametrize(("utc_hour", "fires"), [(4, False), (13, False), (14, True), (21, True), (22, False)])
def test_schedule_is_read_in_the_hub_timezone(utc_hour: int, fires: bool) -> None:
    """22:00–06:00 Shanghai (UTC+8) is 14:00–22:00 UTC."""
    wall = datetime(2026, 3, 4, utc_hour, 0, tzinfo=UTC)
    got = statuses(night_intrusion(), [(0.0, dets([at(400, 500)], [1]))], wall)
    assert got == ([(0.0, "started")] if fires else [])


def test_schedule_end_closes_the_incident() -> None:
    wall = datetime(2026, 3, 4, 21, 59, 58, tzinfo=UTC)  # 05:59:58 Shanghai
    frames = [(float(t), dets([at(400, 500)], [1])) for t in range(5)]
    assert statuses(night_intrusion(), frames, wall) == [(0.0, "started"), (2.0, "ended")]


def test_schedule_days_apply_to_the_day_a_window_starts() -> None:
    w = ScheduleWindow(start="22:00", end="06:00", days=["fri"])
    assert w.contains(4, 23 * 60)  # Friday 23:00
    assert w.contains(5, 5 * 60)  # Saturday 05:00, the night that began on Friday
    assert not w.contains(5, 23 * 60)  # Saturday 23:00
    assert not w.contains(4, 5 * 60)  # Friday 05:00 belongs to Thursday night
    day = ScheduleWindow(start="08:00", end="18:00", days=["mon"])
    assert day.contains(0, 8 * 60) and not day.contains(0, 18 * 60) and not day.contains(1, 9 * 60)


def test_unquoted_yaml_time_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "cameras:\n"
        "  - id: '14042900001325000001'\n"
        "    name: a\n"
        "    jurisdiction: '140429100'\n"
        "    stream: rtsp://127.0.0.1/x\n"
        "    rules:\n"
        "      - type: zone_intrusion\n"
        "        name: z\n"
        "        zone: [[0, 0], [1, 0], [1, 1]]\n"
        "        schedule: [{start: 22:00, end: '06:00'}]\n",
        encoding="utf-8",
    )
    with pytest.raises(CameraConfigError) as exc:
        load_camera_file(path)
    msg = str(exc.value)
    assert "c.yaml:10" in msg and "schedule[0].start" in msg and "quotes" in msg, msg


# ------------------------------------------------------------------------------------------------------- fall


def fall_rule(**kw: object) -> Fall:
    return Fall(FallRule(type="fall", name="fall", min_duration_s=2, min_frames=2, **kw))  # type: ignore[arg-type]


LYING = (300.0, 560.0, 460.0, 620.0)  # 160×60 px: a person on the ground (long side 16 % of the frame)


def test_fall_on_a_persistent_person_sized_track_fires_once() -> None:
    upright = dets([at(380, 620)], [1], ["Normal"])
    fallen = dets([LYING], [1], ["Fall"])
    frames = [(0.0, upright), (1.0, upright)] + [(float(t), fallen) for t in range(2, 10)]
    out = changes(fall_rule(), frames)
    assert [(t, inc.status) for t, inc in out] == [(4.0, "started")]
    assert out[0][1].type is EventType.FALL and out[0][1].severity is Severity.CRITICAL
    assert out[0][1].detail == {"fallen_s": 2.0, "frames": 3}


def test_a_single_fall_frame_is_not_a_fall() -> None:
    up = dets([at(380, 620)], [1], ["Normal"])
    frames = [(0.0, up), (1.0, dets([LYING], [1], ["Fall"]))] + [(float(t), up) for t in range(2, 10)]
    assert statuses(fall_rule(), frames) == []


def test_small_fall_box_is_not_a_person() -> None:
    dog = (300.0, 590.0, 340.0, 620.0)  # 40×30 px: the model's 'Fall' on a dog
    frames = [(float(t), dets([dog], [1], ["Fall"])) for t in range(10)]
    assert statuses(fall_rule(require_upright_before=False), frames) == []
    big = [(float(t), dets([LYING], [1], ["Fall"])) for t in range(10)]
    assert statuses(fall_rule(require_upright_before=False), big) == [(2.0, "started")]  # the size gate alone


def test_something_that_never_stood_up_does_not_fall() -> None:
    """vtest.avi: the default model calls a jacket lying on the lawn 'Fall' in almost every frame."""
    jacket = [(float(t), dets([LYING], [1], ["Fall"])) for t in range(30)]
    assert statuses(fall_rule(), jacket) == []


def test_upright_elsewhere_or_long_ago_is_not_a_fall() -> None:
    far_up = dets([at(900, 300)], [1], ["Normal"])  # 600 px away from where the track then lies
    fallen = dets([LYING], [1], ["Fall"])
    assert statuses(fall_rule(), [(0.0, far_up)] + [(float(t), fallen) for t in range(1, 10)]) == []
    near_up = dets([at(380, 620)], [1], ["Normal"])
    long_ago = [(0.0, near_up)] + [(float(t), dets([], [])) for t in range(1, 3)] + \
        [(float(t), fallen) for t in range(12, 20)]
    assert statuses(fall_rule(), long_ago) == []  # upright 12 s before: beyond upright_window_s (10 s)


def test_fall_box_much_smaller_than_the_same_track_upright_is_not_a_fall() -> None:
    tall = dets([at(380, 900, w=120, h=400)], [1], ["Normal"])  # 400 px tall upright
    small = dets([(350.0, 840.0, 470.0, 900.0)], [1], ["Fall"])  # long side 120 < 0.5 × 400
    frames = [(0.0, tall)] + [(float(t), small) for t in range(1, 10)]
    assert statuses(fall_rule(), frames) == []


def test_fall_ends_when_the_person_is_up() -> None:
    fallen, up = dets([LYING], [1], ["Fall"]), dets([at(380, 620)], [1], ["Normal"])
    frames = [(-1.0, up)] + [(float(t), fallen) for t in range(0, 4)] + [(float(t), up) for t in range(4, 20)]
    out = changes(fall_rule(clear_after_s=5), frames)
    assert [(t, inc.status) for t, inc in out] == [(2.0, "started"), (8.0, "ended")]


# -------------------------------------------------------------------------------------- parking and left object


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


# ------------------------------------------------------------------------------------------- model-class check


DEFAULT_MODEL = {"Normal", "Fall"}
COCO_SUBSET = {"person", "car", "truck", "bus", "motorcycle", "backpack", "handbag", "suitcase"}


def all_rules() -> list:  # type: ignore[type-arg]
    return [
        ZoneIntrusionRule(type="zone_intrusion", name="a", zone=SQUARE),
        LoiteringRule(type="loitering", name="b"),
        LineCrossingRule(type="line_crossing", name="c", line=VLINE),
        FallRule(type="fall", name="d"),
        IllegalParkingRule(type="illegal_parking", name="e"),
        LeftObjectRule(type="left_object", name="f"),
    ]


def test_default_model_refuses_parking_and_left_object_naming_camera_rule_and_classes() -> None:
    problems = check_rule_classes("14042900001325000001", all_rules(), DEFAULT_MODEL)
    assert len(problems) == 2
    assert "camera 14042900001325000001" in problems[0] and "'e' (illegal_parking)" in problems[0]
    assert "['bus', 'car', 'motorcycle', 'truck']" in problems[0]
    assert "'f' (left_object)" in problems[1] and "['backpack', 'handbag', 'suitcase']" in problems[1]


def test_coco_model_refuses_fall() -> None:
    problems = check_rule_classes("14042900001325000001", all_rules(), COCO_SUBSET)
    assert len(problems) == 1 and "'d' (fall)" in problems[0] and "['Fall']" in problems[0]


def test_all_rule_types_build() -> None:
    built = build_rules(all_rules())
    assert [type(r).__name__ for r in built] == ["ZoneIntrusion", "Loitering", "LineCrossing", "Fall",
                                                  "IllegalParking", "LeftObject"]


def test_line_needs_two_distinct_points() -> None:
    with pytest.raises(ValidationError):
        LineCrossingRule(type="line_crossing", name="c", line=[[0.5, 0.5], [0.5, 0.5]])
    with pytest.raises(ValidationError):
        LineCrossingRule(type="line_crossing", name="c", line=[[0.5, 0.5], [1.5, 0.5]])


def test_busy_line_starts_a_new_incident_after_max_incident_s() -> None:
    rule = LineCrossing(LineCrossingRule(type="line_crossing", name="gate", line=VLINE, merge_window_s=5,
                                         max_incident_s=60))
    frames: list[tuple[float, Detections]] = []
    for n in range(40):  # a walker crosses every 3 s for 2 minutes: always within merge_window_s of the last
        frames += walk(100 + n, [700, 300], t0=3.0 * n)
    out = changes(rule, sorted(frames, key=lambda f: f[0]))
    starts = [t for t, inc in out if inc.status == "started"]
    assert starts == [1.0, 61.0]
    ends = [inc for _, inc in out if inc.status == "ended"]
    assert len(ends) == 1 and ends[0].detail["crossings"] == 20  # crossings at 1, 4, …, 58 s
    assert rule.counts == {"a_to_b": 40, "b_to_a": 0}
