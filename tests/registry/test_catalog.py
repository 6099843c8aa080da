"""一机一档: a complete record passes; each missing or inconsistent field is reported; the rate is computed."""

from __future__ import annotations

from typing import Any

import pytest

from registry.catalog import REQUIRED_FIELDS, check_camera, direction_for_heading, summarise

COMPLETE: dict[str, Any] = {
    "id": "14042900001325000001", "name": "丰州镇 东街路口", "manufacturer": "Hikvision", "model": "DS-2CD3T47",
    "owner": "武乡县公安局", "jurisdiction_code": "140429100", "address": "丰州镇 东街 1 号",
    "longitude": 112.864, "latitude": 36.837, "ptz_type": 3, "position_type": 10, "room_type": 1, "use_type": 1,
    "direction": 1, "resolution": "1920x1080", "heading_deg": 92.0, "fov_deg": 70.0, "range_m": 40.0,
}


def test_complete_record() -> None:
    c = check_camera(COMPLETE, default_password=False, county_codes={"140429"})
    assert c.complete and not c.missing and not c.invalid and c.filled_ratio == 1.0


@pytest.mark.parametrize("field", REQUIRED_FIELDS)
def test_each_missing_field_is_named(field: str) -> None:
    c = check_camera({**COMPLETE, field: None}, default_password=False)
    assert c.missing == [field] and not c.complete


@pytest.mark.parametrize(("change", "field"), [
    ({"direction": 2}, "direction"),                 # west, but heading 92° looks east
    ({"ptz_type": 7}, "ptz_type"),
    ({"resolution": "1080p"}, "resolution"),
    ({"id": "14043000001325000001"}, "id"),           # ID county differs from the jurisdiction
    ({"id": "1404290000132500000"}, "id"),            # 19 digits
])
def test_invalid_values(change: dict[str, Any], field: str) -> None:
    c = check_camera({**COMPLETE, **change}, default_password=False)
    assert [i.field for i in c.invalid] == [field] and not c.complete


def test_default_password_makes_record_invalid() -> None:
    c = check_camera(COMPLETE, default_password=True)
    assert [i.field for i in c.invalid] == ["credentials"]


def test_rate() -> None:
    items = [check_camera(COMPLETE, default_password=False),
             check_camera({**COMPLETE, "id": "14042900001325000002", "owner": None}, default_password=False),
             check_camera({**COMPLETE, "id": "14042900001325000003"}, default_password=None)]
    report = summarise(items)
    assert (report.total, report.complete, report.rate) == (3, 2, 0.6667)
    assert report.field_fill_rate["owner"] == 0.6667 and report.field_fill_rate["name"] == 1.0
    assert report.cameras[0].camera_id == "14042900001325000002"  # incomplete first
    assert summarise([]).rate == 1.0


@pytest.mark.parametrize(("heading", "code"), [(0, 4), (359, 4), (44, 6), (90, 1), (135, 5), (180, 3), (260, 2),
                                               (300, 8), (225, 7)])
def test_direction_for_heading(heading: float, code: int) -> None:
    assert direction_for_heading(heading) == code
