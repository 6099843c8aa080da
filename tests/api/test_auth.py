"""Logging in and what a login allows, over a real registry and identity store (SQLite) through FastAPI's TestClient:
the OAuth2 token, the browser cookie and its CSRF check, the login throttle, revocation, deny by default, and the
demo accounts of ``camera_configs/demo.yaml``."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from ulid import ULID

from api.app import create_app
from api.auth import CSRF_HEADER, OPEN_ROUTES, SESSION_COOKIE, app_routes, unguarded_routes
from events.archive import Archive
from identity.cli import CREATE_ADMIN
from identity.demo import DEMO_ACCOUNTS, ensure_demo_accounts
from identity.roles import ROLE_PERMISSIONS, Permission, Role
from identity.store import IdentityStore
from registry.service import CameraService
from sharpeyes.settings import PROJECT_ROOT
from tests.support.api import api_deps
from tests.support.auth import PASSWORD, UNIT, add_account, bearer, browser_login
from tests.support.registry import make_camera_service

COUNTY, TOWNSHIP, VILLAGE = "140429", "140429100", "140429100001"
REASON = {"X-Sharpeyes-Reason": quote("核查")}
LOGIN_FAILED = {"detail": "wrong login or password"}


@dataclass
class Hub:
    app: FastAPI
    identity: IdentityStore
    archive: Archive
    cameras: CameraService

    def client(self, address: str = "testclient", **kw: Any) -> TestClient:
        return TestClient(self.app, client=(address, 50000), **kw)

    def token(self, login: str, password: str = PASSWORD, address: str = "testclient") -> Any:
        return self.client(address).post("/api/auth/token", data={"username": login, "password": password})

    def actions(self, *names: str) -> list[tuple[str, str, str, str | None]]:
        """(action, user, outcome, center) of the access records of these actions, oldest first."""
        return [(e.action, e.user, e.outcome, e.center) for e in reversed(self.archive.access_log(limit=1000))
                if e.action in names]


def build(root: Path, configs: Path | None = None) -> Hub:
    cameras = make_camera_service(root)
    if configs is not None:
        cameras.registry.sync_camera_configs(configs)
    deps = api_deps(cameras, root)
    return Hub(create_app(deps), deps.identity, deps.archive, cameras)


@pytest.fixture()
def hub(tmp_path: Path) -> Iterator[Hub]:
    h = build(tmp_path, PROJECT_ROOT / "camera_configs")  # the demo's synthetic village
    add_account(h.identity, "admin")
    add_account(h.identity, "op-village", role="operator", jurisdiction=VILLAGE)
    try:
        yield h
    finally:
        h.identity.close()
        h.archive.close()
        h.cameras.registry.close()


# ------------------------------------------------------------------------------------------------ logging in
def test_token_login_and_me(hub: Hub) -> None:
    r = hub.token("op-village")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 8 * 3600 and body["access_token"]
    me = hub.client(headers={"Authorization": f"Bearer {body['access_token']}"}).get("/api/auth/me")
    assert me.status_code == 200
    assert me.json() == {"login": "op-village", "display_name": "op-village", "unit": UNIT, "role": "operator",
                         "jurisdiction": VILLAGE, "kind": "user",
                         "permissions": sorted(p.value for p in ROLE_PERMISSIONS[Role.OPERATOR])}
    assert hub.actions("login") == [("login", "op-village", "allowed", VILLAGE)]
    assert hub.archive.access_log()[0].detail == "token from testclient"
    assert PASSWORD not in repr(hub.archive.access_log()) and body["access_token"] not in repr(
        hub.archive.access_log())


def test_cookie_login_and_csrf(hub: Hub) -> None:
    browser = hub.client()
    r = browser.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 200, r.text
    csrf = r.json()["csrf_token"]
    assert r.json()["user"]["role"] == "admin"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/" in cookie and "Secure" not in cookie  # plain http here; see the https test below
    assert browser.get("/api/auth/me").json()["login"] == "admin"  # safe methods: the cookie alone
    new_camera = {"name": "东街", "jurisdiction": TOWNSHIP, "stream": "rtsp://127.0.0.1:9/x", "probe": False}
    demo = len(hub.cameras.list())
    # a cross-site form post carries the cookie but cannot set the header: refused before anything happens
    r = browser.post(f"/api/events/{ULID()}/ack", data={"reason": "x"})
    assert r.status_code == 403 and r.json() == {"detail": "CSRF token missing or wrong"}
    for headers in ({}, {CSRF_HEADER: "guessed"}):
        r = browser.post("/api/cameras", json=new_camera, headers=headers)
        assert r.status_code == 403 and r.json()["detail"] == "CSRF token missing or wrong"
    assert len(hub.cameras.list()) == demo
    r = browser.post("/api/cameras", json=new_camera, headers={CSRF_HEADER: csrf})
    assert r.status_code == 201, r.text
    # bearer requests need no CSRF token: a cross-site form cannot send an Authorization header
    assert hub.client(headers=bearer(hub.identity, "admin")).delete(f"/api/cameras/{r.json()['id']}").status_code \
        == 204
    # logging out is an unsafe method too
    assert browser.post("/api/auth/logout").status_code == 403
    assert browser.post("/api/auth/logout", headers={CSRF_HEADER: csrf}).status_code == 204
    assert browser.get("/api/auth/me").status_code == 401
    assert hub.actions("login", "logout") == [("login", "admin", "allowed", COUNTY),
                                              ("logout", "admin", "allowed", COUNTY)]


def test_the_cookie_is_secure_over_https(hub: Hub) -> None:
    r = hub.client(base_url="https://hub.example").post("/api/auth/login",
                                                        json={"username": "admin", "password": PASSWORD})
    assert r.status_code == 200 and "Secure" in r.headers["set-cookie"]


def test_failed_logins_look_the_same_and_are_throttled(hub: Hub) -> None:
    add_account(hub.identity, "disabled-one", role="auditor")
    hub.identity.set_enabled("disabled-one", False)
    answers = {}
    for login, address in (("op-village", "10.0.0.1"), ("nobody", "10.0.0.2"), ("disabled-one", "10.0.0.3")):
        password = "not the password" if login == "op-village" else PASSWORD
        seen = []
        for _ in range(5):
            r = hub.token(login, password, address=address)
            seen.append((r.status_code, r.json(), r.headers.get("www-authenticate")))
        r = hub.token(login, password, address=address)
        assert r.status_code == 429, r.text
        assert 1 <= int(r.headers["retry-after"]) <= 901
        seen.append((r.status_code, r.json(), None))
        answers[login] = seen
    # an unknown account, a wrong password and a disabled account answer exactly alike
    assert answers["op-village"] == answers["nobody"] == answers["disabled-one"]
    assert answers["nobody"][0] == (401, LOGIN_FAILED, "Bearer")
    # throttled, the right password does not help (until the window has passed)
    assert hub.token("op-village", PASSWORD, address="10.0.0.9").status_code == 429
    # per address too: five failures on five accounts, then even a correct login from there waits
    for n in range(5):
        assert hub.token(f"guess{n}", "x", address="10.0.0.4").status_code == 401
    assert hub.token("admin", PASSWORD, address="10.0.0.4").status_code == 429
    assert hub.token("admin", PASSWORD, address="10.0.0.5").status_code == 200
    failed = hub.actions("login_failed")
    assert len(failed) == 20 and {o for _a, _u, o, _c in failed} == {"refused"}  # throttled tries are not logged
    assert ("login_failed", "nobody", "refused", None) in failed
    assert ("login_failed", "op-village", "refused", VILLAGE) in failed


def test_browser_login_failures_too(hub: Hub) -> None:
    r = hub.client().post("/api/auth/login", json={"username": "op-village", "password": "wrong one"})
    assert r.status_code == 401 and r.json() == LOGIN_FAILED and "set-cookie" not in r.headers
    r = hub.client().post("/api/auth/login", json={"username": "op-village", "password": "Echo-Me-Not-7",
                                                   "extra": 1})
    assert r.status_code == 422 and "Echo-Me-Not-7" not in r.text


# ------------------------------------------------------------------------------------------------ revocation
def test_sessions_and_tokens_are_revocable(hub: Hub) -> None:
    def me(headers: dict[str, str]) -> int:
        return hub.client(headers=headers).get("/api/auth/me").status_code

    # logout of a bearer session
    session = {"Authorization": f"Bearer {hub.token('op-village').json()['access_token']}"}
    assert me(session) == 200
    assert hub.client(headers=session).post("/api/auth/logout").status_code == 204
    assert me(session) == 401
    # a password change, disabling and removing the account end every session of it at once
    def changed_password() -> None:
        hub.identity.set_password("op-village", "Another-Long-Secret-1")
        hub.identity.set_password("op-village", PASSWORD)  # back, for the next step

    def disabled() -> None:
        hub.identity.set_enabled("op-village", False)
        hub.identity.set_enabled("op-village", True)

    for change in (changed_password, disabled, lambda: hub.identity.remove_user("op-village")):
        headers = bearer(hub.identity, "op-village", role="operator", jurisdiction=VILLAGE)
        assert me(headers) == 200
        change()
        r = hub.client(headers=headers).get("/api/auth/me")
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    # an API token: its own role and jurisdiction, until an admin revokes it
    secret = hub.identity.add_token("scraper", role="technician", jurisdiction=COUNTY, unit="运维")
    token = {"Authorization": f"Bearer {secret}"}
    got = hub.client(headers=token).get("/api/auth/me").json()
    assert (got["login"], got["role"], got["kind"]) == ("token:scraper", "technician", "token")
    assert hub.client(headers=token).get("/metrics").status_code == 200
    assert hub.client(headers=token).post("/api/auth/logout").status_code == 400  # revoked, not logged out
    hub.identity.revoke_token("scraper")
    assert me(token) == 401
    assert me({"Authorization": "Bearer se_made-up"}) == 401 and me({"Authorization": "Bearer made-up"}) == 401


# ------------------------------------------------------------------------------------------------ deny by default
def test_anonymous_requests_are_refused(hub: Hub) -> None:
    anonymous, demo = hub.client(), len(hub.cameras.list())
    r = anonymous.get("/api/events")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = anonymous.post("/api/cameras", json={"name": "x", "jurisdiction": TOWNSHIP, "stream": "rtsp://h/x"})
    assert r.status_code == 401 and len(hub.cameras.list()) == demo
    assert anonymous.get("/api/health").status_code == 200
    page = anonymous.get("/")
    # the page's script draws the login form (tests/web drive it in a browser)
    assert page.status_code == 200 and 'src="/ui/app.js"' in page.text and CREATE_ADMIN not in page.text


def test_metrics_and_docs_need_a_user(hub: Hub) -> None:
    anonymous, operator = hub.client(), hub.client(headers=bearer(hub.identity, "op-village"))
    technician = hub.client(headers=bearer(hub.identity, "tech", role="technician"))
    for path in ("/metrics", "/docs", "/openapi.json"):
        assert anonymous.get(path).status_code == 401, path
    assert operator.get("/metrics").status_code == 403  # ops:read: technicians, auditors, admins
    assert technician.get("/metrics").status_code == 200
    docs = operator.get("/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    assert operator.get("/openapi.json").json()["info"]["title"] == "Sharp Eyes Hub"


def test_x_sharpeyes_user_does_not_change_who_viewed(hub: Hub) -> None:
    headers = {**REASON, "X-Sharpeyes-User": "someone-else", "X-Sharpeyes-Unit": quote("别的单位")}
    for client in (hub.client(headers=bearer(hub.identity, "op-village")), hub.client()):
        if "authorization" not in client.headers:
            browser_login(client, "op-village")  # the page's way: cookie + CSRF
        assert client.get(f"/api/events/{ULID()}", headers=headers).status_code == 404
    views = [(e.user, e.unit, e.action) for e in hub.archive.access_log() if e.action == "view_event"]
    assert views == [("op-village", UNIT, "view_event")] * 2


PATH_VALUES = {"event_id": str(ULID()), "code": VILLAGE, "camera_id": "14042900001325000001", "ref": "x/y.jpg",
               "name": "app.js"}


def test_every_route_declares_what_it_needs(hub: Hub) -> None:
    routes = list(app_routes(hub.app))
    assert unguarded_routes(hub.app) == []
    open_ = {(m, path) for path, methods, guard in routes for m in methods if guard is None}
    assert open_ == set(OPEN_ROUTES)
    guards = {path: guard for path, _methods, guard in routes}
    assert guards["/metrics"] == frozenset({Permission.OPS_READ})
    assert guards["/docs"] == guards["/openapi.json"] == guards["/api/centers"] == "authenticated"
    assert guards["/snapshots/{ref:path}"] == frozenset({Permission.SNAPSHOTS_READ})
    # and every route not open refuses an anonymous request
    anonymous = hub.client()
    for path, methods, _guard in routes:
        url = path.replace("{ref:path}", "{ref}").format(**PATH_VALUES)
        for method in methods - {"HEAD"}:
            if (method, path) in OPEN_ROUTES:
                continue
            r = anonymous.request(method, url, json={})
            assert r.status_code == 401, (method, path, r.status_code)


def test_a_route_without_a_permission_is_reported(hub: Hub) -> None:
    hub.app.get("/leak")(lambda: {"secret": 1})
    router = APIRouter()
    router.post("/api/also-leaks")(lambda: None)
    hub.app.include_router(router)
    assert unguarded_routes(hub.app) == ["GET /leak", "POST /api/also-leaks"]


def test_the_page_says_how_to_create_an_admin_while_there_is_none(tmp_path: Path) -> None:
    h = build(tmp_path)
    try:
        page = h.client().get("/").text
        assert 'id="no-admin"' in page and CREATE_ADMIN in page
        add_account(h.identity, "root")
        assert CREATE_ADMIN not in h.client().get("/").text
    finally:
        h.identity.close()
        h.archive.close()
        h.cameras.registry.close()


# ------------------------------------------------------------------------------------------------ demo accounts
def test_demo_accounts_log_in_and_see_what_their_role_allows(tmp_path: Path) -> None:
    h = build(tmp_path, PROJECT_ROOT / "camera_configs")
    try:
        created = ensure_demo_accounts(h.identity, tmp_path / "demo-accounts.txt")
        assert [a.login for a, _pw in created] == [a.login for a in DEMO_ACCOUNTS]
        assert stat.S_IMODE((tmp_path / "demo-accounts.txt").stat().st_mode) == 0o600
        assert ensure_demo_accounts(h.identity, tmp_path / "demo-accounts.txt") == []  # once
        clients = {}
        for account, password in created:
            r = h.token(account.login, password)
            assert r.status_code == 200, (account.login, r.text)
            clients[account.login] = h.client(headers={"Authorization": f"Bearer {r.json()['access_token']}",
                                                       **REASON})

        def status(login: str, method: str, url: str, **kw: Any) -> int:
            return int(clients[login].request(method, url, **kw).status_code)

        def centers(login: str) -> list[str]:
            return [c["code"] for c in clients[login].get("/api/centers").json()]

        assert centers("op-village") == [VILLAGE]
        assert centers("op-fengzhou") == [TOWNSHIP, VILLAGE]
        assert centers("op-hongshui") == ["140429101"]
        assert COUNTY in centers("op-county") and len(centers("op-county")) == len(centers("admin"))
        cameras = {login: {c["id"] for c in clients[login].get("/api/cameras").json()} for login in clients}
        assert cameras["op-village"] == cameras["op-fengzhou"] == {"14042900001325000001"}
        assert cameras["op-hongshui"] == {"14042900001325000002"}
        assert cameras["tech"] == cameras["auditor"] == cameras["admin"] == cameras["op-county"] and \
            len(cameras["admin"]) == 2
        allowed = {  # (method, url) → the demo accounts allowed
            ("GET", "/api/events"): {"admin", "op-village", "op-fengzhou", "op-hongshui", "op-county", "auditor"},
            ("GET", "/api/access-log"): {"admin", "auditor"},
            ("GET", "/api/audit"): {"admin", "auditor"},
            ("GET", "/metrics"): {"admin", "tech", "auditor"},
            ("GET", "/api/cameras/export"): {"admin", "tech"},
            ("GET", "/snapshots/none.jpg"): {"admin", "op-village", "op-fengzhou", "op-hongshui", "op-county"},
        }
        for (method, url), logins in allowed.items():
            for login in clients:
                code = status(login, method, url)
                if login in logins:
                    assert code in (200, 404), (login, url, code)  # 404: the snapshot does not exist
                else:
                    assert code == 403, (login, url, code)
        # only operators and admins act; a technician registers cameras, an auditor does not
        event_action = ("POST", f"/api/events/{ULID()}/ack")
        for login in clients:
            code = status(login, *event_action, json={"reason": "x"})
            assert code == (404 if login in {"admin", "op-village", "op-fengzhou", "op-hongshui", "op-county"}
                            else 403), (login, code)
        new = {"name": "演示", "jurisdiction": "140429100001", "stream": "rtsp://127.0.0.1:9/x", "probe": False}
        assert status("tech", "POST", "/api/cameras", json=new) == 201
        assert status("auditor", "POST", "/api/cameras", json=new) == 403
        assert status("op-village", "POST", "/api/cameras", json=new) == 403
    finally:
        h.identity.close()
        h.archive.close()
        h.cameras.registry.close()
