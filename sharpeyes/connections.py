"""Connections to the two engines the hub runs on: Redis (streams, state) and the SQL database (registry, archive).

Owns how a client or engine is built (timeouts, SQLite pragmas); it holds no connection itself and knows no table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis
from sqlalchemy import Engine, create_engine, event


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
