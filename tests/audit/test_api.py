"""``GET /api/audit`` through FastAPI's TestClient (no Redis needed: the audit reads SQL only), logged in as an
admin (the whole county) or an auditor (their subtree)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ApiDeps
from registry.service import CameraService
from registry.vault import Vault
from sharpeyes.keys import Keys
from sharpeyes.proc import free_port
from sharpeyes.settings import Settings
from tests.audit.world import A, B, World
from tests.support.auth import bearer, identity_store

WINDOW = {"since": "2025-06-01T00:00:00+00:00", "until": "2025-06-01T10:00:00+00:00"}
REASON = "季度四全审计"
VIEWER = {"X-Sharpeyes-Reason": quote(REASON)}


@pytest.fixture()
def http(world: World, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, audit={"control_target": 0.75})  # type: ignore[arg-type]
    identity = identity_store(world.url)
    app = create_app(ApiDeps(
        settings=settings, registry=world.registry,
        cameras=CameraService(world.registry, Vault.from_key_file(tmp_path / "vault.key")),
        redis=redis.Redis(port=free_port()), keys=Keys("t"), archive=world.archive, snapshot_dir=tmp_path / "snaps",
        identity=identity))
    try:
        with TestClient(app, headers={**VIEWER, **bearer(identity, "admin", unit="县委政法委")}) as client:
            yield client
    finally:
        identity.close()


def test_json(http: TestClient) -> None:
    r = http.get("/api/audit", params={**WINDOW, "format": "json"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    data = r.json()
    assert data["settings"]["control_target"] == 0.75  # the app's settings, not the environment's
    indicators = {i["key"]: i for q in data["requirements"] for i in q["indicators"]}
    assert indicators["control.actions_logged"]["value"] == 0.75
    assert indicators["control.actions_logged"]["status"] == "pass"
    assert (indicators["control.views_logged"]["value"], indicators["control.views_logged"]["status"]) == (
        0.75, "pass")  # 3 of the world's 4 access records; this request is logged after the window
    assert (indicators["control.scope_violations"]["value"], indicators["control.scope_violations"]["status"]) == (
        1.0, "fail")
    assert {c["id"]: c["online_rate"] for c in data["cameras"]}[A] == 0.9
    assert http.get("/api/audit", params=WINDOW).headers["content-type"] == "application/json"  # the default


def test_csv(http: TestClient) -> None:
    r = http.get("/api/audit", params={**WINDOW, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == \
        'attachment; filename="four-all-audit-20250601T0000-20250601T1000Z.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {r["section"] for r in rows} == {"summary", "camera", "key_point"}


def test_html(http: TestClient) -> None:
    r = http.get("/api/audit", params={**WINDOW, "format": "html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "<svg" in r.text and "http://" not in r.text


def test_days_window_and_errors(http: TestClient) -> None:
    r = http.get("/api/audit", params={"days": 7, "until": "2025-06-01T10:00:00+00:00"})
    assert r.status_code == 200 and r.json()["window_start"] == "2025-05-25T10:00:00Z"
    assert http.get("/api/audit", params={"format": "pdf"}).status_code == 422
    assert http.get("/api/audit", params={"days": 0}).status_code == 422
    r = http.get("/api/audit", params={"since": WINDOW["until"], "until": WINDOW["since"]})
    assert r.status_code == 422 and "empty" in r.json()["detail"]


def test_needs_a_user_and_a_reason_and_is_logged(http: TestClient, world: World) -> None:
    before = len(world.archive.access_log(limit=1000))
    del http.headers["X-Sharpeyes-Reason"]
    r = http.get("/api/audit", params=WINDOW)
    assert r.status_code == 428 and "the audit report" in r.json()["detail"]
    assert TestClient(http.app).get("/api/audit", params=WINDOW, headers=VIEWER).status_code == 401
    assert len(world.archive.access_log(limit=1000)) == before  # nothing logged
    # a plain link (the web UI's header link) gives the reason in the query; the name is the logged-in user's
    r = http.get("/api/audit", params={**WINDOW, "format": "html", "user": "审计员 周九", "reason": REASON})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    entry = world.archive.access_log(limit=1)[0]
    assert (entry.user, entry.unit, entry.reason, entry.action, entry.outcome, entry.detail) == (
        "admin", "县委政法委", REASON, "audit_report", "allowed", "format=html")
    assert entry.target == "2025-06-01T00:00:00+00:00..2025-06-01T10:00:00+00:00"
    assert len(world.archive.access_log(limit=1000)) == before + 1


def test_an_auditor_audits_their_subtree_and_others_may_not(http: TestClient) -> None:
    identity = http.app.state.api_deps.identity  # type: ignore[attr-defined]
    auditor = TestClient(http.app, headers={**VIEWER, **bearer(identity, "aud-hs", role="auditor",
                                                                jurisdiction="140429101")})
    r = auditor.get("/api/audit", params=WINDOW)
    assert r.status_code == 200, r.text
    assert [c["id"] for c in r.json()["cameras"]] == [B]  # 洪水镇's camera only
    assert {c["id"] for c in http.get("/api/audit", params=WINDOW).json()["cameras"]} > {A, B}  # the admin: all
    for role in ("operator", "technician"):
        other = TestClient(http.app, headers={**VIEWER, **bearer(identity, f"x-{role}", role=role,
                                                                  jurisdiction="140429")})
        assert other.get("/api/audit", params=WINDOW).status_code == 403


def test_in_openapi(http: TestClient) -> None:
    assert "/api/audit" in http.get("/openapi.json").json()["paths"]
