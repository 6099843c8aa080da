"""The composition root: wires registry → ingest → analytics → events (→ identity → api) for ``sharpeyes run``,
``sharpeyes worker`` and ``sharpeyes api`` (:class:`~sharpeyes.components.Roles`: what this process runs).

Wires only: the parts are built by ``sharpeyes.components``, cameras are kept running by
``sharpeyes.maintainer``. With ``sharpeyes.cli`` these are the only core modules that import the stage packages;
the stages never import them.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from pathlib import Path

from api.deps import ApiDeps
from identity.cli import CREATE_ADMIN
from identity.demo import DemoAccount, ensure_demo_accounts
from sharpeyes.components import Components, build_components
from sharpeyes.connections import redis_connect_url
from sharpeyes.leases import SingletonLock
from sharpeyes.maintainer import CameraReconciler, LeaseKeeper
from sharpeyes.node import Roles
from sharpeyes.proc import EmbeddedRedis
from sharpeyes.services import ServiceWatchdog
from sharpeyes.settings import Settings
from sharpeyes.singletons import SingletonKeeper
from sharpeyes.urls import redact_url

log = logging.getLogger(__name__)


class Hub:
    """Everything one process runs, by its :class:`~sharpeyes.node.Roles` (all of it for ``sharpeyes run``; the
    cameras for ``sharpeyes worker``; the API's parts for ``sharpeyes api``; the singleton workers directly, under
    the Redis lock, or not at all).

    Constructing it opens what the hub runs on: Redis (an embedded redis-server when no URL is set), the
    registry (synced with the camera configs), the spool and the archive; rules a camera's model cannot serve
    are refused here (:class:`analytics.rules.RuleClassError`), and a failure closes whatever was opened.
    ``start()`` starts the workers and the cameras and returns once they are started (not necessarily
    connected); with the demo it also creates the demo accounts that are missing (:attr:`demo_accounts`: those
    created now, with their passwords, for the CLI to print once). ``stop()`` stops the workers and closes
    everything (also after a failed ``start()``)."""

    def __init__(self, settings: Settings, roles: Roles | None = None) -> None:
        self.settings = settings
        self.roles = roles or Roles()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self._watchdogs: list[ServiceWatchdog] = []
        with ExitStack() as stack:
            # the configured Redis with its password, ACL user and TLS files (never logged: redact_url)
            redis_url = redis_connect_url(settings.redis_url, settings.redis) if settings.redis_url else None
            if not redis_url:
                er = settings.embedded_redis
                folder = settings.data_dir / "redis"
                embedded = EmbeddedRedis(directory=folder, port=EmbeddedRedis.remembered_port(folder, er.port),
                                         appendfsync=er.appendfsync).start()
                stack.callback(embedded.stop)
                redis_url = embedded.url
                self._watchdogs.append(ServiceWatchdog("service:redis", embedded))
            else:
                log.info("redis: %s", redact_url(redis_url))
            self.components: Components = build_components(settings, redis_url, self.roles)
            stack.callback(self.components.close)
            self._resources = stack.pop_all()  # closed by stop(), last opened first
        self.demo_accounts: list[tuple[DemoAccount, str]] = []

    @property
    def demo_accounts_file(self) -> Path:
        """Where the demo accounts' passwords are kept (mode 0600)."""
        return self.settings.data_dir / "demo-accounts.txt"

    def start(self, *, with_cameras: bool = True) -> Hub:
        c = self.components
        for worker in (*self._watchdogs, *c.workers):
            c.supervisor.add(worker)
        if self.settings.demo.enabled:
            self._start_demo()
            self.demo_accounts = ensure_demo_accounts(c.identity, self.demo_accounts_file)
        if not c.identity.has_admin():
            log.warning("no admin account: nobody can manage accounts or see everything; create one with `%s`",
                        CREATE_ADMIN)
        c.publisher.close_interrupted()  # incidents a killed predecessor left open
        if self.roles.singletons == "here":
            for worker in c.singletons:
                c.supervisor.add(worker)
        elif self.roles.singletons == "locked":
            lock = SingletonLock(c.redis, c.keys, c.node_id, ttl_s=self.settings.cluster.lease_ttl_s)
            c.supervisor.add(SingletonKeeper(lock, c.supervisor, c.singletons))
        if not self.roles.cameras:
            return self
        c.supervisor.add(c.analytics)
        if with_cameras:
            if c.maintainer.assigner is not None:
                c.supervisor.add(LeaseKeeper(c.maintainer))
            c.maintainer.reconcile()
            c.supervisor.add(CameraReconciler(c.maintainer, self.settings.camera_reconcile_s))
        return self

    def _start_demo(self) -> None:
        from ingest.demo import RtspServer, transcode_to_h264

        demo = self.settings.demo
        if not demo.source.exists():
            raise RuntimeError(f"demo footage {demo.source} not found (Debian package opencv-doc)")
        clip = transcode_to_h264(demo.source, self.settings.data_dir / "demo" / "vtest-h264.mp4")
        server = RtspServer({m: clip for m in demo.mounts}, port=demo.rtsp_port)
        server.start()
        self._resources.callback(server.stop)
        self.components.supervisor.add(ServiceWatchdog("service:demo-rtsp", server))
        log.info("demo RTSP server: %s", ", ".join(server.url(m) for m in demo.mounts))

    def api_deps(self) -> ApiDeps:
        """What the HTTP API serves: this hub's own settings, registry, archive, Redis client and workers."""
        c = self.components
        return ApiDeps(settings=self.settings, registry=c.registry, cameras=c.cameras, redis=c.redis, keys=c.keys,
                       archive=c.archive, snapshot_dir=self.settings.snapshot_dir, identity=c.identity,
                       escalator=c.escalator, supervisor=c.supervisor)

    def stop(self) -> None:
        log.info("stopping hub")
        self.components.supervisor.stop_all()
        self._resources.close()  # the demo server, the components, the embedded Redis
        log.info("hub stopped")
