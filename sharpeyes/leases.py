"""Which worker node samples which camera: node membership, camera leases with fencing tokens, and assignment.

The coordination core for running many worker nodes against one Redis (issue #13); it owns only Redis state under
:class:`~sharpeyes.keys.Keys` and never starts a camera itself: a node's camera maintainer calls
:meth:`Assigner.step` once per heartbeat and starts or stops its samplers as told.

- **Membership**: each node heartbeats its :class:`NodeInfo` (capacity in cameras, labels such as ``gpu``, the
  detector frames/s it measured at start) into a sorted set scored by the moment the heartbeat expires; a node
  whose heartbeat is older than ``node_ttl_s`` is dead to everyone.
- **Leases**: a camera is held by at most one node, under a Redis string ``<node>|<token>`` with a TTL
  (``lease_ttl_s``), renewed at each step. Every acquisition takes the next **fencing token** from a per-camera
  counter, so a holder's token is larger than any earlier holder's; a node presents its token when it renews or
  releases, and anything written on the camera's behalf can carry it. A node also keeps a *local* deadline for
  each lease (the moment it sent the last successful renewal plus the TTL, less a safety margin): when Redis is
  unreachable it stops the camera at that deadline, which is before Redis lets anyone else take it, so a camera
  is never sampled by two nodes at once (clock rates, not clocks, must agree).
- **Assignment**: weighted rendezvous hashing (highest random weight, weight = capacity) over the live nodes whose
  labels satisfy the camera's pin ranks the nodes for each camera. A free camera is taken by its first-ranked
  node; the node ranked *k* takes it only after it has been free for *k* lease periods (the winner is dead, full or
  slow), so a takeover completes within ``(k + 1) × lease_ttl_s``. Holding is sticky: a node keeps what it holds
  while it is alive and within its capacity, so a node that rejoins does not take cameras back (no flapping); a
  node releases a camera only when it is pinned elsewhere or when it holds more than its fair share (by capacity
  among the live nodes) plus ``rebalance_slack`` while another node eligible for that camera is below its share
  (one camera per step; stopped here first, released in Redis at the next step, so the next holder never starts it
  while it still runs here). A node above its share plus the slack takes no free camera, and the turn to take one
  goes round the nodes below that limit. A node takes nothing in its
  first half lease period, so nodes started together see each other before the first takes everything.

Why leases in Redis and not a coordinator: the hub already depends on Redis; a lease with a TTL plus a fencing
token is the standard construction (Kleppmann's fencing, Chubby's sequencers) and needs no elected process.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from sharpeyes.keys import Keys

log = logging.getLogger(__name__)

_ACQUIRE = """
local cur = redis.call('GET', KEYS[1])
if cur then
  local node, token = string.match(cur, '^(.*)|(%d+)$')
  if node == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return tonumber(token)
  end
  return nil
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'PX', ARGV[2])
return token
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@dataclass(frozen=True)
class NodeInfo:
    """What a worker node tells the others about itself (and ``GET /api/workers`` shows)."""

    node_id: str
    capacity: int  # most cameras it takes
    labels: frozenset[str] = frozenset()
    detect_fps: float = 0.0  # detector frames/s measured at start (0 until measured)
    frames_detected: int = 0  # frames run through its detector since it started (a running total)
    detected_fps: float = 0.0  # frames run through its detector per second, over the last heartbeat interval
    started_at: float = 0.0  # Unix time the node started

    def to_json(self) -> str:
        return json.dumps({"capacity": self.capacity, "labels": sorted(self.labels), "detect_fps": self.detect_fps,
                           "frames_detected": self.frames_detected, "detected_fps": self.detected_fps,
                           "started_at": self.started_at})

    @classmethod
    def from_json(cls, node_id: str, raw: str | bytes) -> NodeInfo:
        d = json.loads(raw)
        return cls(node_id, int(d["capacity"]), frozenset(d.get("labels", ())), float(d.get("detect_fps", 0.0)),
                   int(d.get("frames_detected", 0)), float(d.get("detected_fps", 0.0)),
                   float(d.get("started_at", 0.0)))


@dataclass(frozen=True)
class Lease:
    camera_id: str
    node_id: str
    token: int


