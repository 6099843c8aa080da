"""HTTP API and web UI (FastAPI). Reads the registry and the Redis streams; writes nothing to the pipeline.

Nothing imports this package; the CLI serves it.
"""

from __future__ import annotations

import logging
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import redis
from fastapi import FastAPI, HTTPException, Query, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from api.cameras import create_cameras_router
from events.publisher import decode_entry
from registry.gb28181 import parse_device_id
from registry.store import Registry
from sharpeyes.keys import Keys
from sharpeyes.schema import Event
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


class EventPage(BaseModel):
    items: list[Event]
    next_before: str | None = Field(description="Pass as ?before= for the next (older) page; null at the end.")


def create_app(registry: Registry, client: redis.Redis, keys: Keys, snapshot_dir: Path,
               supervisor: Supervisor | None = None) -> FastAPI:
    app = FastAPI(
        title="Sharp Eyes Hub",
        version="0.1.0",
        description="On-premise integration and analytics hub for county public-video networks (雪亮工程).",
        license_info={"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
    )
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    app.mount("/snapshots", StaticFiles(directory=str(snapshot_dir), check_dir=False), name="snapshots")
    app.include_router(create_cameras_router(registry))

    def _page(stream: str, limit: int, before: str | None) -> EventPage:
        start = f"({before}" if before else "+"
        try:
            entries = client.xrevrange(stream, max=start, min="-", count=limit)
        except redis.ResponseError as exc:
            raise HTTPException(400, f"bad paging cursor: {exc}") from None
        except redis.RedisError as exc:
            raise HTTPException(503, f"event store unavailable: {exc}") from None
        entries = entries or []
        items = []
        for _entry_id, fields in entries:
            try:
                items.append(decode_entry(fields or {}))
            except ValueError as exc:
                log.warning("skipping unreadable entry in %s: %s", stream, exc)
        last_id = entries[-1][0] if entries else None
        nxt = last_id.decode() if isinstance(last_id, bytes) and len(entries) == limit else None
        return EventPage(items=items, next_before=nxt)

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
    def center_events(code: str, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                      before: Annotated[str | None, Query(pattern=r"^\d+-\d+$")] = None) -> EventPage:
        node = registry.get_jurisdiction(code)
        if node is None or not node.has_center:
            raise HTTPException(404, f"no center at {code}")
        return _page(keys.center_stream(code), limit, before)

    @app.get("/api/events", response_model=EventPage, summary="All events (firehose), newest first")
    def all_events(limit: Annotated[int, Query(ge=1, le=500)] = 50,
                   before: Annotated[str | None, Query(pattern=r"^\d+-\d+$")] = None) -> EventPage:
        return _page(keys.firehose, limit, before)

    @app.get("/api/events/{event_id}", response_model=Event, summary="One event by id")
    def get_event(event_id: str) -> Event:
        if not event_id.isalnum() or len(event_id) != 26:
            raise HTTPException(422, "event id must be a 26-character ULID")
        try:
            raw = client.get(keys.event(event_id))
        except redis.RedisError as exc:
            raise HTTPException(503, f"event store unavailable: {exc}") from None
        if raw is None:
            raise HTTPException(404, f"event {event_id} not found")
        return Event.from_json(raw)

    @app.get("/metrics", include_in_schema=False)
    def prom() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    index_html = (resources.files("api") / "static" / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return index_html

    return app
