"""Archived events over HTTP: the lists (open, not logged), one event with its action log (named viewer with a
reason, logged first), and the actions on an event (ack, resolve, hold, release, escalate; a refused one logged).

Owns only HTTP concerns: the handling state lives in :class:`events.archive.Archive`, escalation in
:class:`events.escalation.Escalator`.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any, Literal

import redis
from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from api.access import NO_VIEWER, ActorUnit, Viewer, Who, record, require
from api.deps import ApiDeps
from events.archive import Archive, ArchivedEvent, EventNotFound, EventStatus
from events.escalation import AlreadyEscalated, NoHigherTier
from sharpeyes.keys import CENTER_GROUP
from sharpeyes.schema import Event
from sharpeyes.strict import StrictModel

log = logging.getLogger(__name__)

ULID_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"


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
    center: str = Field(pattern=r"^\d{6}(\d{3})?(\d{3})?$", description="Code of the center taking the action.")
    user: str = Field(min_length=1, max_length=100, description="Who acts (name or staff number).")
    reason: str = Field(min_length=1, max_length=2000, description="Why: required for the access log.")


def event_page(archive: Archive, limit: int, before: str | None, **filters: Any) -> EventPage:
    """One page of archived events, newest first; ``next_before`` set when the page is full."""
    items = [EventOut.model_validate(i.to_dict()) for i in archive.search(limit=limit, before=before, **filters)]
    return EventPage(items=items, next_before=items[-1].id if len(items) == limit else None)


def _found(event_id: str, item: ArchivedEvent | None) -> ArchivedEvent:
    if item is None:
        raise HTTPException(404, f"event {event_id} not found")
    return item


def create_events_router(deps: ApiDeps) -> APIRouter:
    """``GET /api/events``, ``GET /api/events/{id}`` and the actions ``POST /api/events/{id}/<action>``."""
    archive, client, keys, escalator = deps.archive, deps.redis, deps.keys, deps.escalator
    router = APIRouter()

    def detail(item: ArchivedEvent) -> EventDetail:
        return EventDetail.model_validate({**item.to_dict(), "actions": archive.actions(item.event.id)})

    @router.get("/api/events", response_model=EventPage, summary="All archived events, newest first, filterable")
    def all_events(
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        before: Annotated[str | None, Query(pattern=ULID_PATTERN)] = None,
        center: str | None = None,
        type: str | None = None,
        camera_id: str | None = None,
        status: EventStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> EventPage:
        return event_page(archive, limit, before, center=center, type=type, camera_id=camera_id, status=status,
                          since=since, until=until)

    @router.get("/api/events/{event_id}", response_model=EventDetail, responses=NO_VIEWER,
                summary="One event with its action log (named viewer with a reason; logged)")
    def get_event(event_id: str, who: Who) -> EventDetail:
        if len(event_id) != 26 or not event_id.isalnum():
            raise HTTPException(422, "event id must be a 26-character ULID")
        require(who, f"event {event_id}")
        item = archive.get(event_id)
        record(archive, who, "view_event", event_id, detail="" if item is not None else "not found")
        return detail(_found(event_id, item))

    def delivered(event_id: str, action: str, body: ActionIn, unit: str) -> ArchivedEvent:
        """The event an action names: 404 when unknown; 403, logged as a refused access, when it was not delivered
        to the center acting."""
        item = _found(event_id, archive.get(event_id))
        if body.center not in item.centers:
            reason = f"event {event_id} was not delivered to center {body.center}"
            record(archive, Viewer(user=body.user, unit=unit, reason=body.reason), f"{action}_event", event_id,
                   center=body.center, outcome="refused", detail=reason)
            raise HTTPException(403, reason)
        return item

    def act(event_id: str, action: Literal["ack", "resolve", "hold", "release"], body: ActionIn,
            unit: str) -> EventDetail:
        delivered(event_id, action, body, unit)
        try:
            updated = archive.act(event_id, action, center=body.center, user=body.user, reason=body.reason)
        except EventNotFound:
            raise HTTPException(404, f"event {event_id} not found") from None
        if action == "ack":
            stream = keys.center_stream(body.center)
            try:
                entry = client.hget(keys.event_entries(event_id), stream)
                if entry:
                    client.xack(stream, CENTER_GROUP, entry)
            except redis.RedisError as exc:
                log.warning("event %s acknowledged in the archive, XACK postponed: %s", event_id, exc)
        return detail(updated)

    @router.post("/api/events/{event_id}/ack", response_model=EventDetail, summary="Acknowledge (with a reason)")
    def ack(event_id: str, body: ActionIn, unit: ActorUnit) -> EventDetail:
        return act(event_id, "ack", body, unit)

    @router.post("/api/events/{event_id}/resolve", response_model=EventDetail, summary="Resolve (with a reason)")
    def resolve(event_id: str, body: ActionIn, unit: ActorUnit) -> EventDetail:
        return act(event_id, "resolve", body, unit)

    @router.post("/api/events/{event_id}/hold", response_model=EventDetail,
                 summary="Put on hold (kept past the retention period, e.g. as evidence; with a reason)")
    def hold(event_id: str, body: ActionIn, unit: ActorUnit) -> EventDetail:
        return act(event_id, "hold", body, unit)

    @router.post("/api/events/{event_id}/release", response_model=EventDetail,
                 summary="Release a hold (purged by retention again; with a reason)")
    def release(event_id: str, body: ActionIn, unit: ActorUnit) -> EventDetail:
        return act(event_id, "release", body, unit)

    @router.post("/api/events/{event_id}/escalate", response_model=EventDetail,
                 summary="Escalate one tier up (with a reason)")
    def escalate(event_id: str, body: ActionIn, unit: ActorUnit) -> EventDetail:
        if escalator is None:
            raise HTTPException(503, "escalation is not running in this process")
        item = delivered(event_id, "escalate", body, unit)
        try:
            escalator.escalate(item, user=body.user, reason=body.reason)
        except (AlreadyEscalated, NoHigherTier) as exc:
            raise HTTPException(409, str(exc)) from None
        except redis.RedisError as exc:
            raise HTTPException(503, f"event store unavailable: {exc}") from None
        return detail(_found(event_id, archive.get(event_id)))

    return router
