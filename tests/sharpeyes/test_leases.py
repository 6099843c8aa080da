"""Camera leases and assignment (sharpeyes/leases.py) on a real redis-server: one holder per camera, fencing
tokens that only grow, a dead node's cameras taken over within the lease period, no flapping when it rejoins, pins
to node labels, and no camera acted on by two nodes at once even while a node cannot reach Redis."""

from __future__ import annotations

import itertools
import time
from collections import Counter

import pytest
import redis

from sharpeyes.keys import Keys
from sharpeyes.leases import Assigner, CameraLeases, Lease, Membership, NodeInfo, rank

TTL = 1.0
CAMERAS: dict[str, str | None] = {f"cam{i:02}": None for i in range(12)}


def node(name: str, capacity: int = 100, labels: frozenset[str] = frozenset()) -> NodeInfo:
    return NodeInfo(name, capacity, labels, detect_fps=15.0)


def run(assigners: list[Assigner], cameras: dict[str, str | None], rounds: int, pause: float = TTL / 4,
        check: bool = True) -> None:
    for _ in range(rounds):
        for a in assigners:
            a.step(cameras)
        if check:
            assert_never_twice(assigners)
        time.sleep(pause)


def assert_never_twice(assigners: list[Assigner]) -> None:
    counts = Counter(c for a in assigners for c in a.held())
    assert all(n == 1 for n in counts.values()), counts


def test_lease_tokens_fence_older_holders(redis_client: redis.Redis) -> None:
    leases = CameraLeases(redis_client, Keys("t"))
    first = leases.acquire("cam", "a", TTL)
    assert first == 1
    assert leases.acquire("cam", "b", TTL) is None  # held by a
    assert leases.acquire("cam", "a", TTL) == 1  # a's own lease, extended
    time.sleep(TTL + 0.1)
    second = leases.acquire("cam", "b", TTL)
    assert second == 2  # a's lease expired: b holds it with a larger token
    stale = Lease("cam", "a", 1)
    assert not leases.renew(stale, TTL) and not leases.release(stale)  # a cannot touch b's lease
    assert leases.holders(["cam", "other"]) == {"cam": Lease("cam", "b", 2)}
    assert leases.release(Lease("cam", "b", 2)) and leases.holders(["cam"]) == {}
    with pytest.raises(ValueError):
        leases.acquire("cam", "a|b", TTL)


def test_membership_expires_silent_nodes(redis_client: redis.Redis) -> None:
    m = Membership(redis_client, Keys("t"), node_ttl_s=0.5)
    m.heartbeat(node("a", 8, frozenset({"gpu"})))
    m.heartbeat(node("b", 4))
    assert [n.node_id for n in m.alive()] == ["a", "b"]
    assert m.alive()[0] == NodeInfo("a", 8, frozenset({"gpu"}), 15.0)
    time.sleep(0.3)
    m.heartbeat(node("b", 4))
    time.sleep(0.3)
    assert [n.node_id for n in m.alive()] == ["b"]


def test_every_camera_one_holder_balanced(redis_client: redis.Redis) -> None:
    assigners = [Assigner(redis_client, Keys("t"), node(n), lease_ttl_s=TTL) for n in "abc"]
    run(assigners, CAMERAS, 4)
    held = {a.node.node_id: sorted(a.held()) for a in assigners}
    assert sorted(c for cams in held.values() for c in cams) == sorted(CAMERAS)
    assert all(2 <= len(cams) <= 6 for cams in held.values()), held
    # the holder is each camera's first-ranked node (rendezvous): nothing was contended
    nodes = [a.node for a in assigners]
    assert all(rank(c, nodes)[0].node_id == n for n, cams in held.items() for c in cams)


