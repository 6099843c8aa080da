"""Connections to the two engines the hub runs on: Redis (streams, state) and the SQL database (registry, archive).

Owns how a client or engine is built (timeouts, SQLite pragmas); it holds no connection itself and knows no table.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Engine, create_engine, event

log = logging.getLogger(__name__)

# policies under which Redis may delete keys, stream entries included, when it reaches maxmemory
_SAFE_EVICTION = ("noeviction",)


class RedisConfigError(RuntimeError):
    """The Redis server is configured so that accepted events could be lost; the message says what to set."""


def check_redis_durability(client: redis.Redis, where: str) -> list[str]:
    """Refuse (:class:`RedisConfigError`) a server whose ``maxmemory-policy`` could evict stream entries; return
    warnings for settings that weaken durability (no AOF). ``where`` names the server in messages (never its URL,
    which may hold a password). A server that does not allow ``CONFIG GET`` (a managed Redis, an ACL user without
    it) is accepted with a warning: its operator must vouch for it."""
    try:
        cfg = client.config_get("maxmemory-policy")
        cfg.update(client.config_get("appendonly"))
    except redis.ResponseError as exc:
        return [f"{where}: cannot read its configuration ({exc}); make sure maxmemory-policy is noeviction and "
                "appendonly is yes (docs/redis.md)"]
    values = {_text(k): _text(v) for k, v in cfg.items()}
    policy = values.get("maxmemory-policy", "")
    if policy and policy not in _SAFE_EVICTION:
        raise RedisConfigError(
            f"{where}: maxmemory-policy is {policy!r}, which lets Redis delete event streams when memory runs out; "
            "set `maxmemory-policy noeviction` (docs/redis.md)")
    aof = values.get("appendonly", "")
    warnings = []
    if aof and aof != "yes":
        warnings.append(f"{where}: appendonly is {aof!r}: events in Redis are lost if the server restarts; "
                        "set `appendonly yes` and `appendfsync everysec` or `always` (docs/redis.md)")
    return warnings


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def redis_client(url: str) -> redis.Redis:
    """A client for ``url`` with timeouts, so a dead server is an error within seconds, not a hang."""
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3, health_check_interval=15)


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets its folder created, WAL journalling and foreign keys."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)
