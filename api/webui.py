"""What the web app (``api/static/``: native ES modules, no build step) needs beyond the resource routers: its
static files, and four small read-only JSON/SSE routes behind the usual guards.

- ``GET /ui/{name}`` (open, like ``GET /``: the login page needs its script before anyone is logged in): one file
  of ``api/static/`` by flat name (``app.js``, ``app.css``...), never a path, never ``index.html`` (that is ``/``).
  Code only: no data, no event content.
- ``GET /api/ui/config`` (any user): the SLA of each severity (from the hub's routing policy) and the timezone.
- ``GET /api/ui/jurisdictions`` (any user): the jurisdiction nodes of the principal's subtree, for the camera tree,
  and the names of the nodes above it (``in_scope`` false), for an event's routing path.
- ``GET /api/ui/availability`` (cameras:read): each camera's 在线率/完好率 over the last N days and the key points
  (for the camera tree and the map), computed by ``audit/`` over the principal's subtree.
- ``POST /api/ui/cameras/discover`` (cameras:write): a WS-Discovery probe for ONVIF cameras (multicast on the hub's
  network, or unicast to one address), the CLI's ``sharpeyes camera discover``; registers nothing.
- ``POST /api/ui/cameras/import`` (cameras:write): a camera YAML file (the format of ``camera_configs/`` and of the
  export) registered or updated all or nothing through :meth:`registry.service.CameraService.import_yaml`, the
  CLI's path; refused (422, nothing written) when a camera or a village of the file lies outside the importer's
  subtree; each camera added or changed is access-logged like the other camera routes.
- ``GET /api/ui/changes`` (events:read, Server-Sent Events): each change of an event the principal sees — an
  action by anyone (ack, resolve, hold, escalation, an SLA escalation), a later state of the incident (from the
  firehose) — as the event's archived state (``EventOut``), so review queues update in place without polling (new
  events come on the center's own stream). Resumes after ``Last-Event-ID``.

Owns only these routes; scope rules are the ones of ``api/events.py`` (``sees_event``) and ``api/cameras.py``.
Writes nothing but the import (the change feed reads the archive's action log by time, the index
:class:`events.archive.EventAction` has; a method of ``Archive`` would be its proper home).
"""

from __future__ import annotations

import logging
import mimetypes
import re
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import redis
from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from api.access import Access
from api.auth import authenticated
from api.cameras import Changer, Viewer
from api.deps import ApiDeps
from api.events import EventOut, Reader, sees_event
from api.noecho import NoEchoRoute
from audit.fourall import build_report
from events.archive import EventAction, as_utc
from events.publisher import decode_entry
from events.routing import RoutingPolicy
from identity.roles import Principal, Role
from registry.config import CameraConfigError, load_camera_file
from registry.discovery import DiscoveredDevice, discover
from registry.onvif import HOST_PATTERN
from registry.service import ImportResult
from sharpeyes.strict import StrictModel

log = logging.getLogger(__name__)

ASSET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}\.(js|css|svg|png)$")
"""What ``/ui/{name}`` serves: a flat file name of ``api/static/`` (no folder, no ``..``)."""
ASSET_TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8", "svg": "image/svg+xml",
               "png": "image/png"}
CHANGES_BATCH = 200


class UiConfig(BaseModel):
    sla_s: dict[str, float] = Field(description="Seconds an event of each severity may stay unacknowledged.")
    timezone: str = Field(description="IANA timezone of the hub.")


class JurisdictionOut(BaseModel):
    code: str = Field(description="Civil code.")
    name: str = Field(description="Name.")
    level: str = Field(description="county, township, village or grid.")
    parent_code: str | None = Field(description="Parent node; null at the top.")
    has_center: bool = Field(description="Hosts a comprehensive-governance center (综治中心).")
    synthetic: bool = Field(description="A made-up demo/test node.")
    in_scope: bool = Field(description="In your subtree (false: an ancestor of your node, listed for its name).")


