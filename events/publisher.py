"""Event publication into Redis Streams: one atomic, idempotent write per event, with a local spool so an event
accepted while Redis is down is delivered when it is back.

The write is a Lua script: ``SET event:<id> NX`` (the event JSON, with the retention TTL) and, only if that set
succeeded, ``XADD`` to the firehose and to each routed center stream. Replaying an event id that already landed
is a no-op, so the spool may replay freely (at least once in, exactly once per stream).

Beside the spool, the :class:`Journal` keeps the hub's own record of what it accepted (every first state's id) and
of the incidents still open, so that a hub killed mid-incident closes them when it starts again
(:meth:`EventPublisher.close_interrupted`). When the disk under them is full or read-only, delivery goes on: the
journal is skipped, events that must wait for Redis wait in memory, and :meth:`EventPublisher.storage_error` says so
(``/api/health``) until a write works again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import redis

from events.routing import Router
from sharpeyes import metrics
from sharpeyes.keys import CENTER_GROUP, Keys
from sharpeyes.schema import Event, EventType, utcnow
from sharpeyes.supervisor import RestartPolicy, Worker

log = logging.getLogger(__name__)

# replies of a server that is up but cannot take writes for now: its disk is full or failing (MISCONF, AOF errors),
# it is out of memory under noeviction (OOM), it is a replica (READONLY), it is loading (LOADING)
_TRANSIENT_REPLIES = ("MISCONF", "OOM", "READONLY", "LOADING")


def unavailable(exc: redis.RedisError) -> bool:
    """Redis cannot take the write now but may later: spool the event instead of failing."""
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError,
                        redis.exceptions.OutOfMemoryError, redis.exceptions.ReadOnlyError)):
        return True
    return isinstance(exc, redis.ResponseError) and str(exc).startswith(_TRANSIENT_REPLIES)


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

    def probe(self) -> None:
        """Raise ``sqlite3.Error`` if a row cannot be written now (disk full, read-only); leaves nothing behind."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.execute("INSERT INTO spool (id, body) VALUES ('probe', ?)", ("x" * 4096,))
                self._db.execute("DELETE FROM spool WHERE id = 'probe'")
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def close(self) -> None:
        with self._lock:
            self._db.close()


# events that open an incident (a later state ends it); camera and quality events are points in time
POINT_EVENTS = frozenset({EventType.CAMERA_OFFLINE, EventType.CAMERA_ONLINE, EventType.QUALITY_FAULT})
INCIDENT_TYPES = frozenset(t.value for t in EventType if t not in POINT_EVENTS)
"""The event types that open an incident, by value."""


