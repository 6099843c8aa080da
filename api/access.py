"""Who is accessing, and the access log (公共安全视频图像信息系统管理条例 2025, art. 16: every access logged with
reason, content, unit and name).

Requests for content (snapshots, an event's detail, the camera export, the audit report, the access log itself)
name the person, their unit and the reason in the headers ``X-Sharpeyes-User``, ``X-Sharpeyes-Unit`` and
``X-Sharpeyes-Reason`` (URL-encoded UTF-8 allowed), or, for plain links and ``<img>`` tags, in the query parameters
``user``, ``unit`` and ``reason``. Without a name or a reason the answer is 428 and nothing is logged; otherwise one
:class:`events.archive.AccessRecord` is written before the content is served, and when it cannot be written the
content is not served (503).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import Depends, Header, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from events.archive import AccessEntry, Archive, Outcome

log = logging.getLogger(__name__)

USER_HEADER, UNIT_HEADER, REASON_HEADER = "X-Sharpeyes-User", "X-Sharpeyes-Unit", "X-Sharpeyes-Reason"
MAX_LENGTHS = {"user": 100, "unit": 200, "reason": 2000}
NO_VIEWER: dict[int | str, dict[str, Any]] = {428: {
    "description": "No name or no reason given (X-Sharpeyes-User/-Unit/-Reason headers or user/unit/reason query)."}}
"""The ``responses`` entry of a route serving content only to a named viewer with a reason."""


class Viewer(BaseModel):
    """Who asks for content, for which unit, and why (empty strings where not given)."""

    user: str = Field("", description="Name or staff number of the person.")
    unit: str = Field("", description="Their unit (单位), e.g. a police station or a center.")
    reason: str = Field("", description="Why they access it (查看事由).")


class AccessRecordOut(BaseModel):
    """One record of the access log."""

    id: int = Field(description="Sequence number of the record.")
    at: str = Field(description="When (ISO 8601, UTC).")
    user: str = Field(description="Name or staff number of who accessed.")
    unit: str = Field(description="Their unit (单位); empty when not given.")
    reason: str = Field(description="Why (查看事由).")
    action: str = Field(description="view_snapshot, view_event, export_cameras, audit_report, view_access_log, or "
                                    "an action on an event (ack_event, resolve_event, ...).")
    target: str = Field(description="What was accessed: snapshot ref, event id, camera ids, audit window...")
    center: str | None = Field(description="Center acted for, when the access was an action on an event.")
    outcome: str = Field(description="allowed or refused (a refused access is a scope violation).")
    detail: str = Field(description="Short note, e.g. 'not found' or why it was refused.")

    @classmethod
    def of(cls, entry: AccessEntry) -> AccessRecordOut:
        return cls(id=entry.id, at=entry.at.isoformat(), user=entry.user, unit=entry.unit, reason=entry.reason,
                   action=entry.action, target=entry.target, center=entry.center, outcome=entry.outcome,
                   detail=entry.detail)


def _header_text(raw: str | None) -> str:
    """A header value as text: URL-encoded UTF-8 is decoded; raw UTF-8 bytes (read by the server as Latin-1) are
    repaired."""
    if raw is None:
        return ""
    try:
        raw = raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass  # not UTF-8 bytes: keep as read
    return unquote(raw).strip()


def _field(name: str, header: str | None, query: str | None = None) -> str:
    """One viewer field: the header's text, else the query parameter's; 422 when longer than allowed."""
    value = _header_text(header) or (query or "").strip()
    if len(value) > MAX_LENGTHS[name]:
        raise HTTPException(422, f"{name} is longer than {MAX_LENGTHS[name]} characters")
    return value


def viewer(
    x_sharpeyes_user: Annotated[str | None, Header(
        alias=USER_HEADER, description="Who views: name or staff number (URL-encoded UTF-8 allowed).")] = None,
    x_sharpeyes_unit: Annotated[str | None, Header(
        alias=UNIT_HEADER, description="Their unit, 单位 (URL-encoded UTF-8 allowed).")] = None,
    x_sharpeyes_reason: Annotated[str | None, Header(
        alias=REASON_HEADER, description="Why, 查看事由 (URL-encoded UTF-8 allowed).")] = None,
    user: Annotated[str | None, Query(description=f"As {USER_HEADER}, for plain links and <img> tags.")] = None,
    unit: Annotated[str | None, Query(description=f"As {UNIT_HEADER}, for plain links and <img> tags.")] = None,
    reason: Annotated[str | None, Query(description=f"As {REASON_HEADER}, for plain links and <img> tags.")] = None,
) -> Viewer:
    """FastAPI dependency: the viewer named by the headers, else by the query parameters (either may be empty)."""
    return Viewer(user=_field("user", x_sharpeyes_user, user), unit=_field("unit", x_sharpeyes_unit, unit),
                  reason=_field("reason", x_sharpeyes_reason, reason))


Who = Annotated[Viewer, Depends(viewer)]
"""A route parameter of this type is the viewer of the request."""


def actor_unit(x_sharpeyes_unit: Annotated[str | None, Header(
        alias=UNIT_HEADER, description="Unit (单位) of who acts, for the access log should the action be refused "
                                       "(URL-encoded UTF-8 allowed).")] = None) -> str:
    """FastAPI dependency of the event actions, whose body names the user and the reason: the actor's unit."""
    return _field("unit", x_sharpeyes_unit)


ActorUnit = Annotated[str, Depends(actor_unit)]
"""A route parameter of this type is the unit named by the X-Sharpeyes-Unit header ('' when none)."""


def require(who: Viewer, what: str) -> Viewer:
    """``who`` when it names a person and a reason; else 428 (nothing is logged)."""
    if not who.user or not who.reason:
        raise HTTPException(
            428, f"name, unit and reason are required to view {what} (every access is logged; name and reason at "
                 f"least); send {USER_HEADER}/-Unit/-Reason headers or user/unit/reason query parameters")
    return who


def record(archive: Archive, who: Viewer, action: str, target: str, *, center: str | None = None,
           outcome: Outcome = "allowed", detail: str = "") -> None:
    """Write one access record; 503 when the log cannot be written (the content is then not served)."""
    try:
        archive.log_access(user=who.user, unit=who.unit, reason=who.reason, action=action, target=target,
                           center=center, outcome=outcome, detail=detail)
    except SQLAlchemyError as exc:
        log.error("access log unavailable, %s of %s not served: %s", action, target, exc)
        raise HTTPException(503, "the access log cannot be written; nothing is served unlogged") from None
    if outcome == "refused":
        log.warning("access refused: %s %s by %s (%s) for center %s: %s", action, target, who.user, who.unit,
                    center, detail)
