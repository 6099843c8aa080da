"""The camera maintainer: keeps the running cameras (one ingest worker each, plus their analytics) in line with the
registry's enabled cameras, and records what the running cameras report.

Part of the composition root (it wires ``registry`` → ``ingest`` → ``analytics``; no stage imports it). Owns the
start, restart and stop of cameras, and combines each camera's Redis state (``sharpeyes.camera_state``) with the
registry's SQL ledgers (availability, quality). Must not hold HTTP or event-routing concerns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from zoneinfo import ZoneInfo

import redis
from sqlalchemy.exc import SQLAlchemyError

from analytics.detector import ModelError
from analytics.model_check import camera_model_problems
from analytics.pipeline import AnalyticsWorker, CameraAnalytics, FrameScreen
from analytics.rules import RuleClassError
from ingest.worker import CameraIngest, State, StateNotRecorded
from registry.config import TypeAdapterRules
from registry.service import CameraService
from registry.store import Registry, camera_place
from sharpeyes.camera_state import REASON_MAX, CameraStates
from sharpeyes.frames import as_sample_mode
from sharpeyes.leases import Assigner
from sharpeyes.schema import Event
from sharpeyes.settings import Settings
from sharpeyes.supervisor import RestartPolicy, Supervisor, Worker

log = logging.getLogger(__name__)

Fingerprint = tuple[object, ...]
"""What, when changed, requires a restart of a camera's ingest and analytics."""


class CameraRecorder:
    """Records what running cameras report: their stream state (from ingest) and their quality diagnosis (from
    analytics), each in Redis (live view) and in the registry's SQL ledger (the four-all audit)."""

    def __init__(self, states: CameraStates, registry: Registry) -> None:
        self.states, self.registry = states, registry

    def last_state(self, camera_id: str) -> State:
        return self.states.last_state(camera_id)

    def on_state(self, camera_id: str, state: str, reason: str) -> None:
        """An ingest worker's state change (``CameraIngest.on_state``). The ledger row comes first, so once Redis
        shows the new state the audit's ledger holds it too; a ledger write that fails raises ``StateNotRecorded``
        and leaves Redis at the previous state: the worker keeps that state and reports the change again."""
        try:
            self.registry.record_availability(camera_id, state, reason[:REASON_MAX])
        except SQLAlchemyError as exc:
            raise StateNotRecorded(f"availability ledger: {str(exc).splitlines()[0][:200]}") from exc
        self.states.write_state(camera_id, state, reason)

    def on_quality(self, camera_id: str, faults: list[str]) -> None:
        """A change of the camera's quality diagnosis (``AnalyticsWorker.on_quality``). Neither write failing stops
        the analytics worker."""
        self.states.write_quality(camera_id, faults)
        try:
            self.registry.record_quality(camera_id, not faults, ",".join(faults))
        except SQLAlchemyError as exc:
            log.warning("camera %s: quality change not written to the ledger: %s", camera_id, exc)


