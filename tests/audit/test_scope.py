"""A report scoped to a jurisdiction subtree (an auditor's scope) over the hand-made world: only that subtree's
cameras, key points, credentials, and the event actions and access records of its centers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from audit.fourall import AuditReport, build_report
from audit.report import to_csv, to_html, to_json
from identity.store import IdentityStore
from sharpeyes.settings import Settings
from tests.audit.world import END, START, A, B, C, D, E, World, world_at


@pytest.fixture()
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    """The world on each engine (SQLite, PostgreSQL): every query of the audit runs on both."""
    yield from world_at(database_url, tmp_path)


FENGZHOU, HONGSHUI, VILLAGE = "140429100", "140429101", "140429100001"


def scoped(world: World, settings: Settings, code: str | None) -> AuditReport:
    scope = None if code is None else IdentityStore(world.url).scope(code)
    return build_report(world.registry, world.archive, settings, START, END, now=END, scope=scope)


def test_township_report_has_nothing_of_another_township(world: World, settings: Settings) -> None:
    r = scoped(world, settings, FENGZHOU)
    assert r.scope == FENGZHOU
    assert [c.id for c in r.cameras] == [A, C, D, E]  # B lies in 洪水镇 (140429101001)
    assert all(c.jurisdiction_code.startswith(FENGZHOU) for c in r.cameras)
    assert [p.id for p in r.key_points] == ["kp1-crossroads", "kp3-market"]
    assert all(p.jurisdiction_code.startswith(FENGZHOU) for p in r.key_points)
    text = to_json(r) + to_csv(r) + to_html(r)
    assert B not in text and "kp2-gate" not in text and "村委会" not in text
    # the per-camera figures are those of the unscoped report
    whole = {c.id: c for c in scoped(world, settings, None).cameras}
    assert all(c == whole[c.id] for c in r.cameras)
    values = {i.key: i.value for q in r.requirements for i in q.indicators}
    assert values["coverage.key_points"] == 0.5  # KP1 (A online) of KP1, KP3
    assert values["sharing.networked"] == pytest.approx(1 / 3)  # A of A, D, E
    assert values["control.actions_logged"] == 0.75  # the four actions were taken by 140429100001
    assert values["control.credentials_encrypted"] == 0.5  # A's Fernet token, E's plain string
    assert values["control.default_passwords"] == 0.0  # B's default password is 洪水镇's
    # the world's access records have no center (views, the export) or 洪水镇's (the refused ack)
    assert r.indicator("control.views_logged").status == "no_data"
    assert (r.indicator("control.scope_violations").value, r.indicator("control.scope_violations").status) == (
        0.0, "pass")
    assert any(n.startswith(f"scoped to jurisdiction {FENGZHOU} and below") for n in r.notes)


def test_the_other_township(world: World, settings: Settings) -> None:
    r = scoped(world, settings, HONGSHUI)
    assert r.scope == HONGSHUI
    assert [c.id for c in r.cameras] == [B] and [p.id for p in r.key_points] == ["kp2-gate"]
    assert A not in to_json(r) and "kp1-crossroads" not in to_html(r)
    assert r.indicator("control.actions_logged").status == "no_data"
    assert r.indicator("control.default_passwords").value == 1.0
    views, refused = r.indicator("control.views_logged"), r.indicator("control.scope_violations")
    assert (views.value, refused.value, refused.status) == (1.0, 1.0, "fail")  # 赵六's refused ack, 140429101
    assert refused.note == "1 refused access(es) of 1 access record(s) in the window"


def test_village_scope_leaves_out_the_township_key_point(world: World, settings: Settings) -> None:
    r = scoped(world, settings, VILLAGE)
    assert r.scope == VILLAGE
    assert [c.id for c in r.cameras] == [A, C, D, E] and [p.id for p in r.key_points] == ["kp1-crossroads"]


def test_unscoped_and_county_cover_everything(world: World, settings: Settings) -> None:
    whole, county = scoped(world, settings, None), scoped(world, settings, "140429")
    assert whole.scope is None and county.scope == "140429"
    assert [c.id for c in county.cameras] == [c.id for c in whole.cameras] == [A, B, C, D, E]
    assert len(county.key_points) == len(whole.key_points) == 3
    # but access records without a center only count in the unscoped (admin) report
    assert whole.indicator("control.views_logged").value == 0.75
    assert county.indicator("control.views_logged").value == 1.0  # the refused ack alone has a center
    assert whole.indicator("control.scope_violations").value == county.indicator("control.scope_violations").value


def test_scope_is_said_in_json_and_html(world: World, settings: Settings) -> None:
    r = scoped(world, settings, FENGZHOU)
    assert json.loads(to_json(r))["scope"] == FENGZHOU
    assert AuditReport.model_validate_json(to_json(r)) == r
    assert f"范围 scope: {FENGZHOU} 及下级 and below" in to_html(r)
    assert "范围 scope: 全部辖区 every jurisdiction" in to_html(scoped(world, settings, None))
    assert json.loads(to_json(scoped(world, settings, None)))["scope"] is None


def test_empty_scope_covers_nothing(world: World, settings: Settings) -> None:
    r = build_report(world.registry, world.archive, settings, START, END, now=END, scope=frozenset())
    assert r.scope == "(empty)" and r.cameras == [] and r.key_points == []
    assert r.indicator("control.views_logged").status == "no_data"
