"""The composition root: wires registry → ingest → analytics → events for ``sharpeyes run``.

This is the one module of the core that imports the stage packages; the stages never import it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from analytics.detector import Detector, ModelError, model_labels
from analytics.pipeline import AnalyticsWorker, CameraAnalytics, FrameScreen
from analytics.rules import RuleClassError, check_rule_classes
from events.archive import Archive
from events.consumer import CenterConsumer, CenterConsumerWorker
from events.escalation import Escalator, SlaEscalationWorker
from events.publisher import EventPublisher, Spool, SpoolDrainer
from events.retention import RetentionWorker
from events.routing import Router, RoutingPolicy
from ingest.worker import CameraIngest, State
from registry.config import TypeAdapterRules
from registry.models import Camera, CameraCredential
from registry.service import CameraService
from registry.store import Registry, camera_place
from registry.vault import Vault
from sharpeyes import metrics
from sharpeyes.connections import redis_client
from sharpeyes.frames import as_sample_mode
from sharpeyes.keys import ARCHIVE_GROUP, Keys
from sharpeyes.proc import EmbeddedRedis
from sharpeyes.schema import Event
from sharpeyes.settings import Settings
from sharpeyes.supervisor import RestartPolicy, Supervisor, Worker

log = logging.getLogger(__name__)

def camera_model_problems(settings: Settings, cameras: Iterable[Camera], labels: dict[str, set[str]], *,
                          strict_default: bool = True) -> list[str]:
    """One line per camera that names a model which is not there, or has rules needing classes its model lacks
    (e.g. illegal parking with the default person/fall model). ``labels`` caches class names per model name;
    with ``strict_default`` off, a default model that cannot be read is skipped (check-config before `make`)."""
    problems: list[str] = []
    for cam in cameras:
        rules = TypeAdapterRules.validate_python(cam.rules)
        if not rules and cam.detector_model is None:
            continue
        name = cam.detector_model or settings.detector.model
        if name not in labels:
            try:
                labels[name] = model_labels(settings.detector.model_copy(update={"model": name}), settings.model_dir)
            except ModelError as exc:
                if cam.detector_model is not None or strict_default:
                    problems.append(f"camera {cam.id}: detector_model {name!r}: {exc}")
                else:
                    log.warning("rule classes of camera %s not checked: %s", cam.id, exc)
                continue
        problems += check_rule_classes(cam.id, rules, labels[name])
    return problems


def write_quality_state(client: redis.Redis, key: str, faults: list[str], now: datetime) -> None:
    """Keep a camera's video-quality state for the 完好率 audit in the hash ``key`` (``Keys.camera_quality``):
    ``ok`` (1/0), ``faults`` (comma-separated), ``since`` (ISO UTC start of the current ok/faulty period) and
    ``fault_seconds`` (cumulative time spent faulty, added when a faulty period ends)."""
    prev = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
            for k, v in client.hgetall(key).items()}
    was_ok = prev.get("ok", "1") == "1"
    since = prev.get("since")
    pipe = client.pipeline()
    if not was_ok and not faults and since:
        faulty_s = (now - datetime.fromisoformat(since)).total_seconds()
        pipe.hincrbyfloat(key, "fault_seconds", max(0.0, faulty_s))
    ok = "0" if faults else "1"
    if was_ok == (not faults) and since:  # same kind of period (faulty with other faults, or ok): it goes on
        pipe.hset(key, mapping={"ok": ok, "faults": ",".join(faults)})
    else:
        pipe.hset(key, mapping={"ok": ok, "faults": ",".join(faults), "since": now.isoformat()})
    pipe.execute()


class HeartbeatPublisher(Worker):
    """Writes every worker's status to Redis (``sharpeyes:worker:<name>:heartbeat``, JSON, short TTL), so other
    hub processes and operators see which parts are alive."""

    def __init__(self, supervisor: Supervisor, client: redis.Redis, keys: Keys, interval_s: float = 5.0) -> None:
        super().__init__("heartbeats", RestartPolicy(mode="always"))
        self.supervisor, self.client, self.keys, self.interval_s = supervisor, client, keys, interval_s

    def run(self) -> None:
        while True:
            self.beat()
            try:
                pipe = self.client.pipeline(transaction=False)
                for status in self.supervisor.status():
                    key = self.keys.worker_heartbeat(str(status["name"]))
                    pipe.set(key, json.dumps(status), ex=int(self.interval_s * 3))
                pipe.execute()
            except redis.RedisError as exc:
                log.debug("heartbeats not written: %s", exc)
            if self.sleep(self.interval_s):
                return


class CameraReconciler(Worker):
    """Every ``interval_s``, brings the running cameras in line with the registry (``Hub.reconcile_cameras``)."""

    def __init__(self, hub: Hub, interval_s: float) -> None:
        super().__init__("registry:cameras", RestartPolicy(mode="always"))
        self.hub, self.interval_s = hub, interval_s

    def run(self) -> None:
        while not self.sleep(self.interval_s):
            self.beat()
            self.hub.reconcile_cameras()


class Hub:
    """Everything one machine runs. ``start()`` returns once workers are started (not necessarily connected)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.keys = Keys(settings.key_prefix)
        self.supervisor = Supervisor()
        self.embedded_redis: EmbeddedRedis | None = None
        self.demo_server: object | None = None
        self.registry: Registry | None = None
        self.cameras: CameraService | None = None
        self.redis: redis.Redis | None = None
        self.publisher: EventPublisher | None = None
        self.analytics: AnalyticsWorker | None = None
        self.archive: Archive | None = None
        self.escalator: Escalator | None = None
        self.router: Router | None = None
        self.redis_url = settings.redis_url
        self._running: dict[str, tuple[object, ...]] = {}  # camera id → fingerprint it was started with
        self._labels: dict[str, set[str]] = {}  # class names per model name, read once each

    # ------------------------------------------------------------------------------------------ start/stop
    def start(self, *, with_cameras: bool = True) -> Hub:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.redis_url:
            self.embedded_redis = EmbeddedRedis(directory=s.data_dir / "redis").start()
            self.redis_url = self.embedded_redis.url
        self.redis = redis_client(self.redis_url)
        self.redis.ping()

        self.registry = Registry(s.effective_database_url)
        self.registry.init()
        self.registry.sync_camera_configs(s.camera_configs)
        self.cameras = CameraService(self.registry, Vault.from_settings(s))
        self.check_rules()

        policy = RoutingPolicy.load(s.routing_policy)
        router = self.router = Router(policy, {c.code for c in self.registry.centers()})
        self.publisher = EventPublisher(self.redis, router, self.keys, Spool(s.data_dir / "spool.db"),
                                        ttl_s=s.event_ttl_s, maxlen=s.stream_maxlen)
        for code in router.center_codes:
            self.publisher.ensure_group(self.keys.center_stream(code))
        self.supervisor.add(SpoolDrainer(self.publisher))

        # archive: a consumer group on the firehose writes every event to SQL once
        archive = self.archive = Archive(s.effective_database_url)
        archive.init()
        self.supervisor.add(CenterConsumerWorker(CenterConsumer(
            self.redis, "all", lambda ev: archive.record(ev, router.centers_for(ev)), keys=self.keys,
            group=ARCHIVE_GROUP, stream=self.keys.firehose, consumer="archiver", claim_idle_ms=10_000,
        ), name="events:archiver"))
        self.escalator = Escalator(self.redis, self.keys, router, archive, ttl_s=s.event_ttl_s,
                                   maxlen=s.stream_maxlen)
        self.supervisor.add(SlaEscalationWorker(self.escalator, {k.value: v for k, v in policy.sla_s.items()}))
        self.supervisor.add(RetentionWorker(
            self.redis, self.keys, archive, s.snapshot_dir, days=s.retention_days,
            streams=lambda: [self.keys.firehose, *(self.keys.center_stream(c) for c in router.center_codes)],
        ))
        self.supervisor.add(HeartbeatPublisher(self.supervisor, self.redis, self.keys))

        if s.demo.enabled:
            self._start_demo()

        self.analytics = AnalyticsWorker(
            lambda: Detector(s.detector, s.model_dir), s.snapshot_dir, self.publisher.publish,
            self.publisher.publish_update, batch_size=s.analytics.effective_batch_size(s.detector.device),
            on_quality=self._camera_quality,
            model_factory=lambda name: Detector(s.detector.model_copy(update={"model": name}), s.model_dir),
        )
        self.supervisor.add(self.analytics)
        if with_cameras:
            self.reconcile_cameras()
            self.supervisor.add(CameraReconciler(self, s.camera_reconcile_s))
        return self

    def check_rules(self) -> None:
        """Refuse rules that need classes the configured model lacks (e.g. illegal parking with the default
        person/fall model): raises :class:`RuleClassError` naming camera, rule and missing classes."""
        assert self.registry is not None
        problems = camera_model_problems(self.settings, self.registry.cameras(enabled_only=True), self._labels)
        if problems:
            raise RuleClassError("rules refused:\n" + "\n".join(f"  {p}" for p in problems))

    def _start_demo(self) -> None:
        from ingest.demo import RtspServer, transcode_to_h264

        demo = self.settings.demo
        if not demo.source.exists():
            raise RuntimeError(f"demo footage {demo.source} not found (Debian package opencv-doc)")
        clip = transcode_to_h264(demo.source, self.settings.data_dir / "demo" / "vtest-h264.mp4")
        server = RtspServer({m: clip for m in demo.mounts}, port=demo.rtsp_port)
        server.start()
        self.demo_server = server
        log.info("demo RTSP server: %s", ", ".join(server.url(m) for m in demo.mounts))

    def _camera_fingerprints(self) -> dict[str, tuple[object, ...]]:
        """Enabled cameras → what, when changed, requires a restart of their ingest and analytics."""
        assert self.registry is not None
        with self.registry.sessions() as session:
            rows = session.execute(
                select(Camera.id, Camera.updated_at, CameraCredential.updated_at)
                .outerjoin(CameraCredential, CameraCredential.camera_id == Camera.id)
                .where(Camera.enabled.is_(True))
            )
            return {cid: (cam_at, cred_at) for cid, cam_at, cred_at in rows}

    def reconcile_cameras(self) -> dict[str, list[str]]:
        """Make the running cameras the registry's enabled ones: start new, restart changed (stream, rules,
        credentials…), stop disabled or removed. Whoever changed the registry — CLI, API, another process —
        the hub follows within ``camera_reconcile_s``."""
        wanted = self._camera_fingerprints()
        done: dict[str, list[str]] = {"started": [], "restarted": [], "stopped": [], "failed": []}
        for camera_id in [c for c in self._running if c not in wanted]:
            self.stop_camera(camera_id)
            done["stopped"].append(camera_id)
        for camera_id, fingerprint in wanted.items():
            known = self._running.get(camera_id)
            if known == fingerprint:
                continue
            if known is not None:
                self.stop_camera(camera_id)
            try:
                self.start_camera(camera_id)
            except (KeyError, ValueError, ModelError) as exc:  # rules its model cannot serve, a missing model…
                log.error("camera %s not started: %s", camera_id, exc)
                done["failed"].append(camera_id)
            else:
                done["restarted" if known is not None else "started"].append(camera_id)
            self._running[camera_id] = fingerprint  # a failed camera is retried when it changes again
        if any(done.values()):
            log.info("cameras: %s", {k: v for k, v in done.items() if v})
        return done

    def stop_camera(self, camera_id: str) -> None:
        assert self.analytics is not None
        self.supervisor.remove(f"ingest:{camera_id}")
        self.analytics.remove_camera(camera_id)
        self._running.pop(camera_id, None)

    def start_camera(self, camera_id: str) -> None:
        assert self.registry is not None and self.analytics is not None and self.publisher is not None
        cam = self.registry.get_camera(camera_id)
        if cam is None:
            raise KeyError(camera_id)
        place = camera_place(self.registry, cam)
        rules = TypeAdapterRules.validate_python(cam.rules)
        problems = camera_model_problems(self.settings, [cam], self._labels)
        if problems:
            raise RuleClassError("; ".join(problems))
        model = cam.detector_model if cam.detector_model != self.settings.detector.model else None
        if model is not None:
            self.analytics.load_model(model)  # here, not in the worker thread: a loading error names the camera
        masks = [m["polygon"] for m in (cam.privacy_masks or [])]
        screen = FrameScreen.build(masks, self.settings.analytics)
        self.analytics.add_camera(CameraAnalytics.build(cam.id, cam.name, place.civil_codes, rules, screen,
                                                        tz=ZoneInfo(self.settings.timezone), model=model))
        self.supervisor.add(
            CameraIngest(
                camera_id=cam.id,
                camera_name=cam.name,
                civil_codes=place.civil_codes,
                url=cam.stream_url,
                fps=cam.sample_fps,
                mode=as_sample_mode(cam.sample_mode),
                settings=self.settings.ingest,
                on_frame=self.analytics.submit,
                on_event=self.publisher.publish,
                on_state=self._camera_state,
                initial_state=self._last_state(cam.id),
                credentials=self.cameras.credentials(cam.id) if self.cameras else None,
            )
        )

    def _last_state(self, camera_id: str) -> State:
        assert self.redis is not None
        try:
            state = self.redis.hget(self.keys.camera_status(camera_id), "state")
        except redis.RedisError:
            return "unknown"
        if state == b"online":
            return "online"
        return "offline" if state == b"offline" else "unknown"

    def _camera_state(self, camera_id: str, state: str, reason: str) -> None:
        assert self.redis is not None and self.registry is not None
        metrics.CAMERA_ONLINE.labels(camera_id).set(1 if state == "online" else 0)
        try:
            self.redis.hset(self.keys.camera_status(camera_id),
                            mapping={"state": state, "since": datetime.now(UTC).isoformat(), "reason": reason[:300]})
        except redis.RedisError as exc:
            log.warning("camera %s: state not written to redis: %s", camera_id, exc)
        self.registry.record_availability(camera_id, state, reason[:300])

    def _camera_quality(self, camera_id: str, faults: list[str]) -> None:
        """A change of the camera's quality diagnosis: Redis state (live view) and the SQL quality ledger (完好率
        in the four-all audit). Neither failing stops the analytics worker."""
        assert self.redis is not None and self.registry is not None
        try:
            write_quality_state(self.redis, self.keys.camera_quality(camera_id), faults, datetime.now(UTC))
        except redis.RedisError as exc:
            log.warning("camera %s: quality state not written to redis: %s", camera_id, exc)
        try:
            self.registry.record_quality(camera_id, not faults, ",".join(faults))
        except SQLAlchemyError as exc:
            log.warning("camera %s: quality change not written to the ledger: %s", camera_id, exc)

    def stop(self) -> None:
        log.info("stopping hub")
        self.supervisor.stop_all()
        if self.demo_server is not None:
            self.demo_server.stop()  # type: ignore[attr-defined]
        if self.publisher is not None:
            self.publisher.spool.close()
        if self.registry is not None:
            self.registry.close()
        if self.archive is not None:
            self.archive.close()
        if self.embedded_redis is not None:
            self.embedded_redis.stop()
        log.info("hub stopped")

    def emit(self, event: Event) -> None:
        assert self.publisher is not None
        self.publisher.publish(event)


