"""What the four-all audit reads, read once per report: cameras, key points, the jurisdiction paths' centers,
credential rows and the availability and quality ledgers from the registry; the action log and access-log counts
of the window from the event archive; accounts, API token names and login records for the identity indicators.

Owns every query of the audit. Reads only: must not write to any table, talk to Redis, cameras or HTTP, or decrypt
credentials (nor read a password hash). Computes no indicator (that is ``audit/fourall.py``).

A report may be scoped to a jurisdiction subtree (a set of codes): then only the cameras, key points and credentials
of cameras whose jurisdiction is in it, the event actions and access records whose ``center`` is in it, and the
accounts whose jurisdiction is in it are read (the API writes an access record's ``center`` as the center acting,
else the jurisdiction of the account that accessed). Access records without a center (an unknown login's failed
attempt, records written before accounts existed) are read only for an unscoped report.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, case, func, inspect, select
from sqlalchemy.orm import InstrumentedAttribute

from audit.ledger import Ledger, LedgerRow
from events.archive import ACCOUNT_CHANGES, CAMERA_CHANGES, LOGIN_ACTIONS, AccessRecord, Archive, EventAction, as_utc
from identity.models import ApiToken, User
from registry.models import AvailabilityRecord, Camera, CameraCredential, Jurisdiction, KeyPoint, QualityRecord
from registry.store import Registry

__all__ = ["LOGIN_ACTIONS", "LOGIN_MATCH_S", "AccessCounts", "Account", "AuditInputs", "IdentityInputs",
           "access_counts", "event_actions", "identity_inputs", "ledger_rows", "read_inputs", "scope_roots"]

Scope = frozenset[str] | None
"""A jurisdiction subtree (codes), or None for everything."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccessCounts:
    """Access-log records of a window (of the scope's centers; logins, failed logins and logouts left out)."""

    total: int
    """Records with start <= at < end."""
    complete: int
    """Those whose user, unit and reason are all non-blank."""
    refused: int
    """Those with outcome ``refused``."""


@dataclass(frozen=True)
class AuditInputs:
    """Everything a report is computed from."""

    cameras: list[Camera]
    """Every registered camera, by id."""
    key_points: list[KeyPoint]
    """Every key point, by id."""
    credentials: dict[str, CameraCredential]
    """Stored credential rows by camera id (the password stays a token: never decrypted here)."""
    centers: dict[str, list[str]]
    """Per jurisdiction code of a camera: the codes of the center-hosting nodes on its path, county first."""
    online: Ledger
    """Availability ledger (online?), no record: offline."""
    quality: Ledger
    """Quality ledger (ok?), no record: ok."""
    actions: list[tuple[str | None, str | None]]
    """(user, reason) of the event actions in the window."""
    access: AccessCounts
    """Access-log counts of the window."""
    identity: IdentityInputs | None
    """Accounts, tokens and login records; None when the database has no identity tables (an old database)."""


@dataclass(frozen=True)
class Account:
    """An account as the audit sees it (never its password hash)."""

    login: str
    enabled: bool
    weak_password: bool
    """Flagged weak (a default/demo password, or one set before the password rules): must be changed."""
    last_login_at: datetime | None
    """Its last successful login (UTC), if any."""


@dataclass(frozen=True)
class IdentityInputs:
    """What the identity indicators of 全程可控 are computed from."""

    accounts: list[Account]
    """Every account (in the scope: whose jurisdiction is in it), by login."""
    known_users: frozenset[str]
    """Names an authenticated request logs as ``user``: every account's login and ``token:<name>`` of every API
    token (revoked ones too: they authenticated while valid), whatever the scope."""
    logins: dict[str, list[datetime]]
    """Login name → times of its ``login`` access records near the window (the window widened by
    :data:`LOGIN_MATCH_S` each side), in time order."""
    access_users: dict[str, int]
    """``user`` → number of access records in the window (scoped as the access counts), ``login_failed`` records
    left out (their user is whoever typed a name, authenticated or not)."""


