"""Connections to the two engines the hub runs on: Redis (streams, state) and the SQL database (registry, archive,
identity: SQLite on one machine, PostgreSQL in production).

Owns how a client or engine is built (timeouts, SQLite pragmas, the PostgreSQL driver; a Redis URL with the
password, ACL user and TLS files of :class:`sharpeyes.settings.RedisSettings`) and the cross-process lock of a
SQL transaction (:func:`advisory_lock`); it holds no connection itself and knows no table. Neither a Redis nor a
database URL is ever logged with its password.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import redis
from sqlalchemy import Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session

from sharpeyes.settings import RedisSettings

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


def redis_connect_url(url: str, auth: RedisSettings) -> str:
    """``url`` with what ``auth`` adds folded in — user and password as the URL's user info (percent-encoded),
    the TLS files and hostname check as query options redis-py reads (``ssl_ca_certs``, ``ssl_certfile``,
    ``ssl_keyfile``, ``ssl_check_hostname``) — so that every client of the hub's Redis (the hub's own, the WVP
    bridge's when it shares it, ``sharpeyes consume``) is made from one string. The result holds the password:
    pass it to :func:`redis_client`, log it only through :func:`sharpeyes.urls.redact_url`."""
    parts = urlsplit(url)
    password = auth.secret()
    user = auth.username or (unquote(parts.username) if parts.username else "")
    netloc = parts.netloc.rpartition("@")[2]
    if password is not None:
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{netloc}"
    elif parts.password is not None:
        netloc = parts.netloc  # the URL's own credentials, as written
    elif user:
        netloc = f"{quote(user, safe='')}@{netloc}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.scheme == "rediss":
        tls = {"ssl_ca_certs": auth.ca_file, "ssl_certfile": auth.cert_file, "ssl_keyfile": auth.key_file}
        query += [(k, str(v)) for k, v in tls.items() if v is not None]
        query.append(("ssl_check_hostname", "true" if auth.check_hostname else "false"))
        query.append(("ssl_cert_reqs", "required"))
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), parts.fragment))


def redis_client(url: str) -> redis.Redis:
    """A client for ``url`` with timeouts, so a dead server is an error within seconds, not a hang."""
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3, health_check_interval=15)


def database_url(url: str) -> URL:
    """``url`` as SQLAlchemy reads it; ``postgresql://`` and ``postgres://`` (libpq's spellings, without a driver)
    mean the psycopg 3 driver the hub ships with."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def redacted_database_url(url: str | URL) -> str:
    """``url`` fit for a log line or a message: the password replaced by ``***``."""
    try:
        return (url if isinstance(url, URL) else make_url(url)).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # an unparsable URL is shown as nothing of it
        return "<unparsable database URL>"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite gets its folder created, WAL journalling and foreign keys; PostgreSQL the
    psycopg 3 driver, a connect timeout and pre-ping (a connection the server or a failover dropped is replaced,
    not handed out)."""
    parsed = database_url(url)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, connect_args={"connect_timeout": 10})
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
    return create_engine(parsed, pool_pre_ping=True)


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def advisory_lock(db: Connection | Session, name: str) -> None:
    """Hold the lock ``name`` until the current transaction of ``db`` ends, so that the hub processes of several
    machines (API node, worker nodes) do one thing at a time: a schema migration, the seeding and syncing of the
    registry. PostgreSQL: ``pg_advisory_xact_lock``. SQLite: nothing to do (one writer at a time; its processes
    share one machine)."""
    bind = db.get_bind() if isinstance(db, Session) else db
    if bind.dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(name)})
