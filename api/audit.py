"""The four-all (四全) audit over HTTP: ``GET /api/audit`` as JSON, CSV or HTML: content (audit:read, a reason),
logged before it is built.

Owns only the route; the report is built by ``audit/`` from the registry and the archive, with the targets,
retention and timezone of the hub's settings (``ApiDeps.settings``), over the reader's jurisdiction subtree (an
admin: everything).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.responses import HTMLResponse, PlainTextResponse

from api.access import NO_REASON, Access, content
from api.deps import ApiDeps
from audit.fourall import AuditReport, build_report, resolve_window
from audit.report import to_csv, to_html, to_json
from identity.roles import Permission, Role

log = logging.getLogger(__name__)


def create_audit_router(deps: ApiDeps) -> APIRouter:
    """``GET /api/audit?format=json|csv|html&days=&since=&until=``."""
    registry, archive, settings = deps.registry, deps.archive, deps.settings
    router = APIRouter()

    @router.get(
        "/api/audit", response_model=None,
        summary="Four-all (四全) audit of your jurisdiction: coverage, sharing, availability, control (JSON, CSV or "
                "HTML; with a reason; logged)",
        responses={200: {"model": AuditReport, "description": "The report in the format asked for.",
                         "content": {"text/csv": {}, "text/html": {}}},
                   **NO_REASON},
    )
    def audit(
        access: Annotated[Access, Depends(content(Permission.AUDIT_READ, "the audit report"))],
        fmt: Annotated[Literal["json", "csv", "html"], Query(alias="format", description="Report format.")] = "json",
        days: Annotated[int, Query(ge=1, le=3660, description="Window of the last N days (ending at until).")] = 30,
        since: Annotated[datetime | None, Query(description="Window start, ISO 8601; overrides days.")] = None,
        until: Annotated[datetime | None, Query(description="Window end, ISO 8601; default now.")] = None,
    ) -> Response:
        try:
            start, end = resolve_window(days=days, since=since, until=until, tz=ZoneInfo(settings.timezone))
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        access.record("audit_report", f"{start.isoformat()}..{end.isoformat()}", detail=f"format={fmt}")
        principal = access.principal
        scope = None if principal.role is Role.ADMIN else principal.scope
        report = build_report(registry, archive, settings, start, end, scope=scope)
        if fmt == "csv":
            name = f"four-all-audit-{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}Z.csv"
            return PlainTextResponse(to_csv(report), media_type="text/csv; charset=utf-8",
                                     headers={"Content-Disposition": f'attachment; filename="{name}"'})
        if fmt == "html":
            return HTMLResponse(to_html(report))
        return Response(to_json(report), media_type="application/json")

    return router
