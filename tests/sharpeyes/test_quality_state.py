"""The per-camera video-quality state the hub keeps in Redis for the 完好率 audit (real redis-server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis

from sharpeyes.hub import write_quality_state
from sharpeyes.keys import Keys

T0 = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_quality_state_periods_and_fault_seconds(redis_client: redis.Redis) -> None:
    key = Keys().camera_quality("14042900001325000001")
    assert key == "sharpeyes:camera:14042900001325000001:quality"

    def state() -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in redis_client.hgetall(key).items()}

    write_quality_state(redis_client, key, ["blur"], T0)
    assert state() == {"ok": "0", "faults": "blur", "since": T0.isoformat()}
    write_quality_state(redis_client, key, ["blur", "too_dark"], T0 + timedelta(seconds=30))
    assert state() == {"ok": "0", "faults": "blur,too_dark", "since": T0.isoformat()}  # same faulty period
    write_quality_state(redis_client, key, [], T0 + timedelta(seconds=90))
    assert state() == {"ok": "1", "faults": "", "since": (T0 + timedelta(seconds=90)).isoformat(),
                       "fault_seconds": "90"}
    write_quality_state(redis_client, key, ["freeze"], T0 + timedelta(seconds=100))
    write_quality_state(redis_client, key, [], T0 + timedelta(seconds=110))
    assert float(state()["fault_seconds"]) == 100.0
