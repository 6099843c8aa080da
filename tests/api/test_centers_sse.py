"""The center SSE generator on a real redis-server: an idle stream is kept alive with comments at the heartbeat and
never reads as a Redis error, even when the heartbeat is longer than the client's socket timeout."""

from __future__ import annotations

import threading
import time

import redis

from api.centers import _sse
from sharpeyes.proc import EmbeddedRedis


def test_idle_stream_keeps_alive_without_errors(redis_server: EmbeddedRedis) -> None:
    client = redis.Redis.from_url(redis_server.url, socket_timeout=1.0)  # shorter than the heartbeat
    try:
        client.delete("t:idle")
        got: list[bytes] = []
        gen = _sse(client, "t:idle", "0-0", heartbeat_s=1.6)

        def read() -> None:
            t0 = time.monotonic()
            while time.monotonic() - t0 < 3.6:
                got.append(next(gen))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        time.sleep(2.0)
        client.xadd("t:idle", {"v": "not an event"})  # undecodable entries are skipped, not an error
        reader.join(10)
        assert got[0] == b": connected\n\n"
        assert not any(chunk.startswith(b"event: error") for chunk in got), got
        assert 1 <= got.count(b": keep-alive\n\n") <= 3, got
    finally:
        client.close()