class CameraAvailability(BaseModel):
    id: str = Field(description="Camera id.")
    online_rate: float | None = Field(description="在线率 over the window; null when not measured.")
    intact_rate: float | None = Field(description="完好率 over the window; null when not measured.")
    online_now: bool = Field(description="Online at the end of the window.")
    target: float = Field(description="The 在线率 target that applies to it.")


class KeyPointOut(BaseModel):
    id: str = Field(description="Key point id.")
    name: str = Field(description="Name.")
    kind: str = Field(description="crossroads, square, school...")
    longitude: float = Field(description="WGS-84 longitude.")
    latitude: float = Field(description="WGS-84 latitude.")
    covered: bool = Field(description="Inside the sector of at least one online camera.")


class AvailabilityOut(BaseModel):
    days: int = Field(description="Window length in days, ending now.")
    cameras: list[CameraAvailability]
    key_points: list[KeyPointOut]


class CameraImportIn(StrictModel):
    yaml: str = Field(min_length=1, max_length=20_000_000,
                      description="A camera YAML file (jurisdictions and cameras).")
    name: str = Field("import.yaml", max_length=200, pattern=r"^[\w\- ][\w.\- ]*\.ya?ml$",
                      description="The file's name, for the messages and the log.")


class DiscoverIn(StrictModel):
    timeout_s: float = Field(3.0, gt=0, le=10, description="How long to collect answers, seconds.")
    host: str | None = Field(None, max_length=253, pattern=HOST_PATTERN,
                             description="Probe this address only (unicast); unset: multicast on the hub's network.")
    port: int = Field(3702, ge=1, le=65535, description="WS-Discovery port of ``host``.")


def _outside_scope(deps: ApiDeps, access: Access, path: Path) -> list[str]:
    """What in the camera file at ``path`` lies outside the importer's subtree (raises CameraConfigError)."""
    principal, registry = access.principal, deps.registry
    if principal.role is Role.ADMIN:
        return []
    cf = load_camera_file(path)
    problems = []
    for j in cf.jurisdictions:
        if not principal.sees(j.parent) or (registry.get_jurisdiction(j.code) is not None
                                            and not principal.sees(j.code)):
            problems.append(f"jurisdiction {j.code}: not in the jurisdiction tree you manage")
    new_nodes = {j.code for j in cf.jurisdictions if principal.sees(j.parent)}
    for cam in cf.cameras:
        known = registry.get_camera(cam.id)
        if (known is not None and not principal.sees(known.jurisdiction_code)) or not (
                principal.sees(cam.jurisdiction) or cam.jurisdiction in new_nodes):
            problems.append(f"camera {cam.id}: jurisdiction {cam.jurisdiction} is not in the jurisdiction tree you "
                            "manage")
    return problems


def _changed_since(deps: ApiDeps, cursor: datetime, limit: int) -> list[tuple[int, datetime, EventOut]]:
    """The actions taken on archived events at or after ``cursor`` (by anyone: ack, resolve, hold, release, a
    manual or SLA escalation), oldest first, each with the event's state now: ``(action id, at, state)``. Read from
    the action log (indexed by time), not by scanning the events."""
    q = (select(EventAction.id, EventAction.event_id, EventAction.at).where(EventAction.at >= cursor)
         .order_by(EventAction.at, EventAction.id).limit(limit))
    with deps.archive.sessions() as s:
        rows = list(s.execute(q))
    out = []
    states: dict[str, EventOut | None] = {}
    for action_id, event_id, at in rows:
        if event_id not in states:
            item = deps.archive.get(event_id)
            states[event_id] = EventOut.model_validate(item.to_dict()) if item is not None else None
        state = states[event_id]
        if state is not None:
            out.append((action_id, as_utc(at), state))
    return out


def _change(ev: EventOut, cursor: datetime) -> bytes:
    return f"id: {cursor.isoformat()}\nevent: change\ndata: {ev.model_dump_json()}\n\n".encode()


