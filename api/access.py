"""The access log (公共安全视频图像信息系统管理条例 2025, art. 16: every access logged with reason, content, unit and
name) as route dependencies, so a route cannot write a record without the name and unit of who is logged in.

A content route (snapshots, an event's detail, the camera export, the audit report, the access log itself)
declares ``Depends(content(Permission.X, "what"))``: the logged-in principal with that permission (``api/auth.py``)
and the reason of the request (header ``X-Sharpeyes-Reason``, URL-encoded UTF-8 allowed, or for plain links and
``<img>`` tags the query parameter ``reason``), 428 without a reason (nothing logged). Routes that change something
(camera changes, refused actions on events) declare ``Depends(acting(Permission.X))``: the same without a mandatory
reason. Either gives an :class:`Access` whose :meth:`Access.record` writes one
:class:`events.archive.AccessRecord` with ``user`` = the principal's login, ``unit`` = their unit, ``center`` = their
jurisdiction (or the center acting), before the content is served; when it cannot be written the content is not
served (503). ``X-Sharpeyes-User``/``X-Sharpeyes-Unit`` headers are ignored: who accessed is who is logged in.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import unquote

from fastapi import Depends, Header, HTTPException, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from api.auth import api_deps_of, requires
from events.archive import AccessEntry, Archive, Outcome
from identity.roles import Permission, Principal

log = logging.getLogger(__name__)

REASON_HEADER = "X-Sharpeyes-Reason"
MAX_REASON = 2000
NO_REASON: dict[int | str, dict[str, Any]] = {428: {
    "description": "No reason given (X-Sharpeyes-Reason header or reason query parameter): content is served only "
                   "with a reason, and every access is logged."}}
"""The ``responses`` entry of a route serving content only with a reason."""


class AccessRecordOut(BaseModel):
    """One record of the access log."""

    id: int = Field(description="Sequence number of the record.")
    at: str = Field(description="When (ISO 8601, UTC).")
    user: str = Field(description="Login of who accessed (token:<name> for an API token; the name typed for a "
                                  "failed login).")
    unit: str = Field(description="Their unit (单位); empty when unknown.")
    reason: str = Field(description="Why (查看事由); empty for logins and camera changes made without one.")
    action: str = Field(description="view_snapshot, view_event, export_cameras, audit_report, view_access_log, an "
                                    "action on an event (ack_event, resolve_event, ...), login, login_failed, "
                                    "logout, camera_add, camera_update or camera_remove.")
    target: str = Field(description="What was accessed: snapshot ref, event id, camera ids, audit window, login...")
    center: str | None = Field(description="The center acting (actions on events), else the jurisdiction of the "
                                           "account that accessed; null for an unknown account.")
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


def request_reason(
    x_sharpeyes_reason: Annotated[str | None, Header(
        alias=REASON_HEADER, description="Why, 查看事由 (URL-encoded UTF-8 allowed).")] = None,
    reason: Annotated[str | None, Query(description=f"As {REASON_HEADER}, for plain links and <img> tags.")] = None,
) -> str:
    """FastAPI dependency: the reason of the request, from the header, else the query ('' when none); 422 when
    longer than allowed."""
    value = _header_text(x_sharpeyes_reason) or (reason or "").strip()
    if len(value) > MAX_REASON:
        raise HTTPException(422, f"reason is longer than {MAX_REASON} characters")
    return value


def record(archive: Archive, principal: Principal, reason: str, action: str, target: str, *,
           center: str | None = None, outcome: Outcome = "allowed", detail: str = "") -> None:
    """Write one access record of ``principal``; 503 when the log cannot be written (the content is then not
    served). ``center`` defaults to the principal's jurisdiction."""
    try:
        archive.log_access(user=principal.login, unit=principal.unit, reason=reason, action=action, target=target,
                           center=center or principal.jurisdiction, outcome=outcome, detail=detail)
    except SQLAlchemyError as exc:
        log.error("access log unavailable, %s of %s not served: %s", action, target, exc)
        raise HTTPException(503, "the access log cannot be written; nothing is served unlogged") from None
    if outcome == "refused":
        log.warning("access refused: %s %s by %s (%s) for center %s: %s", action, target, principal.login,
                    principal.unit, center or principal.jurisdiction, detail)


@dataclasses.dataclass(frozen=True)
class Access:
    """Who accesses (the logged-in principal) and why, bound to the access log."""

    principal: Principal
    reason: str
    archive: Archive

    def because(self, reason: str) -> Access:
        """The same access with the reason a request body gives (the event actions)."""
        return dataclasses.replace(self, reason=reason)

    def record(self, action: str, target: str, *, center: str | None = None, outcome: Outcome = "allowed",
               detail: str = "") -> None:
        """Write the record of this access (see :func:`record`)."""
        record(self.archive, self.principal, self.reason, action, target, center=center, outcome=outcome,
               detail=detail)

    def refuse(self, action: str, target: str, detail: str, *, status: int, message: Any,
               center: str | None = None) -> HTTPException:
        """Record a refused access and return the HTTP error to raise (404 for an item outside the scope: the
        answer never confirms it exists)."""
        self.record(action, target, center=center, outcome="refused", detail=detail)
        return HTTPException(status, message)


def content(permission: Permission, what: str) -> Callable[..., Access]:
    """The dependency of a content route: the principal with ``permission`` and a mandatory reason (428 without;
    nothing logged). The route calls :meth:`Access.record` before serving."""
    need = requires(permission)

    # ``need`` is a local: a default (evaluated now), not an annotation (a string resolved in the module's globals)
    def dependency(request: Request, reason: Annotated[str, Depends(request_reason)],
                   principal: Principal = Depends(need)) -> Access:  # noqa: B008
        if not reason:
            raise HTTPException(428, f"a reason is required to view {what} (every access is logged): send the "
                                     f"{REASON_HEADER} header or the reason query parameter")
        return Access(principal, reason, api_deps_of(request).archive)

    dependency.__name__ = dependency.__qualname__ = f"content({permission.value})"
    return dependency


def acting(permission: Permission) -> Callable[..., Access]:
    """The dependency of a route that changes something: the principal with ``permission`` and the request's
    reason if any (an event action's reason is in its body: :meth:`Access.because`)."""
    need = requires(permission)

    # ``need`` is a local: a default (evaluated now), not an annotation (a string resolved in the module's globals)
    def dependency(request: Request, reason: Annotated[str, Depends(request_reason)],
                   principal: Principal = Depends(need)) -> Access:  # noqa: B008
        return Access(principal, reason, api_deps_of(request).archive)

    dependency.__name__ = dependency.__qualname__ = f"acting({permission.value})"
    return dependency
