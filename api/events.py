"""Archived events over HTTP: the lists, one event with its action log (content: a reason, logged first), and the
actions on an event (ack, resolve, hold, release, escalate; a refused one logged).

Scope: a principal sees the events delivered to a center of their jurisdiction subtree (lists are filtered in the
query; a single event outside it is 404, everywhere); an operator acts as their own center, on events delivered to
it (another center's event they can see: 403, logged as refused); an admin may act for any center the event was
delivered to. Owns only HTTP concerns: the handling state lives in :class:`events.archive.Archive`, escalation in
:class:`events.escalation.Escalator`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

import redis
from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from api.access import NO_REASON, Access, content
from api.auth import requires
from api.deps import ApiDeps
from events.archive import Archive, ArchivedEvent, EventNotFound, EventStatus
from events.escalation import AlreadyEscalated, NoHigherTier
from identity.roles import Permission, Principal, Role
from registry.store import Registry
from sharpeyes.keys import CENTER_GROUP
from sharpeyes.schema import Event
from sharpeyes.strict import StrictModel

log = logging.getLogger(__name__)

ULID_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"
Reader = Annotated[Principal, Depends(requires(Permission.EVENTS_READ))]
"""A route parameter of this type: the principal, who must have events:read."""
Actor = Annotated[Principal, Depends(requires(Permission.EVENTS_ACT))]
"""A route parameter of this type: the principal, who must have events:act."""


class EventOut(Event):
    """An event as archived: the contract's fields plus its handling state."""

    centers: list[str] = Field(description="Centers the event was delivered to (escalations included).")
    status: EventStatus = Field(description="Handling state.")
    escalated_to: str | None = Field(description="Center it was escalated to ('-' when none is higher).")
    hold: bool = Field(description="On hold: exempt from retention purge.")
    status_changed_at: datetime = Field(description="Last change of the handling state (ack, resolve, escalate, hold).")


class EventDetail(EventOut):
    actions: list[dict[str, str]] = Field(description="Action log: action, center, user, reason, at.")


class EventPage(BaseModel):
    items: list[EventOut]
    next_before: str | None = Field(description="Pass as ?before= for the next (older) page; null at the end.")


class ActionIn(StrictModel):
    center: str | None = Field(None, pattern=r"^\d{6}(\d{3})?(\d{3})?$",
                               description="Code of the center taking the action. Operators act as their own center "
                                           "(this may be omitted, or must be it); admins may name any center the "
                                           "event was delivered to (default: their own jurisdiction).")
    user: str | None = Field(None, max_length=100,
                             description="Ignored (kept for older clients): who acts is the logged-in user.")
    reason: str = Field(min_length=1, max_length=2000, description="Why: required for the action and access logs.")


def visible_centers(principal: Principal, registry: Registry) -> frozenset[str] | None:
    """The centers whose events ``principal`` sees: those of their subtree (None for an admin: all)."""
    if principal.role is Role.ADMIN:
        return None
    return frozenset(c.code for c in registry.centers() if c.code in principal.scope) | {principal.jurisdiction}


def sees_event(principal: Principal, item: ArchivedEvent) -> bool:
    """True when ``item`` was delivered to a center of the principal's subtree (admins see all)."""
    return any(principal.sees(c) for c in item.centers) or principal.role is Role.ADMIN


class EventQuery:
    """The paging and filters of an event list (query parameters), as one dependency of every list route."""

    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        before: Annotated[str | None, Query(pattern=ULID_PATTERN, description="id of the last event seen")] = None,
        type: str | None = None,
        camera_id: str | None = None,
        status: EventStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> None:
        self.limit, self.before = limit, before
        self.filters: dict[str, Any] = {"type": type, "camera_id": camera_id, "status": status, "since": since,
                                        "until": until}

    def page(self, archive: Archive, **scope: Any) -> EventPage:
        """One page of archived events, newest first; ``next_before`` set when the page is full. ``scope``:
        ``center=`` and/or ``centers=`` for :meth:`events.archive.Archive.search`."""
        found = archive.search(limit=self.limit, before=self.before, **self.filters, **scope)
        items = [EventOut.model_validate(i.to_dict()) for i in found]
        return EventPage(items=items, next_before=items[-1].id if len(items) == self.limit else None)


def not_found(event_id: str) -> HTTPException:
    """The one answer for an unknown event and for one outside the scope."""
    return HTTPException(404, f"event {event_id} not found")


def _found(event_id: str, item: ArchivedEvent | None) -> ArchivedEvent:
    if item is None:
        raise not_found(event_id)
    return item


