"""The singleton lock and keeper (sharpeyes/leases.py ``SingletonLock``, sharpeyes/singletons.py) on a real
redis-server: one holder at a time with a fencing token that only grows, a standby that takes over when the holder
hands over or dies, and a holder that stops acting at its local deadline when it cannot reach Redis."""

from __future__ import annotations

import time

import redis

from sharpeyes.keys import Keys
from sharpeyes.leases import SingletonLock
from sharpeyes.singletons import SingletonKeeper
from sharpeyes.supervisor import Supervisor, Worker
from tests.support.wait import wait_until


class Idle(Worker):
    """A worker that only beats (the archiver, escalator… are tested on their own)."""

    def run(self) -> None:
        while not self.sleep(0.05):
            self.beat()


def test_one_holder_and_tokens_that_grow(redis_client: redis.Redis) -> None:
    keys = Keys("t-singleton-1")
    a, b = SingletonLock(redis_client, keys, "a", ttl_s=1.0), SingletonLock(redis_client, keys, "b", ttl_s=1.0)
    assert a.step() and a.held and not b.step() and not b.held
    first = a.token
    assert a.step() and a.token == first  # renewed, same token
    holder = b.holder()
    assert holder is not None and (holder.node_id, holder.token) == ("a", first)
    time.sleep(1.2)  # a died: its lock expired in Redis
    assert b.step() and b.token is not None and first is not None and b.token > first
    assert not a.step() and not a.held  # the old holder's renewal is refused: its token is stale
    second = b.token
    b.release()
    assert b.holder() is None and b.token is None and a.step() and a.token is not None and a.token > second


def test_local_deadline_ends_holding_without_redis(redis_client: redis.Redis) -> None:
    now = [1000.0]
    lock = SingletonLock(redis_client, Keys("t-singleton-2"), "a", ttl_s=10.0, safety=0.2, clock=lambda: now[0])
    assert lock.step() and lock.held
    now[0] += 7.9
    assert lock.held
    now[0] += 0.2  # past 80 % of the period since the last renewal: stop before Redis could let another take it
    assert not lock.held


def test_keepers_run_the_workers_on_one_node_and_hand_over(redis_client: redis.Redis) -> None:
    keys = Keys("t-singleton-3")
    sups = [Supervisor(), Supervisor()]
    keepers = [SingletonKeeper(SingletonLock(redis_client, keys, f"n{i}", ttl_s=1.5), sup,
                               [Idle("events:archiver"), Idle("events:escalator")])
               for i, sup in enumerate(sups)]
    try:
        for k, sup in zip(keepers, sups, strict=True):
            sup.add(k)

        def running() -> list[int]:
            return [i for i, sup in enumerate(sups) if sup.get("events:archiver") is not None]

        assert wait_until(lambda: len(running()) == 1, 5, 0.05)
        time.sleep(1.0)
        assert len(running()) == 1  # the other waits
        holder = running()[0]
        sups[holder].remove("cluster:singletons")  # a clean stop: the workers stop, the lock is released
        assert sups[holder].get("events:archiver") is None and sups[holder].get("events:escalator") is None
        assert wait_until(lambda: running() == [1 - holder], 5, 0.05)
        assert all(w.alive for w in sups[1 - holder].workers)
    finally:
        for sup in sups:
            sup.stop_all()
