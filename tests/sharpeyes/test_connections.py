"""The durability check of the Redis the hub connects to, against a real redis-server: an eviction policy that could
delete stream entries is refused, a server without AOF is accepted with a warning."""

from __future__ import annotations

import pytest
import redis

from sharpeyes.connections import RedisConfigError, check_redis_durability
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