def test_dead_node_taken_over_within_two_lease_periods_and_rejoin_does_not_flap(redis_client: redis.Redis) -> None:
    keys = Keys("t")
    assigners = [Assigner(redis_client, keys, node(n), lease_ttl_s=TTL) for n in "abc"]
    run(assigners, CAMERAS, 4)
    dead = assigners[2]
    orphans = set(dead.held())
    assert orphans
    t0 = time.monotonic()
    survivors = assigners[:2]
    while time.monotonic() - t0 < 5:  # c stops: no renewals, no heartbeats (a SIGKILL)
        for a in survivors:
            a.step(CAMERAS)
        # c's own view: it may act on its cameras only until its local deadline, before Redis frees them
        assert_never_twice(assigners)
        if set().union(*(a.held() for a in survivors)) == set(CAMERAS):
            break
        time.sleep(TTL / 4)
    takeover = time.monotonic() - t0
    assert set().union(*(a.held() for a in survivors)) == set(CAMERAS)
    assert takeover < 2 * TTL + 0.5, takeover
    assert not dead.held()  # its local deadlines passed
    # c comes back: no flapping. It takes only what a node holding more than its share plus the slack hands over,
    # one camera per step; nothing moves twice, and then nothing moves at all
    holder = {c: a.node.node_id for a in survivors for c in a.held()}
    rejoined = Assigner(redis_client, keys, node("c"), lease_ttl_s=TTL)
    group = [*survivors, rejoined]
    moves: Counter[str] = Counter()
    for _ in range(16):
        run(group, CAMERAS, 1)
        now_holder = {c: a.node.node_id for a in group for c in a.held()}
        for cam, n in now_holder.items():
            if holder.get(cam) not in (None, n):
                moves[cam] += 1
        holder.update(now_holder)
    assert all(n == 1 for n in moves.values()), moves
    assert all(holder[c] == "c" for c in moves)  # moved only to the rejoined node
    fair_plus_slack = 4 + 1
    assert all(len(a.held()) <= fair_plus_slack for a in group)
    settled = {a.node.node_id: set(a.held()) for a in group}
    run(group, CAMERAS, 6)
    assert {a.node.node_id: set(a.held()) for a in group} == settled
    # a new camera goes to whoever ranks first, c included
    more: dict[str, str | None] = {**CAMERAS, **{f"new{i}": None for i in range(6)}}
    run([*survivors, rejoined], more, 3)
    assert Counter(c for a in group for c in a.held()) == Counter(list(more))


def test_overloaded_node_hands_cameras_back_one_per_step(redis_client: redis.Redis) -> None:
    keys = Keys("t")
    alone = Assigner(redis_client, keys, node("a"), lease_ttl_s=TTL, rebalance_slack=0)
    run([alone], CAMERAS, 4)
    assert len(alone.held()) == 12
    b = Assigner(redis_client, keys, node("b"), lease_ttl_s=TTL, rebalance_slack=0)
    counts = []
    for _ in range(20):
        run([alone, b], CAMERAS, 1)
        counts.append(len(alone.held()))
    assert counts[0] >= 11 and counts[-1] == 6 and len(b.held()) == 6
    assert all(x - y <= 1 for x, y in itertools.pairwise(counts))  # gradually


def test_pinned_camera_only_on_a_labelled_node(redis_client: redis.Redis) -> None:
    keys = Keys("t")
    cameras: dict[str, str | None] = {"gpu-cam": "gpu", **{f"cam{i}": None for i in range(4)}}
    cpu = Assigner(redis_client, keys, node("cpu"), lease_ttl_s=TTL)
    run([cpu], cameras, 3)
    assert "gpu-cam" not in cpu.held() and len(cpu.held()) == 4  # no gpu node: the camera waits
    gpu = Assigner(redis_client, keys, node("gpu", labels=frozenset({"gpu"})), lease_ttl_s=TTL)
    run([cpu, gpu], cameras, 3)
    assert "gpu-cam" in gpu.held()


def test_unreachable_redis_stops_cameras_before_others_may_take_them(redis_client: redis.Redis) -> None:
    """A partitioned node keeps no camera past its local deadline, which precedes the lease's expiry in Redis."""
    keys = Keys("t")
    now = [0.0]
    a = Assigner(redis_client, keys, node("a"), lease_ttl_s=TTL, clock=lambda: now[0])
    a.step(CAMERAS)  # joins: sees the others (none) before taking anything
    assert a.held() == {}
    now[0] += a.join_s
    a.step(CAMERAS)
    assert len(a.held()) == 12
    now[0] += TTL * 0.79  # less than TTL × (1 - safety): still ours
    assert len(a.held()) == 12
    now[0] += 0.02
    assert a.held() == {} and sorted(a.expire_local()) == sorted(CAMERAS)
    leases = CameraLeases(redis_client, keys)
    assert len(leases.holders(CAMERAS)) == 12  # Redis still has them (expiring later): no one else may sample yet
    time.sleep(TTL + 0.1)
    assert leases.holders(CAMERAS) == {}


def test_capacity_is_respected(redis_client: redis.Redis) -> None:
    keys = Keys("t")
    small = Assigner(redis_client, keys, node("small", capacity=2), lease_ttl_s=TTL)
    run([small], CAMERAS, 4)
    assert len(small.held()) == 2
    small.leave()
    assert CameraLeases(redis_client, keys).holders(CAMERAS) == {}
    assert Membership(redis_client, keys).alive() == []
