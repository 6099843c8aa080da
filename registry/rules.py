"""Analytics rule configuration as written in camera YAML (``cameras[].rules``): one pydantic model per rule type.

Owns the declarative side only (what an operator may write, validated with errors that name the field); the
behaviour lives in the ``analytics/rules/`` package. Zones and lines are in normalised coordinates (0..1, origin
top-left) and are tested against a box's bottom centre (where the object touches the ground). Times of day in
schedules are in the hub's timezone (``SHARPEYES_TIMEZONE``).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from sharpeyes.schema import Severity
from sharpeyes.strict import StrictModel

Point = Annotated[list[float], Field(min_length=2, max_length=2, description="[x, y], normalised 0..1")]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")

VEHICLE_CLASSES = ["car", "truck", "bus", "motorcycle"]
LEFT_OBJECT_CLASSES = ["backpack", "handbag", "suitcase"]


def _check_point(x: float, y: float) -> None:
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise ValueError(f"point [{x}, {y}] is outside the normalised frame 0..1")


def _check_polygon(points: list[list[float]] | None) -> list[list[float]] | None:
    if points is None:
        return None
    if len(points) < 3:
        raise ValueError("a zone polygon needs at least 3 points")
    for x, y in points:
        _check_point(x, y)
    return points


def _minutes(value: str) -> int:
    h, m = value.split(":")
    return int(h) * 60 + int(m)


class ScheduleWindow(StrictModel):
    """A daily time window; ``end`` at or before ``start`` runs past midnight (``22:00``–``06:00``)."""

    start: str = Field(description="Start time of day 'HH:MM' (quote it in YAML), hub timezone.")
    end: str = Field(description="End time of day 'HH:MM' (exclusive), hub timezone.")
    days: list[Weekday] = Field(
        default_factory=lambda: list(WEEKDAYS),  # type: ignore[arg-type]
        description="Days on which the window starts (mon..sun); a window past midnight ends the next day.",
    )

    @field_validator("start", "end", mode="before")
    @classmethod
    def _hhmm(cls, v: object) -> object:
        if isinstance(v, int):  # YAML 1.1 reads an unquoted 22:00 as the base-60 integer 1320
            raise ValueError("write times of day in quotes, e.g. '22:00' (unquoted YAML reads 22:00 as a number)")
        if not isinstance(v, str) or not _HHMM.match(v):
            raise ValueError(f"time of day {v!r} must be 'HH:MM' (00:00..23:59)")
        return v

    def contains(self, weekday: int, minute_of_day: int) -> bool:
        """Whether local ``weekday`` (0 = Monday) at ``minute_of_day`` falls in this window."""
        start, end = _minutes(self.start), _minutes(self.end)
        today, yesterday = WEEKDAYS[weekday], WEEKDAYS[(weekday - 1) % 7]
        if start < end:
            return today in self.days and start <= minute_of_day < end
        # past midnight (or a full day when start == end)
        return (today in self.days and minute_of_day >= start) or (yesterday in self.days and minute_of_day < end)


class _RuleBase(StrictModel):
    name: str = Field(min_length=1, description="Rule name, unique per camera, shown in events.")
    schedule: list[ScheduleWindow] | None = Field(
        None, description="Active only inside these windows (hub timezone); unset: always active."
    )


class _ZoneRuleBase(_RuleBase):
    zone: list[Point] | None = Field(
        None, description="Polygon in normalised coordinates; unset: the whole frame."
    )

    _poly = field_validator("zone")(_check_polygon)


class ZoneIntrusionRule(_ZoneRuleBase):
    """Area intrusion: a watched object inside the zone for ``min_duration_s`` (optionally only on a schedule)."""

    type: Literal["zone_intrusion"] = Field(description="Rule type.")
    zone: list[Point] = Field(description="Polygon in normalised coordinates.")  # type: ignore[assignment]
    classes: list[str] = Field(default_factory=lambda: ["person"], description="Canonical classes watched.")
    min_duration_s: float = Field(1.0, ge=0.0, description="Time an object must stay inside before firing.")
    clear_after_s: float = Field(10.0, ge=0.0, description="The incident ends after the zone is clear this long.")
    severity: Severity = Field(Severity.MINOR, description="Event severity.")


class LoiteringRule(_ZoneRuleBase):
    """Loitering: one track stays in the zone for ``min_dwell_s`` or longer."""

    type: Literal["loitering"] = Field(description="Rule type.")
    classes: list[str] = Field(default_factory=lambda: ["person"], description="Canonical classes watched.")
    min_dwell_s: float = Field(60.0, gt=0.0, description="Dwell time in the zone that makes it loitering.")
    grace_s: float = Field(
        5.0, ge=0.0, description="A track may leave the zone (or be unseen) this long without resetting its dwell."
    )
    clear_after_s: float = Field(10.0, ge=0.0, description="The incident ends after no loiterer is seen this long.")
    severity: Severity = Field(Severity.MINOR, description="Event severity.")


class CrowdGatheringRule(_ZoneRuleBase):
    """Crowd gathering (人员聚集): ``min_count`` persons in the zone for ``min_duration_s``."""

    type: Literal["crowd_gathering"] = Field(description="Rule type.")
    zone: list[Point] = Field(description="Polygon in normalised coordinates.")  # type: ignore[assignment]
    min_count: int = Field(ge=2, description="Persons in the zone at or above which it is a crowd.")
    min_duration_s: float = Field(5.0, ge=0.0, description="How long the count must hold before firing.")
    clear_after_s: float = Field(
        10.0, ge=0.0, description="The incident ends after the count stays below min_count this long."
    )
    severity: Severity = Field(Severity.MAJOR, description="Event severity.")


class LineCrossingRule(_RuleBase):
    """Line crossing: a track's bottom centre crosses the segment ``line`` in the given direction.

    Side ``a`` is on the left of the line as drawn from its first point to its second, looking at the image
    (for a line drawn left → right, ``a`` is above it); side ``b`` is on the right.
    """

    type: Literal["line_crossing"] = Field(description="Rule type.")
    line: list[Point] = Field(min_length=2, max_length=2, description="Segment [[x1, y1], [x2, y2]], normalised.")
    direction: Literal["a_to_b", "b_to_a", "both"] = Field("both", description="Which crossings count.")
    classes: list[str] = Field(default_factory=lambda: ["person"], description="Canonical classes watched.")
    merge_window_s: float = Field(
        5.0, ge=0.0, description="Crossings within this time of the previous one join its incident (one event)."
    )
    max_incident_s: float = Field(
        60.0, gt=0.0, description="A busy line starts a new incident (event) after this long, however close the "
        "crossings are.",
    )
    severity: Severity = Field(Severity.INFO, description="Event severity.")

    @field_validator("line")
    @classmethod
    def _segment(cls, v: list[list[float]]) -> list[list[float]]:
        for x, y in v:
            _check_point(x, y)
        if v[0] == v[1]:
            raise ValueError("a line needs two distinct points")
        return v


class FallRule(_ZoneRuleBase):
    """Fall (倒地): a fallen label of the camera's model (the default model's ``Fall``) on a person-sized track for
    ``min_duration_s``."""

    type: Literal["fall"] = Field(description="Rule type.")
    fall_labels: list[str] | None = Field(
        None,
        description="Model class names meaning 'person on the ground'; unset: the fallen labels of the camera's "
        "model (the default model's 'Fall'; a COCO model has none, so the rule is refused there).",
    )
    min_duration_s: float = Field(2.0, ge=0.0, description="How long the track must be seen fallen.")
    min_frames: int = Field(2, ge=1, description="Frames in which the track must be seen fallen.")
    min_size: float = Field(
        0.05, gt=0.0, le=1.0,
        description="Longer box side at least this fraction of the frame height (a dog is not a person).",
    )
    require_upright_before: bool = Field(
        True,
        description="Only a track seen upright (not fallen) shortly before, where it now lies, can fall: a person "
        "falls, a jacket on the grass (which the default model calls 'Fall') does not.",
    )
    upright_window_s: float = Field(
        10.0, gt=0.0, description="How recent the upright sighting must be when the track is first seen fallen."
    )
    clear_after_s: float = Field(10.0, ge=0.0, description="The incident ends after the track is up or gone this long.")
    severity: Severity = Field(Severity.CRITICAL, description="Event severity.")


class _StationaryRuleBase(_ZoneRuleBase):
    min_stationary_s: float = Field(120.0, gt=0.0, description="How long the object must stay in place.")
    max_motion: float = Field(
        0.3, gt=0.0, description="Allowed drift of the box centre, in box sizes, while still 'in place'."
    )
    clear_after_s: float = Field(10.0, ge=0.0, description="The incident ends after the object is gone this long.")


class IllegalParkingRule(_StationaryRuleBase):
    """Illegal parking: a vehicle stationary in the zone for ``min_stationary_s``."""

    type: Literal["illegal_parking"] = Field(description="Rule type.")
    classes: list[str] = Field(default_factory=lambda: list(VEHICLE_CLASSES), description="Vehicle classes.")
    severity: Severity = Field(Severity.MINOR, description="Event severity.")


class LeftObjectRule(_StationaryRuleBase):
    """Left object (遗留物): a bag or suitcase stationary in the zone for ``min_stationary_s``."""

    type: Literal["left_object"] = Field(description="Rule type.")
    classes: list[str] = Field(default_factory=lambda: list(LEFT_OBJECT_CLASSES), description="Object classes.")
    min_stationary_s: float = Field(60.0, gt=0.0, description="How long the object must stay in place.")
    severity: Severity = Field(Severity.MAJOR, description="Event severity.")


AnyRule = (ZoneIntrusionRule | LoiteringRule | CrowdGatheringRule | LineCrossingRule | FallRule
           | IllegalParkingRule | LeftObjectRule)
RuleConfig = Annotated[AnyRule, Field(discriminator="type")]
RULE_TYPES: frozenset[str] = frozenset(
    {"zone_intrusion", "loitering", "crowd_gathering", "line_crossing", "fall", "illegal_parking", "left_object"}
)


def required_classes(rule: AnyRule) -> tuple[set[str], set[str]]:
    """(canonical classes, model labels) a rule needs from the loaded model. A fall rule without ``fall_labels``
    needs the model's own fallen labels, which only the model knows (``analytics.rules.check_rule_classes``)."""
    if isinstance(rule, CrowdGatheringRule):
        return {"person"}, set()
    if isinstance(rule, FallRule):
        return set(), set(rule.fall_labels or [])
    return set(rule.classes), set()

