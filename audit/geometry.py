"""Spherical geometry on WGS-84 coordinates for the coverage audit: distance, bearing, destination point and the
camera field-of-view sector test.

Owns pure functions of numbers only; must not touch the registry, SQL, Redis or files. Distances use the
haversine formula on a sphere of the mean Earth radius (error well under 0.5 % at camera ranges).
"""

from __future__ import annotations

import logging
import math

log = logging.getLogger(__name__)

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG), metres."""


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two WGS-84 points (degrees)."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bearing_deg(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Initial bearing in degrees clockwise from north (0 ≤ b < 360) from point 1 towards point 2."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dlmb = math.radians(lon2 - lon1)
    y = math.sin(dlmb) * math.cos(phi2)
    x = math.cos(phi1) * math.sin(phi2) - math.sin(phi1) * math.cos(phi2) * math.cos(dlmb)
    return math.degrees(math.atan2(y, x)) % 360.0


def destination(lon: float, lat: float, bearing: float, distance_m: float) -> tuple[float, float]:
    """The point (lon, lat) reached from (lon, lat) going ``distance_m`` along the initial ``bearing`` (degrees)."""
    delta = distance_m / EARTH_RADIUS_M
    theta = math.radians(bearing)
    phi1, lmb1 = math.radians(lat), math.radians(lon)
    phi2 = math.asin(math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta))
    lmb2 = lmb1 + math.atan2(math.sin(theta) * math.sin(delta) * math.cos(phi1),
                             math.cos(delta) - math.sin(phi1) * math.sin(phi2))
    return (math.degrees(lmb2) + 540.0) % 360.0 - 180.0, math.degrees(phi2)


def angle_diff_deg(a: float, b: float) -> float:
    """Absolute difference of two bearings, wrapped to 0..180 (350 and 5 differ by 15)."""
    return abs((a - b + 180.0) % 360.0 - 180.0)


def in_sector(cam_lon: float | None, cam_lat: float | None, heading_deg: float | None, fov_deg: float | None,
              range_m: float | None, lon: float, lat: float) -> bool:
    """Whether the point (``lon``, ``lat``) lies in the camera's field-of-view sector: no farther than
    ``range_m`` and at most ``fov_deg / 2`` off the ``heading_deg`` axis (wrap-around at north). A camera lacking
    any of position, heading, field of view or range covers nothing; a point at the camera itself is covered."""
    if cam_lon is None or cam_lat is None or heading_deg is None or fov_deg is None or range_m is None:
        return False
    distance = haversine_m(cam_lon, cam_lat, lon, lat)
    if distance > range_m:
        return False
    if distance < 1e-6 or fov_deg >= 360.0:
        return True
    return angle_diff_deg(bearing_deg(cam_lon, cam_lat, lon, lat), heading_deg) <= fov_deg / 2.0


def sector_outline(cam_lon: float, cam_lat: float, heading_deg: float, fov_deg: float, range_m: float,
                   step_deg: float = 5.0) -> list[tuple[float, float]]:
    """The sector as a closed polygon of (lon, lat): the camera, then the arc from ``heading - fov/2`` to
    ``heading + fov/2`` at ``range_m`` (a full circle when ``fov_deg`` ≥ 360)."""
    fov = min(fov_deg, 360.0)
    steps = max(2, math.ceil(fov / step_deg) + 1)
    start = heading_deg - fov / 2.0
    arc = [destination(cam_lon, cam_lat, start + fov * i / (steps - 1), range_m) for i in range(steps)]
    return arc if fov >= 360.0 else [(cam_lon, cam_lat), *arc]
