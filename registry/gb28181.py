"""GB/T 28181 20-digit device IDs: validation and what the digits encode (docs/domain.md §GB/T 28181 device IDs).

Layout: 1–6 county civil code (GB/T 2260), 7–8 grass-roots access unit, 9–10 industry, 11–13 device type,
14 network, 15–20 serial.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ID_RE = re.compile(r"^\d{20}$")

INDUSTRIES: dict[str, str] = {
    "00": "social order (public security)",
    "01": "social order (public security)",
    "02": "social order (public security)",
    "03": "social order (public security)",
    "04": "traffic",
    "05": "traffic",
    "06": "traffic",
    "07": "traffic",
    "08": "city management",
    "11": "education",
    **{f"{n}": "resident-built (social resources)" for n in range(80, 90)},
}

DEVICE_TYPES: dict[str, str] = {
    "111": "DVR",
    "112": "video server",
    "113": "encoder",
    "114": "decoder",
    "118": "NVR",
    "131": "camera",
    "132": "IPC",
    "200": "platform",
    "215": "business group",
    "216": "virtual organisation",
}

CAMERA_TYPES = frozenset({"131", "132"})

NETWORKS: dict[str, str] = {
    "5": "public-security network",
    "6": "government network",
    "7": "internet",
    "8": "social resources",
}


class InvalidDeviceId(ValueError):
    """A string that is not a valid GB/T 28181 device ID; the message says which part is wrong."""


@dataclass(frozen=True)
class DeviceId:
    value: str
    civil_code: str
    access_unit: str
    industry: str
    industry_name: str
    type_code: str
    type_name: str
    network: str
    network_name: str
    serial: str


def parse_device_id(value: str, *, require_camera: bool = True) -> DeviceId:
    """Validate ``value`` and decode it. Raises :class:`InvalidDeviceId` naming the offending digits."""
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise InvalidDeviceId(f"GB/T 28181 ID must be exactly 20 digits, got {value!r}")
    civil, unit, industry, type_code, network, serial = (
        value[0:6],
        value[6:8],
        value[8:10],
        value[10:13],
        value[13],
        value[14:20],
    )
    if not 11 <= int(civil[:2]) <= 82:
        raise InvalidDeviceId(f"{value}: digits 1-6 ({civil}) are not a civil code (province part 11-82)")
    if industry not in INDUSTRIES:
        raise InvalidDeviceId(f"{value}: digits 9-10 ({industry}) are not a known industry code")
    if type_code not in DEVICE_TYPES:
        raise InvalidDeviceId(f"{value}: digits 11-13 ({type_code}) are not a known device type")
    if require_camera and type_code not in CAMERA_TYPES:
        raise InvalidDeviceId(
            f"{value}: digits 11-13 ({type_code}, {DEVICE_TYPES[type_code]}) are not a camera type (131 or 132)"
        )
    if network not in NETWORKS:
        raise InvalidDeviceId(f"{value}: digit 14 ({network}) is not a known network code (5, 6, 7, 8)")
    return DeviceId(
        value=value,
        civil_code=civil,
        access_unit=unit,
        industry=industry,
        industry_name=INDUSTRIES[industry],
        type_code=type_code,
        type_name=DEVICE_TYPES[type_code],
        network=network,
        network_name=NETWORKS[network],
        serial=serial,
    )


def make_device_id(
    civil_code: str, serial: int, *, access_unit: str = "00", industry: str = "00", type_code: str = "132",
    network: str = "5",
) -> str:
    """Build a camera ID from its parts (validated)."""
    if not re.fullmatch(r"\d{6}", civil_code):
        raise InvalidDeviceId(f"county civil code must be 6 digits, got {civil_code!r}")
    if not 0 <= serial <= 999_999:
        raise InvalidDeviceId(f"serial must be 0..999999, got {serial}")
    value = f"{civil_code}{access_unit}{industry}{type_code}{network}{serial:06d}"
    parse_device_id(value)
    return value
