"""Event publication into Redis Streams: one atomic, idempotent write per event, with a local spool so an event
accepted while Redis is down is delivered when it is back.

The write is a Lua script: ``SET event:<id> NX`` (the event JSON, with the retention TTL) and, only if that set
succeeded, ``XADD`` to the firehose and to each routed center stream. Replaying an event id that already landed
is a no-op, so the spool may replay freely (at least once in, exactly once per stream).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import redis

from events.routing import Router
from sharpeyes import metrics
from sharpeyes.keys import CENTER_GROUP, Keys
from sharpeyes.schema import Event
from sharpeyes.supervisor import RestartPolicy, Worker

log = logging.getLogger(__name__)

_PUBLISH_LUA = """
-- KEYS[1] event key, KEYS[2] entries hash (stream -> entry id), KEYS[3] firehose, KEYS[4..] center streams
-- ARGV[1] event json, ARGV[2] ttl s, ARGV[3] maxlen, ARGV[4] id, ARGV[5] type, ARGV[6] severity, ARGV[7] camera,
-- ARGV[8] centers csv
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) == false then
  return 0
end
for i = 3, #KEYS do
  local entry = redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[3], '*', 'id', ARGV[4], 'type', ARGV[5],
                           'severity', ARGV[6], 'camera_id', ARGV[7], 'centers', ARGV[8], 'event', ARGV[1])
  redis.call('HSET', KEYS[2], KEYS[i], entry)
end
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""

_UPDATE_LUA = """
-- a later state of an event already published (same KEYS/ARGV as the publish script): overwrite the stored JSON
-- (TTL kept) and tell the firehose (for the archive), not the center streams; if the original never landed,
-- publish this state as the event itself. Replaying the state already stored is a no-op.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return 0
end
if redis.call('SET', KEYS[1], ARGV[1], 'XX', 'KEEPTTL') then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'id', ARGV[4], 'type', ARGV[5], 'severity', ARGV[6],
             'camera_id', ARGV[7], 'centers', ARGV[8], 'update', '1', 'event', ARGV[1])
  return 2
end
""" + _PUBLISH_LUA


