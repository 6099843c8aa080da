"""Accounts, sessions and API tokens in the hub's SQL database.

Passwords are hashed with argon2id (argon2-cffi); session and token secrets are random (``secrets``) and stored as
SHA-256 only. Sessions are rows, not signed tokens: logout, a password change, disabling or removing a user delete
them, so the next request with the old secret is refused at once (a revocation list would have to be consulted on
every request anyway). Failed logins are throttled per account and per client address (:class:`LoginThrottle`).
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from identity.models import ApiToken, User, UserSession
from identity.roles import Principal, Role
from registry.models import Jurisdiction
from sharpeyes.connections import make_engine
from sharpeyes.migrate import upgrade

log = logging.getLogger(__name__)

LOGIN_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
MIN_PASSWORD_LENGTH = 10
_COMMON_PASSWORDS = frozenset({
    "password", "password1", "12345678", "123456789", "1234567890", "qwertyuiop", "admin12345", "admin123456",
    "iloveyou", "11111111", "88888888", "66666666", "abc123456", "a123456789", "sharpeyes", "changeme",
})


class IdentityError(ValueError):
    """A refused account or token operation; the message names the field and never holds a secret."""


class LoginRefused(Exception):
    """Wrong login or password, or a disabled account: deliberately not saying which."""


class LoginThrottled(Exception):
    """Too many failed logins for this account or address; ``retry_after_s`` says when to try again."""

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed logins; retry after {retry_after_s} s")
        self.retry_after_s = retry_after_s


def weak_password_reason(login: str, password: str) -> str | None:
    """Why ``password`` is too weak for an account, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must have at least {MIN_PASSWORD_LENGTH} characters"
    if password.lower() in _COMMON_PASSWORDS or login.lower() in password.lower():
        return "password is a common one or contains the login name"
    if len(set(password)) < 4:
        return "password has too few distinct characters"
    return None


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _utc(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


class LoginThrottle:
    """At most ``max_failures`` failed logins per account and per client address within ``window_s``."""

    def __init__(self, max_failures: int = 5, window_s: float = 900.0) -> None:
        self.max_failures, self.window_s = max_failures, window_s
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures[key]
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def check(self, *keys: str) -> None:
        """Raise :class:`LoginThrottled` when any key has used up its failures."""
        now = time.monotonic()
        with self._lock:
            waits = [self.window_s - (now - q[0]) for k in keys if len(q := self._recent(k, now)) >= self.max_failures]
        if waits:
            raise LoginThrottled(max(1, int(max(waits)) + 1))

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def succeeded(self, account_key: str) -> None:
        with self._lock:
            self._failures.pop(account_key, None)


@dataclass(frozen=True)
class UserView:
    """An account as listed (never the hash)."""

    login: str
    display_name: str
    unit: str
    role: str
    jurisdiction: str
    enabled: bool
    weak_password: bool
    created_at: datetime
    last_login_at: datetime | None


@dataclass(frozen=True)
class TokenView:
    name: str
    unit: str
    role: str
    jurisdiction: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf: str
    expires_at: datetime
    principal: Principal


class IdentityStore:
    """Owns the identity tables. Thread-safe: every call opens its own database session."""

    def __init__(self, database_url: str, *, session_ttl_s: float = 8 * 3600,
                 throttle: LoginThrottle | None = None) -> None:
        self.engine = make_engine(database_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.session_ttl_s = session_ttl_s
        self.throttle = throttle or LoginThrottle()
        self._hasher = PasswordHasher()  # argon2id with argon2-cffi's RFC 9106 low-memory profile
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    def init(self) -> None:
        """Migrate the database to this release's schema (``sharpeyes.migrate``: identity's tables with the
        registry's and the archive's, one history)."""
        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _db(self) -> Iterator[Session]:
        with self._sessions.begin() as s:
            yield s

    # ------------------------------------------------------------------------------------------ scope
    def scope(self, code: str) -> frozenset[str]:
        """``code`` and every jurisdiction node below it."""
        with self._db() as s:
            children: dict[str | None, list[str]] = defaultdict(list)
            for c, parent in s.execute(select(Jurisdiction.code, Jurisdiction.parent_code)):
                children[parent].append(c)
        out, todo = {code}, [code]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in out:
                    out.add(child)
                    todo.append(child)
        return frozenset(out)

    def node_exists(self, code: str) -> bool:
        with self._db() as s:
            return s.get(Jurisdiction, code) is not None

    def _principal(self, login: str, display: str, unit: str, role: str, jurisdiction: str, kind: str) -> Principal:
        return Principal(login=login, display_name=display, unit=unit, role=Role(role), jurisdiction=jurisdiction,
                         scope=self.scope(jurisdiction), kind=kind)

    def _check_node(self, s: Session, jurisdiction: str) -> None:
        if s.get(Jurisdiction, jurisdiction) is None:
            raise IdentityError(f"jurisdiction: no node {jurisdiction!r} in the registry")

    # ------------------------------------------------------------------------------------------ users
    def add_user(self, login: str, *, role: str, jurisdiction: str, password: str, unit: str = "",
                 display_name: str = "") -> UserView:
        if not LOGIN_PATTERN.match(login):
            raise IdentityError("login: 2-64 characters of letters, digits, _ . @ -")
        try:
            role = Role(role).value
        except ValueError:
            raise IdentityError(f"role: {role!r} is not one of {', '.join(r.value for r in Role)}") from None
        if reason := weak_password_reason(login, password):
            raise IdentityError(f"password: {reason}")
        _check_lengths(unit=unit, display_name=display_name)
        with self._db() as s:
            if s.get(User, login) is not None:
                raise IdentityError(f"login: {login!r} exists")
            self._check_node(s, jurisdiction)
            user = User(login=login, role=role, jurisdiction=jurisdiction, unit=unit,
                        display_name=display_name or login, password_hash=self._hasher.hash(password))
            s.add(user)
            try:
                s.flush()
            except IntegrityError:  # added meanwhile by another process (an API node, the console)
                raise IdentityError(f"login: {login!r} exists") from None
            return _user_view(user)

    def users(self) -> list[UserView]:
        with self._db() as s:
            return [_user_view(u) for u in s.scalars(select(User).order_by(User.login))]

    def get_user(self, login: str) -> UserView | None:
        with self._db() as s:
            user = s.get(User, login)
            return _user_view(user) if user else None

    def has_admin(self) -> bool:
        with self._db() as s:
            return s.scalar(select(User.login).where(User.role == Role.ADMIN.value, User.enabled.is_(True))) is not None

    def set_password(self, login: str, password: str) -> None:
        """Change a password; every session of the user ends."""
        if reason := weak_password_reason(login, password):
            raise IdentityError(f"password: {reason}")
        with self._db() as s:
            user = self._user(s, login)
            user.password_hash = self._hasher.hash(password)
            user.weak_password = False
            s.execute(delete(UserSession).where(UserSession.login == login))

    def set_enabled(self, login: str, enabled: bool) -> None:
        """Disable (ending every session) or re-enable an account."""
        with self._db() as s:
            self._user(s, login).enabled = enabled
            if not enabled:
                s.execute(delete(UserSession).where(UserSession.login == login))

    def remove_user(self, login: str) -> None:
        with self._db() as s:
            user = self._user(s, login)
            s.execute(delete(UserSession).where(UserSession.login == login))
            s.delete(user)

    @staticmethod
    def _user(s: Session, login: str) -> User:
        user = s.get(User, login)
        if user is None:
            raise IdentityError(f"login: no user {login!r}")
        return user

    # ------------------------------------------------------------------------------------------ login
    def authenticate(self, login: str, password: str, *, address: str = "") -> Principal:
        """The principal for a correct login and password of an enabled account. Raises :class:`LoginThrottled`
        before checking anything once the account or the address used up its failures, else :class:`LoginRefused`
        for any wrong input (the same for an unknown login, a wrong password and a disabled account)."""
        account_key, address_key = f"login:{login.lower()}", f"addr:{address}"
        self.throttle.check(account_key, address_key)
        with self._db() as s:
            user = s.get(User, login)
            try:
                self._hasher.verify(user.password_hash if user else self._dummy_hash, password)
                ok = user is not None and user.enabled
            except (VerificationError, InvalidHashError):
                ok = False
            if not ok or user is None:
                self.throttle.failed(account_key, address_key)
                raise LoginRefused()
            if self._hasher.check_needs_rehash(user.password_hash):
                user.password_hash = self._hasher.hash(password)
            user.last_login_at = datetime.now(UTC)
            view = _user_view(user)
        self.throttle.succeeded(account_key)
        return self._principal(view.login, view.display_name, view.unit, view.role, view.jurisdiction, "user")

    def start_session(self, principal: Principal) -> NewSession:
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        expires = datetime.now(UTC) + timedelta(seconds=self.session_ttl_s)
        with self._db() as s:
            s.add(UserSession(token_sha256=_sha256(token), login=principal.login, csrf_sha256=_sha256(csrf),
                              expires_at=expires))
        return NewSession(token, csrf, expires, principal)

    def session_principal(self, token: str) -> tuple[Principal, str] | None:
        """The principal of a live session and the hash of its CSRF secret; None when unknown, expired, or the
        user is disabled or removed."""
        now = datetime.now(UTC)
        with self._db() as s:
            row = s.get(UserSession, _sha256(token))
            if row is None:
                return None
            if _utc(row.expires_at) <= now:
                s.delete(row)
                return None
            user = s.get(User, row.login)
            if user is None or not user.enabled:
                return None
            fields = (user.login, user.display_name, user.unit, user.role, user.jurisdiction)
            csrf = row.csrf_sha256
        return self._principal(*fields, "user"), csrf

    @staticmethod
    def csrf_matches(csrf_sha256: str, csrf: str) -> bool:
        return bool(csrf) and secrets.compare_digest(csrf_sha256, _sha256(csrf))

    def end_session(self, token: str) -> None:
        with self._db() as s:
            s.execute(delete(UserSession).where(UserSession.token_sha256 == _sha256(token)))

    def purge_expired_sessions(self) -> int:
        with self._db() as s:
            res = s.execute(delete(UserSession).where(UserSession.expires_at <= datetime.now(UTC)))
            return int(getattr(res, "rowcount", 0) or 0)

    # ------------------------------------------------------------------------------------------ API tokens
    def add_token(self, name: str, *, role: str, jurisdiction: str, unit: str = "", created_by: str = "") -> str:
        """Create an API token and return its secret: shown once, stored only as a hash."""
        if not LOGIN_PATTERN.match(name):
            raise IdentityError("name: 2-64 characters of letters, digits, _ . @ -")
        try:
            role = Role(role).value
        except ValueError:
            raise IdentityError(f"role: {role!r} is not one of {', '.join(r.value for r in Role)}") from None
        _check_lengths(unit=unit, created_by=created_by)
        secret = "se_" + secrets.token_urlsafe(32)
        with self._db() as s:
            if s.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
                raise IdentityError(f"name: token {name!r} exists")
            self._check_node(s, jurisdiction)
            s.add(ApiToken(name=name, token_sha256=_sha256(secret), role=role, jurisdiction=jurisdiction, unit=unit,
                           created_by=created_by))
            try:
                s.flush()
            except IntegrityError:  # added meanwhile by another process
                raise IdentityError(f"name: token {name!r} exists") from None
        return secret

    def tokens(self) -> list[TokenView]:
        with self._db() as s:
            return [TokenView(t.name, t.unit, t.role, t.jurisdiction, t.created_by, _utc(t.created_at),
                              _utc(t.revoked_at) if t.revoked_at else None)
                    for t in s.scalars(select(ApiToken).order_by(ApiToken.name))]

    def revoke_token(self, name: str) -> None:
        with self._db() as s:
            tok = s.scalar(select(ApiToken).where(ApiToken.name == name))
            if tok is None:
                raise IdentityError(f"name: no token {name!r}")
            tok.revoked_at = tok.revoked_at or datetime.now(UTC)

    def token_principal(self, secret: str) -> Principal | None:
        with self._db() as s:
            tok = s.scalar(select(ApiToken).where(ApiToken.token_sha256 == _sha256(secret)))
            if tok is None or tok.revoked_at is not None:
                return None
            fields = (f"token:{tok.name}", tok.name, tok.unit, tok.role, tok.jurisdiction)
        return self._principal(*fields, "token")


_MAX_LENGTHS = {"unit": 100, "display_name": 100, "created_by": 64}
"""Column sizes of identity's free-text fields: PostgreSQL refuses a longer value (SQLite would keep it)."""


def _check_lengths(**values: str) -> None:
    for field, value in values.items():
        if len(value) > _MAX_LENGTHS[field]:
            raise IdentityError(f"{field}: at most {_MAX_LENGTHS[field]} characters")


def _user_view(u: User) -> UserView:
    return UserView(u.login, u.display_name, u.unit, u.role, u.jurisdiction, u.enabled, u.weak_password,
                    _utc(u.created_at), _utc(u.last_login_at) if u.last_login_at else None)
