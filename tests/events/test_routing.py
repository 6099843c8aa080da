"""Routing policy over the 武乡县 tree: which centers receive an event, by severity, type and center presence."""

from __future__ import annotations

from pathlib import Path

import pytest

from events.routing import Router, RoutingPolicy
from sharpeyes.schema import Event, EventType, Severity
from tests.support.events import COUNTY, PATH, TOWNSHIP, TOWNSHIP_B, VILLAGE, make_event

VILLAGE_NO_CENTER = "140429101001"  # synthetic, no center

# The county and every seeded township host a center; of the synthetic villages only VILLAGE does.
ALL_CENTERS = {COUNTY, TOWNSHIP, TOWNSHIP_B, VILLAGE}


def event_at(path: list[str], severity: Severity, etype: EventType = EventType.ZONE_INTRUSION) -> Event:
    return make_event(severity=severity, etype=etype, civil_codes=path)


@pytest.fixture(scope="module")
def router() -> Router:
    return Router(RoutingPolicy.load(), ALL_CENTERS)


VILLAGE_PATH = PATH
NO_CENTER_PATH = [COUNTY, TOWNSHIP_B, VILLAGE_NO_CENTER]


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        (Severity.INFO, [VILLAGE]),
        (Severity.MINOR, [VILLAGE]),
        (Severity.MAJOR, [VILLAGE, TOWNSHIP]),
        (Severity.CRITICAL, [VILLAGE, TOWNSHIP, COUNTY]),
    ],
)
def test_default_policy_by_severity(router: Router, severity: Severity, expected: list[str]) -> None:
    assert router.centers_for(event_at(VILLAGE_PATH, severity)) == expected


def test_village_without_center_goes_to_its_township(router: Router) -> None:
    assert router.centers_for(event_at(NO_CENTER_PATH, Severity.MINOR)) == [TOWNSHIP_B]
    # the policy names both village and township: both resolve to the township, listed once
    assert router.centers_for(event_at(NO_CENTER_PATH, Severity.MAJOR)) == [TOWNSHIP_B]
    assert router.centers_for(event_at(NO_CENTER_PATH, Severity.CRITICAL)) == [TOWNSHIP_B, COUNTY]


def test_township_without_center_goes_to_county() -> None:
    router = Router(RoutingPolicy.load(), {COUNTY, TOWNSHIP, VILLAGE})  # 洪水镇 hosts no center here
    assert router.centers_for(event_at(NO_CENTER_PATH, Severity.MINOR)) == [COUNTY]
    assert router.centers_for(event_at(NO_CENTER_PATH, Severity.MAJOR)) == [COUNTY]
    # a village with a center under a township without one: village, then the county for the township tier
    router2 = Router(RoutingPolicy.load(), {COUNTY, VILLAGE})
    assert router2.centers_for(event_at(VILLAGE_PATH, Severity.MAJOR)) == [VILLAGE, COUNTY]


def test_camera_registered_directly_on_a_township(router: Router) -> None:
    assert router.centers_for(event_at([COUNTY, TOWNSHIP], Severity.MINOR)) == [TOWNSHIP]
    assert router.centers_for(event_at([COUNTY, TOWNSHIP], Severity.CRITICAL)) == [TOWNSHIP, COUNTY]


def test_no_center_anywhere_routes_nowhere() -> None:
    assert Router(RoutingPolicy.load(), set()).centers_for(event_at(VILLAGE_PATH, Severity.CRITICAL)) == []


def test_type_tiers_override_severity(router: Router) -> None:
    policy = RoutingPolicy.load()
    assert policy.tiers(EventType.CAMERA_OFFLINE, Severity.MINOR) == ["village", "township"]
    offline = event_at(VILLAGE_PATH, Severity.MINOR, EventType.CAMERA_OFFLINE)
    assert router.centers_for(offline) == [VILLAGE, TOWNSHIP]
    # the override also wins over a higher severity
    offline_crit = event_at(VILLAGE_PATH, Severity.CRITICAL, EventType.CAMERA_OFFLINE)
    assert router.centers_for(offline_crit) == [VILLAGE, TOWNSHIP]
    # types without an override follow severity
    assert router.centers_for(event_at(VILLAGE_PATH, Severity.MINOR, EventType.CROWD_GATHERING)) == [VILLAGE]


def test_custom_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(
        "severity_tiers:\n"
        "  info: [village]\n"
        "  minor: [village, county]\n"
        "  major: [county]\n"
        "  critical: [county]\n"
        "type_tiers:\n"
        "  crowd_gathering: [township]\n",
        encoding="utf-8",
    )
    policy = RoutingPolicy.load(path)
    router = Router(policy, ALL_CENTERS)
    assert router.centers_for(event_at(VILLAGE_PATH, Severity.MINOR)) == [VILLAGE, COUNTY]
    assert router.centers_for(event_at(VILLAGE_PATH, Severity.MAJOR)) == [COUNTY]
    assert router.centers_for(event_at(VILLAGE_PATH, Severity.INFO, EventType.CROWD_GATHERING)) == [TOWNSHIP]
    # camera_offline has no override in this file: severity decides
    assert router.centers_for(event_at(VILLAGE_PATH, Severity.INFO, EventType.CAMERA_OFFLINE)) == [VILLAGE]


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("severity_tiers: {minor: [village]}\nescalation: {}\n", "escalation"),
        ("severity_tiers: {urgent: [county]}\n", "severity_tiers.urgent"),
        ("severity_tiers: {minor: [village, province]}\n", "severity_tiers.minor.1"),
        ("severity_tiers: {minor: [village]}\ntype_tiers: {fire: [county]}\n", "type_tiers.fire"),
        ("type_tiers: {}\n", "severity_tiers"),
    ],
)
def test_bad_policy_names_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "bad-policy.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError) as info:
        RoutingPolicy.load(path)
    msg = str(info.value)
    assert str(path) in msg
    assert field in msg


def test_policy_yaml_syntax_error_names_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("severity_tiers: [village\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.yaml"):
        RoutingPolicy.load(path)
