"""The access log over HTTP: ``GET /api/access-log`` (who viewed what, from which unit, why; refused actions).

Owns only the route; reading it is itself an access, logged first like every other (``api/access.py``).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from api.access import NO_VIEWER, AccessRecordOut, Who, record, require
from api.deps import ApiDeps

log = logging.getLogger(__name__)


def create_access_log_router(deps: ApiDeps) -> APIRouter:
    """``GET /api/access-log``, newest first, to a named viewer with a reason."""
    archive = deps.archive
    router = APIRouter()

    @router.get("/api/access-log", response_model=list[AccessRecordOut], responses=NO_VIEWER,
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

    return router
