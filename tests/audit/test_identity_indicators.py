"""全程可控's identity indicators over the hand-made world plus real identity tables (identity.store): accounts
without a weak password, logins logged, access by an authenticated identity; unscoped and scoped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text, update

from audit.fourall import AuditReport, build_report
from identity.models import User
from identity.store import IdentityStore
from sharpeyes.settings import Settings
from tests.audit.world import END, START, World, at, world_at


@pytest.fixture()
def world(database_url: str, tmp_path: Path) -> Iterator[World]:
    """The world on each engine (SQLite, PostgreSQL): every query of the audit runs on both."""
    yield from world_at(database_url, tmp_path)

PASSWORD = "correct-horse-battery-9"
FENGZHOU, HONGSHUI, VILLAGE = "140429100", "140429101", "140429100001"
KEYS = ("control.strong_passwords", "control.logins_logged", "control.authenticated_access")


@pytest.fixture()
def store(world: World) -> Iterator[IdentityStore]:
    s = IdentityStore(world.url)
    s.init()
    yield s
    s.close()


@pytest.fixture()
def accounts(world: World, store: IdentityStore) -> IdentityStore:
    """op-village (strong, logged in at 01:00 and logged), op-hongshui (weak, logged in at 02:00, not logged),
    auditor (strong, last login after the window), old (disabled, weak); the API token ``wall``; and access records:
    op-village's login, a failed login, views by op-village, token:wall and an unknown token:ghost."""
    for login, role, code in (("op-village", "operator", VILLAGE), ("op-hongshui", "operator", HONGSHUI),
                              ("auditor", "auditor", "140429"), ("old", "operator", FENGZHOU)):
        store.add_user(login, role=role, jurisdiction=code, password=PASSWORD)
    store.set_enabled("old", False)
    store.add_token("wall", role="technician", jurisdiction="140429")
    last = {"op-village": at(1), "op-hongshui": at(2), "auditor": at(12)}
    with world.registry.sessions.begin() as s:
        for login, when in last.items():
            s.execute(update(User).where(User.login == login).values(last_login_at=when))
        s.execute(update(User).where(User.login.in_(["op-hongshui", "old"])).values(weak_password=True))
    log = world.archive.log_access
    log(user="op-village", unit="社区", reason="", action="login", target="op-village", at=at(1) + timedelta(seconds=1))
    log(user="op-hongshui", unit="", reason="", action="login", target="op-hongshui",
        at=at(2) - timedelta(minutes=5))  # an earlier login, not the last one
    log(user="mallory", unit="", reason="", action="login_failed", target="mallory", outcome="refused", at=at(1.5))
    log(user="op-village", unit="社区", reason="核查", action="view_event", target="e1", center=VILLAGE, at=at(5))
    log(user="token:wall", unit="县局", reason="巡检", action="view_snapshot", target="s1", center=VILLAGE, at=at(6))
    log(user="token:ghost", unit="?", reason="?", action="view_event", target="e2", center=HONGSHUI, at=at(7))
    log(user="op-village", unit="社区", reason="", action="logout", target="op-village", at=at(8))
    return store


def report_of(world: World, settings: Settings, store: IdentityStore | None = None,
              code: str | None = None) -> AuditReport:
    scope = None if code is None or store is None else store.scope(code)
    return build_report(world.registry, world.archive, settings, START, END, now=END, scope=scope)


