"""The HTTP API over a test's own parts: the :class:`ApiDeps` record the hub would give it, and an app serving the
``/api/cameras`` routes over one camera service.

Owns only the records and apps it builds (and the archive it opens when none is given); must not start servers or
read the hub's data folder.
"""

from __future__ import annotations

from pathlib import Path

import redis
from fastapi import FastAPI

from api.cameras import create_cameras_router
from api.deps import ApiDeps
from events.archive import Archive
from events.escalation import Escalator
from registry.service import CameraService
from sharpeyes.keys import Keys
from sharpeyes.settings import Settings

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
"""Where no Redis listens: for routes that never touch it (a client connects only when used)."""


def api_deps(cameras: CameraService, data_dir: Path, *, client: redis.Redis | None = None,
             archive: Archive | None = None, keys: Keys | None = None,
             escalator: Escalator | None = None) -> ApiDeps:
    """What the hub gives the API, over ``cameras`` (and its registry) with ``data_dir`` as the hub's data folder.
    Without ``archive``, one on ``data_dir/sharpeyes.db`` (the database :func:`make_camera_service` uses); without
    ``client``, a Redis client that would fail if used."""
    if archive is None:
        archive = Archive(f"sqlite:///{data_dir / 'sharpeyes.db'}")
        archive.init()
    return ApiDeps(settings=Settings(data_dir=data_dir), registry=cameras.registry, cameras=cameras,
                   redis=client if client is not None else redis.Redis.from_url(UNREACHABLE_REDIS),
                   keys=keys or Keys(), archive=archive, snapshot_dir=data_dir / "snapshots", escalator=escalator)


def cameras_app(cameras: CameraService, data_dir: Path) -> FastAPI:
    """An app serving every ``/api/cameras`` route over ``cameras`` (see :func:`api_deps`)."""
    app = FastAPI()
    app.include_router(create_cameras_router(api_deps(cameras, data_dir)))
    return app
