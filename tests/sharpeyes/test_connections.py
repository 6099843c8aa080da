"""The durability check of the Redis the hub connects to, against a real redis-server: an eviction policy that could
delete stream entries is refused, a server without AOF is accepted with a warning. PostgreSQL URLs in libpq's
spelling connect through psycopg 3; database URLs are shown without their password."""

from __future__ import annotations

import pytest
import redis
from sqlalchemy import text

from sharpeyes.connections import RedisConfigError, check_redis_durability, make_engine, redacted_database_url
from sharpeyes.proc import EmbeddedRedis


def test_eviction_policy_is_refused_and_missing_aof_warned(redis_server: EmbeddedRedis,
                                                           redis_client: redis.Redis) -> None:
    try:
        redis_client.config_set("maxmemory-policy", "allkeys-lru")
        with pytest.raises(RedisConfigError, match=r"maxmemory-policy is 'allkeys-lru'.*noeviction"):
            check_redis_durability(redis_client, "REDIS_URL")
        redis_client.config_set("maxmemory-policy", "noeviction")
        warnings = check_redis_durability(redis_client, "REDIS_URL")  # the session server runs without AOF
        assert len(warnings) == 1 and "appendonly is 'no'" in warnings[0]
        assert redis_server.url not in warnings[0]
        redis_client.config_set("appendonly", "yes")
        assert check_redis_durability(redis_client, "REDIS_URL") == []
    finally:
        redis_client.config_set("maxmemory-policy", "noeviction")
        redis_client.config_set("appendonly", "no")


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_postgresql_urls_connect_with_psycopg(scheme: str, postgres_url: str) -> None:
    url = scheme + "://" + postgres_url.split("://", 1)[1]  # as an operator writes it: libpq's spelling
    engine = make_engine(url)
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_database_urls_are_shown_without_their_password() -> None:
    assert redacted_database_url("postgresql://hub:s3cr%40t@10.0.0.6/sharpeyes") == \
        "postgresql://hub:***@10.0.0.6/sharpeyes"
    assert redacted_database_url("sqlite:////var/lib/sharpeyes/sharpeyes.db") == \
        "sqlite:////var/lib/sharpeyes/sharpeyes.db"
    assert redacted_database_url("::not a url") == "<unparsable database URL>"
