"""WGS-84 distance, bearing and the field-of-view sector test against known values."""

from __future__ import annotations

import pytest

from audit.geometry import angle_diff_deg, bearing_deg, destination, haversine_m, in_sector, sector_outline

CAM = (112.8640, 36.8372)  # the demo camera …0001


@pytest.mark.parametrize(
    ("a", "b", "metres"),
    [
        ((116.4074, 39.9042), (121.4737, 31.2304), 1_067_000),  # Beijing – Shanghai ≈ 1067 km
        ((-0.1278, 51.5074), (2.3522, 48.8566), 343_500),  # London – Paris ≈ 343.5 km
        ((0.0, 0.0), (0.0, 1.0), 111_195),  # one degree of latitude
        ((0.0, 0.0), (1.0, 0.0), 111_195),  # one degree of longitude on the equator
        ((112.8640, 36.8372), (112.8640, 36.8373), 11.12),  # 0.0001° of latitude ≈ 11 m
    ],
)
def test_distances_within_one_percent(a: tuple[float, float], b: tuple[float, float], metres: float) -> None:
    assert haversine_m(*a, *b) == pytest.approx(metres, rel=0.01)
    assert haversine_m(*b, *a) == pytest.approx(metres, rel=0.01)


def test_distance_to_itself_is_zero() -> None:
    assert haversine_m(*CAM, *CAM) == 0.0


@pytest.mark.parametrize(
    ("to", "bearing"),
    [((0.0, 1.0), 0.0), ((1.0, 0.0), 90.0), ((0.0, -1.0), 180.0), ((-1.0, 0.0), 270.0), ((1.0, 1.0), 45.0)],
)
def test_bearing_from_origin(to: tuple[float, float], bearing: float) -> None:
    assert bearing_deg(0.0, 0.0, *to) == pytest.approx(bearing, abs=0.01)


def test_destination_inverts_distance_and_bearing() -> None:
    lon, lat = destination(*CAM, 123.0, 40.0)
    assert haversine_m(*CAM, lon, lat) == pytest.approx(40.0, rel=1e-6)
    assert bearing_deg(*CAM, lon, lat) == pytest.approx(123.0, abs=1e-4)


def test_angle_diff_wraps() -> None:
    assert angle_diff_deg(350, 5) == pytest.approx(15)
    assert angle_diff_deg(5, 350) == pytest.approx(15)
    assert angle_diff_deg(0, 180) == pytest.approx(180)
    assert angle_diff_deg(90, 90) == 0


def sector(heading: float, fov: float, rng: float, bearing: float, distance: float) -> bool:
    return in_sector(*CAM, heading, fov, rng, *destination(*CAM, bearing, distance))


def test_in_and_out_of_the_demo_sector() -> None:
    # heading 90, fov 70, range 40: half-angle 35°
    assert sector(90, 70, 40, 90, 20)
    assert in_sector(*CAM, 90, 70, 40, 112.86422, 36.8372)  # the demo key point, ~20 m east
    assert sector(90, 70, 40, 124, 39)  # 34° off axis, just inside range
    assert not sector(90, 70, 40, 126, 20)  # 36° off axis
    assert not sector(90, 70, 40, 56 - 2, 20)  # 36° off on the other side
    assert not sector(90, 70, 40, 90, 41)  # beyond range
    assert not sector(90, 70, 40, 270, 10)  # behind the camera
    assert in_sector(*CAM, 90, 70, 40, *CAM)  # the camera's own position


def test_wrap_around_north() -> None:
    # heading 350, fov 40 covers bearings 330..10
    assert sector(350, 40, 100, 5, 50)
    assert sector(350, 40, 100, 335, 50)
    assert sector(350, 40, 100, 9.5, 50)
    assert not sector(350, 40, 100, 15, 50)
    assert not sector(350, 40, 100, 325, 50)
    # heading 10, fov 40 covers 350..30
    assert sector(10, 40, 100, 355, 50) and not sector(10, 40, 100, 345, 50)


def test_full_circle() -> None:
    assert sector(0, 360, 30, 180, 29) and not sector(0, 360, 30, 180, 31)


@pytest.mark.parametrize("missing", range(5))
def test_missing_fields_cover_nothing(missing: int) -> None:
    args: list[float | None] = [*CAM, 90.0, 70.0, 40.0]
    args[missing] = None
    assert not in_sector(*args, 112.86422, 36.8372)  # type: ignore[arg-type]
    args[missing] = [*CAM, 90.0, 70.0, 40.0][missing]
    assert in_sector(*args, 112.86422, 36.8372)  # type: ignore[arg-type]


def test_sector_outline() -> None:
    poly = sector_outline(*CAM, 90, 70, 40)
    assert poly[0] == CAM and len(poly) == 1 + 15  # camera + arc from 55° to 125° every 5°
    for lon, lat in poly[1:]:
        assert haversine_m(*CAM, lon, lat) == pytest.approx(40.0, rel=1e-6)
    assert bearing_deg(*CAM, *poly[1]) == pytest.approx(55.0, abs=1e-3)
    assert bearing_deg(*CAM, *poly[-1]) == pytest.approx(125.0, abs=1e-3)
    circle = sector_outline(*CAM, 0, 360, 10)
    assert all(haversine_m(*CAM, *p) == pytest.approx(10.0, rel=1e-6) for p in circle)