LOGIN_MATCH_S = 60.0
"""Most seconds between an account's ``last_login_at`` and its ``login`` access record for the login to count as
logged (the two are written by the same request, milliseconds apart)."""


def read_inputs(registry: Registry, archive: Archive, start: datetime, end: datetime, now: datetime,
                scope: Scope = None) -> AuditInputs:
    """What a report of [``start``, ``end``) with current states at ``now`` needs: the ledgers cover
    [min(start, now), max(end, now)], each camera's last record before that included. With a ``scope`` only what
    lies in it (see the module's docstring)."""
    cameras = [c for c in registry.cameras() if scope is None or c.jurisdiction_code in scope]
    ids = {c.id for c in cameras}
    with registry.sessions() as s:
        credentials = {c.camera_id: c for c in s.scalars(select(CameraCredential)) if c.camera_id in ids}
    since, until = min(start, now), max(end, now)
    centers = {code: [n.code for n in registry.jurisdiction_path(code) if n.has_center]
               for code in sorted({c.jurisdiction_code for c in cameras})}
    return AuditInputs(
        cameras=cameras, credentials=credentials, centers=centers,
        key_points=[p for p in registry.key_points() if scope is None or p.jurisdiction_code in scope],
        online=Ledger.from_rows(_in(ledger_rows(registry, AvailabilityRecord, since, until), ids), initial=False),
        quality=Ledger.from_rows(_in(ledger_rows(registry, QualityRecord, since, until), ids), initial=True),
        actions=event_actions(archive, start, end, scope), access=access_counts(archive, start, end, scope),
        identity=identity_inputs(registry, archive, start, end, scope),
    )


def _in(rows: list[LedgerRow], ids: set[str]) -> list[LedgerRow]:
    return [row for row in rows if row[0] in ids]


def scope_roots(registry: Registry, scope: frozenset[str]) -> list[str]:
    """The codes of ``scope`` whose parent is not in it (one for a subtree: its root), sorted."""
    with registry.sessions() as s:
        parent = {code: up for code, up in s.execute(select(Jurisdiction.code, Jurisdiction.parent_code)
                                                      .where(Jurisdiction.code.in_(sorted(scope))))}
    return sorted(code for code in scope if parent.get(code) not in scope)


def _center_in(scope: Scope) -> list[ColumnElement[bool]]:
    """The WHERE clause keeping access records of centers in ``scope`` (none for an unscoped report)."""
    return [] if scope is None else [AccessRecord.center.in_(sorted(scope))]


def ledger_rows(registry: Registry, model: type[AvailabilityRecord] | type[QualityRecord], since: datetime,
                end: datetime) -> list[LedgerRow]:
    """(camera id, at, value) of ``model``'s ledger: each camera's last record at or before ``since`` and every
    record after it up to ``end``, in time order per camera. The value is online? or quality ok?"""
    rank = func.row_number().over(partition_by=model.camera_id, order_by=(model.at.desc(), model.id.desc()))
    before = select(model.id, rank.label("rank")).where(model.at <= since).subquery()
    first_ids = select(before.c.id).where(before.c.rank == 1)
    value = AvailabilityRecord.state == "online" if model is AvailabilityRecord else QualityRecord.ok
    query = (select(model.camera_id, model.at, value)
             .where(model.id.in_(first_ids) | ((model.at > since) & (model.at <= end)))
             .order_by(model.camera_id, model.at, model.id))
    with registry.sessions() as s:
        return [(cid, as_utc(at), bool(v)) for cid, at, v in s.execute(query)]


def event_actions(archive: Archive, start: datetime, end: datetime,
                  scope: Scope = None) -> list[tuple[str | None, str | None]]:
    """(user, reason) of every event action (ack/resolve/escalate/hold/release) with ``start`` <= at < ``end``
    (with a ``scope``: taken by a center in it)."""
    query = select(EventAction.user, EventAction.reason).where(EventAction.at >= start, EventAction.at < end)
    if scope is not None:
        query = query.where(EventAction.center.in_(sorted(scope)))
    with archive.sessions() as s:
        return [(user, reason) for user, reason in s.execute(query)]


