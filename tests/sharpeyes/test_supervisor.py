"""Supervisor and Worker: crash restarts with backoff, restart limits, restart modes, prompt stop, status."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from sharpeyes.supervisor import RestartPolicy, Supervisor, Worker
from tests.support.wait import wait_until

FAST = RestartPolicy(backoff_initial_s=0.01, backoff_max_s=0.02)


class Crasher(Worker):
    """Raises on each of its first ``crashes`` runs, then runs until stopped."""

    def __init__(self, name: str, policy: RestartPolicy, crashes: int | None = None) -> None:
        super().__init__(name, policy)
        self.crashes = crashes
        self.runs = 0
        self.steady = threading.Event()

    def run(self) -> None:
        self.runs += 1
        if self.crashes is None or self.runs <= self.crashes:
            raise RuntimeError(f"boom {self.runs}")
        self.steady.set()
        while not self.sleep(0.01):
            self.beat()


class Sleeper(Worker):
    """Blocks in an interruptible sleep far longer than any test waits."""

    def __init__(self, name: str, order: list[str] | None = None) -> None:
        super().__init__(name)
        self.order = order

    def run(self) -> None:
        self.beat()
        self.sleep(60)
        if self.order is not None:
            self.order.append(self.name)


class Returner(Worker):
    def __init__(self, name: str, policy: RestartPolicy) -> None:
        super().__init__(name, policy)
        self.runs = 0

    def run(self) -> None:
        self.runs += 1


@pytest.fixture()
def sup() -> Iterator[Supervisor]:
    s = Supervisor()
    yield s
    s.stop_all()


def test_crashing_worker_is_restarted(sup: Supervisor) -> None:
    w = Crasher("crashy", FAST, crashes=3)
    sup.add(w)
    assert w.steady.wait(5), "worker never got past its crashes"
    assert w.runs == 4
    assert w.restarts == 3
    assert w.last_error == "RuntimeError: boom 3"
    assert w.alive and w.healthy


def test_restarts_keep_growing_with_bounded_backoff(sup: Supervisor) -> None:
    """N restarts take about the capped backoff sum: far less than an uncapped doubling would need (with the cap
    removed the wait below runs out), and no less than the capped sum (the backoff is really slept)."""
    n, initial, cap = 12, FAST.backoff_initial_s, FAST.backoff_max_s
    capped = sum(min(initial * 2**k, cap) for k in range(n - 1))  # the sleeps before restart n: 0.21 s
    uncapped = sum(initial * 2**k for k in range(n - 1))  # 20.47 s
    w = Crasher("always-crashes", FAST)
    started = time.monotonic()
    sup.add(w)
    assert wait_until(lambda: w.restarts >= n, timeout=uncapped / 4), f"{w.restarts} restarts in {uncapped / 4:g}s"
    elapsed = time.monotonic() - started
    assert capped <= elapsed < uncapped / 4
    first = w.restarts
    assert wait_until(lambda: w.restarts > first + 3, timeout=1.0)  # still one every ~20 ms: restarts keep coming
    assert w.alive


def test_max_restarts_honoured() -> None:
    sup = Supervisor()
    w = Crasher("limited", RestartPolicy(backoff_initial_s=0.01, max_restarts=2))
    sup.add(w)
    assert wait_until(lambda: not w.alive)
    assert w.runs == 3  # the first run and two restarts
    assert w.restarts == 2
    assert not w.healthy
    assert sup.status()[0]["healthy"] is False
    sup.stop_all()


def test_on_failure_mode_does_not_restart_a_clean_return() -> None:
    w = Returner("once", RestartPolicy(mode="on-failure", backoff_initial_s=0.01))
    w.start()
    assert wait_until(lambda: not w.alive)
    assert (w.runs, w.restarts) == (1, 0)


def test_always_mode_restarts_a_clean_return() -> None:
    w = Returner("again", RestartPolicy(mode="always", backoff_initial_s=0.01, max_restarts=3))
    w.start()
    assert wait_until(lambda: not w.alive)
    assert (w.runs, w.restarts) == (4, 3)


def test_never_mode_does_not_restart_a_crash() -> None:
    w = Crasher("fragile", RestartPolicy(mode="never", backoff_initial_s=0.01))
    w.start()
    assert wait_until(lambda: not w.alive)
    assert (w.runs, w.restarts) == (1, 0)
    assert w.last_error == "RuntimeError: boom 1"


def test_stop_all_is_prompt() -> None:
    sup = Supervisor()
    order: list[str] = []
    workers = [Sleeper(f"sleeper-{i}", order) for i in range(4)]
    backing_off = Crasher("backing-off", RestartPolicy(backoff_initial_s=60))  # stop interrupts its backoff
    for w in workers:
        sup.add(w)
    sup.add(backing_off)
    assert wait_until(lambda: backing_off.restarts == 1)
    assert all(w.alive for w in workers)
    t0 = time.monotonic()
    sup.stop_all()
    assert time.monotonic() - t0 < 2.0
    assert not any(w.alive for w in [*workers, backing_off])
    assert backing_off.runs == 1
    assert sorted(order) == sorted(w.name for w in workers)


def test_status_fields_and_stale_heartbeat(sup: Supervisor) -> None:
    w = Sleeper("beats-once")
    w.heartbeat_timeout_s = 0.5
    sup.add(w)
    assert wait_until(lambda: w.alive)
    [st] = sup.status()
    assert st["name"] == "beats-once"
    assert st["alive"] is True
    assert st["healthy"] is True
    age = st["heartbeat_age_s"]
    assert isinstance(age, float)
    assert 0.0 <= age < 0.5
    assert st["restarts"] == 0
    assert st["last_error"] is None
    # alive but no longer beating: reported unhealthy
    assert wait_until(lambda: not sup.status()[0]["healthy"], timeout=3)
    [st] = sup.status()
    assert st["alive"] is True
    age = st["heartbeat_age_s"]
    assert isinstance(age, float) and age >= 0.5


def test_duplicate_names_refused_and_remove_stops(sup: Supervisor) -> None:
    w = Sleeper("solo")
    sup.add(w)
    with pytest.raises(ValueError, match="duplicate"):
        sup.add(Sleeper("solo"))
    assert sup.get("solo") is w
    t0 = time.monotonic()
    sup.remove("solo")
    assert time.monotonic() - t0 < 2.0
    assert not w.alive
    assert sup.get("solo") is None
    assert sup.status() == []


def test_worker_on_stop_failure_does_not_block_others() -> None:
    class BadStop(Sleeper):
        def on_stop(self) -> None:
            raise OSError("pipe already closed")

    sup = Supervisor()
    a, b = BadStop("bad-stop"), Sleeper("good")
    sup.add(a)
    sup.add(b)
    sup.stop_all()
    assert not a.alive and not b.alive
