"""Events for tests: the jurisdiction codes the event tests use, an event factory, a publisher builder and readers
of what landed in a stream.

Owns only what it builds (events, an :class:`EventPublisher` over a spool file the caller names); must not flush
or otherwise change the Redis it is given beyond what publishing does.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import redis

from events.consumer import CenterConsumer
from events.publisher import EventPublisher, Spool, decode_entry
from events.routing import Router, RoutingPolicy
from sharpeyes.keys import Keys
from sharpeyes.schema import Event, EventType, Severity

COUNTY, TOWNSHIP, VILLAGE = "140429", "140429100", "140429100001"
"""武乡县, 丰州镇 (seeded) and a synthetic village that hosts a center."""
TOWNSHIP_B = "140429101"
"""洪水镇 (seeded)."""
PATH = [COUNTY, TOWNSHIP, VILLAGE]
"""The civil codes of an event seen in :data:`VILLAGE`."""
CAMERAS = ("14042900001325000001", "14042900001325000002")
CAM = CAMERAS[0]
TTL_S = 30 * 24 * 3600
T0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


def make_event(n: int = 0, *, severity: Severity = Severity.MINOR, camera: str = CAM,
               etype: EventType = EventType.ZONE_INTRUSION, civil_codes: Iterable[str] = PATH,
               occurred_at: datetime | None = None, **fields: Any) -> Event:
    """Event number ``n``: at ``T0 + n`` seconds unless ``occurred_at`` is given, ``detail={"n": n}`` unless
    ``detail`` is given; any other :class:`Event` field may be passed."""
    fields.setdefault("detail", {"n": n})
    return Event(type=etype, severity=severity, camera_id=camera, civil_codes=list(civil_codes),
                 occurred_at=occurred_at or T0 + timedelta(seconds=n), **fields)


def make_publisher(client: redis.Redis, spool_path: Path, *, centers: Iterable[str] = PATH, keys: Keys | None = None,
                   ttl_s: int = TTL_S, maxlen: int = 10_000) -> EventPublisher:
    """An :class:`EventPublisher` routing with the shipped policy to ``centers``, spooling to ``spool_path``. The
    caller closes ``publisher.spool``."""
    router = Router(RoutingPolicy.load(), set(centers))
    return EventPublisher(client, router, keys or Keys(), Spool(spool_path), ttl_s=ttl_s, maxlen=maxlen)


def stream_events(client: redis.Redis, stream: str) -> list[Event]:
    """Every event in ``stream``, oldest first."""
    rows = cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(stream))
    return [decode_entry(fields) for _id, fields in rows]


def stream_ids(client: redis.Redis, stream: str) -> list[str]:
    """The event ids in ``stream``, oldest first."""
    return [e.id for e in stream_events(client, stream)]


def drain(consumer: CenterConsumer) -> int:
    """Let ``consumer`` handle everything waiting for it, without blocking; return how many entries it handled."""
    total = 0
    while handled := consumer.poll_once(block_ms=0):
        total += handled
    return total
