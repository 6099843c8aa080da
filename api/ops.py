"""Operating the hub over HTTP: liveness (``/api/health``, open) and Prometheus metrics (``/metrics``,
ops:read), the two a worker node serves too; the backlog of each event stream (``/api/streams``, ops:read); and the
live page (``/``, ``static/index.html``, open: it shows a login form first, and how to create an admin while there
is none).

Owns only these read-only routes; metrics are defined in ``sharpeyes/metrics.py`` and the stream backlog is read
from Redis at request time (``events/backlog.py``).
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

import redis
from fastapi import APIRouter, Depends, HTTPException, Response
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from sqlalchemy.exc import SQLAlchemyError

from analytics.snapshot import STORAGE as SNAPSHOTS
from api.auth import requires
from api.deps import ApiDeps
from events.backlog import StreamBacklogCollector, stream_backlog
from identity.cli import CREATE_ADMIN
from identity.roles import Permission

log = logging.getLogger(__name__)


def create_health_router(deps: ApiDeps) -> APIRouter:
    """``GET /api/health`` and ``GET /metrics``: what every node serves (a worker node nothing else)."""
    registry, client, keys, supervisor = deps.registry, deps.redis, deps.keys, deps.supervisor
    router = APIRouter()

    @router.get("/api/health", summary="Liveness and worker status")
    def health() -> dict[str, Any]:
        try:
            redis_ok = bool(client.ping())
        except redis.RedisError:
            redis_ok = False
        workers = supervisor.status() if supervisor else []
        storage = {"snapshots": SNAPSHOTS.error, "events_without_snapshot": SNAPSHOTS.events_without_snapshot,
                   "events": next((w.get("storage_error") for w in workers if "storage_error" in w), None)}
        healthy = redis_ok and all(w["healthy"] for w in workers) and SNAPSHOTS.error is None
        return {"status": "ok" if healthy else "degraded", "redis": redis_ok, "storage": storage, "workers": workers}

    backlog = CollectorRegistry(auto_describe=False)
    backlog.register(StreamBacklogCollector(client, keys, lambda: [c.code for c in registry.centers()]))

    @router.get("/metrics", include_in_schema=False, dependencies=[Depends(requires(Permission.OPS_READ))])
    def prom() -> Response:
        return Response(generate_latest() + generate_latest(backlog), media_type=CONTENT_TYPE_LATEST)

    return router


def create_ops_router(deps: ApiDeps) -> APIRouter:
    """``GET /api/streams`` and ``GET /`` (the page)."""
    registry, client, keys, identity = deps.registry, deps.redis, deps.keys, deps.identity
    router = APIRouter()

    @router.get("/api/streams", summary="Backlog of each event stream: length, pending and lag per consumer group",
                dependencies=[Depends(requires(Permission.OPS_READ))])
    def streams() -> dict[str, Any]:
        out: dict[str, Any] = {}
        try:
            for name in [keys.firehose, keys.deadletter, *(keys.center_stream(c.code) for c in registry.centers())]:
                out[name] = stream_backlog(client, name)
        except redis.RedisError as exc:
            raise HTTPException(503, f"event store unavailable: {exc}") from None
        return out

    index_html = (resources.files("api") / "static" / "index.html").read_text(encoding="utf-8")
    no_admin = (f'<p id="no-admin" class="notice">This hub has no admin account yet. On the hub machine, create '
                f'one: <code>{CREATE_ADMIN}</code></p>')

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        try:
            has_admin = identity.has_admin()
        except SQLAlchemyError as exc:
            log.warning("cannot tell whether an admin exists: %s", exc)
            has_admin = True
        return index_html if has_admin else index_html.replace("<!-- no-admin -->", no_admin, 1)

    return router
