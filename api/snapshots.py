"""Event snapshots over HTTP: ``GET /snapshots/{ref}``, to a named viewer with a reason, logged before it is served.

Owns only the serving: files are written by ``analytics/snapshot.py`` under the hub's snapshot folder, and nothing
outside that folder (``../``, absolute paths, links out) is ever served.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from api.access import NO_VIEWER, Who, record, require
from api.deps import ApiDeps

log = logging.getLogger(__name__)


def create_snapshots_router(deps: ApiDeps) -> APIRouter:
    """``GET /snapshots/{ref:path}`` over ``deps.snapshot_dir`` (created when missing)."""
    archive = deps.archive
    deps.snapshot_dir.mkdir(parents=True, exist_ok=True)
    snapshot_root = deps.snapshot_dir.resolve()
    router = APIRouter()

    @router.get("/snapshots/{ref:path}", response_class=FileResponse, responses=NO_VIEWER,
                summary="An event's snapshot JPEG (named viewer with a reason; logged)")
    def snapshot(ref: str, who: Who) -> FileResponse:
        require(who, f"snapshot {ref}")
        path = (snapshot_root / ref).resolve()
        found = snapshot_root in path.parents and path.is_file()
        record(archive, who, "view_snapshot", ref, detail="" if found else "not found")
        if not found:  # missing, or outside the snapshot folder (../, absolute, a link out)
            raise HTTPException(404, "snapshot not found")
        return FileResponse(path, headers={"Cache-Control": "private, no-store"})

    return router