def create_events_router(deps: ApiDeps) -> APIRouter:
    """``GET /api/events``, ``GET /api/events/{id}`` and the actions ``POST /api/events/{id}/<action>``."""
    archive, client, keys, escalator, registry = deps.archive, deps.redis, deps.keys, deps.escalator, deps.registry
    router = APIRouter()

    def detail(item: ArchivedEvent) -> EventDetail:
        return EventDetail.model_validate({**item.to_dict(), "actions": archive.actions(item.event.id)})

    @router.get("/api/events", response_model=EventPage,
                summary="Archived events delivered to the centers you see, newest first, filterable")
    def all_events(principal: Reader, query: Annotated[EventQuery, Depends()],
                   center: str | None = None) -> EventPage:
        return query.page(archive, centers=visible_centers(principal, registry), center=center)

    @router.get("/api/events/{event_id}", response_model=EventDetail, responses=NO_REASON,
                summary="One event with its action log (with a reason; logged)")
    def get_event(event_id: str,
                  access: Annotated[Access, Depends(content(Permission.EVENTS_READ, "an event"))]) -> EventDetail:
        if len(event_id) != 26 or not event_id.isalnum():
            raise HTTPException(422, "event id must be a 26-character ULID")
        item = archive.get(event_id)
        if item is None:
            access.record("view_event", event_id, detail="not found")
            raise not_found(event_id)
        if not sees_event(access.principal, item):
            raise access.refuse("view_event", event_id, "outside the viewer's jurisdiction", status=404,
                                message=not_found(event_id).detail)
        access.record("view_event", event_id)
        return detail(item)

    def delivered(event_id: str, action: str, body: ActionIn, principal: Principal) -> tuple[ArchivedEvent, str]:
        """The event an action names and the center acting: 404 when unknown or outside the scope; 403, logged as a
        refused access, when the principal may not act for the center named or the event was not delivered to
        it."""
        access = Access(principal, body.reason, archive)
        item = archive.get(event_id)
        if item is None:
            raise not_found(event_id)
        if not sees_event(principal, item):
            raise access.refuse(f"{action}_event", event_id, "outside the actor's jurisdiction", status=404,
                                message=not_found(event_id).detail)
        center = body.center or principal.jurisdiction
        if principal.role is not Role.ADMIN and center != principal.jurisdiction:
            reason = f"{principal.login} acts as center {principal.jurisdiction}, not {center}"
            raise access.refuse(f"{action}_event", event_id, reason, status=403, message=reason, center=center)
        if center not in item.centers:
            reason = f"event {event_id} was not delivered to center {center}"
            raise access.refuse(f"{action}_event", event_id, reason, status=403, message=reason, center=center)
        return item, center

    def act(event_id: str, action: Literal["ack", "resolve", "hold", "release"], body: ActionIn,
            principal: Principal) -> EventDetail:
        _item, center = delivered(event_id, action, body, principal)
        try:
            updated = archive.act(event_id, action, center=center, user=principal.login, reason=body.reason)
        except EventNotFound:
            raise not_found(event_id) from None
        if action == "ack":
            stream = keys.center_stream(center)
            try:
                entry = client.hget(keys.event_entries(event_id), stream)
                if entry:
                    client.xack(stream, CENTER_GROUP, entry)
            except redis.RedisError as exc:
                log.warning("event %s acknowledged in the archive, XACK postponed: %s", event_id, exc)
        return detail(updated)

    @router.post("/api/events/{event_id}/ack", response_model=EventDetail, summary="Acknowledge (with a reason)")
    def ack(event_id: str, body: ActionIn, principal: Actor) -> EventDetail:
        return act(event_id, "ack", body, principal)

    @router.post("/api/events/{event_id}/resolve", response_model=EventDetail, summary="Resolve (with a reason)")
    def resolve(event_id: str, body: ActionIn, principal: Actor) -> EventDetail:
        return act(event_id, "resolve", body, principal)

    @router.post("/api/events/{event_id}/hold", response_model=EventDetail,
                 summary="Put on hold (kept past the retention period, e.g. as evidence; with a reason)")
    def hold(event_id: str, body: ActionIn, principal: Actor) -> EventDetail:
        return act(event_id, "hold", body, principal)

    @router.post("/api/events/{event_id}/release", response_model=EventDetail,
                 summary="Release a hold (purged by retention again; with a reason)")
    def release(event_id: str, body: ActionIn, principal: Actor) -> EventDetail:
        return act(event_id, "release", body, principal)

    @router.post("/api/events/{event_id}/escalate", response_model=EventDetail,
                 summary="Escalate one tier up (with a reason)")
    def escalate(event_id: str, body: ActionIn, principal: Actor) -> EventDetail:
        if escalator is None:
            raise HTTPException(503, "escalation is not running in this process")
        item, _center = delivered(event_id, "escalate", body, principal)
        try:
            escalator.escalate(item, user=principal.login, reason=body.reason)
        except (AlreadyEscalated, NoHigherTier) as exc:
            raise HTTPException(409, str(exc)) from None
        except redis.RedisError as exc:
            raise HTTPException(503, f"event store unavailable: {exc}") from None
        return detail(_found(event_id, archive.get(event_id)))

    return router
