"""HTTP API and web UI (FastAPI). Reads the registry and the Redis streams; writes nothing to the pipeline. Serves
the four-all audit (``GET /api/audit``) from ``audit/``. Content (snapshots, an event's detail, the camera export,
the audit, the access log) is served only to a named viewer with a reason, and every such access, and every refused
action, is written to the access log first (``api/access.py``).

Owns the app only: one router per resource (``api/<resource>.py``), each built from the :class:`api.deps.ApiDeps`
its caller (the hub, a test) gives. No stage imports this package; the CLI serves it.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI

from api.access_log import create_access_log_router
from api.audit import create_audit_router
from api.cameras import create_cameras_router
from api.centers import create_centers_router
from api.deps import ApiDeps
from api.events import create_events_router
from api.ops import create_ops_router
from api.snapshots import create_snapshots_router

log = logging.getLogger(__name__)


def create_app(deps: ApiDeps) -> FastAPI:
    """The app over ``deps`` (the snapshot folder is created when missing)."""
    app = FastAPI(
        title="Sharp Eyes Hub",
        version="0.1.0",
        description="On-premise integration and analytics hub for county public-video networks (雪亮工程).",
        license_info={"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
    )
    for create_router in (create_cameras_router, create_ops_router, create_centers_router, create_events_router,
                          create_snapshots_router, create_access_log_router, create_audit_router):
        app.include_router(create_router(deps))
    return app