class CameraMaintainer:
    """Starts, restarts and stops cameras so the running ones are the registry's enabled ones.

    ``labels`` caches class names per model name (shared with the hub's check at start)."""

    def __init__(self, settings: Settings, registry: Registry, cameras: CameraService, analytics: AnalyticsWorker,
                 supervisor: Supervisor, recorder: CameraRecorder, emit: Callable[[Event], None], *,
                 labels: dict[str, set[str]] | None = None, assigner: Assigner | None = None,
                 on_takeover: Callable[[str], None] | None = None) -> None:
        self.settings, self.registry, self.cameras = settings, registry, cameras
        self.analytics, self.supervisor, self.recorder, self.emit = analytics, supervisor, recorder, emit
        self.labels: dict[str, set[str]] = {} if labels is None else labels
        self.running: dict[str, Fingerprint] = {}  # camera id → fingerprint it was started with
        self.assigner = assigner  # cluster.leases: only the cameras this node holds a lease on run here
        self._lock = threading.RLock()  # reconcile (starts, slow) and the stops of unleased cameras, per camera
        self._stopping: set[str] = set()  # unleased cameras whose sampler is being stopped
        self.on_takeover = on_takeover  # a leased camera about to start here: close what its last holder left open
        self._detected = (time.monotonic(), 0)  # when, and the analytics' frames detected then (node heartbeat)

    def _leased(self, wanted: dict[str, Fingerprint]) -> dict[str, Fingerprint]:
        """The enabled cameras this node holds a lease on (all of them without leases)."""
        if self.assigner is None:
            return wanted
        held = self.assigner.held()
        return {c: fp for c, fp in wanted.items() if c in held}

    def keep_leases(self) -> None:
        """Renew this node's leases, take its turn at free cameras, and let go at once of every running camera it
        no longer holds (lost, released, or — Redis unreachable — past its local deadline, which comes before
        anyone else may take it): its frames stop reaching analytics now, and its sampler is stopped on a thread
        of its own, so a slow ffmpeg stop never delays the next renewal. Called by :class:`LeaseKeeper` every
        third of the lease period; the cameras newly leased start at the next :meth:`reconcile`."""
        if self.assigner is None:
            return
        self._report()
        try:
            self.assigner.step(self.registry.camera_pins())  # enabled cameras → the node label each is pinned to
        except (redis.RedisError, SQLAlchemyError) as exc:
            lost = self.assigner.expire_local()
            log.warning("leases not renewed (%s); %d camera(s) past their local deadline", exc, len(lost))
        held = self.assigner.held()
        for camera_id in [c for c in list(self.running) if c not in held and c not in self._stopping]:
            log.info("camera %s: lease gone, stopping it here", camera_id)
            self.analytics.remove_camera(camera_id)  # no frame of it is analysed from now on
            self._stopping.add(camera_id)
            threading.Thread(target=self._stop_unleased, args=(camera_id,), name=f"stop:{camera_id}",
                             daemon=True).start()

    def _report(self) -> None:
        """Put this node's detector figures in its next heartbeat: frames/s measured at start, frames detected so
        far and per second since the last heartbeat."""
        assert self.assigner is not None
        now, done = time.monotonic(), self.analytics.frames_detected
        then, before = self._detected
        fps = (done - before) / (now - then) if now > then else 0.0
        self._detected = (now, done)
        self.assigner.node = replace(self.assigner.node, detect_fps=round(self.analytics.detect_fps, 2),
                                     frames_detected=done, detected_fps=round(fps, 2))

    def _stop_unleased(self, camera_id: str) -> None:
        try:
            with self._lock:
                if self.assigner is not None and camera_id not in self.assigner.held() and camera_id in self.running:
                    self.stop_camera(camera_id)
        finally:
            self._stopping.discard(camera_id)

    def reconcile(self) -> dict[str, list[str]]:
        """Make the running cameras the registry's enabled ones: start new, restart changed (stream, rules,
        credentials…), stop disabled or removed. Whoever changed the registry — CLI, API, another process —
        the hub follows within ``camera_reconcile_s``. With leases (``cluster.leases``), "enabled" means enabled
        and leased to this node; a lease lost stops the camera here."""
        wanted: dict[str, Fingerprint] = self._leased(dict(self.registry.camera_fingerprints()))
        done: dict[str, list[str]] = {"started": [], "restarted": [], "stopped": [], "failed": []}
        for camera_id in [c for c in list(self.running) if c not in wanted]:
            with self._lock:
                self.stop_camera(camera_id)
            done["stopped"].append(camera_id)
        for camera_id, fingerprint in wanted.items():
            with self._lock:
                if self.assigner is not None and camera_id not in self.assigner.held():
                    continue  # the lease went meanwhile
                known = self.running.get(camera_id)
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
                self.running[camera_id] = fingerprint  # a failed camera is retried when it changes again
        if any(done.values()):
            log.info("cameras: %s", {k: v for k, v in done.items() if v})
        return done

    def stop_camera(self, camera_id: str) -> None:
        self.supervisor.remove(f"ingest:{camera_id}")
        self.analytics.remove_camera(camera_id)
        self.running.pop(camera_id, None)

    def start_camera(self, camera_id: str) -> None:
        """Add the camera's analytics and start its ingest worker. Raises ``KeyError`` (not registered),
        :class:`RuleClassError` (rules its model cannot serve) or ``ModelError`` (its model cannot be loaded)."""
        cam = self.registry.get_camera(camera_id)
        if cam is None:
            raise KeyError(camera_id)
        place = camera_place(self.registry, cam)
        rules = TypeAdapterRules.validate_python(cam.rules)
        problems = camera_model_problems(self.settings, [cam], self.labels)
        if problems:
            raise RuleClassError("; ".join(problems))
        model = cam.detector_model if cam.detector_model != self.settings.detector.model else None
        if model is not None:
            self.analytics.load_model(model)  # here, not in the worker thread: a loading error names the camera
        if self.assigner is not None and self.on_takeover is not None:
            try:  # incidents of a node that died holding the camera: nobody else would ever end them
                self.on_takeover(camera_id)
            except (redis.RedisError, SQLAlchemyError) as exc:
                log.warning("camera %s: incidents its previous holder left open not closed: %s", camera_id, exc)
        masks = [m["polygon"] for m in (cam.privacy_masks or [])]
        screen = FrameScreen.build(masks, self.settings.analytics.for_camera(cam.motion_regions))
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
                on_event=self.emit,
                on_state=self.recorder.on_state,
                initial_state=self.recorder.last_state(cam.id),
                credentials=self.cameras.credentials(cam.id),
            )
        )


class CameraReconciler(Worker):
    """Every ``interval_s``, brings the running cameras in line with the registry and this node's camera leases
    (:meth:`CameraMaintainer.reconcile`)."""

    def __init__(self, maintainer: CameraMaintainer, interval_s: float) -> None:
        super().__init__("registry:cameras", RestartPolicy(mode="always"))
        self.maintainer, self.interval_s = maintainer, interval_s

    def run(self) -> None:
        while not self.sleep(self.interval_s):
            self.beat()
            self.maintainer.reconcile()


class LeaseKeeper(Worker):
    """Every third of the lease period, renews this node's camera leases and stops the cameras it lost
    (:meth:`CameraMaintainer.keep_leases`): a thread of its own, so slow camera starts never delay a renewal."""

    def __init__(self, maintainer: CameraMaintainer) -> None:
        super().__init__("cluster:leases", RestartPolicy(mode="always"))
        assert maintainer.assigner is not None
        self.maintainer = maintainer
        self.interval_s = maintainer.assigner.lease_ttl_s / 3

    def run(self) -> None:
        while True:
            self.beat()
            self.maintainer.keep_leases()
            if self.sleep(self.interval_s):
                return
