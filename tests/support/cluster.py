"""A county deployment on one machine: worker nodes (``sharpeyes worker``, camera leases) and one API node
(``sharpeyes api``), each a child process with its own port and data folder, all on one external redis-server and
one database (PostgreSQL in the test), K cameras on the RTSP test server. Used by ``tests/e2e/test_cluster.py``
and ``bench/scale.py``.

Who runs what is read from the outside only: the leases in Redis (``Keys.camera_lease``), each worker's
``/api/health`` (its ``ingest:<camera>`` workers) and the API node's ``GET /api/workers``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import redis

from ingest.demo import RtspServer
from sharpeyes.keys import Keys
from sharpeyes.leases import CameraLeases
from sharpeyes.proc import free_port
from sharpeyes.settings import PROJECT_ROOT
from tests.support.chaos import CAMERA, CONFIG_HEAD, COUNTY, TOWNSHIP, VILLAGE, camera_id, hub_health


class Node:
    """One process: ``command`` is the ``sharpeyes`` subcommand and its options (``["worker"]``, ``["api"]``…)."""

    def __init__(self, name: str, workdir: Path, command: list[str], env: dict[str, str] | None = None,
                 cpus: set[int] | None = None) -> None:
        self.name, self.workdir, self.command, self.env = name, workdir, command, env or {}
        self.cpus = cpus  # set: the process (and every thread and child it starts) runs on these CPUs only
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"{name}.log"

    def health(self) -> dict[str, Any] | None:
        return hub_health(self.port)

    def ingesting(self) -> set[str]:
        """The cameras this process runs a sampler for (its health's ``ingest:<id>`` workers)."""
        h = self.health() or {}
        return {w["name"].split(":", 1)[1] for w in h.get("workers", []) if w["name"].startswith("ingest:")}


class Cluster:
    """``nodes`` worker processes (``worker_command``; ``node_env`` and ``node_cpus``, a CPU affinity set by
    ``taskset`` at exec, per node), an API node
    (``api_command``; None: none), K cameras; :meth:`close` stops everything it started."""

    def __init__(self, workdir: Path, clip: Path, redis_url: str, cameras: int, nodes: int, *,
                 database_url: str | None = None, lease_ttl_s: float = 3.0,
                 worker_command: tuple[str, ...] = ("worker", "--singletons"),
                 api_command: tuple[str, ...] | None = ("api", "--singletons"),
                 node_env: list[dict[str, str]] | None = None, extra_env: dict[str, str] | None = None,
                 node_cpus: list[set[int]] | None = None) -> None:
        self.workdir, self.redis_url, self.cameras, self.lease_ttl_s = workdir, redis_url, cameras, lease_ttl_s
        self.configs = workdir / "camera_configs"
        self.configs.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url or f"sqlite:///{workdir / 'shared.db'}"
        self.rtsp = RtspServer({f"cam{i}": clip for i in range(cameras)})
        self.nodes = [Node(f"node{i}", workdir, list(worker_command), (node_env or [{}] * nodes)[i],
                           (node_cpus or [set()] * nodes)[i] or None) for i in range(nodes)]
        self.api = Node("api", workdir, list(api_command)) if api_command is not None else None
        self.extra_env = extra_env or {}
        self._token: str | None = None
        self.keys = Keys()
        self.client = redis.Redis.from_url(redis_url, socket_timeout=5)
        self.leases = CameraLeases(self.client, self.keys)

    @property
    def camera_ids(self) -> list[str]:
        return [camera_id(i) for i in range(self.cameras)]

    def start(self) -> None:
        self.rtsp.start()
        body = CONFIG_HEAD.format(village=VILLAGE, township=TOWNSHIP)
        for i in range(self.cameras):
            body += CAMERA.format(cam=camera_id(i), n=i, village=VILLAGE, url=self.rtsp.url(f"cam{i}"))
        (self.configs / "cluster.yaml").write_text(body, encoding="utf-8")
        # the first process creates the shared database (as `sharpeyes db upgrade` would before a deployment's
        # workers start), then the others join
        first, *rest = [n for n in (self.api, *self.nodes) if n is not None]
        self.start_node(first)
        deadline = time.monotonic() + 180
        while first.health() is None:
            if time.monotonic() > deadline or (first.proc is not None and first.proc.poll() is not None):
                raise RuntimeError(f"{first.name} did not come up: see {first.log}")
            time.sleep(0.5)
        for node in rest:
            self.start_node(node)

    def start_node(self, node: Node) -> None:
        env = {**os.environ, "SHARPEYES_DATA_DIR": str(self.workdir / node.name),
               "SHARPEYES_CAMERA_CONFIGS": str(self.configs),
               "SHARPEYES_MODELS_DIR": str(PROJECT_ROOT / "data" / "models"),
               "SHARPEYES_DATABASE_URL": self.database_url, "SHARPEYES_REDIS_URL": self.redis_url,
               "SHARPEYES_API__PORT": str(node.port), "SHARPEYES_CAMERA_RECONCILE_S": "1",
               "SHARPEYES_CLUSTER__LEASES": "true", "SHARPEYES_CLUSTER__NODE_ID": node.name,
               "SHARPEYES_CLUSTER__LEASE_TTL_S": str(self.lease_ttl_s), **self.extra_env, **node.env}
        for name in ("REDIS_URL", "DATABASE_URL"):
            env.pop(name, None)
        exe = Path(sys.executable).with_name("sharpeyes")
        with node.log.open("ab") as logf:
            pin = ["taskset", "-c", ",".join(map(str, sorted(node.cpus)))] if node.cpus else []
            node.proc = subprocess.Popen([*pin, str(exe), *node.command], stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def kill(self, node: Node) -> None:
        """SIGKILL the node's whole process group (hub, its ffmpeg samplers): a crash, nothing released."""
        assert node.proc is not None
        os.killpg(node.proc.pid, signal.SIGKILL)
        node.proc.wait(10)
        node.proc = None

    def holders(self) -> dict[str, str]:
        """Camera → the node holding its lease."""
        return {c: lease.node_id for c, lease in self.leases.holders(self.camera_ids).items()}

    def online(self) -> set[str]:
        out = set()
        for cam in self.camera_ids:
            if self.client.hget(self.keys.camera_status(cam), "state") == b"online":
                out.add(cam)
        return out

    def workers_view(self) -> dict[str, Any] | None:
        """``GET /api/workers`` of the API node, as an ops:read API token of the county sees it; None while it does
        not answer."""
        if self.api is None:
            return None
        if self._token is None:
            from identity.store import IdentityStore

            store = IdentityStore(self.database_url)
            try:
                self._token = store.add_token("cluster-test", role="technician", jurisdiction=COUNTY)
            finally:
                store.close()
        req = urllib.request.Request(f"http://127.0.0.1:{self.api.port}/api/workers",
                                     headers={"Authorization": f"Bearer {self._token}"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return dict(json.loads(resp.read()))
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def alive(self) -> list[Node]:
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def ingesting(self) -> dict[str, list[str]]:
        """Camera → the live nodes running a sampler for it."""
        out: dict[str, list[str]] = {}
        for node in self.alive():
            for cam in node.ingesting():
                out.setdefault(cam, []).append(node.name)
        return out

    def close(self) -> None:
        everyone = [n for n in (*self.nodes, self.api) if n is not None]
        for node in everyone:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in everyone:
            if node.proc is not None:
                try:
                    node.proc.wait(60)
                except subprocess.TimeoutExpired:
                    os.killpg(node.proc.pid, signal.SIGKILL)
                    node.proc.wait()
        self.client.close()
        self.rtsp.stop()


class Watch:
    """Who samples what, read from the outside: how long any camera has been seen sampled by two live processes at
    once (:attr:`worst`; one lease period is the bound) and which cameras were so for longer than that
    (:attr:`twice`)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.since: dict[str, float] = {}
        self.worst = 0.0
        self.twice: set[str] = set()

    def observe(self) -> dict[str, list[str]]:
        ingesting = self.cluster.ingesting()
        now = time.monotonic()
        both = {cam for cam, nodes in ingesting.items() if len(nodes) > 1}
        for cam in both:
            self.worst = max(self.worst, now - self.since.setdefault(cam, now))
            if now - self.since[cam] > self.cluster.lease_ttl_s:
                self.twice.add(cam)
        for cam in set(self.since) - both:
            del self.since[cam]
        return ingesting

    def settled(self, nodes: set[str]) -> bool:
        """Every camera leased to one of ``nodes``, sampled there and nowhere else, and online."""
        c = self.cluster
        holders, ingesting = c.holders(), self.observe()
        return (len(holders) == c.cameras and set(holders.values()) <= nodes
                and {cam: [holders[cam]] for cam in holders} == ingesting and c.online() == set(c.camera_ids))

    def wait(self, nodes: set[str], timeout: float) -> float:
        """Seconds until :meth:`settled`; RuntimeError after ``timeout``."""
        t0 = time.monotonic()
        while not self.settled(nodes):
            if time.monotonic() - t0 > timeout:
                raise RuntimeError(f"not settled within {timeout:.0f} s: holders {self.cluster.holders()}, "
                                   f"sampled {self.cluster.ingesting()}, online {len(self.cluster.online())}")
            time.sleep(0.5)
        return time.monotonic() - t0
