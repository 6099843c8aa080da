"""The HTTP API over a test's own parts: the :class:`ApiDeps` record the hub would give it, and an app serving the
whole API (with the ``/api/cameras`` routes over one camera service).

Owns only the records and apps it builds (and the archive and identity store it opens when none is given); must
not start servers or read the hub's data folder.
"""

from __future__ import annotations

from pathlib import Path

import redis
from fastapi import FastAPI

from api.app import create_app
from api.deps import ApiDeps
from events.archive import Archive
from events.escalation import Escalator
from identity.store import IdentityStore
from registry.service import CameraService
from sharpeyes.keys import Keys
from sharpeyes.settings import Settings
from tests.support.auth import identity_store

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"
"""Where no Redis listens: for routes that never touch it (a client connects only when used)."""


def api_deps(cameras: CameraService, data_dir: Path, *, client: redis.Redis | None = None,
             archive: Archive | None = None, keys: Keys | None = None, escalator: Escalator | None = None,
             identity: IdentityStore | None = None) -> ApiDeps:
    """What the hub gives the API, over ``cameras`` (and its registry) with ``data_dir`` as the hub's data folder.
    Without ``archive`` / ``identity``, ones on ``data_dir/sharpeyes.db`` (the database :func:`make_camera_service`
    uses); without ``client``, a Redis client that would fail if used."""
    url = f"sqlite:///{data_dir / 'sharpeyes.db'}"
    if archive is None:
        archive = Archive(url)
        archive.init()
    return ApiDeps(settings=Settings(data_dir=data_dir), registry=cameras.registry, cameras=cameras,
                   redis=client if client is not None else redis.Redis.from_url(UNREACHABLE_REDIS),
                   keys=keys or Keys(), archive=archive, snapshot_dir=data_dir / "snapshots",
                   identity=identity if identity is not None else identity_store(url), escalator=escalator)


def cameras_app(cameras: CameraService, data_dir: Path) -> FastAPI:
    """The whole app over ``cameras`` (see :func:`api_deps`); log in with ``tests.support.auth.client_as``."""
    return create_app(api_deps(cameras, data_dir))
