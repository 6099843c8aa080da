"""The cameras' live state in Redis (sharpeyes/camera_state.py): the online/offline status hash with its gauge, and
the video-quality periods of the 完好率 audit (real redis-server; a closed port for Redis down)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sharpeyes import metrics
from sharpeyes.camera_state import REASON_MAX, CameraStates, write_quality_state
from sharpeyes.keys import Keys
from sharpeyes.proc import free_port

T0 = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
CAM = "14042900001325000001"


def text_hash(client: redis.Redis, key: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in client.hgetall(key).items()}


@pytest.fixture()
def dead_redis() -> redis.Redis:
    """A client of a closed port that gives up at once (redis-py retries with backoff by default)."""
    return redis.Redis(port=free_port(), socket_connect_timeout=0.5, socket_timeout=0.5, retry=Retry(NoBackoff(), 0))


def test_quality_state_periods_and_fault_seconds(redis_client: redis.Redis) -> None:
    key = Keys().camera_quality(CAM)
    assert key == "sharpeyes:camera:14042900001325000001:quality"

    write_quality_state(redis_client, key, ["blur"], T0)
    assert text_hash(redis_client, key) == {"ok": "0", "faults": "blur", "since": T0.isoformat()}
    write_quality_state(redis_client, key, ["blur", "too_dark"], T0 + timedelta(seconds=30))
    assert text_hash(redis_client, key) == {"ok": "0", "faults": "blur,too_dark",
                                            "since": T0.isoformat()}  # same faulty period
    write_quality_state(redis_client, key, [], T0 + timedelta(seconds=90))
    assert text_hash(redis_client, key) == {"ok": "1", "faults": "", "since": (T0 + timedelta(seconds=90)).isoformat(),
                                            "fault_seconds": "90"}
    write_quality_state(redis_client, key, ["freeze"], T0 + timedelta(seconds=100))
    write_quality_state(redis_client, key, [], T0 + timedelta(seconds=110))
    assert float(text_hash(redis_client, key)["fault_seconds"]) == 100.0


def test_write_quality_goes_through_the_camera_key(redis_client: redis.Redis) -> None:
    states = CameraStates(redis_client, Keys("t"))
    states.write_quality(CAM, ["freeze"], T0)
    assert text_hash(redis_client, Keys("t").camera_quality(CAM)) == {"ok": "0", "faults": "freeze",
                                                                      "since": T0.isoformat()}


def test_state_is_written_and_read_back(redis_client: redis.Redis) -> None:
    keys = Keys("t")
    states = CameraStates(redis_client, keys)
    assert states.last_state(CAM) == "unknown"  # never reported
    states.write_state(CAM, "online", "frames flowing", T0)
    assert text_hash(redis_client, keys.camera_status(CAM)) == {"state": "online", "since": T0.isoformat(),
                                                                "reason": "frames flowing"}
    assert metrics.CAMERA_ONLINE.labels(CAM)._value.get() == 1
    assert states.last_state(CAM) == "online"

    states.write_state(CAM, "offline", "x" * (REASON_MAX + 50), T0 + timedelta(seconds=5))
    status = text_hash(redis_client, keys.camera_status(CAM))
    assert status["state"] == "offline" and status["reason"] == "x" * REASON_MAX
    assert metrics.CAMERA_ONLINE.labels(CAM)._value.get() == 0
    assert states.last_state(CAM) == "offline"

    redis_client.hset(keys.camera_status(CAM), "state", "bogus")
    assert states.last_state(CAM) == "unknown"


def test_redis_down_is_logged_never_raised(dead_redis: redis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    states = CameraStates(dead_redis, Keys())
    with caplog.at_level(logging.WARNING, logger="sharpeyes.camera_state"):
        assert states.last_state(CAM) == "unknown"
        states.write_state(CAM, "online", "frames flowing")
        states.write_quality(CAM, ["blur"])
    assert f"camera {CAM}: state not written to redis" in caplog.text
    assert f"camera {CAM}: quality state not written to redis" in caplog.text
    assert metrics.CAMERA_ONLINE.labels(CAM)._value.get() == 1  # the gauge does not depend on Redis
    with pytest.raises(redis.RedisError):
        write_quality_state(dead_redis, Keys().camera_quality(CAM), ["blur"], T0)  # the bare writer raises
