"""What all rules share (``analytics/rules/base.py`` and ``build_rules``): schedules in the hub's timezone, the
check that a camera's model has the classes its rules need, and building rules from their configs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from analytics.labels import DEFAULT_MODEL_LABELS, ModelLabels
from analytics.rules import CrowdGathering, ZoneIntrusion, build_rules, check_rule_classes
from registry.config import CameraConfigError, CrowdGatheringRule, load_camera_file
from registry.rules import (
    FallRule,
    IllegalParkingRule,
    LeftObjectRule,
    LineCrossingRule,
    LoiteringRule,
    ScheduleWindow,
    ZoneIntrusionRule,
)
from tests.analytics.rules.sequences import BOTTOM_HALF, SQUARE, VLINE, at, dets, statuses

# ---------------------------------------------------------------------------------------------------------- schedules


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


# -------------------------------------------------------------------------------------------------- model-class check


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


def test_fall_rule_is_checked_against_the_models_fallen_labels() -> None:
    """A fall rule without ``fall_labels`` needs a fallen class of the camera's model, whatever it is called; with
    ``fall_labels`` it needs those labels. The model's class names and its ModelLabels give the same answer."""
    fall = [FallRule(type="fall", name="d")]
    assert check_rule_classes("14042900001325000001", fall, ModelLabels.from_names(["person", "fallen"])) == []
    assert check_rule_classes("14042900001325000001", fall, DEFAULT_MODEL_LABELS) == []
    assert (check_rule_classes("14042900001325000001", all_rules(), ModelLabels.from_names(COCO_SUBSET))
            == check_rule_classes("14042900001325000001", all_rules(), COCO_SUBSET))
    named = [FallRule(type="fall", name="d", fall_labels=["lying"])]
    (problem,) = check_rule_classes("14042900001325000001", named, {"person", "fallen"})
    assert "'d' (fall)" in problem and "['lying']" in problem
    assert check_rule_classes("14042900001325000001", named, {"person", "lying"}) == []


# ----------------------------------------------------------------------------------------------------------- building


def test_all_rule_types_build() -> None:
    built = build_rules(all_rules())
    assert [type(r).__name__ for r in built] == ["ZoneIntrusion", "Loitering", "LineCrossing", "Fall",
                                                  "IllegalParking", "LeftObject"]


def test_build_rules_maps_configs() -> None:
    rules = build_rules([
        ZoneIntrusionRule(type="zone_intrusion", name="a", zone=SQUARE),
        CrowdGatheringRule(type="crowd_gathering", name="b", zone=BOTTOM_HALF, min_count=2),
    ])
    assert [type(r) for r in rules] == [ZoneIntrusion, CrowdGathering]
    assert [r.name for r in rules] == ["a", "b"]
