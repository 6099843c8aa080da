"""HTTP API and web UI (FastAPI). Reads the registry and the Redis streams; writes nothing to the pipeline. Serves
the four-all audit (``GET /api/audit``) from ``audit/``. Every route but the open ones (``api.auth.OPEN_ROUTES``:
liveness, logging in, the page) needs a logged-in user with a permission (``api/auth.py``), and sees only its
jurisdiction subtree; content is served only with a reason, and every such access, every login and camera change,
and every refused action, is written to the access log first (``api/access.py``).

Owns the app only: one router per resource (``api/<resource>.py``), each built from the :class:`api.deps.ApiDeps`
its caller (the hub, a test) gives, the web app (``api/static/``, served with its few JSON/SSE helpers by
``api/webui.py``), and the OpenAPI schema and docs behind a login. No stage imports this package;
the CLI serves it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from api.access_log import create_access_log_router
from api.audit import create_audit_router
from api.auth import authenticated, create_auth_router, unguarded_routes
from api.cameras import create_cameras_router
from api.centers import create_centers_router
from api.deps import ApiDeps
from api.events import create_events_router
from api.ops import create_health_router, create_ops_router
from api.snapshots import create_snapshots_router
from api.webui import create_webui_router
from api.workers import create_workers_router

log = logging.getLogger(__name__)


def create_app(deps: ApiDeps) -> FastAPI:
    """The app over ``deps`` (the snapshot folder is created when missing). Raises ``RuntimeError`` when a route
    declares no authentication and is not open (deny by default)."""
    app = FastAPI(
        title="Sharp Eyes Hub",
        version="0.1.0",
        description="On-premise integration and analytics hub for county public-video networks (雪亮工程). Log in "
                    "with POST /api/auth/token (the Authorize button) or POST /api/auth/login (the browser).",
        license_info={"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        docs_url=None, redoc_url=None, openapi_url=None,  # served below, to logged-in users only
    )
    app.state.api_deps = deps
    for create_router in (create_auth_router, create_cameras_router, create_health_router, create_ops_router,
                          create_workers_router, create_centers_router, create_events_router,
                          create_snapshots_router, create_access_log_router, create_audit_router,
                          create_webui_router):
        app.include_router(create_router(deps))

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(authenticated)])
    def openapi() -> JSONResponse:
        schema: dict[str, Any] = app.openapi()
        return JSONResponse(schema)

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(authenticated)])
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Sharp Eyes Hub — API")

    if unguarded := unguarded_routes(app):
        raise RuntimeError("routes without a declared permission (deny by default): " + "; ".join(unguarded))
    return app


def create_worker_app(deps: ApiDeps) -> FastAPI:
    """What a worker node (``sharpeyes worker``) serves: liveness and its workers (``/api/health``, open, for a
    load balancer or systemd's watchdog) and ``/metrics`` (ops:read, a token) — no web app, no event routes."""
    app = FastAPI(title="Sharp Eyes Hub — worker node", version="0.1.0", docs_url=None, redoc_url=None,
                  openapi_url=None, license_info={"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"})
    app.state.api_deps = deps
    app.include_router(create_health_router(deps))
    if unguarded := unguarded_routes(app):
        raise RuntimeError("routes without a declared permission (deny by default): " + "; ".join(unguarded))
    return app