class Journal:
    """What this hub accepted: ``accepted`` (id, type, camera, time of each first state: the count the chaos run
    compares deliveries with) and ``open_incidents`` (the latest state of each incident without ``ended_at``).

    SQLite in WAL mode with ``synchronous=NORMAL``: a commit survives a crash of the hub (SIGKILL), not a power cut,
    and costs no fsync per event (the spool, which holds events not yet in Redis, fsyncs every write)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS accepted (id TEXT PRIMARY KEY, type TEXT NOT NULL,"
                         " camera_id TEXT NOT NULL, at TEXT NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS open_incidents (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
        self._lock = threading.Lock()

    def record(self, events: Sequence[Event]) -> None:
        """Note ``events`` (first states and updates) in one transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                for ev in events:
                    if ev.updated_at is None:
                        self._db.execute("INSERT OR IGNORE INTO accepted (id, type, camera_id, at) VALUES (?,?,?,?)",
                                         (ev.id, ev.type.value, ev.camera_id, ev.occurred_at.isoformat()))
                    if ev.type in POINT_EVENTS:
                        continue
                    if ev.ended_at is None:
                        self._db.execute("INSERT INTO open_incidents (id, body) VALUES (?, ?) ON CONFLICT(id)"
                                         " DO UPDATE SET body = excluded.body", (ev.id, ev.to_json()))
                    else:
                        self._db.execute("DELETE FROM open_incidents WHERE id = ?", (ev.id,))
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:  # SQLITE_FULL has already rolled it back
                    self._db.execute("ROLLBACK")
                raise

    def open_incidents(self) -> list[Event]:
        with self._lock:
            rows = list(self._db.execute("SELECT body FROM open_incidents ORDER BY id"))
        return [Event.from_json(body) for (body,) in rows]

    def accepted_ids(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM accepted ORDER BY id")]

    def prune(self, days: float) -> int:
        """Forget accepted ids older than ``days`` (the retention period); returns how many."""
        before = (utcnow() - timedelta(days=days)).isoformat()
        with self._lock:
            return self._db.execute("DELETE FROM accepted WHERE at < ?", (before,)).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()


class EventPublisher:
    """Routes and writes events. ``publish`` never raises for a Redis outage: the event goes to the spool."""

    def __init__(self, client: redis.Redis, router: Router, keys: Keys, spool: Spool, *, ttl_s: int,
                 maxlen: int, max_event_bytes: int = 64 * 1024, journal: Journal | None = None,
                 memory_limit: int = 100_000) -> None:
        self.client = client
        self.router = router
        self.keys = keys
        self.spool = spool
        self.journal = journal
        # events waiting for Redis while the spool cannot be written (disk full): kept in order, in memory
        self._memory: deque[Event] = deque()
        self.memory_limit = memory_limit
        self._journal_pending: deque[Event] = deque(maxlen=memory_limit)  # not yet journaled (disk full)
        self._journal_lock = threading.Lock()
        self._storage_errors: dict[str, str] = {}  # "spool" / "journal" -> the last error, while it lasts
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
            if self.backlog == 0:
                try:
                    self._write(event)
                except redis.RedisError as exc:
                    if not unavailable(exc):
                        raise
                    log.warning("redis unavailable (%s): spooling event %s", exc, event.id)
                else:
                    self._journal([event])  # accepted: in Redis (or, below, in the spool)
                    self._notify(event)
                    return
            self._hold([event])
            self._journal([event])

    def publish_many(self, events: Sequence[Event], batch: int = 500) -> None:
        """Accept ``events`` in order, like :meth:`publish` each, but with one pipelined (non-transactional)
        round trip of script calls per ``batch``. If Redis is unreachable, the failed batch and the rest are
        spooled (a batch that partly landed is replayed harmlessly: the script is idempotent). Raises
        ``ValueError`` before writing anything if any event is over ``max_event_bytes``."""
        for event in events:
            self.check_size(event)
        with self._lock:
            start = 0
            if self.backlog == 0:
                while start < len(events):
                    chunk = events[start:start + batch]
                    try:
                        self._write_many(chunk)
                    except redis.RedisError as exc:
                        if not unavailable(exc):
                            raise
                        log.warning("redis unavailable (%s): spooling %d event(s)", exc, len(events) - start)
                        break
                    for event in chunk:
                        self._notify(event)
                    start += len(chunk)
            self._hold(events[start:])
            self._journal(events)

    # -- storage (spool, journal): a full or read-only disk must not stop delivery ----------------------------
    @property
    def backlog(self) -> int:
        """Events accepted and not yet in Redis: spooled on disk, or held in memory while the spool is unwritable."""
        return len(self.spool) + len(self._memory)

    def storage_error(self) -> str | None:
        """What cannot be written now (spool, journal) and why; None when every write works."""
        if not self._storage_errors:
            return None
        return "; ".join(f"{k}: {v}" for k, v in sorted(self._storage_errors.items()))

    def recheck_storage(self) -> None:
        """Journal what waits to be journaled, and clear a spool error once the spool can be written again (it is
        otherwise written only while Redis is down, so nothing else would notice that the disk has room again)."""
        if "journal" in self._storage_errors:
            self._journal([])
        if "spool" not in self._storage_errors or self._memory:
            return
        try:
            self.spool.probe()
        except sqlite3.Error as exc:
            self._storage_errors["spool"] = f"{type(exc).__name__}: {exc}"
        else:
            self._storage_worked("spool")

    def _storage_failed(self, what: str, exc: sqlite3.Error) -> None:
        if what not in self._storage_errors:
            log.error("%s cannot be written (%s): delivery goes on without it until it can", what, exc)
        self._storage_errors[what] = f"{type(exc).__name__}: {exc}"

    def _storage_worked(self, what: str) -> None:
        if self._storage_errors.pop(what, None) is not None:
            log.warning("%s is written again", what)

    def _journal(self, events: Sequence[Event]) -> None:
        """Journal ``events`` after whatever could not be journaled before. While the journal cannot be written
        the events still go out; they wait in memory (the last ``memory_limit``) and are journaled, in order, at
        the first write that works again (or :meth:`recheck_storage`), so the record of what was accepted stays
        whole across a full disk."""
        if self.journal is None or (not events and not self._journal_pending):
            return
        with self._journal_lock:
            pending = [*self._journal_pending, *events]
            try:
                self.journal.record(pending)
            except sqlite3.Error as exc:  # disk full, read-only: the event still goes out
                self._journal_pending.extend(events)
                self._storage_failed("journal", exc)
            else:
                self._journal_pending.clear()
                self._storage_worked("journal")

    def _hold(self, events: Sequence[Event]) -> None:
        """Keep ``events`` (in order, after what already waits) until Redis takes them: in the spool, or in memory
        while the spool cannot be written."""
        for i, event in enumerate(events):
            if not self._memory:
                try:
                    self.spool.append(event)
                    self._storage_worked("spool")
                    continue
                except sqlite3.Error as exc:
                    self._storage_failed("spool", exc)
            if len(self._memory) >= self.memory_limit:
                log.critical("spool unwritable and %d events held in memory: refusing %d more", len(self._memory),
                             len(events) - i)
                metrics.EVENTS_SPOOLED.set(self.backlog)
                raise RuntimeError("event backlog full: the spool cannot be written and Redis is unavailable")
            self._memory.append(event)
        if events:
            log.info("spooled %d event(s), %d waiting for redis", len(events), self.backlog)
        metrics.EVENTS_SPOOLED.set(self.backlog)

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
                rows = self.spool.peek(batch) if len(self.spool) else []
                if not rows:
                    delivered += self._drain_memory(batch)
                    break
                events = [Event.from_json(body) for _seq, body in rows]
                try:
                    self._write_many(events)
                except redis.RedisError as exc:
                    if not unavailable(exc):
                        raise
                    log.info("spool replay paused, redis unavailable: %s", exc)
                    break
                self.spool.remove_upto(rows[-1][0])
                for event in events:
                    self._notify(event)
                delivered += len(events)
            metrics.EVENTS_SPOOLED.set(self.backlog)
        return delivered

    def _drain_memory(self, batch: int) -> int:
        delivered = 0
        while self._memory:
            events = [self._memory[i] for i in range(min(batch, len(self._memory)))]
            try:
                self._write_many(events)
            except redis.RedisError as exc:
                if not unavailable(exc):
                    raise
                log.info("replay of events held in memory paused, redis unavailable: %s", exc)
                break
            for event in events:
                self._memory.popleft()
                self._notify(event)
            delivered += len(events)
        return delivered

    def close_interrupted(self) -> list[Event]:
        """Close the incidents a previous run of this hub left open (it was killed, or stopped mid-incident): each
        gets a last state with ``ended_at`` = now and ``detail.ended_by`` = ``restart``, published like any update,
        so no event stays "ongoing" forever. Returns the closing states."""
        if self.journal is None:
            return []
        return self.close_orphans(self.journal.open_incidents(), "restart")

    def close_orphans(self, open_incidents: Sequence[Event], ended_by: str = "takeover") -> list[Event]:
        """Close incidents left open by a process that stopped handling them (this hub's previous run, from the
        journal; or, ``takeover``, a worker node that died holding the camera, from the archive): each gets a last
        state with ``ended_at`` = now and ``detail.ended_by`` = ``ended_by``, published like any update. Returns the
        closing states."""
        now = utcnow()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        closing = [ev.model_copy(update={"updated_at": now, "ended_at": now,
                                         "detail": {**ev.detail, "ended_by": ended_by}})
                   for ev in open_incidents if ev.ended_at is None]
        for ev in closing:
            self.publish(ev)
        if closing:
            log.warning("closed %d incident(s) left open (%s): %s", len(closing), ended_by,
                        ", ".join(ev.id for ev in closing[:10]))
        return closing

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
            if self.publisher.backlog:
                n = self.publisher.drain()
                if n:
                    log.info("spool: replayed %d event(s), %d left", n, self.publisher.backlog)
            self.publisher.recheck_storage()

    def status(self) -> dict[str, object]:
        out = super().status()
        error = self.publisher.storage_error()
        out.update(backlog=self.publisher.backlog, storage_error=error)
        if error is not None:  # the hub still delivers, but it is not safe against a Redis outage: degraded
            out["healthy"] = False
        return out


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
