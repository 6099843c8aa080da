"""Operating the hub over HTTP: liveness (``/api/health``), Prometheus metrics (``/metrics``), the backlog of each
event stream (``/api/streams``) and the live page (``/``, ``static/index.html``).

Owns only these read-only routes; metrics are defined in ``sharpeyes/metrics.py`` and the stream backlog is read
from Redis at request time (``events/backlog.py``).
"""

from __future__ import annotations

import logging
from importlib import resources
from typing import Any

import redis
from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from api.deps import ApiDeps
from events.backlog import StreamBacklogCollector, stream_backlog

log = logging.getLogger(__name__)


def create_ops_router(deps: ApiDeps) -> APIRouter:
    """``GET /api/health``, ``GET /metrics``, ``GET /api/streams`` and ``GET /`` (the page)."""
    registry, client, keys, supervisor = deps.registry, deps.redis, deps.keys, deps.supervisor
    router = APIRouter()

    @router.get("/api/health", summary="Liveness and worker status")
    def health() -> dict[str, Any]:
        try:
            redis_ok = bool(client.ping())
        except redis.RedisError:
            redis_ok = False
        workers = supervisor.status() if supervisor else []
        healthy = redis_ok and all(w["healthy"] for w in workers)
        return {"status": "ok" if healthy else "degraded", "redis": redis_ok, "workers": workers}

    backlog = CollectorRegistry(auto_describe=False)
    backlog.register(StreamBacklogCollector(client, keys, lambda: [c.code for c in registry.centers()]))

    @router.get("/metrics", include_in_schema=False)
    def prom() -> Response:
        return Response(generate_latest() + generate_latest(backlog), media_type=CONTENT_TYPE_LATEST)

    @router.get("/api/streams", summary="Backlog of each event stream: length, pending and lag per consumer group")
    def streams() -> dict[str, Any]:
        out: dict[str, Any] = {}
        try:
            for name in [keys.firehose, keys.deadletter, *(keys.center_stream(c.code) for c in registry.centers())]:
                out[name] = stream_backlog(client, name)
        except redis.RedisError as exc:
            raise HTTPException(503, f"event store unavailable: {exc}") from None
        return out

    index_html = (resources.files("api") / "static" / "index.html").read_text(encoding="utf-8")

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> str:
        return index_html

    return router
