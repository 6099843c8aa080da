"""HTTP API and web UI (FastAPI). Reads the registry and the Redis streams; writes nothing to the pipeline. Serves
the four-all audit (``GET /api/audit``) from ``audit/``. Content (snapshots, an event's detail, the camera export,
the audit, the access log) is served only to a named viewer with a reason, and every such access, and every refused
action, is written to the access log first (``api/access.py``).

Nothing imports this package; the CLI serves it.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import redis
from fastapi import FastAPI, Header, HTTPException, Query, Response
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, Field

from api.access import AccessRecordOut, ActorUnit, Viewer, Who, record, require
from api.cameras import create_cameras_router
from audit.fourall import AuditReport, build_report, resolve_window
from audit.report import to_csv, to_html, to_json
from events.archive import Archive, ArchivedEvent, EventNotFound, EventStatus
from events.backlog import StreamBacklogCollector, stream_backlog
from events.escalation import AlreadyEscalated, Escalator, NoHigherTier
from events.publisher import decode_entry
from registry.gb28181 import parse_device_id
from registry.store import Registry
from sharpeyes.keys import CENTER_GROUP, Keys
from sharpeyes.schema import Event
from sharpeyes.settings import Settings
from sharpeyes.strict import StrictModel
from sharpeyes.supervisor import Supervisor

log = logging.getLogger(__name__)

TIER_BY_LEN = {6: "county", 9: "township", 12: "village", 15: "grid"}


class Center(BaseModel):
    code: str = Field(description="Civil code of the jurisdiction node hosting the center.")
    name: str
    tier: str = Field(description="county, township, village or grid")
    jurisdiction: str = Field(description="Name of the jurisdiction node.")
    parent_code: str | None
    synthetic: bool = Field(description="True for demo/test nodes that are not real statistical codes.")
    stream: str = Field(description="Redis stream key of this center's events.")


class CameraOut(BaseModel):
    id: str
    name: str
    jurisdiction_code: str
    civil_codes: list[str]
    stream_url: str
    longitude: float | None
    latitude: float | None
    heading_deg: float | None
    fov_deg: float | None
    range_m: float | None
    sample_mode: str
    sample_fps: float
    enabled: bool
    state: str = Field(description="online, offline or unknown (from the ingest worker)")
    id_info: dict[str, str] = Field(description="What the GB/T 28181 ID encodes.")
    rules: list[dict[str, Any]]


ULID_PATTERN = r"^[0-9A-HJKMNP-TV-Z]{26}$"
_NO_VIEWER = "No name or no reason given (X-Sharpeyes-User/-Unit/-Reason headers or user/unit/reason query)."


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


def _out(item: ArchivedEvent) -> EventOut:
    return EventOut.model_validate(item.to_dict())


def create_app(registry: Registry, client: redis.Redis, keys: Keys, snapshot_dir: Path, archive: Archive,
               supervisor: Supervisor | None = None, escalator: Escalator | None = None, *,
               settings: Settings | None = None) -> FastAPI:
    """The app. ``settings`` gives the audit its targets, retention and timezone (unset: read from the
    environment when the audit is first asked for)."""
    app = FastAPI(
        title="Sharp Eyes Hub",
        version="0.1.0",
        description="On-premise integration and analytics hub for county public-video networks (雪亮工程).",
        license_info={"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
    )
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    snapshot_root = snapshot_dir.resolve()
    app.include_router(create_cameras_router(registry, archive=archive))

    def _page(limit: int, before: str | None, **filters: Any) -> EventPage:
        items = [_out(i) for i in archive.search(limit=limit, before=before, **filters)]
        return EventPage(items=items, next_before=items[-1].id if len(items) == limit else None)

    def _center(code: str) -> None:
        node = registry.get_jurisdiction(code)
        if node is None or not node.has_center:
            raise HTTPException(404, f"no center at {code}")

    @app.get("/api/health", summary="Liveness and worker status")
    def health() -> dict[str, Any]:
        try:
            redis_ok = bool(client.ping())
        except redis.RedisError:
            redis_ok = False
        workers = supervisor.status() if supervisor else []
        healthy = redis_ok and all(w["healthy"] for w in workers)
        return {"status": "ok" if healthy else "degraded", "redis": redis_ok, "workers": workers}

    @app.get("/api/cameras", response_model=list[CameraOut], summary="Registered cameras")
    def cameras() -> list[CameraOut]:
        out = []
        for cam in registry.cameras():
            info = parse_device_id(cam.id)
            try:
                raw_state = client.hget(keys.camera_status(cam.id), "state")
            except redis.RedisError:
                raw_state = None
            out.append(
                CameraOut(
                    id=cam.id, name=cam.name, jurisdiction_code=cam.jurisdiction_code,
                    civil_codes=[n.code for n in registry.jurisdiction_path(cam.jurisdiction_code)],
                    stream_url=cam.stream_url, longitude=cam.longitude, latitude=cam.latitude,
                    heading_deg=cam.heading_deg, fov_deg=cam.fov_deg, range_m=cam.range_m,
                    sample_mode=cam.sample_mode, sample_fps=cam.sample_fps, enabled=cam.enabled,
                    state=raw_state.decode() if isinstance(raw_state, bytes) else "unknown",
                    id_info={"industry": info.industry_name, "type": info.type_name, "network": info.network_name,
                             "county": info.civil_code, "serial": info.serial},
                    rules=cam.rules,
                )
            )
        return out

    @app.get("/api/centers", response_model=list[Center], summary="Comprehensive-governance centers (综治中心)")
    def centers() -> list[Center]:
        return [
            Center(code=j.code, name=j.center_name, tier=TIER_BY_LEN.get(len(j.code), j.level), jurisdiction=j.name,
                   parent_code=j.parent_code, synthetic=j.synthetic, stream=keys.center_stream(j.code))
            for j in registry.centers()
        ]

    @app.get("/api/centers/{code}/events", response_model=EventPage, summary="A center's events, newest first")
    def center_events(
        code: str,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        before: Annotated[str | None, Query(pattern=ULID_PATTERN, description="id of the last event seen")] = None,
        type: str | None = None,
        camera_id: str | None = None,
        status: EventStatus | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> EventPage:
        _center(code)
        return _page(limit, before, center=code, type=type, camera_id=camera_id, status=status, since=since,
                     until=until)

    @app.get("/api/events", response_model=EventPage, summary="All archived events, newest first, filterable")
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
        return _page(limit, before, center=center, type=type, camera_id=camera_id, status=status, since=since,
                     until=until)

    def _found(event_id: str, item: ArchivedEvent | None) -> ArchivedEvent:
        if item is None:
            raise HTTPException(404, f"event {event_id} not found")
        return item

    def _detail(item: ArchivedEvent) -> EventDetail:
        return EventDetail.model_validate({**item.to_dict(), "actions": archive.actions(item.event.id)})

    @app.get("/api/events/{event_id}", response_model=EventDetail, responses={428: {"description": _NO_VIEWER}},
             summary="One event with its action log (named viewer with a reason; logged)")
    def get_event(event_id: str, who: Who) -> EventDetail:
        if len(event_id) != 26 or not event_id.isalnum():
            raise HTTPException(422, "event id must be a 26-character ULID")
        require(who, f"event {event_id}")
        item = archive.get(event_id)
        record(archive, who, "view_event", event_id, detail="" if item is not None else "not found")
        return _detail(_found(event_id, item))

    def _delivered(event_id: str, action: str, body: ActionIn, unit: str) -> ArchivedEvent:
        """The event an action names: 404 when unknown; 403, logged as a refused access, when it was not delivered
        to the center acting."""
        item = _found(event_id, archive.get(event_id))
        if body.center not in item.centers:
            detail = f"event {event_id} was not delivered to center {body.center}"
            record(archive, Viewer(user=body.user, unit=unit, reason=body.reason), f"{action}_event", event_id,
                   center=body.center, outcome="refused", detail=detail)
            raise HTTPException(403, detail)
        return item

    def _act(event_id: str, action: Literal["ack", "resolve", "hold", "release"], body: ActionIn,
             unit: str) -> EventDetail:
        _delivered(event_id, action, body, unit)
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
        return _detail(updated)

    @app.post("/api/events/{event_id}/ack", response_model=EventDetail, summary="Acknowledge (with a reason)")
    def ack(event_id: str, body: ActionIn, unit: ActorUnit) -> EventDetail:
        return _act(event_id, "ack", body, unit)

    @app.post("/api/events/{event_id}/resolve", response_model=EventDetail, summary="Resolve (with a reason)")
    def resolve(event_id: str, body: ActionIn, unit: ActorUnit) -> EventDetail:
        return _act(event_id, "resolve", body, unit)

    @app.post("/api/events/{event_id}/hold", response_model=EventDetail,
              summary="Put on hold (kept past the retention period, e.g. as evidence; with a reason)")
    def hold(event_id: str, body: ActionIn, unit: ActorUnit) -> EventDetail:
        return _act(event_id, "hold", body, unit)

    @app.post("/api/events/{event_id}/release", response_model=EventDetail,
              summary="Release a hold (purged by retention again; with a reason)")
    def release(event_id: str, body: ActionIn, unit: ActorUnit) -> EventDetail:
        return _act(event_id, "release", body, unit)

    @app.post("/api/events/{event_id}/escalate", response_model=EventDetail,
              summary="Escalate one tier up (with a reason)")
    def escalate(event_id: str, body: ActionIn, unit: ActorUnit) -> EventDetail:
        if escalator is None:
            raise HTTPException(503, "escalation is not running in this process")
        item = _delivered(event_id, "escalate", body, unit)
        try:
            escalator.escalate(item, user=body.user, reason=body.reason)
        except (AlreadyEscalated, NoHigherTier) as exc:
            raise HTTPException(409, str(exc)) from None
        except redis.RedisError as exc:
            raise HTTPException(503, f"event store unavailable: {exc}") from None
        return _detail(_found(event_id, archive.get(event_id)))

    @app.get("/snapshots/{ref:path}", response_class=FileResponse, responses={428: {"description": _NO_VIEWER}},
             summary="An event's snapshot JPEG (named viewer with a reason; logged)")
    def snapshot(ref: str, who: Who) -> FileResponse:
        require(who, f"snapshot {ref}")
        path = (snapshot_root / ref).resolve()
        found = snapshot_root in path.parents and path.is_file()
        record(archive, who, "view_snapshot", ref, detail="" if found else "not found")
        if not found:  # missing, or outside the snapshot folder (../, absolute, a link out)
            raise HTTPException(404, "snapshot not found")
        return FileResponse(path, headers={"Cache-Control": "private, no-store"})

    @app.get("/api/access-log", response_model=list[AccessRecordOut], responses={428: {"description": _NO_VIEWER}},
             summary="The access log (who viewed what, from which unit, why; refused actions), newest first")
    def access_log(
        who: Who,
        since: Annotated[datetime | None, Query(description="From (ISO 8601; without an offset: UTC).")] = None,
        until: Annotated[datetime | None, Query(description="Before (ISO 8601; without an offset: UTC).")] = None,
        limit: Annotated[int, Query(ge=1, le=5000, description="At most this many records.")] = 100,
    ) -> list[AccessRecordOut]:
        require(who, "the access log")
        record(archive, who, "view_access_log",
               f"{since.isoformat() if since else ''}..{until.isoformat() if until else ''}")
        return [AccessRecordOut.of(e) for e in archive.access_log(since=since, until=until, limit=limit)]

    @app.get("/api/centers/{code}/events/stream", summary="Live events of a center (Server-Sent Events)")
    def center_stream(
        code: str,
        heartbeat_s: Annotated[float, Query(gt=0, le=60)] = 15.0,
        last_event_id: Annotated[str | None, Header(pattern=r"^\d+-\d+$",
                                                    description="Resume after this stream entry id")] = None,
    ) -> StreamingResponse:
        _center(code)
        stream = keys.center_stream(code)
        if last_event_id is None:
            # pin "now" to a concrete entry id before answering, so nothing added after the client connected is
            # missed (with "$", entries added before the first XREAD would be)
            try:
                newest: Any = client.xrevrange(stream, count=1)
            except redis.RedisError as exc:
                raise HTTPException(503, f"event store unavailable: {exc}") from None
            start = newest[0][0].decode() if newest else "0-0"
        else:
            start = last_event_id

        def gen() -> Iterator[bytes]:
            last = start
            yield b": connected\n\n"
            while True:
                try:
                    resp: Any = client.xread({stream: last}, count=100, block=int(heartbeat_s * 1000))
                except redis.RedisError as exc:
                    yield f"event: error\ndata: {json.dumps(str(exc))}\n\n".encode()
                    time.sleep(heartbeat_s)
                    continue
                if not resp:
                    yield b": keep-alive\n\n"
                    continue
                for _name, entries in resp:
                    for entry_id, fields in entries:
                        last = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                        try:
                            ev = decode_entry(fields)
                        except ValueError:
                            continue
                        yield f"id: {last}\nevent: {ev.type.value}\ndata: {ev.to_json()}\n\n".encode()

        return StreamingResponse(gen(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    backlog = CollectorRegistry(auto_describe=False)
    backlog.register(StreamBacklogCollector(client, keys, lambda: [c.code for c in registry.centers()]))

    @app.get("/metrics", include_in_schema=False)
    def prom() -> Response:
        return Response(generate_latest() + generate_latest(backlog), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/streams", summary="Backlog of each event stream: length, pending and lag per consumer group")
    def streams() -> dict[str, Any]:
        out: dict[str, Any] = {}
        try:
            for name in [keys.firehose, keys.deadletter, *(keys.center_stream(c.code) for c in registry.centers())]:
                out[name] = stream_backlog(client, name)
        except redis.RedisError as exc:
            raise HTTPException(503, f"event store unavailable: {exc}") from None
        return out

    @cache
    def audit_settings() -> Settings:
        return settings if settings is not None else Settings()

    @app.get(
        "/api/audit", response_model=None,
        summary="Four-all (四全) audit: coverage, sharing, availability, control (JSON, CSV or HTML; named viewer "
                "with a reason; logged)",
        responses={200: {"model": AuditReport, "description": "The report in the format asked for.",
                         "content": {"text/csv": {}, "text/html": {}}},
                   428: {"description": _NO_VIEWER}},
    )
    def audit(
        who: Who,
        fmt: Annotated[Literal["json", "csv", "html"], Query(alias="format", description="Report format.")] = "json",
        days: Annotated[int, Query(ge=1, le=3660, description="Window of the last N days (ending at until).")] = 30,
        since: Annotated[datetime | None, Query(description="Window start, ISO 8601; overrides days.")] = None,
        until: Annotated[datetime | None, Query(description="Window end, ISO 8601; default now.")] = None,
    ) -> Response:
        require(who, "the audit report")
        cfg = audit_settings()
        try:
            start, end = resolve_window(days=days, since=since, until=until, tz=ZoneInfo(cfg.timezone))
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        record(archive, who, "audit_report", f"{start.isoformat()}..{end.isoformat()}", detail=f"format={fmt}")
        report = build_report(registry, archive, cfg, start, end)
        if fmt == "csv":
            name = f"four-all-audit-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}Z.csv"
            return PlainTextResponse(to_csv(report), media_type="text/csv; charset=utf-8",
                                     headers={"Content-Disposition": f'attachment; filename="{name}"'})
        if fmt == "html":
            return HTMLResponse(to_html(report))
        return Response(to_json(report), media_type="application/json")

    index_html = (resources.files("api") / "static" / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return index_html

    return app
