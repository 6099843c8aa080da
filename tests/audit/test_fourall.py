"""The four-all indicators over the hand-made world of conftest.py: exact values, coverage, pass/fail."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, update

from audit.fourall import AuditReport, build_report, resolve_window
from events.archive import AccessRecord
from registry.models import AvailabilityRecord, Jurisdiction
from sharpeyes.settings import Settings
from tests.audit.world import END, START, A, B, C, D, E, World, at, world_at


@pytest.fixture()
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    """The world on each engine (SQLite, PostgreSQL): every query of the audit runs on both."""
    yield from world_at(database_url, tmp_path)


def report_of(world: World, settings: Settings, now: datetime = END) -> AuditReport:
    return build_report(world.registry, world.archive, settings, START, END, now=now)


def test_per_camera_rates_are_time_weighted(world: World, settings: Settings) -> None:
    r = report_of(world, settings)
    cams = {c.id: c for c in r.cameras}
    assert [c.id for c in r.cameras] == [A, B, C, D, E]
    a = cams[A]
    assert (a.window_s, a.online_s, a.intact_s) == (36000.0, 32400.0, 28800.0)
    assert a.online_rate == 0.9 and a.intact_rate == 0.8
    assert a.key_area and a.key_points == ["kp1-crossroads"] and a.target == 0.98
    assert a.online_pass is False and a.intact_pass is False and a.online_now is True
    b = cams[B]  # online from a record before the window; its offline record at the very end counts for "now" only
    assert (b.online_rate, b.intact_rate, b.key_area, b.target) == (1.0, 1.0, False, 0.95)
    assert b.online_pass and b.intact_pass and b.online_now is False
    c = cams[C]
    assert not c.enabled and c.online_rate is None and c.window_s == 0.0 and c.online_pass is None
    d = cams[D]  # no availability record at all: offline
    assert (d.online_rate, d.intact_rate, d.key_area) == (0.0, 0.0, True)
    assert d.geometry_missing == ["longitude", "latitude", "heading_deg", "fov_deg", "range_m"]
    e = cams[E]  # created at 05:00: its window is 5 h
    assert e.window_start == at(5) and e.window_end == END and e.window_s == 5 * 3600.0
    assert (e.online_rate, e.intact_rate, e.key_area, e.key_points) == (1.0, 1.0, True, ["kp3-market"])


def test_indicator_values_and_statuses(world: World, settings: Settings) -> None:
    r = report_of(world, settings)
    expected = {
        "coverage.key_points": (1 / 3, "fail"),
        "coverage.hd_share": (2 / 3, "fail"),
        "sharing.networked": (0.25, "fail"),
        "sharing.upper_tier": (1.0, "pass"),
        "availability.online_key": ((0.9 + 0.0 + 1.0) / 3, "fail"),
        "availability.intact_key": ((0.8 + 0.0 + 1.0) / 3, "fail"),
        "availability.online_other": (1.0, "pass"),
        "availability.intact_other": (1.0, "pass"),
        "control.actions_logged": (0.75, "fail"),
        "control.credentials_encrypted": (2 / 3, "fail"),
        "control.default_passwords": (1.0, "fail"),
        "control.retention": (30.0, "pass"),
        "control.views_logged": (0.75, "fail"),
        "control.scope_violations": (1.0, "fail"),
        # identity tables without accounts: nothing to say about passwords and logins; no access record names an
        # account (an old database without identity tables: tests/audit/test_identity_indicators.py)
        "control.strong_passwords": (None, "no_data"),
        "control.logins_logged": (None, "no_data"),
        "control.authenticated_access": (0.0, "fail"),
    }
    assert [i.key for q in r.requirements for i in q.indicators] == list(expected)
    for key, (value, status) in expected.items():
        ind = r.indicator(key)
        assert ind.value == (None if value is None else pytest.approx(value, abs=1e-12)), key
        assert ind.status == status, key
    assert r.indicator("control.strong_passwords").note == "no enabled accounts"
    assert r.scope is None
    assert r.indicator("availability.online_key").note == "1 of 3 camera(s) meet the target"
    assert r.indicator("coverage.hd_share").note.endswith("1 without a recorded resolution")
    assert r.indicator("control.views_logged").note == \
        "3 of 4 access record(s) in the window carry user, unit and reason"
    assert r.indicator("control.scope_violations").note == "1 refused access(es) of 4 access record(s) in the window"
    assert [q.status for q in r.requirements] == ["fail", "fail", "fail", "fail"]
    assert all(q.not_recorded == 0 for q in r.requirements)
    assert "not_recorded" not in {i.status for q in r.requirements for i in q.indicators}
    assert r.status == "fail"
    assert any(D in n and "cover nothing" in n for n in r.notes)


def test_key_point_coverage(world: World, settings: Settings) -> None:
    points = {p.id: p for p in report_of(world, settings).key_points}
    assert (points["kp1-crossroads"].cameras, points["kp1-crossroads"].covered) == ([A], True)
    assert (points["kp2-gate"].cameras, points["kp2-gate"].covered) == ([], False)  # 50 m: beyond B's 30 m
    kp3 = points["kp3-market"]  # seen by E, but E is offline now
    assert (kp3.cameras, kp3.online_cameras, kp3.covered) == ([E], [], False)
    # an hour earlier E was online: the point is covered then, and 联网率 counts A and E
    r = report_of(world, settings, now=at(9))
    assert {p.id: p.covered for p in r.key_points} == {"kp1-crossroads": True, "kp2-gate": False, "kp3-market": True}
    assert r.indicator("coverage.key_points").value == pytest.approx(2 / 3)
    assert r.indicator("sharing.networked").value == 0.75  # A, B, E of A, B, D, E


def test_targets_are_settings(world: World, tmp_path: object) -> None:
    lenient = Settings(audit={"availability_key_target": 0.6, "control_target": 0.75, "retention_min_days": 45,
                              "hd_share_target": 0.5})  # type: ignore[arg-type]
    r = report_of(world, lenient)
    assert r.indicator("availability.online_key").status == "pass"  # 0.633 >= 0.6
    assert r.indicator("availability.intact_key").status == "pass"  # 0.6 >= 0.6
    assert r.indicator("control.actions_logged").status == "pass"
    assert r.indicator("control.views_logged").status == "pass"  # 0.75 >= 0.75
    assert r.indicator("coverage.hd_share").status == "pass"
    assert r.indicator("control.retention").status == "fail"  # 30 days < 45
    cams = {c.id: c for c in r.cameras}
    assert cams[A].target == 0.6 and cams[A].online_pass is True and cams[A].intact_pass is True


def test_upper_tier_visibility_follows_the_centers(world: World, settings: Settings) -> None:
    with world.registry.sessions.begin() as s:  # 洪水镇 (B's township) and the county lose their centers
        s.execute(update(Jurisdiction).where(Jurisdiction.code.in_(["140429", "140429101"])).values(has_center=False))
    r = report_of(world, settings)
    cams = {c.id: c for c in r.cameras}
    assert cams[B].upper_tier_centers == [] and cams[A].upper_tier_centers == ["140429100"]
    ind = r.indicator("sharing.upper_tier")
    assert ind.value == 0.75 and ind.status == "fail"  # A, D, E of A, B, D, E


def test_record_exactly_at_window_start_and_empty_ledger(world: World, settings: Settings) -> None:
    with world.registry.sessions.begin() as s:  # D comes online exactly at the window start
        s.add(AvailabilityRecord(camera_id=D, state="online", at=START))
    cams = {c.id: c for c in report_of(world, settings).cameras}
    assert cams[D].online_rate == 1.0 and cams[D].intact_rate == 1.0


def test_nothing_declared_is_no_data(tmp_path: object, settings: Settings) -> None:
    from pathlib import Path

    from events.archive import Archive
    from registry.store import Registry

    assert isinstance(tmp_path, Path)
    reg = Registry(f"sqlite:///{tmp_path / 'empty.db'}")
    reg.init()
    archive = Archive(f"sqlite:///{tmp_path / 'empty.db'}")
    archive.init()
    r = build_report(reg, archive, settings, START, END, now=END)
    assert r.cameras == [] and r.key_points == []
    assert r.indicator("coverage.key_points").status == "no_data"
    assert "no key points declared" in r.indicator("coverage.key_points").note
    assert r.indicator("control.actions_logged").status == "no_data"
    views = r.indicator("control.views_logged")
    assert (views.status, views.value, views.note) == ("no_data", None, "no access records in the window")
    assert (r.indicator("control.scope_violations").value, r.indicator("control.scope_violations").status) == (
        0.0, "pass")
    assert r.indicator("control.retention").status == "pass"
    assert r.status == "pass"
    reg.close()
    archive.close()


def test_access_indicators_pass_when_every_access_is_complete_and_none_refused(world: World,
                                                                              settings: Settings) -> None:
    with world.archive.sessions.begin() as s:  # drop the export without a unit and the refused ack in the window
        s.execute(delete(AccessRecord).where(AccessRecord.action.in_(["export_cameras", "ack_event"]),
                                             AccessRecord.at < END))
        s.add(AccessRecord(at=at(9.9), user="钱七", unit="县综治中心", reason="月度审计", action="audit_report",
                           target="window", outcome="allowed", detail=""))
    r = report_of(world, settings)
    views, scope = r.indicator("control.views_logged"), r.indicator("control.scope_violations")
    assert (views.value, views.status) == (1.0, "pass")
    assert (scope.value, scope.status) == (0.0, "pass")
    assert views.note == "3 of 3 access record(s) in the window carry user, unit and reason"
    # one refused access is enough to fail, whatever the target of the share
    world.archive.log_access(user="孙八", unit="派出所", reason="查看", action="resolve_event", target="x",
                             center="140429101", outcome="refused", at=at(5))
    r = report_of(world, Settings(audit={"control_target": 0.5}))  # type: ignore[arg-type]
    assert (r.indicator("control.scope_violations").value, r.indicator("control.scope_violations").status) == (
        1.0, "fail")
    assert r.indicator("control.views_logged").value == 1.0  # refused, yet with user, unit and reason
    # a camera change is management, not a view: no reason needed, but one outside the scope is a violation
    world.archive.log_access(user="zhao-tech", unit="科技通信科", reason="", action="camera_update",
                             target="14042900001325000001", center="140429100", outcome="allowed", at=at(6))
    world.archive.log_access(user="zhao-tech", unit="科技通信科", reason="", action="camera_remove",
                             target="14042900001325000009", center="140429101", outcome="refused", at=at(7))
    r = report_of(world, Settings(audit={"control_target": 0.5}))  # type: ignore[arg-type]
    assert r.indicator("control.views_logged").value == 1.0
    assert r.indicator("control.views_logged").note == views.note.replace("3 of 3", "4 of 4")
    assert r.indicator("control.scope_violations").value == 2.0


def test_resolve_window() -> None:
    now = datetime(2025, 6, 30, 12, 0, tzinfo=UTC)
    assert resolve_window(days=30, now=now) == (now - timedelta(days=30), now)
    shanghai = ZoneInfo("Asia/Shanghai")
    start, end = resolve_window(since=datetime(2025, 6, 1, 8, 0), until=datetime(2025, 6, 1, 18, 0), tz=shanghai)
    assert (start, end) == (START, END)  # naive times are the hub's timezone
    assert resolve_window(days=1, until=END) == (END - timedelta(days=1), END)
    with pytest.raises(ValueError, match="empty"):
        resolve_window(since=END, until=START)
    with pytest.raises(ValueError, match="days"):
        resolve_window(days=0)
    with pytest.raises(ValueError, match="empty"):
        build_report(None, None, Settings(), END, START)  # type: ignore[arg-type]


def test_fernet_token_shape(world: World) -> None:
    import base64

    from audit.fourall import _is_fernet_token

    assert _is_fernet_token(world.vault.encrypt("any password"))
    assert not _is_fernet_token(base64.urlsafe_b64encode(b"\x80" + b"x" * 40).decode())  # too short
    assert not _is_fernet_token(base64.urlsafe_b64encode(b"\x81" + b"x" * 88).decode())  # wrong version byte
    assert not _is_fernet_token("plain-text-password") and not _is_fernet_token("密码")
