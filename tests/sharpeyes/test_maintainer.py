"""The camera maintainer (sharpeyes/maintainer.py) over a real registry (SQLite) and a real redis-server: what the
running cameras report lands in Redis and in the SQL ledgers, and reconciling follows the registry (start, restart
on a change of record or credentials, stop on disable or removal, refuse rules the model cannot serve). Workers are
added to the supervisor without starting them: no ffmpeg, no detector."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import select

from analytics.detector import Detector
from analytics.pipeline import AnalyticsWorker
from ingest.worker import CameraIngest, StateNotRecorded
from registry.models import AvailabilityRecord, QualityRecord
from registry.service import CameraService, CameraSpec
from registry.store import Registry
from registry.vault import Vault
from sharpeyes.camera_state import CameraStates
from sharpeyes.keys import Keys
from sharpeyes.leases import Assigner, Membership, NodeInfo
from sharpeyes.maintainer import CameraMaintainer, CameraRecorder
from sharpeyes.schema import Event
from sharpeyes.settings import Settings
from sharpeyes.supervisor import Supervisor, Worker
from tests.support.registry import camera_yaml, write_configs

CAM = "14042900001325000001"
TOWNSHIP = "140429100"
PARKING = [{"type": "illegal_parking", "name": "禁停区", "min_stationary_s": 60}]


class UnstartedSupervisor(Supervisor):
    """Adds workers without starting their threads."""

    def add(self, worker: Worker, *, start: bool = True) -> Worker:
        return super().add(worker, start=False)


def no_detector() -> Detector:
    raise AssertionError("the analytics worker is never run here")


@dataclass
class World:
    settings: Settings
    registry: Registry
    service: CameraService
    supervisor: UnstartedSupervisor
    analytics: AnalyticsWorker
    maintainer: CameraMaintainer
    emitted: list[Event]

    def ingest(self, camera_id: str) -> CameraIngest | None:
        worker = self.supervisor.get(f"ingest:{camera_id}")
        assert worker is None or isinstance(worker, CameraIngest)
        return worker

    def register(self, **fields: Any) -> str:
        spec = CameraSpec.model_validate({"name": "东街", "jurisdiction": TOWNSHIP, "stream": "rtsp://127.0.0.1:9/x",
                                          "probe": False, **fields})
        return self.service.register(spec, via="test").id


@pytest.fixture()
def world(tmp_path: Path, registry: Registry, redis_client: redis.Redis) -> Iterator[World]:
    settings = Settings(data_dir=tmp_path)
    service = CameraService(registry, Vault.from_key_file(tmp_path / "vault.key"))
    supervisor = UnstartedSupervisor()
    emitted: list[Event] = []
    recorder = CameraRecorder(CameraStates(redis_client, Keys()), registry)
    analytics = AnalyticsWorker(no_detector, tmp_path / "snapshots", emitted.append, on_quality=recorder.on_quality)
    # the default model's classes, known without reading the model
    maintainer = CameraMaintainer(settings, registry, service, analytics, supervisor, recorder, emitted.append,
                                  labels={settings.detector.model: {"Normal", "Fall"}})
    with ExitStack() as cleanup:
        cleanup.callback(supervisor.stop_all)
        yield World(settings, registry, service, supervisor, analytics, maintainer, emitted)


def test_recorder_writes_redis_and_the_ledgers(tmp_path: Path, registry: Registry, redis_client: redis.Redis,
                                               caplog: pytest.LogCaptureFixture) -> None:
    registry.sync_camera_configs(write_configs(tmp_path / "cams", camera_yaml(CAM)))
    recorder = CameraRecorder(CameraStates(redis_client, Keys()), registry)
    recorder.on_quality(CAM, ["blur", "too_dark"])
    recorder.on_quality(CAM, [])
    recorder.on_state(CAM, "online", "frames flowing")
    recorder.on_state(CAM, "offline", "x" * 400)
    with registry.sessions() as s:
        quality = [(r.ok, r.faults) for r in s.scalars(select(QualityRecord).order_by(QualityRecord.id))]
        availability = [(r.state, r.reason) for r in s.scalars(select(AvailabilityRecord).order_by(
            AvailabilityRecord.id))]
    assert quality == [(False, "blur,too_dark"), (True, "")]
    assert availability == [("online", "frames flowing"), ("offline", "x" * 300)]
    assert redis_client.hget(Keys().camera_quality(CAM), "ok") == b"1"
    assert recorder.last_state(CAM) == "offline"
    # a ledger write that fails (here: an unknown camera, refused by the foreign key) is logged, not raised
    with caplog.at_level(logging.WARNING, logger="sharpeyes.maintainer"):
        recorder.on_quality("14042900001325000099", ["freeze"])
    assert "quality change not written to the ledger" in caplog.text
    assert redis_client.hget(Keys().camera_quality("14042900001325000099"), "faults") == b"freeze"
    # a state change the ledger refuses is raised to the worker, and Redis keeps the previous state
    with pytest.raises(StateNotRecorded, match="availability ledger"):
        recorder.on_state("14042900001325000099", "online", "frames flowing")
    assert recorder.last_state("14042900001325000099") == "unknown"


def test_fingerprints_follow_record_and_credentials(world: World) -> None:
    assert world.registry.camera_fingerprints() == {}
    cam = world.register()
    first = world.registry.camera_fingerprints()
    assert list(first) == [cam] and first[cam][1] is None  # no credentials yet
    world.service.update(cam, {"username": "op", "password": "Fresh-Pass-1"}, via="test")
    with_creds = world.registry.camera_fingerprints()[cam]
    assert with_creds[0] == first[cam][0] and with_creds[1] is not None  # the record itself did not change
    world.service.update(cam, {"address": "东街 1 号"}, via="test")
    assert world.registry.camera_fingerprints()[cam][0] != with_creds[0]
    world.service.update(cam, {"enabled": False}, via="test")
    assert world.registry.camera_fingerprints() == {}  # enabled cameras only


def test_reconcile_starts_restarts_and_stops(world: World, redis_client: redis.Redis) -> None:
    cam = world.register(username="op", password="First-Pass-1")
    redis_client.hset(Keys().camera_status(cam), "state", "online")  # reported by an earlier run
    assert world.maintainer.reconcile() == {"started": [cam], "restarted": [], "stopped": [], "failed": []}
    ingest = world.ingest(cam)
    assert ingest is not None and cam in world.analytics.cameras
    assert (ingest.url, ingest.state) == ("rtsp://127.0.0.1:9/x", "online")  # starts from the last state
    assert ingest.credentials is not None and ingest.credentials.username == "op"
    assert world.maintainer.reconcile() == {"started": [], "restarted": [], "stopped": [], "failed": []}
    assert world.ingest(cam) is ingest  # unchanged: left running

    world.service.update(cam, {"password": "Second-Pass-2"}, via="test")
    assert world.maintainer.reconcile()["restarted"] == [cam]
    restarted = world.ingest(cam)
    assert restarted is not None and restarted is not ingest and ingest.stopping.is_set()
    assert restarted.credentials is not None and restarted.credentials.password.get_secret_value() == "Second-Pass-2"

    world.service.update(cam, {"enabled": False}, via="test")
    assert world.maintainer.reconcile()["stopped"] == [cam]
    assert world.ingest(cam) is None and cam not in world.analytics.cameras and world.maintainer.running == {}

    world.service.update(cam, {"enabled": True}, via="test")
    assert world.maintainer.reconcile()["started"] == [cam]
    world.service.remove(cam, via="test")
    assert world.maintainer.reconcile()["stopped"] == [cam]
    assert world.ingest(cam) is None


def test_a_camera_chooses_its_motion_regions(world: World) -> None:
    """A camera's own motion_regions (YAML or registration) wins over the hub's analytics.motion.regions; unset, the
    hub's applies; a change restarts the camera with it."""
    assert world.settings.analytics.motion.regions  # the hub's default
    hub, off = world.register(), world.register(name="西街", motion_regions=False)
    world.maintainer.reconcile()

    def regions(cam: str) -> bool:
        gate = world.analytics.cameras[cam].screen.gate
        assert gate is not None
        return gate.settings.regions

    assert regions(hub) and not regions(off)
    assert world.settings.analytics.motion.regions  # the hub's settings untouched
    world.service.update(off, {"motion_regions": None}, via="test")
    assert world.maintainer.reconcile()["restarted"] == [off] and regions(off)