class Spool:
    """Durable FIFO of event JSON (SQLite, synchronous=FULL). Survives a crash of the hub."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS spool"
            " (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL, body TEXT NOT NULL)"
        )
        self._lock = threading.Lock()

    def append(self, event: Event) -> None:
        with self._lock:
            self._db.execute("INSERT INTO spool (id, body) VALUES (?, ?)", (event.id, event.to_json()))

    def peek(self, n: int = 100) -> list[tuple[int, str]]:
        with self._lock:
            return list(self._db.execute("SELECT seq, body FROM spool ORDER BY seq LIMIT ?", (n,)))

    def remove_upto(self, seq: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM spool WHERE seq <= ?", (seq,))

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


class EventPublisher:
    """Routes and writes events. ``publish`` never raises for a Redis outage: the event goes to the spool."""

    def __init__(self, client: redis.Redis, router: Router, keys: Keys, spool: Spool, *, ttl_s: int,
                 maxlen: int, max_event_bytes: int = 64 * 1024) -> None:
        self.client = client
        self.router = router
        self.keys = keys
        self.spool = spool
        self.ttl_s = ttl_s
        self.maxlen = maxlen
        self.max_event_bytes = max_event_bytes
        self._script = client.register_script(_PUBLISH_LUA)
        self._update_script = client.register_script(_UPDATE_LUA)
        self._lock = threading.Lock()
        self._groups: set[str] = set()
        self.listeners: list[Callable[[Event], None]] = []
        metrics.EVENTS_SPOOLED.set(len(spool))

    def ensure_group(self, stream: str) -> None:
        if stream in self._groups:
            return
        create_group(self.client, stream, CENTER_GROUP)
        self._groups.add(stream)

    def _call(self, event: Event, client: Any = None) -> Any:
        """Run the publish script for ``event`` (on ``client``: a pipeline, or None for the connection)."""
        centers = self.router.centers_for(event)
        streams = [self.keys.center_stream(c) for c in centers]
        for s in streams:
            self.ensure_group(s)
        script = self._update_script if event.updated_at is not None else self._script
        return script(
            keys=[self.keys.event(event.id), self.keys.event_entries(event.id), self.keys.firehose, *streams],
            args=[event.to_json(), self.ttl_s, self.maxlen, event.id, event.type.value, event.severity.value,
                  event.camera_id, ",".join(centers)],
            client=client,
        )

    def _write(self, event: Event) -> bool:
        """Returns True when Redis took it: 1 = a new event, 2 = a later state of a known one."""
        written = self._call(event)
        if written == 1:  # first states only: the count of incidents
            metrics.EVENTS_PUBLISHED.labels(event.type.value, event.severity.value).inc()
        return bool(written)

    def check_size(self, event: Event) -> None:
        """Raise ``ValueError`` (and log it) when the event's JSON exceeds ``max_event_bytes``: consumers refuse
        oversized entries, so such an event must not enter a stream or the spool."""
        size = len(event.to_json().encode("utf-8"))
        if size > self.max_event_bytes:
            reason = f"event {event.id} refused: its JSON is {size} bytes, over max_event_bytes={self.max_event_bytes}"
            log.error("%s", reason)
            raise ValueError(reason)

    def publish(self, event: Event) -> None:
        """Accept ``event``: written to Redis now, or spooled and written by :meth:`drain` later (order kept).
        Raises ``ValueError`` for an event over ``max_event_bytes`` (nothing written, nothing spooled)."""
        self.check_size(event)
        with self._lock:
            if len(self.spool) == 0:
                try:
                    self._write(event)
                    self._notify(event)
                    return
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
                    log.warning("redis unavailable (%s): spooling event %s", exc, event.id)
            self.spool.append(event)
            metrics.EVENTS_SPOOLED.set(len(self.spool))

    def publish_many(self, events: Sequence[Event], batch: int = 500) -> None:
        """Accept ``events`` in order, like :meth:`publish` each, but with one pipelined (non-transactional)
        round trip of script calls per ``batch``. If Redis is unreachable, the failed batch and the rest are
        spooled (a batch that partly landed is replayed harmlessly: the script is idempotent). Raises
        ``ValueError`` before writing anything if any event is over ``max_event_bytes``."""
        for event in events:
            self.check_size(event)
        with self._lock:
            start = 0
            if len(self.spool) == 0:
                while start < len(events):
                    chunk = events[start:start + batch]
                    try:
                        self._write_many(chunk)
                    except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
                        log.warning("redis unavailable (%s): spooling %d event(s)", exc, len(events) - start)
                        break
                    for event in chunk:
                        self._notify(event)
                    start += len(chunk)
            for event in events[start:]:
                self.spool.append(event)
            metrics.EVENTS_SPOOLED.set(len(self.spool))

    def _write_many(self, events: Sequence[Event]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for event in events:
            self._call(event, pipe)
        for event, written in zip(events, pipe.execute(), strict=True):
            if written == 1:
                metrics.EVENTS_PUBLISHED.labels(event.type.value, event.severity.value).inc()

    def publish_update(self, event: Event) -> None:
        """A later state of an incident already published (same ``id``, ``updated_at`` set): replaces the stored
        event and adds an entry (field ``update`` = 1) to the firehose only, so the archive follows the incident;
        center streams carry the first state only. Spooled like :meth:`publish` while Redis is down."""
        if event.updated_at is None:
            raise ValueError("publish_update needs an event with updated_at set")
        self.publish(event)

    def drain(self, batch: int = 200) -> int:
        """Replay spooled events in order, one pipelined round trip per ``batch``; returns how many were
        delivered. Stops at the first Redis error (a batch that partly landed is replayed harmlessly later: the
        publish script is idempotent by event id)."""
        delivered = 0
        with self._lock:
            while True:
                rows = self.spool.peek(batch)
                if not rows:
                    break
                events = [Event.from_json(body) for _seq, body in rows]
                try:
                    self._write_many(events)
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
                    log.info("spool replay paused, redis unavailable: %s", exc)
                    break
                self.spool.remove_upto(rows[-1][0])
                for event in events:
                    self._notify(event)
                delivered += len(events)
            metrics.EVENTS_SPOOLED.set(len(self.spool))
        return delivered

    def _notify(self, event: Event) -> None:
        for fn in self.listeners:
            try:
                fn(event)
            except Exception:  # a listener must not stop delivery
                log.exception("event listener failed")

    def get_event(self, event_id: str) -> Event | None:
        raw = self.client.get(self.keys.event(event_id))
        return Event.from_json(raw) if raw else None


class SpoolDrainer(Worker):
    """Replays the spool whenever it is not empty."""

    def __init__(self, publisher: EventPublisher, interval_s: float = 1.0) -> None:
        super().__init__("events:spool", RestartPolicy(mode="always"))
        self.publisher = publisher
        self.interval_s = interval_s

    def run(self) -> None:
        while not self.sleep(self.interval_s):
            self.beat()
            if len(self.publisher.spool):
                n = self.publisher.drain()
                if n:
                    log.info("spool: replayed %d event(s), %d left", n, len(self.publisher.spool))


def create_group(client: redis.Redis, stream: str, group: str) -> bool:
    """Create consumer ``group`` on ``stream`` from its first entry (creating the stream); False if it existed."""
    try:
        client.xgroup_create(stream, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
        return False
    return True


def decode_entry(fields: Mapping[Any, Any]) -> Event:
    """Parse a stream entry's fields into an :class:`Event`."""
    raw = fields.get(b"event", fields.get("event"))
    if raw is None:
        raise ValueError("stream entry has no 'event' field")
    return Event.from_json(raw)