class Membership:
    """Node heartbeats in Redis."""

    def __init__(self, client: redis.Redis, keys: Keys, node_ttl_s: float = 10.0) -> None:
        self.client, self.keys, self.node_ttl_s = client, keys, node_ttl_s

    def heartbeat(self, node: NodeInfo) -> None:
        until_ms = int((time.time() + self.node_ttl_s) * 1000)
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(self.keys.nodes_alive, {node.node_id: until_ms})
        pipe.hset(self.keys.nodes_info, node.node_id, node.to_json())
        pipe.execute()

    def leave(self, node_id: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.zrem(self.keys.nodes_alive, node_id)
        pipe.hdel(self.keys.nodes_info, node_id)
        pipe.execute()

    def alive(self) -> list[NodeInfo]:
        """The nodes whose heartbeat has not expired, by id; expired ones are pruned."""
        return [n for n, _ in self.alive_until()]

    def alive_until(self) -> list[tuple[NodeInfo, float]]:
        """:meth:`alive`, each node with the Unix ms until which its last heartbeat keeps it alive."""
        now_ms = int(time.time() * 1000)
        self.client.zremrangebyscore(self.keys.nodes_alive, "-inf", now_ms)
        scored: Any = self.client.zrangebyscore(self.keys.nodes_alive, now_ms, "+inf", withscores=True)
        until = {(x.decode() if isinstance(x, bytes) else str(x)): float(ms) for x, ms in scored}
        ids = sorted(until)
        if not ids:
            return []
        raw = self.client.hmget(self.keys.nodes_info, ids)
        return [(NodeInfo.from_json(i, r), until[i]) for i, r in zip(ids, raw, strict=True) if r is not None]


class _LeaseScripts:
    """The atomic operations on one lease key (a string ``<node>|<token>`` with a TTL) and its fence counter (Lua
    scripts: check-and-set in one round trip); shared by the camera leases and the singleton lock."""

    def __init__(self, client: redis.Redis) -> None:
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def acquire(self, key: str, fence: str, node_id: str, ttl_s: float) -> int | None:
        """The fencing token of a new (or this node's existing) lease; None when another node holds it."""
        if "|" in node_id:
            raise ValueError(f"node id {node_id!r} must not contain '|'")
        token = self._acquire(keys=[key, fence], args=[node_id, int(ttl_s * 1000)])
        return None if token is None else int(token)

    def renew(self, key: str, lease: Lease, ttl_s: float) -> bool:
        return bool(self._renew(keys=[key], args=[f"{lease.node_id}|{lease.token}", int(ttl_s * 1000)]))

    def release(self, key: str, lease: Lease) -> bool:
        return bool(self._release(keys=[key], args=[f"{lease.node_id}|{lease.token}"]))


def _lease(subject: str, raw: str | bytes) -> Lease:
    """A lease key's value ``<node>|<token>`` as the lease on ``subject``."""
    node, _, token = (raw.decode() if isinstance(raw, bytes) else str(raw)).rpartition("|")
    return Lease(subject, node, int(token))


class CameraLeases:
    """Atomic lease operations on cameras."""

    def __init__(self, client: redis.Redis, keys: Keys) -> None:
        self.client, self.keys = client, keys
        self._scripts = _LeaseScripts(client)

    def acquire(self, camera_id: str, node_id: str, ttl_s: float) -> int | None:
        """The fencing token of a new (or this node's existing) lease on the camera; None when another holds it."""
        return self._scripts.acquire(self.keys.camera_lease(camera_id), self.keys.camera_fence(camera_id), node_id,
                                     ttl_s)

    def renew(self, lease: Lease, ttl_s: float) -> bool:
        return self._scripts.renew(self.keys.camera_lease(lease.camera_id), lease, ttl_s)

    def release(self, lease: Lease) -> bool:
        return self._scripts.release(self.keys.camera_lease(lease.camera_id), lease)

    def holders(self, camera_ids: Iterable[str]) -> dict[str, Lease]:
        """Camera → its current lease, for the cameras that have one."""
        ids = list(camera_ids)
        if not ids:
            return {}
        raw = self.client.mget([self.keys.camera_lease(c) for c in ids])
        return {cam: _lease(cam, r) for cam, r in zip(ids, raw, strict=True) if r is not None}


SINGLETONS = "singletons"
"""The subject of the singleton lock's :class:`Lease` (where a camera lease names its camera)."""


def singleton_holder(client: redis.Redis, keys: Keys) -> Lease | None:
    """Who holds the singleton lock now (from Redis); None: nobody."""
    raw: Any = client.get(keys.singleton_lock)
    return None if raw is None else _lease(SINGLETONS, raw)


class SingletonLock:
    """One holder at a time for the hub's singleton workers (archiver, SLA escalator, retention, platform bridge),
    the same construction as a camera lease: a Redis string ``<node>|<token>`` with a TTL under
    :attr:`Keys.singleton_lock`, a fencing token from :attr:`Keys.singleton_fence` at every acquisition, and a local
    deadline (last successful renewal + TTL less ``safety``) after which the holder stops acting even when Redis
    cannot be asked, which comes before anyone else can take the lock."""

    def __init__(self, client: redis.Redis, keys: Keys, node_id: str, *, ttl_s: float = 15.0, safety: float = 0.2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if "|" in node_id:
            raise ValueError(f"node id {node_id!r} must not contain '|'")
        self.client, self.keys, self.node_id, self.ttl_s, self.safety, self.clock = (
            client, keys, node_id, ttl_s, safety, clock)
        self._scripts = _LeaseScripts(client)
        self.token: int | None = None
        self._deadline = 0.0

    @property
    def held(self) -> bool:
        """This node may act as the singleton now (it holds the lock and its local deadline has not passed)."""
        return self.token is not None and self.clock() < self._deadline

    def step(self) -> bool:
        """Take the lock when free, renew it when held; whether this node holds it after the step. Redis errors
        propagate (the local deadline still ends :attr:`held` in time)."""
        deadline = self.clock() + self.ttl_s * (1 - self.safety)  # counted from before the request is sent
        if self.held and self.token is not None:
            if self._scripts.renew(self.keys.singleton_lock, Lease(SINGLETONS, self.node_id, self.token), self.ttl_s):
                self._deadline = deadline
                return True
            log.warning("node %s lost the singleton lock (token %d)", self.node_id, self.token)
        self.token = self._scripts.acquire(self.keys.singleton_lock, self.keys.singleton_fence, self.node_id,
                                           self.ttl_s)
        if self.token is None:
            return False
        self._deadline = deadline
        return True

    def release(self) -> None:
        if self.token is not None:
            self._scripts.release(self.keys.singleton_lock, Lease(SINGLETONS, self.node_id, self.token))
        self.token = None

    def holder(self) -> Lease | None:
        """Who holds the lock now (from Redis)."""
        return singleton_holder(self.client, self.keys)


def _score(camera_id: str, node: NodeInfo) -> float:
    """Weighted rendezvous score: ``-capacity / ln(u)``, ``u`` uniform in (0, 1) from a hash of both ids."""
    digest = hashlib.blake2b(f"{camera_id}\x00{node.node_id}".encode(), digest_size=8).digest()
    u = (int.from_bytes(digest, "big") + 1) / (2**64 + 2)
    return -max(node.capacity, 1) / math.log(u)


def rank(camera_id: str, nodes: Iterable[NodeInfo], pin: str | None = None) -> list[NodeInfo]:
    """The nodes that may take the camera (those with label ``pin`` when pinned), best first."""
    eligible = [n for n in nodes if pin is None or pin in n.labels]
    return sorted(eligible, key=lambda n: (-_score(camera_id, n), n.node_id))


@dataclass
class StepResult:
    start: list[Lease] = field(default_factory=list)  # newly held: start sampling (with this token)
    stop: list[str] = field(default_factory=list)  # no longer held (lost, released, expired): stop at once
    held: dict[str, Lease] = field(default_factory=dict)  # everything this node holds after the step


class Assigner:
    """One node's side of the assignment. Call :meth:`step` every ``lease_ttl_s / 3`` or so."""

    def __init__(self, client: redis.Redis, keys: Keys, node: NodeInfo, *, lease_ttl_s: float = 15.0,
                 node_ttl_s: float | None = None, safety: float = 0.2, rebalance_slack: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.node = node
        self.lease_ttl_s = lease_ttl_s
        self.safety = safety  # share of the TTL by which the local deadline precedes Redis' expiry
        self.rebalance_slack = rebalance_slack
        self.clock = clock
        self.membership = Membership(client, keys, node_ttl_s if node_ttl_s is not None else lease_ttl_s)
        self.leases = CameraLeases(client, keys)
        self._held: dict[str, tuple[Lease, float]] = {}  # camera → (lease, local deadline)
        self._releasing: list[Lease] = []  # handed back: released in Redis at the next step, once stopped here
        self._free_since: dict[str, float] = {}
        self.join_s = lease_ttl_s / 2  # take nothing this long after the first heartbeat: see the others first
        self._joined: float | None = None

    def held(self) -> dict[str, Lease]:
        """The leases this node may act on now (local deadline not passed)."""
        now = self.clock()
        return {c: lease for c, (lease, deadline) in self._held.items() if deadline > now}

    def expire_local(self) -> list[str]:
        """Drop the leases whose local deadline passed (call it even when Redis is down); their cameras."""
        now = self.clock()
        gone = [c for c, (_, deadline) in self._held.items() if deadline <= now]
        for c in gone:
            del self._held[c]
        return gone

    def step(self, cameras: Mapping[str, str | None]) -> StepResult:
        """One round: heartbeat, renew, release what must go, take what is ours. ``cameras``: every enabled camera
        → its pinned node label (None: any node). Redis errors propagate; call :meth:`expire_local` then."""
        result = StepResult(stop=self.expire_local())
        for lease in self._releasing:  # the caller stopped these cameras after the previous step
            self.leases.release(lease)
        self._releasing.clear()
        self.membership.heartbeat(self.node)
        sent = self.clock()
        deadline = sent + self.lease_ttl_s * (1 - self.safety)
        nodes = self.membership.alive()
        for cam, (lease, _) in list(self._held.items()):
            if cam not in cameras:
                self._release(cam, result, "no longer enabled")
            elif not self.leases.renew(lease, self.lease_ttl_s):
                log.warning("node %s lost the lease of camera %s (token %d)", self.node.node_id, cam, lease.token)
                del self._held[cam]
                result.stop.append(cam)
            else:
                self._held[cam] = (lease, deadline)
        # release: pinned elsewhere, or above the fair share by the slack while another node is below its share
        for cam in list(self._held):
            pin = cameras[cam]
            if pin is not None and pin not in self.node.labels:
                self._release(cam, result, f"pinned to label {pin}")
        holders = self.leases.holders(cameras)
        load = Counter(lease.node_id for lease in holders.values())
        fair = {n.node_id: self._fair_share(cameras, nodes, n) for n in nodes}
        limit = {n.node_id: min(n.capacity, fair[n.node_id] + self.rebalance_slack) for n in nodes}
        mine = limit.get(self.node.node_id, self.node.capacity)
        if len(self._held) > mine:
            for cam in sorted(self._held):
                if any(n.node_id != self.node.node_id and load[n.node_id] < fair[n.node_id]
                       for n in rank(cam, nodes, cameras[cam])):
                    self._release(cam, result, "rebalancing")
                    break
        # take: free cameras whose turn it is for this node, among the nodes below their limit
        now = self.clock()
        if self._joined is None:
            self._joined = now
        if now - self._joined < self.join_s:  # nodes started together see each other before taking cameras
            result.held = self.held()
            return result
        for cam, pin in sorted(cameras.items()):
            if cam in holders:
                self._free_since.pop(cam, None)
                continue
            since = self._free_since.setdefault(cam, now)
            if len(self._held) >= mine:
                continue
            order = [n.node_id for n in rank(cam, nodes, pin)
                     if n.node_id == self.node.node_id or load[n.node_id] < limit[n.node_id]]
            if self.node.node_id not in order:
                continue
            turn = order.index(self.node.node_id)
            if now - since < turn * self.lease_ttl_s:
                continue
            token = self.leases.acquire(cam, self.node.node_id, self.lease_ttl_s)
            if token is not None:
                lease = Lease(cam, self.node.node_id, token)
                self._held[cam] = (lease, deadline)
                self._free_since.pop(cam, None)
                load[self.node.node_id] += 1
                result.start.append(lease)
        result.held = self.held()
        return result

    def _release(self, cam: str, result: StepResult, why: str) -> None:
        """Stop holding ``cam``: it leaves :meth:`held` now (the caller stops the camera) and its lease is released
        in Redis at the next step, so the next holder cannot start it while it still runs here."""
        lease, _ = self._held.pop(cam)
        self._releasing.append(lease)
        result.stop.append(cam)
        log.info("node %s released camera %s (%s)", self.node.node_id, cam, why)

    @staticmethod
    def _fair_share(cameras: Mapping[str, str | None], nodes: list[NodeInfo], node: NodeInfo) -> int:
        """``node``'s share of the cameras, by capacity among the live nodes (rounded up)."""
        total = sum(max(n.capacity, 1) for n in nodes) or 1
        return math.ceil(len(cameras) * max(node.capacity, 1) / total)

    def leave(self) -> None:
        """Release every lease and leave the membership (a clean stop: others take over at once)."""
        for lease in [*self._releasing, *(lease for lease, _ in self._held.values())]:
            self.leases.release(lease)
        self._held.clear()
        self._releasing.clear()
        self.membership.leave(self.node.node_id)
