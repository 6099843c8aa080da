"""What the four-all audit reads, read once per report: cameras, key points, the jurisdiction paths' centers,
credential rows and the availability and quality ledgers from the registry; the action log and access-log counts
of the window from the event archive.

Owns every query of the audit. Reads only: must not write to any table, talk to Redis, cameras or HTTP, or decrypt
credentials. Computes no indicator (that is ``audit/fourall.py``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import InstrumentedAttribute

from audit.ledger import Ledger, LedgerRow
from events.archive import AccessRecord, Archive, EventAction, as_utc
from registry.models import AvailabilityRecord, Camera, CameraCredential, KeyPoint, QualityRecord
from registry.store import Registry

__all__ = ["AccessCounts", "AuditInputs", "access_counts", "event_actions", "ledger_rows", "read_inputs"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccessCounts:
    """Access-log records of a window."""

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


def read_inputs(registry: Registry, archive: Archive, start: datetime, end: datetime, now: datetime) -> AuditInputs:
    """What a report of [``start``, ``end``) with current states at ``now`` needs: the ledgers cover
    [min(start, now), max(end, now)], each camera's last record before that included."""
    cameras = registry.cameras()
    with registry.sessions() as s:
        credentials = {c.camera_id: c for c in s.scalars(select(CameraCredential))}
    since, until = min(start, now), max(end, now)
    centers = {code: [n.code for n in registry.jurisdiction_path(code) if n.has_center]
               for code in sorted({c.jurisdiction_code for c in cameras})}
    return AuditInputs(
        cameras=cameras, key_points=registry.key_points(), credentials=credentials, centers=centers,
        online=Ledger.from_rows(ledger_rows(registry, AvailabilityRecord, since, until), initial=False),
        quality=Ledger.from_rows(ledger_rows(registry, QualityRecord, since, until), initial=True),
        actions=event_actions(archive, start, end), access=access_counts(archive, start, end),
    )


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


def event_actions(archive: Archive, start: datetime, end: datetime) -> list[tuple[str | None, str | None]]:
    """(user, reason) of every event action (ack/resolve/escalate/hold/release) with ``start`` <= at < ``end``."""
    with archive.sessions() as s:
        return [(user, reason) for user, reason in s.execute(
            select(EventAction.user, EventAction.reason).where(EventAction.at >= start, EventAction.at < end))]


def access_counts(archive: Archive, start: datetime, end: datetime) -> AccessCounts:
    """Access records with ``start`` <= at < ``end``: all, those with non-blank user, unit and reason, refused."""

    def filled(column: InstrumentedAttribute[str]) -> ColumnElement[bool]:
        return func.trim(func.coalesce(column, "")) != ""

    complete = case((and_(filled(AccessRecord.user), filled(AccessRecord.unit), filled(AccessRecord.reason)), 1),
                    else_=0)
    refused = case((AccessRecord.outcome == "refused", 1), else_=0)
    query = (select(func.count(), func.coalesce(func.sum(complete), 0), func.coalesce(func.sum(refused), 0))
             .where(AccessRecord.at >= start, AccessRecord.at < end))
    with archive.sessions() as s:
        total, done, bad = s.execute(query).one()
    return AccessCounts(total=int(total), complete=int(done), refused=int(bad))
