"""The per-camera video-quality state the hub keeps in Redis and in the SQL quality ledger for the 完好率 audit
(real redis-server)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from registry.models import QualityRecord
from registry.store import Registry
from sharpeyes.hub import Hub, write_quality_state
from sharpeyes.keys import Keys
from sharpeyes.settings import Settings

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


def test_hub_records_quality_changes_in_the_ledger(redis_client: redis.Redis, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    cam = "14042900001325000001"
    (tmp_path / "cams").mkdir()
    (tmp_path / "cams" / "c.yaml").write_text(
        f'cameras:\n  - {{id: "{cam}", name: c, jurisdiction: "140429100", stream: "rtsp://127.0.0.1:9/x"}}\n',
        encoding="utf-8")
    hub = Hub(Settings(data_dir=tmp_path))
    hub.redis = redis_client
    hub.registry = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    hub.registry.init()
    hub.registry.sync_camera_configs(tmp_path / "cams")
    hub._camera_quality(cam, ["blur", "too_dark"])
    hub._camera_quality(cam, [])
    with hub.registry.sessions() as s:
        rows = [(r.ok, r.faults) for r in s.scalars(select(QualityRecord).order_by(QualityRecord.id))]
    assert rows == [(False, "blur,too_dark"), (True, "")]
    assert redis_client.hget(Keys().camera_quality(cam), "ok") == b"1"
    # a ledger write that fails (here: an unknown camera, refused by the foreign key) is logged, not raised
    with caplog.at_level(logging.WARNING, logger="sharpeyes.hub"):
        hub._camera_quality("14042900001325000099", ["freeze"])
    assert "quality change not written to the ledger" in caplog.text
    assert redis_client.hget(Keys().camera_quality("14042900001325000099"), "faults") == b"freeze"
    hub.registry.close()
