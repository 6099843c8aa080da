"""Event snapshots over HTTP: ``GET /snapshots/{ref}``, content (snapshots:read, a reason, logged before it is
served).

Scope: a snapshot is served when an event delivered to a center of the viewer's jurisdiction subtree has it (an
admin: any file of the folder); otherwise 404, like a missing file. Owns only the serving: files are written by
``analytics/snapshot.py`` under the hub's snapshot folder, and nothing outside that folder (``../``, absolute
paths, links out) is ever served.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import FileResponse

from api.access import NO_REASON, Access, content
from api.deps import ApiDeps
from identity.roles import Permission, Role

log = logging.getLogger(__name__)


def create_snapshots_router(deps: ApiDeps) -> APIRouter:
    """``GET /snapshots/{ref:path}`` over ``deps.snapshot_dir`` (created when missing)."""
    archive = deps.archive
    deps.snapshot_dir.mkdir(parents=True, exist_ok=True)
    snapshot_root = deps.snapshot_dir.resolve()
    router = APIRouter()

    @router.get("/snapshots/{ref:path}", response_class=FileResponse, responses=NO_REASON,
                summary="An event's snapshot JPEG (with a reason; logged)")
    def snapshot(ref: str,
                 access: Annotated[Access, Depends(content(Permission.SNAPSHOTS_READ, "a snapshot"))]) -> FileResponse:
        path = (snapshot_root / ref).resolve()
        found = snapshot_root in path.parents and path.is_file()
        if not found:  # missing, or outside the snapshot folder (../, absolute, a link out)
            access.record("view_snapshot", ref, detail="not found")
            raise HTTPException(404, "snapshot not found")
        principal = access.principal
        if principal.role is not Role.ADMIN:
            centers = archive.snapshot_centers(ref)
            if centers is None:
                access.record("view_snapshot", ref, detail="not found (no archived event has it)")
                raise HTTPException(404, "snapshot not found")
            if not any(principal.sees(c) for c in centers):
                raise access.refuse("view_snapshot", ref, "outside the viewer's jurisdiction", status=404,
                                    message="snapshot not found")
        access.record("view_snapshot", ref)
        return FileResponse(path, headers={"Cache-Control": "private, no-store"})

    return router
