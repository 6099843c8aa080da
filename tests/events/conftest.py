"""Fixtures of the event tests: ``publisher``, an EventPublisher on the session's Redis (flushed by
``redis_client``) routing to the centers of :data:`tests.support.events.PATH`, spooling under ``tmp_path``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from events.publisher import EventPublisher
from tests.support.events import make_publisher


@pytest.fixture()
def publisher(redis_client: redis.Redis, tmp_path: Path) -> Iterator[EventPublisher]:
    pub = make_publisher(redis_client, tmp_path / "spool.db")
    yield pub
    pub.spool.close()