def _changes(deps: ApiDeps, principal: Principal, cursor: datetime, heartbeat_s: float) -> Iterator[bytes]:
    """The change feed: blocks on the firehose (incident updates arrive at once) for at most a second, then reads
    the archive for actions since the cursor; a comment every ``heartbeat_s`` idle."""
    client, keys = deps.redis, deps.keys
    sent: dict[int, datetime] = {}  # action id -> its time: actions at the cursor are not sent twice
    try:  # the firehose position is taken before the client hears "connected": nothing published after is missed
        newest: Any = client.xrevrange(keys.firehose, count=1)
        firehose_last = newest[0][0].decode() if newest else "0-0"
    except redis.RedisError:
        firehose_last = "$"
    yield b": connected\n\n"
    idle = 0.0
    while True:
        chunks: list[bytes] = []
        started = time.monotonic()
        try:
            resp: Any = client.xread({keys.firehose: firehose_last}, count=100, block=1000)
        except redis.RedisError as exc:
            log.debug("change feed: firehose unreadable: %s", exc)
            resp = None
            time.sleep(1.0)
        for _name, entries in resp or []:
            for entry_id, fields in entries:
                firehose_last = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                try:
                    ev = decode_entry(fields)
                except ValueError:
                    continue
                if ev.updated_at is None:
                    continue  # a first state: the center stream carries it, the archive query below its state
                item = deps.archive.get(ev.id)
                if item is None or not sees_event(principal, item):
                    continue
                state = EventOut.model_validate({**item.to_dict(), **ev.model_dump(mode="json")})
                chunks.append(_change(state, cursor))
        try:
            changed = _changed_since(deps, cursor, CHANGES_BATCH)
        except SQLAlchemyError as exc:
            log.warning("change feed: archive unreadable: %s", exc)
            changed = []
        for action_id, at, state in changed:
            cursor = max(cursor, at)
            if action_id in sent:
                continue
            sent[action_id] = at
            if principal.role is not Role.ADMIN and not any(principal.sees(c) for c in state.centers):
                continue
            chunks.append(_change(state, cursor))
        if len(sent) > 5000:
            sent = {k: v for k, v in sent.items() if v >= cursor}
        if chunks:
            idle = 0.0
            yield b"".join(chunks)
        else:
            idle += time.monotonic() - started
            if idle >= heartbeat_s:
                idle = 0.0
                yield b": keep-alive\n\n"


