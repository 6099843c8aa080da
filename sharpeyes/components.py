"""The parts of one hub, built once: connections, registry, identity store, archive, event publishing, analytics,
the camera maintainer and the background workers (part of the composition root with ``sharpeyes.hub``; no stage
imports it).

Owns construction and closing only: :func:`build_components` opens everything in order and, when one step fails,
closes what it had opened; :meth:`Components.close` closes it all. It starts no thread (``Hub.start`` does).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import redis

from analytics.detector import Detector
from analytics.model_check import refuse_unserved_rules
from analytics.pipeline import AnalyticsWorker
from events.archive import Archive
from events.consumer import CenterConsumer, CenterConsumerWorker
from events.escalation import Escalator, SlaEscalationWorker
from events.publisher import INCIDENT_TYPES, EventPublisher, Journal, Spool, SpoolDrainer
from events.retention import RetentionWorker
from events.routing import Router, RoutingPolicy
from events.wvp_bridge import build_wvp_bridge, log_undelivered
from identity.store import IdentityStore
from registry.service import CameraService
from registry.store import Registry
from registry.vault import Vault
from sharpeyes.camera_state import CameraStates
from sharpeyes.connections import check_redis_durability, redis_client
from sharpeyes.heartbeats import HeartbeatPublisher
from sharpeyes.keys import ARCHIVE_GROUP, Keys
from sharpeyes.leases import Assigner, NodeInfo
from sharpeyes.maintainer import CameraMaintainer, CameraRecorder
from sharpeyes.node import Roles
from sharpeyes.settings import Settings
from sharpeyes.supervisor import Supervisor, Worker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Components:
    """Everything a hub runs on; ``workers`` are the background workers every node starts, in order, and
    ``singletons`` those one node at a time runs (the analytics worker and the cameras are started after them)."""

    keys: Keys
    redis: redis.Redis
    registry: Registry
    identity: IdentityStore
    cameras: CameraService
    router: Router
    publisher: EventPublisher
    archive: Archive
    escalator: Escalator
    supervisor: Supervisor
    analytics: AnalyticsWorker
    maintainer: CameraMaintainer
    workers: tuple[Worker, ...]
    singletons: tuple[Worker, ...]
    node_id: str  # this process's id among the nodes (cluster.node_id, or <hostname>-<pid>)
    resources: ExitStack = field(repr=False)

    def close(self) -> None:
        """Close the spool, the archive, the identity store, the registry and the Redis client (the workers must be
        stopped)."""
        self.resources.close()


def _archiver(client: redis.Redis, keys: Keys, archive: Archive, router: Router) -> CenterConsumerWorker:
    """A consumer group on the firehose that writes every event to SQL once."""
    return CenterConsumerWorker(CenterConsumer(
        client, "all", lambda ev: archive.record(ev, router.centers_for(ev)), keys=keys,
        group=ARCHIVE_GROUP, stream=keys.firehose, consumer="archiver", claim_idle_ms=10_000,
    ), name="events:archiver")


def _analytics(s: Settings, publisher: EventPublisher, recorder: CameraRecorder) -> AnalyticsWorker:
    return AnalyticsWorker(
        lambda: Detector(s.detector, s.model_dir), s.snapshot_dir, publisher.publish, publisher.publish_update,
        batch_size=s.analytics.effective_batch_size(s.detector), on_quality=recorder.on_quality,
        model_factory=lambda name: Detector(s.detector.model_copy(update={"model": name}), s.model_dir),
        measure_s=1.0 if s.cluster.leases else 0.0,  # a worker node reports its detector's frames/s
    )


def _leave(assigner: Assigner) -> None:
    """A clean stop hands this node's cameras over at once (a killed node's leases expire instead)."""
    try:
        assigner.leave()
    except redis.RedisError as exc:
        log.warning("cluster: leases not released (%s); they expire in %.0f s", exc, assigner.lease_ttl_s)


def build_components(s: Settings, redis_url: str, roles: Roles | None = None) -> Components:
    """Connect to Redis at ``redis_url``, open and sync the registry, open the identity store (accounts live in the
    same database: scopes are subtrees of its jurisdiction tree), refuse rules their models cannot serve
    (:class:`analytics.rules.RuleClassError`), open the spool and the archive, and build the workers (a camera
    lease assigner with ``cluster.leases`` where ``roles`` runs cameras)."""
    roles = roles or Roles()
    with ExitStack() as stack:
        client = redis_client(redis_url)
        stack.callback(client.close)
        client.ping()
        for warning in check_redis_durability(client, "the embedded Redis" if s.redis_url is None else "REDIS_URL"):
            log.warning("%s", warning)
        keys = Keys(s.key_prefix)

        registry = Registry(s.effective_database_url)
        stack.callback(registry.close)
        registry.init()
        registry.sync_camera_configs(s.camera_configs)
        identity = IdentityStore(s.effective_database_url)
        stack.callback(identity.close)
        identity.init()
        cameras = CameraService(registry, Vault.from_settings(s))
        labels: dict[str, set[str]] = {}  # class names per model name, read once each
        refuse_unserved_rules(s, registry.cameras(enabled_only=True), labels)

        policy = RoutingPolicy.load(s.routing_policy)
        router = Router(policy, {c.code for c in registry.centers()})
        spool = Spool(s.data_dir / "spool.db")
        stack.callback(spool.close)
        journal = Journal(s.data_dir / "journal.db")
        stack.callback(journal.close)
        journal.prune(s.retention_days)
        publisher = EventPublisher(client, router, keys, spool, ttl_s=s.event_ttl_s, maxlen=s.stream_maxlen,
                                   journal=journal)
        for code in router.center_codes:
            publisher.ensure_group(keys.center_stream(code))

        archive = Archive(s.effective_database_url)
        stack.callback(archive.close)
        archive.init()
        escalator = Escalator(client, keys, router, archive, ttl_s=s.event_ttl_s, maxlen=s.stream_maxlen)
        supervisor = Supervisor()
        workers: tuple[Worker, ...] = (SpoolDrainer(publisher), HeartbeatPublisher(supervisor, client, keys))
        singletons: tuple[Worker, ...] = (
            _archiver(client, keys, archive, router),
            SlaEscalationWorker(escalator, {k.value: v for k, v in policy.sla_s.items()}),
            RetentionWorker(client, keys, archive, s.snapshot_dir, days=s.retention_days,
                            streams=lambda: [keys.firehose, *(keys.center_stream(c) for c in router.center_codes)]),
        )
        wvp = build_wvp_bridge(s.wvp, client, redis_url, keys=keys, tz=ZoneInfo(s.timezone),
                               on_undelivered=log_undelivered(archive, router.centers_for))
        if wvp is not None:  # a bad mapping file raised ValueError above: the hub refuses to start
            stack.callback(wvp.bridge.target.close)
            singletons = (*singletons, wvp)
        recorder = CameraRecorder(CameraStates(client, keys), registry)
        analytics = _analytics(s, publisher, recorder)
        node_id = s.cluster.node_id or f"{socket.gethostname()}-{os.getpid()}"
        assigner = None
        if s.cluster.leases and roles.cameras:
            node = NodeInfo(node_id, s.cluster.capacity, frozenset(s.cluster.labels), started_at=time.time())
            assigner = Assigner(client, keys, node, lease_ttl_s=s.cluster.lease_ttl_s)
            stack.callback(_leave, assigner)
            log.info("cluster: node %s, capacity %d, lease %.0f s: this process samples the cameras it leases",
                     node.node_id, node.capacity, s.cluster.lease_ttl_s)

        def orphans(camera_id: str) -> None:  # a camera taken over: close what its previous holder left open
            publisher.close_orphans(archive.open_incidents(camera_id, INCIDENT_TYPES))

        maintainer = CameraMaintainer(s, registry, cameras, analytics, supervisor, recorder, publisher.publish,
                                      labels=labels, assigner=assigner, on_takeover=orphans)
        return Components(keys=keys, redis=client, registry=registry, identity=identity, cameras=cameras, router=router,
                          publisher=publisher, archive=archive, escalator=escalator, supervisor=supervisor,
                          analytics=analytics, maintainer=maintainer, workers=workers, singletons=singletons,
                          node_id=node_id, resources=stack.pop_all())