def test_unscoped(world: World, settings: Settings, accounts: IdentityStore) -> None:
    r = report_of(world, settings)
    strong, logins, authed = (r.indicator(k) for k in KEYS)
    assert (strong.value, strong.status, strong.target) == (pytest.approx(2 / 3), "fail", 1.0)
    assert strong.note == "2 of 3 enabled account(s) have no weak password; 1 must change theirs"
    assert (logins.value, logins.status) == (0.5, "fail")  # op-hongshui's last login has no record near it
    assert logins.note == ("1 of 2 account(s) whose last login falls in the window have a login record within 60 s "
                           "of it")
    # the world's 4 records (张三, 李四, 王五, 赵六: no accounts), 2 logins, the logout and 3 views (token:ghost is
    # no token); the failed login left out
    assert (authed.value, authed.status) == (0.5, "fail")
    assert authed.note.startswith("5 of 10 access record(s) in the window (failed logins left out)")
    # the auth endpoints' records are no content access: 调阅留痕 and 越权访问 do not count them
    assert r.indicator("control.views_logged").note == \
        "6 of 7 access record(s) in the window carry user, unit and reason"
    assert r.indicator("control.scope_violations").value == 1.0  # 赵六's, not mallory's failed login
    assert [i.key for i in r.requirements[-1].indicators][-3:] == list(KEYS)


def test_scoped_to_a_township(world: World, settings: Settings, accounts: IdentityStore) -> None:
    r = report_of(world, settings, accounts, FENGZHOU)  # op-village and the disabled old
    strong, logins, authed = (r.indicator(k) for k in KEYS)
    assert (strong.value, strong.status) == (1.0, "pass")
    assert (logins.value, logins.status) == (1.0, "pass")  # the login record has no center: matched by account
    assert (authed.value, authed.status) == (1.0, "pass")  # op-village's view and token:wall's, both 140429100001
    other = report_of(world, settings, accounts, HONGSHUI)  # op-hongshui; 赵六's ack and token:ghost's view
    assert [other.indicator(k).value for k in KEYS] == [0.0, 0.0, 0.0]
    assert [other.indicator(k).status for k in KEYS] == ["fail"] * 3


def test_all_pass(world: World, settings: Settings, accounts: IdentityStore) -> None:
    with world.registry.sessions.begin() as s:
        s.execute(update(User).values(weak_password=False))
    accounts.set_enabled("op-hongshui", False)  # disabled now, but it logged in during the window: still counted
    world.archive.log_access(user="op-hongshui", unit="", reason="", action="login", target="op-hongshui",
                             at=at(2) + timedelta(seconds=30))
    r = report_of(world, settings, accounts, FENGZHOU)
    assert [r.indicator(k).status for k in KEYS] == ["pass"] * 3
    whole = report_of(world, settings)
    assert (whole.indicator(KEYS[0]).value, whole.indicator(KEYS[1]).value) == (1.0, 1.0)
    # account changes at the console (the OS authenticated who made them) are no unauthenticated access
    before = report_of(world, settings, accounts, FENGZHOU).indicator(KEYS[2]).value
    world.archive.log_access(user="console:root", unit="", reason="", action="user_add", target="new-op",
                             center=FENGZHOU, at=at(3))
    after = report_of(world, settings, accounts, FENGZHOU)
    assert after.indicator(KEYS[2]).value == before and after.indicator("control.views_logged").status == "pass"


def test_tables_without_accounts(world: World, settings: Settings, store: IdentityStore) -> None:
    r = report_of(world, settings)
    strong, logins, authed = (r.indicator(k) for k in KEYS)
    assert (strong.status, strong.note) == ("no_data", "no enabled accounts")
    assert (logins.status, logins.note) == ("no_data", "no account logged in during the window")
    assert (authed.value, authed.status) == (0.0, "fail")  # 4 access records, none by an account


def test_old_database_has_no_data(world: World, settings: Settings) -> None:
    with world.registry.engine.begin() as conn:  # as a release before accounts left it
        for table in ("user_sessions", "users", "api_tokens"):
            conn.execute(text(f"DROP TABLE {table}"))
    r = report_of(world, settings)
    for key in KEYS:
        ind = r.indicator(key)
        assert (ind.value, ind.status) == (None, "no_data"), key
        assert ind.note == "no identity tables in the database (no accounts set up)"
    assert r.requirements[-1].status == "fail"  # the other control indicators as before
