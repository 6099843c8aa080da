"""End to end on real parts: vtest.avi over a GStreamer RTSP server → ffmpeg sampler → the real detector
(OpenVINO) → crowd-gathering rule → event in the township center's Redis stream (read with XREADGROUP) with a
snapshot whose sha256 matches → the same event through the HTTP API, to the township's operator (the village's
sees it too; another township's does not).

vtest.avi shows 3–11 pedestrians at any time, so a crowd rule of ≥ 3 persons over the whole frame fires within
a few sampled frames, exactly once while the crowd persists.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from api.app import create_app
from ingest.demo import RtspServer
from sharpeyes.hub import Hub
from sharpeyes.keys import CENTER_GROUP
from sharpeyes.proc import EmbeddedRedis
from sharpeyes.schema import Event, EventType
from sharpeyes.settings import PROJECT_ROOT, Settings
from tests.support.auth import client_as

pytestmark = pytest.mark.e2e

VILLAGE, TOWNSHIP, COUNTY = "140429100801", "140429100", "140429"
CAM = "14042900001325000801"

CONFIG = """\
jurisdictions:
  - {{code: "{village}", name: 端到端测试村, parent: "{township}", center: true, synthetic: true}}
cameras:
  - id: "{cam}"
    name: e2e camera
    jurisdiction: "{village}"
    stream: {url}
    sampling: {{mode: fps, fps: 2}}
    rules:
      - type: crowd_gathering
        name: whole-frame crowd
        zone: [[0, 0], [1, 0], [1, 1], [0, 1]]
        min_count: 3
        min_duration_s: 1
        clear_after_s: 600
        severity: major
"""


@pytest.fixture()
def hub(tmp_path: Path, redis_server: EmbeddedRedis, rtsp: RtspServer) -> Iterator[Hub]:
    configs = tmp_path / "camera_configs"
    configs.mkdir()
    (configs / "e2e.yaml").write_text(
        CONFIG.format(village=VILLAGE, township=TOWNSHIP, cam=CAM, url=rtsp.url("cam1")), encoding="utf-8"
    )
    redis.Redis.from_url(redis_server.url).flushall()
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "data", redis_url=redis_server.url, camera_configs=configs,
        models_dir=PROJECT_ROOT / "data" / "models",
    )
    h = Hub(settings).start()
    yield h
    h.stop()


def read_group(client: redis.Redis, stream: str, timeout_s: float) -> list[Event]:
    deadline = time.monotonic() + timeout_s
    out: list[Event] = []
    while time.monotonic() < deadline and not out:
        resp = client.xreadgroup(CENTER_GROUP, "e2e-test", {stream: ">"}, count=10, block=1000)
        for _stream, entries in resp or []:
            for entry_id, fields in entries:
                out.append(Event.from_json(fields[b"event"]))
                client.xack(stream, CENTER_GROUP, entry_id)
    return out


def test_person_crowd_event_reaches_township_and_api(hub: Hub) -> None:
    parts = hub.components
    client, keys = parts.redis, parts.keys
    stream = keys.center_stream(TOWNSHIP)
    events = read_group(client, stream, timeout_s=90)
    assert events, f"no event in {stream}; workers: {parts.supervisor.status()}"
    ev = events[0]
    assert ev.type == EventType.CROWD_GATHERING and ev.camera_id == CAM
    assert ev.civil_codes == [COUNTY, TOWNSHIP, VILLAGE]
    persons = [o for o in ev.objects if o.cls == "person"]
    assert len(persons) >= 3 and all(o.track_id is not None for o in persons)
    assert ev.snapshot is not None
    snap = hub.settings.snapshot_dir / ev.snapshot.ref
    assert hashlib.sha256(snap.read_bytes()).hexdigest() == ev.snapshot.sha256

    # routed to village and township (major), not the county
    assert client.xlen(keys.center_stream(VILLAGE)) >= 1
    assert client.xlen(keys.center_stream(COUNTY)) == 0

    # one incident, one event: the crowd persists, so no second crowd event within the next frames
    time.sleep(4)
    crowd = [e for e in read_group(client, stream, timeout_s=1) if e.type == EventType.CROWD_GATHERING]
    assert crowd == []

    app = create_app(hub.api_deps())
    with client_as(app, "op-fengzhou", role="operator", jurisdiction=TOWNSHIP) as http:
        # the API's lists read the archive, which the hub's archive consumer fills from the firehose
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            page = http.get(f"/api/centers/{TOWNSHIP}/events").json()
            if ev.id in [item["id"] for item in page["items"]]:
                break
            time.sleep(0.2)
        assert ev.id in [item["id"] for item in page["items"]], page
        viewer = {"X-Sharpeyes-Reason": "end-to-end check"}
        got = http.get(f"/api/events/{ev.id}", headers=viewer).json()
        assert got["status"] == "new" and got["centers"] == [VILLAGE, TOWNSHIP]
        assert got["snapshot"]["sha256"] == ev.snapshot.sha256
        img = http.get(f"/snapshots/{ev.snapshot.ref}", headers=viewer)
        assert img.status_code == 200 and hashlib.sha256(img.content).hexdigest() == ev.snapshot.sha256
        other = client_as(app, "op-hongshui", role="operator", jurisdiction="140429101")
        assert other.get(f"/api/events/{ev.id}", headers=viewer).status_code == 404
        assert other.get(f"/snapshots/{ev.snapshot.ref}", headers=viewer).status_code == 404
        assert client_as(app, "op-e2e", role="operator", jurisdiction=VILLAGE).get(
            f"/snapshots/{ev.snapshot.ref}", headers=viewer).status_code == 200
        assert [(a.user, a.action) for a in hub.components.archive.access_log()][-2:] == [
            ("op-fengzhou", "view_snapshot"), ("op-fengzhou", "view_event")]
        health = http.get("/api/health").json()
        assert health["redis"] is True
        ingest = next(w for w in health["workers"] if w["name"] == f"ingest:{CAM}")
        assert ingest["state"] == "online" and ingest["frames"] > 0
        # what the detector runs on is visible in health and metrics
        analytics = next(w for w in health["workers"] if w["name"] == "analytics")
        runs = analytics["detector"]
        assert runs["backend"] == "openvino" and runs["precision"] in ("fp32", "int8") and runs["mode"] == "auto"
        tech = client_as(app, "tech-e2e", role="technician")
        assert f'precision="{runs["precision"]}"' in tech.get("/metrics").text

    # workers' heartbeats are visible in Redis for other processes and operators
    beat = client.get(keys.worker_heartbeat("analytics"))
    assert beat is not None and b'"alive": true' in beat
