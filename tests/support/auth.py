"""Logged-in clients for API tests: accounts created in a test's identity store, bearer headers of a session, or a
TestClient logged in through the browser's cookie + CSRF path.

Owns only the accounts and sessions it creates in the store it is given; must not start servers or read the hub's
data folder.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.auth import CSRF_HEADER
from api.deps import ApiDeps
from identity.store import IdentityStore

PASSWORD = "Plain-Test-Secret-2024"
"""The password of every account these helpers create (long enough, not a common one, no login in it)."""
COUNTY = "140429"
UNIT = "测试单位"


def identity_store(database_url: str) -> IdentityStore:
    """An initialised identity store on ``database_url`` (whose registry tables must exist: scopes need the tree).
    The caller closes it."""
    store = IdentityStore(database_url)
    store.init()
    return store


def add_account(store: IdentityStore, login: str, *, role: str = "admin", jurisdiction: str = COUNTY,
                unit: str = UNIT, display_name: str = "") -> str:
    """Create the account ``login`` unless it exists; returns its password (:data:`PASSWORD`)."""
    if store.get_user(login) is None:
        store.add_user(login, role=role, jurisdiction=jurisdiction, password=PASSWORD, unit=unit,
                       display_name=display_name or login)
    return PASSWORD


def bearer(store: IdentityStore, login: str, *, role: str = "admin", jurisdiction: str = COUNTY,
           unit: str = UNIT) -> dict[str, str]:
    """``Authorization`` header of a new session of ``login`` (the account is created when missing)."""
    add_account(store, login, role=role, jurisdiction=jurisdiction, unit=unit)
    session = store.start_session(store.authenticate(login, PASSWORD))
    return {"Authorization": f"Bearer {session.token}"}


def identity_of(app: FastAPI) -> IdentityStore:
    """The identity store an app built by ``create_app`` serves."""
    deps = app.state.api_deps
    assert isinstance(deps, ApiDeps)
    return deps.identity


def client_as(app: FastAPI, login: str = "admin", *, role: str = "admin", jurisdiction: str = COUNTY,
              unit: str = UNIT) -> TestClient:
    """A TestClient of ``app`` whose every request carries a bearer token of ``login`` (created when missing).
    Use it as a context manager like any TestClient."""
    return TestClient(app, headers=bearer(identity_of(app), login, role=role, jurisdiction=jurisdiction, unit=unit))


def browser_login(client: TestClient, login: str, password: str = PASSWORD) -> str:
    """Log ``client`` in like the page does (POST /api/auth/login: the session cookie lands in its jar) and send
    the CSRF token with every later request; returns the CSRF token."""
    r = client.post("/api/auth/login", json={"username": login, "password": password})
    assert r.status_code == 200, r.text
    csrf = str(r.json()["csrf_token"])
    client.headers[CSRF_HEADER] = csrf
    return csrf