def create_webui_router(deps: ApiDeps) -> APIRouter:
    """``GET /ui/{name}`` and the ``/api/ui/...`` routes."""
    registry, settings = deps.registry, deps.settings
    static = resources.files("api") / "static"
    router = APIRouter()

    @router.get("/ui/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        match = ASSET_NAME.fullmatch(name)
        item = static / name
        if match is None or not item.is_file():
            raise HTTPException(404, "no such file")
        media = ASSET_TYPES.get(match.group(1)) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        return Response(item.read_bytes(), media_type=media, headers={"Cache-Control": "no-cache"})

    policy = deps.escalator.router.policy if deps.escalator is not None else RoutingPolicy.load(
        settings.routing_policy)
    sla = {k.value: v for k, v in policy.sla_s.items()}

    @router.get("/api/ui/config", response_model=UiConfig, tags=["web app"],
                summary="What the web app shows: the SLA of each severity and the hub's timezone")
    def config(_principal: Annotated[Principal, Depends(authenticated)]) -> UiConfig:
        return UiConfig(sla_s=sla, timezone=settings.timezone)

    @router.get("/api/ui/jurisdictions", response_model=list[JurisdictionOut], tags=["web app"],
                summary="The jurisdiction nodes of your subtree (county → township → village)")
    def jurisdictions(principal: Annotated[Principal, Depends(authenticated)]) -> list[JurisdictionOut]:
        codes = registry.jurisdiction_codes() if principal.role is Role.ADMIN else set(principal.scope)
        # the nodes above the principal's, by name only: an event's routing path and the tree's root name them
        above = [n.code for n in registry.jurisdiction_path(principal.jurisdiction) if n.code not in codes]
        listed = codes | set(above)
        out = []
        for code in sorted(listed):
            node = registry.get_jurisdiction(code)
            if node is None:
                continue
            out.append(JurisdictionOut(code=node.code, name=node.name, level=node.level,
                                       parent_code=node.parent_code if node.parent_code in listed else None,
                                       has_center=node.has_center, synthetic=node.synthetic,
                                       in_scope=code in codes))
        return out

    @router.get("/api/ui/availability", response_model=AvailabilityOut, tags=["web app"],
                summary="在线率 and 完好率 of each camera of your subtree over the last days, and the key points")
    def availability(principal: Viewer,
                     days: Annotated[int, Query(ge=1, le=90, description="Window: the last N days.")] = 7,
                     ) -> AvailabilityOut:
        end = datetime.now(ZoneInfo(settings.timezone))
        scope = None if principal.role is Role.ADMIN else principal.scope
        report = build_report(registry, deps.archive, settings, end - timedelta(days=days), end, scope=scope)
        return AvailabilityOut(
            days=days,
            cameras=[CameraAvailability(id=c.id, online_rate=c.online_rate, intact_rate=c.intact_rate,
                                        online_now=c.online_now, target=c.target) for c in report.cameras],
            key_points=[KeyPointOut(id=p.id, name=p.name, kind=p.kind, longitude=p.longitude, latitude=p.latitude,
                                    covered=p.covered) for p in report.key_points])

    importer = APIRouter(route_class=NoEchoRoute)

    @importer.post("/api/ui/cameras/discover", response_model=list[DiscoveredDevice], tags=["web app"],
                   summary="Find ONVIF cameras by WS-Discovery (multicast, or one address); registers nothing")
    def discover_cameras(body: DiscoverIn, access: Changer) -> list[DiscoveredDevice]:
        target = (body.host.strip("[]"), body.port) if body.host else None
        try:
            found = discover(body.timeout_s, target=target)
        except OSError as exc:
            raise HTTPException(502, {"error": "DiscoveryFailed", "message": str(exc)}) from None
        log.info("ws-discovery by %s: %d device(s)", access.principal.login, len(found))
        return found

    @importer.post("/api/ui/cameras/import", response_model=ImportResult, tags=["web app"],
                   summary="Import a camera YAML file (all or nothing; within your jurisdiction; logged)")
    def import_cameras(body: CameraImportIn, access: Changer) -> ImportResult:
        with tempfile.TemporaryDirectory(prefix="sharpeyes-import-") as folder:
            path = Path(folder) / body.name
            path.write_text(body.yaml, encoding="utf-8")
            try:
                outside = _outside_scope(deps, access, path)
                if outside:
                    raise HTTPException(422, {"error": "OutsideJurisdiction", "message": "; ".join(outside[:20])})
                result = deps.cameras.import_yaml(path)
            except CameraConfigError as exc:
                message = str(exc).replace(str(path), body.name)
                raise HTTPException(422, {"error": "CameraConfigError", "message": message}) from None
        for camera_id in result.added:
            access.record("camera_add", camera_id, detail=f"YAML import {body.name}")
        for camera_id in result.updated:
            access.record("camera_update", camera_id, detail=f"YAML import {body.name}")
        return result

    router.include_router(importer)

    @router.get("/api/ui/changes", tags=["web app"],
                summary="Changes of the events you see (actions by anyone, incident updates, escalations) as "
                        "Server-Sent Events")
    def changes(
        principal: Reader,
        heartbeat_s: Annotated[float, Query(gt=0, le=60)] = 15.0,
        since: Annotated[datetime | None, Query(description="Changes from this time (default: now).")] = None,
        last_event_id: Annotated[str | None, Header(description="Resume after this change (an ISO time).")] = None,
    ) -> StreamingResponse:
        cursor = datetime.now(UTC)
        for value in (last_event_id, since):
            if value is None:
                continue
            try:
                cursor = as_utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))
            except ValueError:
                raise HTTPException(422, "Last-Event-ID must be an ISO time") from None
            break
        return StreamingResponse(_changes(deps, principal, cursor, heartbeat_s), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return router

