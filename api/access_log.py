"""The access log over HTTP: ``GET /api/access-log`` (who viewed what, from which unit, why; logins; camera
changes; refused actions).

Owns only the route; reading it is itself an access (access_log:read, a reason), logged first like every other
(``api/access.py``). Scope: the records whose ``center`` is in the reader's jurisdiction subtree (an admin: all).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.access import NO_REASON, Access, AccessRecordOut, content
from api.deps import ApiDeps
from identity.roles import Permission, Role

log = logging.getLogger(__name__)


def create_access_log_router(deps: ApiDeps) -> APIRouter:
    """``GET /api/access-log``, newest first, with a reason."""
    archive = deps.archive
    router = APIRouter()

    @router.get("/api/access-log", response_model=list[AccessRecordOut], responses=NO_REASON,
                summary="The access log of your jurisdiction (who viewed what, from which unit, why; logins; camera "
                        "changes; refused actions), newest first")
    def access_log(
        access: Annotated[Access, Depends(content(Permission.ACCESS_LOG_READ, "the access log"))],
        since: Annotated[datetime | None, Query(description="From (ISO 8601; without an offset: UTC).")] = None,
        until: Annotated[datetime | None, Query(description="Before (ISO 8601; without an offset: UTC).")] = None,
        limit: Annotated[int, Query(ge=1, le=5000, description="At most this many records.")] = 100,
    ) -> list[AccessRecordOut]:
        access.record("view_access_log", f"{since.isoformat() if since else ''}..{until.isoformat() if until else ''}")
        principal = access.principal
        centers = None if principal.role is Role.ADMIN else principal.scope
        return [AccessRecordOut.of(e) for e in archive.access_log(since=since, until=until, limit=limit,
                                                                  centers=centers)]

    return router
