"""GB/T 28181 catalog codes (docs/domain.md §Catalog codes and 一机一档) and the 一机一档 completeness check.

Owns the meaning of the catalog codes and what makes a camera record complete and valid: which fields are required,
which values are inconsistent (direction against heading, ID county against jurisdiction, default passwords), and
the registry-wide completeness rate.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from pydantic import ConfigDict, Field

from registry.gb28181 import InvalidDeviceId, parse_device_id
from sharpeyes.strict import StrictModel

log = logging.getLogger(__name__)

PTZ_TYPES: dict[int, str] = {1: "dome (球机)", 2: "half-dome (半球)", 3: "fixed bullet (固定枪机)",
                             4: "remote-controlled bullet (遥控枪机)"}
POSITION_TYPES: dict[int, str] = {
    1: "inter-province checkpoint", 2: "party/government organ", 3: "station/port", 4: "central square",
    5: "stadium", 6: "commercial centre", 7: "religious site", 8: "school surroundings",
    9: "complex public-order area", 10: "traffic artery",
}
ROOM_TYPES: dict[int, str] = {1: "outdoor (室外)", 2: "indoor (室内)"}
USE_TYPES: dict[int, str] = {1: "public order (治安)", 2: "traffic (交通)", 3: "key area (重点)"}
DIRECTIONS: dict[int, str] = {1: "east", 2: "west", 3: "south", 4: "north", 5: "south-east", 6: "north-east",
                              7: "south-west", 8: "north-west"}
# compass bearing of each GB/T 28181 direction code
DIRECTION_BEARING: dict[int, float] = {1: 90, 2: 270, 3: 180, 4: 0, 5: 135, 6: 45, 7: 225, 8: 315}
RESOLUTION_RE = re.compile(r"^[1-9]\d{1,4}x[1-9]\d{1,4}$")

REQUIRED_FIELDS: tuple[str, ...] = (
    "name", "manufacturer", "model", "owner", "jurisdiction_code", "address", "longitude", "latitude",
    "ptz_type", "position_type", "room_type", "use_type", "direction", "resolution", "heading_deg", "fov_deg",
    "range_m",
)
"""Fields every 一机一档 record must have (GB/T 28181 catalog plus the coverage geometry)."""


def direction_for_heading(heading_deg: float) -> int:
    """The GB/T 28181 direction code (1-8) nearest to a compass bearing."""
    h = heading_deg % 360
    return min(DIRECTION_BEARING, key=lambda c: min(abs(h - DIRECTION_BEARING[c]), 360 - abs(h - DIRECTION_BEARING[c])))


class Issue(StrictModel):
    model_config = ConfigDict(frozen=True)

    field: str = Field(description="Field of the camera record.")
    problem: str = Field(description="'missing' or 'invalid'.")
    detail: str = Field(description="What is wrong, for the operator.")


class CameraCompleteness(StrictModel):
    camera_id: str = Field(description="GB/T 28181 ID.")
    name: str = Field(description="Camera name.")
    complete: bool = Field(description="True when nothing is missing or invalid.")
    missing: list[str] = Field(description="Required fields without a value.")
    invalid: list[Issue] = Field(description="Fields with a value that is wrong or inconsistent.")
    filled_ratio: float = Field(description="Share of required fields filled, 0..1.")


class CompletenessReport(StrictModel):
    total: int = Field(description="Cameras in the registry.")
    complete: int = Field(description="Cameras whose record is complete and valid.")
    rate: float = Field(description="complete / total (1.0 for an empty registry).")
    field_fill_rate: dict[str, float] = Field(description="Per required field: share of cameras that have it.")
    cameras: list[CameraCompleteness] = Field(description="Per camera, incomplete ones first.")


def check_camera(record: dict[str, Any], *, default_password: bool | None, county_codes: Iterable[str] = ()) \
        -> CameraCompleteness:
    """Completeness of one camera record (a dict of the ``cameras`` columns)."""
    missing = [f for f in REQUIRED_FIELDS if record.get(f) in (None, "")]
    invalid: list[Issue] = []
    cid = str(record.get("id", ""))
    try:
        info = parse_device_id(cid)
        jur = str(record.get("jurisdiction_code") or "")
        if jur and info.civil_code != jur[:6]:
            invalid.append(Issue(field="id", problem="invalid",
                                 detail=f"ID county {info.civil_code} differs from jurisdiction {jur}"))
        counties = set(county_codes)
        if counties and info.civil_code not in counties:
            invalid.append(Issue(field="id", problem="invalid",
                                 detail=f"civil code {info.civil_code} is not a county of the jurisdiction tree"))
    except InvalidDeviceId as exc:
        invalid.append(Issue(field="id", problem="invalid", detail=str(exc)))
    for name, table in (("ptz_type", PTZ_TYPES), ("position_type", POSITION_TYPES), ("room_type", ROOM_TYPES),
                        ("use_type", USE_TYPES), ("direction", DIRECTIONS)):
        value = record.get(name)
        if value is not None and value not in table:
            invalid.append(Issue(field=name, problem="invalid", detail=f"{value} is not a GB/T 28181 {name} code"))
    res = record.get("resolution")
    if res and not RESOLUTION_RE.match(str(res)):
        invalid.append(Issue(field="resolution", problem="invalid", detail=f"{res!r} is not WIDTHxHEIGHT"))
    heading, direction = record.get("heading_deg"), record.get("direction")
    if heading is not None and direction in DIRECTIONS:
        expected = direction_for_heading(float(heading))
        if expected != direction:
            invalid.append(Issue(
                field="direction", problem="invalid",
                detail=f"direction {direction} ({DIRECTIONS[direction]}) disagrees with heading {heading:g}° "
                       f"({DIRECTIONS[expected]})"))
    if default_password:
        invalid.append(Issue(field="credentials", problem="invalid",
                             detail="the device uses a default or empty password (change it on the camera)"))
    filled = (len(REQUIRED_FIELDS) - len(missing)) / len(REQUIRED_FIELDS)
    return CameraCompleteness(camera_id=cid, name=str(record.get("name") or ""), complete=not missing and not invalid,
                              missing=missing, invalid=invalid, filled_ratio=round(filled, 4))


def summarise(items: list[CameraCompleteness]) -> CompletenessReport:
    total = len(items)
    complete = sum(1 for i in items if i.complete)
    fill = {f: round(sum(1 for i in items if f not in i.missing) / total, 4) if total else 1.0
            for f in REQUIRED_FIELDS}
    ordered = sorted(items, key=lambda i: (i.complete, i.filled_ratio, i.camera_id))
    return CompletenessReport(total=total, complete=complete, rate=round(complete / total, 4) if total else 1.0,
                              field_fill_rate=fill, cameras=ordered)