def access_counts(archive: Archive, start: datetime, end: datetime, scope: Scope = None) -> AccessCounts:
    """Access records with ``start`` <= at < ``end`` (with a ``scope``: of a center in it), the auth endpoints'
    records (:data:`LOGIN_ACTIONS`: no content is accessed, a failed login is no scope violation) left out: all,
    those with non-blank user, unit and reason, refused. Camera and account changes (:data:`CAMERA_CHANGES`,
    :data:`ACCOUNT_CHANGES`) are management, not views: they need no reason and count only among the refused."""

    def filled(column: InstrumentedAttribute[str]) -> ColumnElement[bool]:
        return func.trim(func.coalesce(column, "")) != ""

    view = AccessRecord.action.not_in(CAMERA_CHANGES + ACCOUNT_CHANGES)
    viewed = case((view, 1), else_=0)
    complete = case((and_(view, filled(AccessRecord.user), filled(AccessRecord.unit), filled(AccessRecord.reason)), 1),
                    else_=0)
    refused = case((AccessRecord.outcome == "refused", 1), else_=0)
    query = (select(func.coalesce(func.sum(viewed), 0), func.coalesce(func.sum(complete), 0),
                    func.coalesce(func.sum(refused), 0))
             .where(AccessRecord.at >= start, AccessRecord.at < end, AccessRecord.action.not_in(LOGIN_ACTIONS),
                    *_center_in(scope)))
    with archive.sessions() as s:
        total, done, bad = s.execute(query).one()
    return AccessCounts(total=int(total), complete=int(done), refused=int(bad))


def identity_inputs(registry: Registry, archive: Archive, start: datetime, end: datetime,
                    scope: Scope = None) -> IdentityInputs | None:
    """Accounts (in the scope), every account and token name, the ``login`` records near the window and the
    window's access records per user (scoped as :func:`access_counts`); None when the registry's database has no
    ``users`` or ``api_tokens`` table (identity lives in the hub's one database, next to the registry)."""
    tables = inspect(registry.engine)
    if not (tables.has_table(User.__tablename__) and tables.has_table(ApiToken.__tablename__)):
        log.info("audit: no identity tables in the database; identity indicators have no data")
        return None
    with registry.sessions() as s:
        rows = s.execute(select(User.login, User.enabled, User.weak_password, User.last_login_at, User.jurisdiction)
                         .order_by(User.login)).all()
        tokens = set(s.scalars(select(ApiToken.name)))
    accounts = [Account(login, bool(enabled), bool(weak), as_utc(last) if last is not None else None)
                for login, enabled, weak, last, code in rows if scope is None or code in scope]
    known = frozenset({login for login, *_ in rows} | {f"token:{name}" for name in tokens})
    margin = timedelta(seconds=LOGIN_MATCH_S)
    logins: dict[str, list[datetime]] = {}
    with archive.sessions() as s:
        for target, at in s.execute(select(AccessRecord.target, AccessRecord.at)
                                    .where(AccessRecord.action == "login", AccessRecord.at >= start - margin,
                                           AccessRecord.at < end + margin)
                                    .order_by(AccessRecord.at)):
            logins.setdefault(target, []).append(as_utc(at))
        users = {user: int(n) for user, n in s.execute(
            select(AccessRecord.user, func.count())
            .where(AccessRecord.at >= start, AccessRecord.at < end,
                   AccessRecord.action.not_in(("login_failed", *ACCOUNT_CHANGES)),  # console: the OS authenticated
                   *_center_in(scope))
            .group_by(AccessRecord.user))}
    return IdentityInputs(accounts=accounts, known_users=known, logins=logins, access_users=users)
