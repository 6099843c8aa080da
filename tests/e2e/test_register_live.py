"""A technician registers an ONVIF camera with the CLI while the hub runs: within seconds the hub starts its
ingest (camera_online reaches the township center), restarts it when the record changes, and stops it when the
camera is removed — no hub restart. Real parts: an ipycam ONVIF device with its own RTSP server, the CLI in a
separate process writing the hub's database, ffmpeg, Redis, the detector."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis

from sharpeyes.hub import Hub
from sharpeyes.proc import EmbeddedRedis
from sharpeyes.schema import Event, EventType
from sharpeyes.settings import PROJECT_ROOT, Settings
from tests.support.onvif_camera import IpycamDevice
from tests.support.wait import wait_until

pytestmark = pytest.mark.e2e

TOWNSHIP = "140429100"
CAM_ID = "14042900001325000001"  # the first generated ID under 140429


@pytest.fixture()
def hub(tmp_path: Path, redis_server: EmbeddedRedis) -> Iterator[Hub]:
    configs = tmp_path / "camera_configs"
    configs.mkdir()  # no declarative cameras: everything comes from the CLI
    redis.Redis.from_url(redis_server.url).flushall()
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data", redis_url=redis_server.url, camera_configs=configs,
        models_dir=PROJECT_ROOT / "data" / "models", camera_reconcile_s=0.5,
    )
    h = Hub(settings).start()
    yield h
    h.stop()


def cli(hub: Hub, *args: str, password: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SHARPEYES_DATABASE_URL")}
    env.update(SHARPEYES_DATA_DIR=str(hub.settings.data_dir), CAM_PW=password)
    exe = Path(sys.executable).with_name("sharpeyes")
    return subprocess.run([str(exe), "camera", *args], capture_output=True, text=True, timeout=120, env=env)


def township_events(hub: Hub) -> list[Event]:
    parts = hub.components
    rows = cast(list[tuple[bytes, dict[bytes, bytes]]], parts.redis.xrange(parts.keys.center_stream(TOWNSHIP)))
    return [Event.from_json(f[b"event"]) for _i, f in rows]


def test_cli_registration_goes_live_without_restart(hub: Hub) -> None:
    supervisor, analytics, client, keys = (hub.components.supervisor, hub.components.analytics,
                                           hub.components.redis, hub.components.keys)
    assert supervisor.get(f"ingest:{CAM_ID}") is None
    with IpycamDevice(password="Live-Reg-7q!") as dev:
        t0 = time.monotonic()
        res = cli(hub, "add", "--name", "东街路口", "--jurisdiction", TOWNSHIP, "--onvif",
                  f"127.0.0.1:{dev.onvif_port}", "--user", dev.username, "--password-env", "CAM_PW",
                  password=dev.password)
        assert res.returncode == 0, res.stderr
        assert dev.password not in res.stdout + res.stderr

        def online() -> bool:
            worker = supervisor.get(f"ingest:{CAM_ID}")
            return worker is not None and worker.status().get("state") == "online"

        assert wait_until(online, 60), supervisor.status()
        # frames flow into analytics under the new camera's rules, and its state is published for the API
        assert CAM_ID in analytics.cameras
        assert wait_until(lambda: int(supervisor.get(f"ingest:{CAM_ID}").status()["frames"]) > 0, 30)  # type: ignore[union-attr]
        assert client.hget(keys.camera_status(CAM_ID), "state") == b"online"
        took = time.monotonic() - t0
        assert took < 60, f"registration to online took {took:.1f} s"

        # a change of the record restarts the camera's workers with the new settings
        first = supervisor.get(f"ingest:{CAM_ID}")
        res = cli(hub, "update", CAM_ID, "--set", "address=丰州镇 东街 2 号")
        assert res.returncode == 0, res.stderr
        assert wait_until(lambda: supervisor.get(f"ingest:{CAM_ID}") not in (None, first), 30)

        # the device goes away: the running camera reports it to the township (camera faults go there too)
    assert wait_until(lambda: any(e.type == EventType.CAMERA_OFFLINE and e.camera_id == CAM_ID
                                for e in township_events(hub)), 60), supervisor.status()

    # removed: stopped, nothing left running
    res = cli(hub, "remove", CAM_ID)
    assert res.returncode == 0, res.stderr
    assert wait_until(lambda: supervisor.get(f"ingest:{CAM_ID}") is None and CAM_ID not in analytics.cameras,
                    30)
