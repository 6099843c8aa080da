"""The event archive: every event once in SQL, searchable, with its handling state and an action log.

Rows are written by the archive consumer (a consumer group on the firehose), so the archive can run in any hub
process. Acknowledge / resolve / escalate are recorded here with who, which center and why (全程可控); the
SLA escalator reads the unacknowledged events from here. The access log (2025 regulation art. 16: every access with
name, unit, reason and content) is kept here too: who viewed which snapshot, event, camera export or audit report,
every refused action, logins and logouts, and camera changes. Queries can be restricted to a set of centers (a
jurisdiction subtree): events by the centers they were delivered to, access records by their ``center``.
Retention purges old rows except events on hold; access records go at the same cut-off.

The same on SQLite and PostgreSQL; a row changed by reading it first is locked while it changes (``FOR UPDATE``), so
hub processes on several machines sharing one PostgreSQL do not overwrite each other's changes.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, case, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

from sharpeyes.connections import make_engine
from sharpeyes.migrate import upgrade
from sharpeyes.schema import Event, utcnow
from sharpeyes.sqltypes import UtcDateTime

log = logging.getLogger(__name__)

EventStatus = Literal["new", "acknowledged", "resolved"]
"""Handling state of an archived event: new → acknowledged → resolved."""
Action = Literal["ack", "resolve", "escalate", "sla_escalate", "hold", "release", "platform_undelivered"]
Outcome = Literal["allowed", "refused"]
LOGIN_ACTIONS = ("login", "login_failed", "logout")
"""Access-log actions of the auth endpoints (target: the login name; no content accessed)."""
CAMERA_CHANGES = ("camera_add", "camera_update", "camera_remove")
"""Access-log actions of camera changes (target: the camera id; user: who changed it)."""
ACCOUNT_CHANGES = ("user_add", "user_passwd", "user_disable", "user_enable", "user_remove", "token_add",
                   "token_revoke")
"""Access-log actions of account and API-token changes made at the console (``sharpeyes user|token``; user:
``console:<OS user>``, target: the login or token name)."""


class ArchiveBase(DeclarativeBase):
    pass



def as_utc(dt: datetime) -> datetime:
    """Aware UTC. A naive datetime is read as UTC: the hub stores UTC, and SQLite gives it back without a zone."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


class EventRecord(ArchiveBase):
    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    type: Mapped[str] = mapped_column(String(40), index=True)
    severity: Mapped[str] = mapped_column(String(10), index=True)
    camera_id: Mapped[str] = mapped_column(String(20), index=True)
    civil_codes: Mapped[str] = mapped_column(String(100))  # "county,township,village"
    centers: Mapped[str] = mapped_column(String(400), default="")  # ",code,code," for LIKE search
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    status: Mapped[str] = mapped_column(String(20), default="new", index=True)
    escalated_to: Mapped[str | None] = mapped_column(String(20), nullable=True)
    hold: Mapped[bool] = mapped_column(Boolean, default=False)
    snapshot_ref: Mapped[str | None] = mapped_column(String(300), nullable=True, index=True)
    body: Mapped[str] = mapped_column(Text)
    archived_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class EventAction(ArchiveBase):
    """Who did what to an event, for which center, and why."""

    __tablename__ = "event_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    center: Mapped[str] = mapped_column(String(20))
    user: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)


class AccessRecord(ArchiveBase):
    """One access (or refused attempt) to content: who, from which unit, why, what and with which outcome."""

    __tablename__ = "access_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    user: Mapped[str] = mapped_column(String(100))
    unit: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(40), index=True)  # view_snapshot, view_event, login, camera_add...
    target: Mapped[str] = mapped_column(Text)  # snapshot ref, event id, camera ids, audit window, login name...
    # the center acting (event actions), else the jurisdiction of the account that accessed (None: unknown account)
    center: Mapped[str | None] = mapped_column(String(20), nullable=True)
    outcome: Mapped[str] = mapped_column(String(10), index=True)  # allowed or refused
    detail: Mapped[str] = mapped_column(String(500), default="")


