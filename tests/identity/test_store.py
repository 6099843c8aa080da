"""Accounts, sessions, API tokens and the login throttle on real databases (SQLite, PostgreSQL) with the seeded
tree."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from identity.models import User, UserSession
from identity.roles import Permission, Role
from identity.store import IdentityError, IdentityStore, LoginRefused, LoginThrottle, LoginThrottled
from registry.store import Registry

COUNTY, TOWNSHIP = "140429", "140429100"
GOOD = "correct horse battery"


@pytest.fixture()
def store(database_url: str) -> Iterator[IdentityStore]:
    url = database_url
    registry = Registry(url)
    registry.init()
    ids = IdentityStore(url, throttle=LoginThrottle(max_failures=3, window_s=60))
    ids.init()
    try:
        yield ids
    finally:
        ids.close()
        registry.close()


def test_password_is_hashed_with_argon2id_and_never_stored_in_clear(store: IdentityStore) -> None:
    store.add_user("zhang", role="operator", jurisdiction=TOWNSHIP, password=GOOD, unit="丰州镇综治中心")
    with store._db() as s:
        row = s.scalars(select(User)).one()
        assert row.password_hash.startswith("$argon2id$") and GOOD not in row.password_hash
    p = store.authenticate("zhang", GOOD)
    assert p.role is Role.OPERATOR and p.unit == "丰州镇综治中心" and p.may(Permission.EVENTS_ACT)
    assert not p.may(Permission.USERS_ADMIN)


def test_scope_is_the_node_and_its_subtree(store: IdentityStore) -> None:
    store.add_user("li", role="auditor", jurisdiction=TOWNSHIP, password=GOOD)
    p = store.authenticate("li", GOOD)
    assert p.sees(TOWNSHIP) and not p.sees(COUNTY) and not p.sees("140429101")
    county = store.scope(COUNTY)
    assert TOWNSHIP in county and len(county) > 5


@pytest.mark.parametrize(("field", "kwargs"), [
    ("login", {"login": "a b"}),
    ("role", {"role": "superuser"}),
    ("jurisdiction", {"jurisdiction": "999999"}),
    ("password", {"password": "short"}),
    ("password", {"password": "wang-is-my-name-wang"}),
    ("unit", {"unit": "综" * 101}),  # the column's size: PostgreSQL would refuse it, SQLite keep it
    ("display_name", {"display_name": "x" * 101}),
])
def test_bad_accounts_are_refused_naming_the_field(store: IdentityStore, field: str, kwargs: dict[str, str]) -> None:
    args = {"login": "wang", "role": "operator", "jurisdiction": TOWNSHIP, "password": GOOD, **kwargs}
    with pytest.raises(IdentityError, match=f"^{field}:"):
        store.add_user(args.pop("login"), **args)
    assert store.users() == []


def test_wrong_password_unknown_user_and_disabled_account_look_the_same(store: IdentityStore) -> None:
    store.add_user("zhao", role="technician", jurisdiction=TOWNSHIP, password=GOOD)
    for login, pw in [("zhao", "wrong password!"), ("nobody", GOOD)]:
        with pytest.raises(LoginRefused):
            store.authenticate(login, pw, address="10.0.0.1")
    store.set_enabled("zhao", False)
    with pytest.raises(LoginRefused):
        store.authenticate("zhao", GOOD, address="10.0.0.2")


def test_failed_logins_are_throttled_per_account_and_per_address(store: IdentityStore) -> None:
    store.add_user("qian", role="operator", jurisdiction=TOWNSHIP, password=GOOD)
    for _ in range(3):
        with pytest.raises(LoginRefused):
            store.authenticate("qian", "not the password", address="a")
    with pytest.raises(LoginThrottled) as exc:
        store.authenticate("qian", GOOD, address="b")  # even the right password: the account is throttled
    assert 1 <= exc.value.retry_after_s <= 61
    for login in ("x1", "x2", "x3"):  # one address trying many accounts
        with pytest.raises(LoginRefused):
            store.authenticate(login, "guess guess guess", address="c")
    with pytest.raises(LoginThrottled):
        store.authenticate("someone", "guess guess guess", address="c")


def test_sessions_end_on_logout_password_change_disable_and_removal(store: IdentityStore) -> None:
    store.add_user("sun", role="operator", jurisdiction=TOWNSHIP, password=GOOD)

    def session() -> str:
        return store.start_session(store.authenticate("sun", GOOD)).token

    tok = session()
    assert store.session_principal(tok) is not None
    store.end_session(tok)
    assert store.session_principal(tok) is None
    tok = session()
    store.set_password("sun", "another good passphrase")
    assert store.session_principal(tok) is None
    GOOD2 = "another good passphrase"
    tok = store.start_session(store.authenticate("sun", GOOD2)).token
    store.set_enabled("sun", False)
    assert store.session_principal(tok) is None
    store.set_enabled("sun", True)
    tok = store.start_session(store.authenticate("sun", GOOD2)).token
    store.remove_user("sun")
    assert store.session_principal(tok) is None
    with store._db() as s:
        assert s.scalars(select(UserSession)).all() == []


def test_session_secret_and_csrf_are_stored_hashed(store: IdentityStore) -> None:
    store.add_user("zhou", role="operator", jurisdiction=TOWNSHIP, password=GOOD)
    new = store.start_session(store.authenticate("zhou", GOOD))
    with store._db() as s:
        row = s.scalars(select(UserSession)).one()
        assert new.token not in (row.token_sha256, row.csrf_sha256)
    found = store.session_principal(new.token)
    assert found is not None
    assert store.csrf_matches(found[1], new.csrf) and not store.csrf_matches(found[1], "forged")


def test_expired_sessions_are_refused(database_url: str) -> None:
    url = database_url
    registry = Registry(url)
    registry.init()
    ids = IdentityStore(url, session_ttl_s=-1)
    ids.init()
    try:
        ids.add_user("wu", role="operator", jurisdiction=TOWNSHIP, password=GOOD)
        tok = ids.start_session(ids.authenticate("wu", GOOD)).token
        assert ids.session_principal(tok) is None
    finally:
        ids.close()
        registry.close()


def test_api_tokens_are_shown_once_and_revocable(store: IdentityStore) -> None:
    secret = store.add_token("wvp-bridge", role="operator", jurisdiction=COUNTY, unit="市平台", created_by="admin")
    p = store.token_principal(secret)
    assert p is not None and p.kind == "token" and p.sees(TOWNSHIP)
    assert [t.name for t in store.tokens()] == ["wvp-bridge"]
    store.revoke_token("wvp-bridge")
    assert store.token_principal(secret) is None
    assert store.token_principal("se_guessed") is None
    with pytest.raises(IdentityError, match=r"^name:"):
        store.add_token("wvp-bridge", role="operator", jurisdiction=COUNTY)


def test_has_admin(store: IdentityStore) -> None:
    assert not store.has_admin()
    store.add_user("root-admin", role="admin", jurisdiction=COUNTY, password=GOOD)
    assert store.has_admin()
    store.set_enabled("root-admin", False)
    assert not store.has_admin()


def test_demo_accounts_are_created_once_with_a_0600_file(store: IdentityStore, tmp_path: Path) -> None:
    from identity.demo import DEMO_ACCOUNTS, ensure_demo_accounts

    path = tmp_path / "demo-accounts.txt"
    created = ensure_demo_accounts(store, path)
    # the demo village 140429100001 is not in a bare registry (it comes from camera_configs/demo.yaml)
    assert {a.login for a, _ in created} == {a.login for a in DEMO_ACCOUNTS if a.jurisdiction != "140429100001"}
    assert path.stat().st_mode & 0o777 == 0o600
    lines = path.read_text(encoding="utf-8").splitlines()
    for acc, password in created:
        assert f"{acc.login}\t{password}\t{acc.role}" in "\n".join(lines)
        assert store.authenticate(acc.login, password).role.value == acc.role
    assert ensure_demo_accounts(store, path) == []
    assert len(path.read_text(encoding="utf-8").splitlines()) == len(lines)