def test_rules_the_model_cannot_serve_fail_until_changed(world: World, caplog: pytest.LogCaptureFixture) -> None:
    cam = world.register(rules=PARKING)
    with caplog.at_level(logging.ERROR, logger="sharpeyes.maintainer"):
        assert world.maintainer.reconcile()["failed"] == [cam]
    assert f"camera {cam} not started" in caplog.text and "rule '禁停区' (illegal_parking) needs classes" in caplog.text
    assert world.ingest(cam) is None and cam not in world.analytics.cameras
    assert not any(world.maintainer.reconcile().values())  # not retried while unchanged
    world.service.update(cam, {"rules": [{"type": "fall", "name": "倒地"}]}, via="test")
    # retried when changed; reported as "restarted" (a failed camera keeps its fingerprint in ``running``)
    assert world.maintainer.reconcile()["restarted"] == [cam]
    assert world.ingest(cam) is not None


def test_leased_cameras_follow_pins_report_figures_and_close_orphans(tmp_path: Path, registry: Registry,
                                                                    redis_client: redis.Redis) -> None:
    """Two nodes on one registry and one Redis: the camera pinned to ``gpu`` runs only on the node with that label,
    the unpinned one on exactly one of the two; each start asks for the incidents a previous holder left open to be
    closed; the heartbeats carry the detector's figures."""
    settings = Settings(data_dir=tmp_path)
    service = CameraService(registry, Vault.from_key_file(tmp_path / "vault.key"))
    keys = Keys("t-pins")
    nodes: dict[str, tuple[CameraMaintainer, UnstartedSupervisor, list[str]]] = {}
    for name, labels in (("cpu-node", frozenset[str]()), ("gpu-node", frozenset({"gpu"}))):
        supervisor, taken_over = UnstartedSupervisor(), []
        recorder = CameraRecorder(CameraStates(redis_client, keys), registry)
        analytics = AnalyticsWorker(no_detector, tmp_path / "snapshots", lambda ev: None)
        analytics.detect_fps, analytics.frames_detected = 12.5, 40
        assigner = Assigner(redis_client, keys, NodeInfo(name, 10, labels), lease_ttl_s=1.0)
        nodes[name] = (CameraMaintainer(settings, registry, service, analytics, supervisor, recorder, lambda ev: None,
                                        labels={settings.detector.model: {"Normal", "Fall"}}, assigner=assigner,
                                        on_takeover=taken_over.append), supervisor, taken_over)
    spec = {"jurisdiction": TOWNSHIP, "stream": "rtsp://127.0.0.1:9/x", "probe": False}
    pinned = service.register(CameraSpec.model_validate({**spec, "name": "卡口", "node_label": "gpu"}), via="t").id
    free = service.register(CameraSpec.model_validate({**spec, "name": "东街"}), via="t").id
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for maintainer, _, _ in nodes.values():
                maintainer.keep_leases()
                maintainer.reconcile()
            running = {n: set(m.running) for n, (m, _, _) in nodes.items()}
            if running["gpu-node"] >= {pinned} and sum(free in r for r in running.values()) == 1:
                break
            time.sleep(0.2)
        assert pinned in running["gpu-node"] and pinned not in running["cpu-node"], running
        assert sum(free in r for r in running.values()) == 1, running
        for name, (_, supervisor, taken_over) in nodes.items():
            assert sorted(taken_over) == sorted(running[name])  # every start under a lease closes orphans first
            assert {w.name for w in supervisor.workers} == {f"ingest:{c}" for c in running[name]}
        reported = {n.node_id: n for n in Membership(redis_client, keys).alive()}
        assert reported["gpu-node"].detect_fps == 12.5 and reported["gpu-node"].frames_detected == 40
    finally:
        for _, supervisor, _ in nodes.values():
            supervisor.stop_all()
