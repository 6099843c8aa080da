from __future__ import annotations

import pytest

from registry.gb28181 import InvalidDeviceId, make_device_id, parse_device_id


def test_decodes_parts() -> None:
    d = parse_device_id("14042900001325000001")
    assert (d.civil_code, d.access_unit, d.industry, d.type_code, d.network, d.serial) == (
        "140429", "00", "00", "132", "5", "000001")
    assert d.type_name == "IPC" and d.network_name == "public-security network"


def test_make_round_trip() -> None:
    value = make_device_id("140429", 42, industry="08", type_code="131", network="6")
    assert value == "14042900081316000042" and parse_device_id(value).industry_name == "city management"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("1404290000132500000", "20 digits"),
        ("1404290000132500000a", "20 digits"),
        ("00042900001325000001", "civil code"),
        ("14042900501325000001", "industry"),
        ("14042900009995000001", "device type"),
        ("14042900001185000001", "not a camera type"),
        ("14042900001329000001", "network code"),
    ],
)
def test_invalid(value: str, words: str) -> None:
    with pytest.raises(InvalidDeviceId, match=words):
        parse_device_id(value)


def test_nvr_allowed_when_not_requiring_camera() -> None:
    assert parse_device_id("14042900001185000001", require_camera=False).type_name == "NVR"