@dataclass(frozen=True)
class AccessEntry:
    """A row of the access log, times in UTC."""

    id: int
    at: datetime
    user: str
    unit: str
    reason: str
    action: str
    target: str
    center: str | None
    outcome: str
    detail: str


def _access_entry(row: AccessRecord) -> AccessEntry:
    return AccessEntry(id=row.id, at=as_utc(row.at), user=row.user, unit=row.unit, reason=row.reason, action=row.action,
                       target=row.target, center=row.center, outcome=row.outcome, detail=row.detail)


@dataclass(frozen=True)
class ArchivedEvent:
    event: Event
    centers: list[str]
    status: str
    escalated_to: str | None
    hold: bool
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.event.model_dump(mode="json"),
            "centers": self.centers,
            "status": self.status,
            "escalated_to": self.escalated_to,
            "hold": self.hold,
            "status_changed_at": as_utc(self.updated_at).isoformat(),
        }


def _view(row: EventRecord) -> ArchivedEvent:
    return ArchivedEvent(
        event=Event.from_json(row.body),
        centers=[c for c in row.centers.split(",") if c],
        status=row.status,
        escalated_to=row.escalated_to,
        hold=row.hold,
        updated_at=row.updated_at,
    )


class EventNotFound(KeyError):
    pass


class Archive:
    """SQL archive of events. Thread-safe (a session per call)."""

    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def init(self) -> None:
        """Migrate the database to this release's schema (``sharpeyes.migrate``: the archive's tables with the
        registry's and identity's, one history)."""
        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------------------------------ writing
    def record(self, event: Event, centers: list[str]) -> bool:
        """Insert ``event`` once; a replay of the same id is a no-op (returns False). A later state of the incident
        (``updated_at`` set, newer than what is stored) replaces the stored body; handling state is kept."""
        row = EventRecord(
            id=event.id, type=event.type.value, severity=event.severity.value, camera_id=event.camera_id,
            civil_codes=",".join(event.civil_codes), centers="," + ",".join(centers) + ",",
            occurred_at=event.occurred_at, snapshot_ref=event.snapshot.ref if event.snapshot else None,
            body=event.to_json(), escalated_to=None,
        )
        try:
            with self.sessions.begin() as s:
                known = s.get(EventRecord, event.id, with_for_update=True)
                if known is None:
                    s.add(row)
                    return True
                if event.updated_at is None:
                    return False
                stored = Event.from_json(known.body).updated_at
                if stored is not None and stored >= event.updated_at:
                    return False
                known.body = event.to_json()
                if event.snapshot is not None:
                    known.snapshot_ref = event.snapshot.ref
                return True
        except IntegrityError:  # another archiver won the race
            return False

    def act(self, event_id: str, action: Action, *, center: str, user: str, reason: str,
            escalated_to: str | None = None) -> ArchivedEvent:
        """Apply a handling action and log it. ``ack`` → acknowledged, ``resolve`` → resolved."""
        if not reason.strip():
            raise ValueError("a reason is required")
        with self.sessions.begin() as s:
            # locked (PostgreSQL: SELECT … FOR UPDATE): API nodes acting on one event at once take turns, so no
            # center added by an escalation is lost
            row = s.get(EventRecord, event_id, with_for_update=True)
            if row is None:
                raise EventNotFound(event_id)
            if action == "ack" and row.status == "new":
                row.status = "acknowledged"
            elif action == "resolve":
                row.status = "resolved"
            elif action in ("escalate", "sla_escalate") and escalated_to:
                row.escalated_to = escalated_to
                if escalated_to not in row.centers.split(","):
                    row.centers = row.centers + escalated_to + ","
            elif action == "hold":
                row.hold = True
            elif action == "release":
                row.hold = False
            row.updated_at = utcnow()
            s.add(EventAction(event_id=event_id, action=action, center=center, user=user, reason=reason))
            s.flush()
            return _view(row)

    def log_access(self, *, user: str, unit: str, reason: str, action: str, target: str, center: str | None = None,
                   outcome: Outcome = "allowed", detail: str = "", at: datetime | None = None) -> AccessEntry:
        """Append one record to the access log and return it (an over-long ``detail`` is cut to 500 characters)."""
        row = AccessRecord(at=as_utc(at) if at is not None else utcnow(), user=user, unit=unit, reason=reason,
                           action=action, target=target, center=center, outcome=outcome, detail=detail[:500])
        with self.sessions.begin() as s:
            s.add(row)
            s.flush()
            return _access_entry(row)

    def claim_escalation(self, event_id: str, to_center: str) -> bool:
        """Atomically mark ``event_id`` escalated; False if it already was (so escalation happens once)."""
        values: dict[str, Any] = {"escalated_to": to_center, "updated_at": utcnow()}
        if to_center != "-":  # "-": nowhere higher to go, recorded so the SLA scan skips it
            values["centers"] = EventRecord.centers + to_center + ","
        with self.sessions.begin() as s:
            res = s.execute(
                update(EventRecord)
                .where(EventRecord.id == event_id, EventRecord.escalated_to.is_(None))
                .values(**values)
            )
            return bool(res.rowcount)  # type: ignore[attr-defined]

    def unclaim_escalation(self, event_id: str, to_center: str) -> None:
        """Undo :meth:`claim_escalation` when the delivery failed, so a later attempt can escalate."""
        with self.sessions.begin() as s:
            row = s.get(EventRecord, event_id, with_for_update=True)
            if row is None or row.escalated_to != to_center:
                return
            row.escalated_to = None
            row.centers = row.centers.replace(f",{to_center},", ",")
            row.updated_at = utcnow()

    # ------------------------------------------------------------------------------------------ reading
    def get(self, event_id: str) -> ArchivedEvent | None:
        with self.sessions() as s:
            row = s.get(EventRecord, event_id)
            return _view(row) if row else None

    def snapshot_centers(self, ref: str) -> list[str] | None:
        """The centers the events with snapshot ``ref`` were delivered to; None when no archived event has it."""
        with self.sessions() as s:
            rows = list(s.scalars(select(EventRecord.centers).where(EventRecord.snapshot_ref == ref)))
        if not rows:
            return None
        return sorted({c for row in rows for c in row.split(",") if c})

    def actions(self, event_id: str) -> list[dict[str, Any]]:
        with self.sessions() as s:
            rows = s.scalars(select(EventAction).where(EventAction.event_id == event_id).order_by(EventAction.id))
            return [{"action": a.action, "center": a.center, "user": a.user, "reason": a.reason,
                     "at": as_utc(a.at).isoformat()} for a in rows]

    def access_log(self, since: datetime | None = None, until: datetime | None = None,
                   limit: int = 100, *, centers: Collection[str] | None = None) -> list[AccessEntry]:
        """Access records with ``since`` <= at < ``until``, newest first, at most ``limit``; with ``centers``, only
        those whose ``center`` is one of them (None: all)."""
        q = select(AccessRecord)
        if centers is not None:
            q = q.where(AccessRecord.center.in_(sorted(centers)))
        if since is not None:
            q = q.where(AccessRecord.at >= as_utc(since))
        if until is not None:
            q = q.where(AccessRecord.at < as_utc(until))
        q = q.order_by(AccessRecord.at.desc(), AccessRecord.id.desc()).limit(limit)
        with self.sessions() as s:
            return [_access_entry(r) for r in s.scalars(q)]

    def search(self, *, center: str | None = None, type: str | None = None, camera_id: str | None = None,
               status: str | None = None, since: datetime | None = None, until: datetime | None = None,
               before: str | None = None, limit: int = 50,
               centers: Collection[str] | None = None) -> list[ArchivedEvent]:
        """Newest first (ULIDs sort by time); page with ``before`` = the last id of the previous page. ``center``:
        only events delivered to it; ``centers``: only events delivered to at least one of them (None: no such
        filter; empty: nothing)."""
        q = select(EventRecord)
        if centers is not None:
            if not centers:
                return []
            # one CASE of N branches rather than N ORs: SQLite nests ORs and refuses more than 1000 levels
            delivered = case(*((EventRecord.centers.contains(f",{c},"), 1) for c in sorted(centers)), else_=0)
            q = q.where(delivered == 1)
        if center:
            q = q.where(EventRecord.centers.contains(f",{center},"))
        if type:
            q = q.where(EventRecord.type == type)
        if camera_id:
            q = q.where(EventRecord.camera_id == camera_id)
        if status:
            q = q.where(EventRecord.status == status)
        if since:
            q = q.where(EventRecord.occurred_at >= since)
        if until:
            q = q.where(EventRecord.occurred_at < until)
        if before:
            q = q.where(EventRecord.id < before)
        q = q.order_by(EventRecord.id.desc()).limit(limit)
        with self.sessions() as s:
            return [_view(r) for r in s.scalars(q)]

    def overdue(self, sla_s: dict[str, float], now: datetime | None = None) -> list[ArchivedEvent]:
        """Unacknowledged, not yet escalated events older than their severity's SLA."""
        now = now or utcnow()
        out: list[ArchivedEvent] = []
        with self.sessions() as s:
            for severity, seconds in sla_s.items():
                cutoff = datetime.fromtimestamp(now.timestamp() - seconds, UTC)
                q = select(EventRecord).where(
                    EventRecord.status == "new", EventRecord.escalated_to.is_(None),
                    EventRecord.severity == severity, EventRecord.occurred_at <= cutoff,
                ).order_by(EventRecord.id).limit(500)
                out.extend(_view(r) for r in s.scalars(q))
        return out

    def open_incidents(self, camera_id: str, types: Collection[str], *, within_s: float = 7 * 86400,
                       limit: int = 200) -> list[Event]:
        """The latest archived state of the camera's incidents of ``types`` that have not ended (``ended_at``
        unset), occurred within ``within_s``, newest first (at most ``limit`` looked at)."""
        since = datetime.fromtimestamp(utcnow().timestamp() - within_s, UTC)
        with self.sessions() as s:
            q = select(EventRecord.body).where(
                EventRecord.camera_id == camera_id, EventRecord.type.in_(list(types)),
                EventRecord.occurred_at >= since,
            ).order_by(EventRecord.occurred_at.desc()).limit(limit)
            events = [Event.from_json(body) for body in s.scalars(q)]
        return [ev for ev in events if ev.ended_at is None]

    # ------------------------------------------------------------------------------------------ retention
    def purge(self, older_than: datetime) -> list[str]:
        """Delete events that occurred before ``older_than`` and are not on hold, and access records made before
        it (access records are kept exactly as long as events); returns the purged events' snapshot refs."""
        with self.sessions.begin() as s:
            rows = list(s.scalars(select(EventRecord).where(
                EventRecord.occurred_at < older_than, or_(EventRecord.hold.is_(False), EventRecord.hold.is_(None)))))
            refs = [r.snapshot_ref for r in rows if r.snapshot_ref]
            for r in rows:
                s.delete(r)
            accesses = s.execute(delete(AccessRecord).where(AccessRecord.at < as_utc(older_than)))
            purged_accesses = int(accesses.rowcount or 0)  # type: ignore[attr-defined]
        if rows:
            log.info("archive: purged %d event(s) older than %s", len(rows), older_than.isoformat())
        if purged_accesses:
            log.info("archive: purged %d access record(s) older than %s", purged_accesses, older_than.isoformat())
        return refs

    def held_snapshot_refs(self) -> set[str]:
        with self.sessions() as s:
            return {r for r in s.scalars(select(EventRecord.snapshot_ref).where(EventRecord.hold.is_(True))) if r}
