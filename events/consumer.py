"""Reading one center's event stream with a Redis consumer group: at least once, no entry lost, no poison kept.

Owns :class:`CenterConsumer` (the read → handle → ack loop of one consumer of one center stream) and
:class:`CenterConsumerWorker` (the same loop under the hub's supervisor). It reads streams and writes only
acknowledgements and the dead-letter stream (``Keys.deadletter``); it must not touch the publisher's keys (event
records, the firehose), nor routing.

Delivery contract:

- An entry is XACKed only after ``handler(event)`` returned. A handler that raises leaves the entry pending; it is
  retried (by this or any consumer of the group) once it has been idle ``claim_idle_ms``. Entries read by a consumer
  that died are taken over the same way (``XAUTOCLAIM``), so nothing is lost; at startup a consumer first re-reads
  its own pending entries (a restart under a fixed consumer name), and again after each Redis outage.
- Delivery is therefore *at least once*. Each consumer remembers the ids of the events it handled recently (a
  bounded LRU; an update — same id, ``updated_at`` set — is a different item) and acks a redelivered one without
  calling the handler again. That covers redelivery to the same
  process only: deduplication across processes or restarts is the handler's job, by event ``id`` (a ULID) — e.g. a
  UNIQUE key in its database or ``SET NX`` on the id.
- Poison entries — no ``event`` field, invalid JSON, unknown fields, another ``schema_version``, larger than
  ``max_entry_bytes`` — never reach the handler: they are logged, copied (raw fields plus ``reason``) to the
  dead-letter stream and XACKed, so one bad entry cannot block the stream.
- Order: entries are handled in stream order; an entry whose handler failed is retried later, after newer ones.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import pydantic
import redis

from events.publisher import create_group, decode_entry
from sharpeyes.keys import CENTER_GROUP, Keys
from sharpeyes.schema import Event
from sharpeyes.supervisor import RestartPolicy, Worker

log = logging.getLogger(__name__)

Handler = Callable[[Event], object]
Fields = Mapping[Any, Any]

_REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError)
_DEADLETTER_META = ("reason", "source_stream", "source_id", "group", "consumer", "truncated")


def default_consumer_name() -> str:
    """``<hostname>-<pid>``: unique per process, so a restarted process never inherits a dead one's entries
    by name (it takes them over by ``XAUTOCLAIM`` instead)."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class ConsumerStats:
    """Counters since the consumer was created."""

    handled: int = 0  # handler returned, entry acked
    duplicates: int = 0  # redelivered id already handled here: acked without a handler call
    deadlettered: int = 0  # poison: copied to the dead-letter stream and acked
    failed: int = 0  # handler raised: left pending, retried after claim_idle_ms
    claimed: int = 0  # entries taken over from idle consumers (including our own failed ones)


class PoisonEntry(ValueError):
    """A stream entry that can never become an :class:`Event`."""


class CenterConsumer:
    """Consumes ``Keys.center_stream(center_code)`` (or ``stream``, e.g. the firehose) as ``consumer`` in ``group``,
    calling ``handler`` per event.

    ``client`` may or may not decode responses; its socket timeout, if any, must exceed ``block_ms``.
    """

    def __init__(
        self,
        client: redis.Redis,
        center_code: str,
        handler: Handler,
        *,
        keys: Keys | None = None,
        group: str = CENTER_GROUP,
        consumer: str | None = None,
        stream: str | None = None,
        claim_idle_ms: int = 30_000,
        block_ms: int = 1_000,
        batch: int = 100,
        max_entry_bytes: int = 256 * 1024,
        dedupe_size: int = 10_000,
        deadletter_maxlen: int = 10_000,
    ) -> None:
        if claim_idle_ms < 0 or block_ms < 0 or batch < 1 or max_entry_bytes < 1 or dedupe_size < 1:
            raise ValueError("claim_idle_ms and block_ms must be >= 0; batch, max_entry_bytes, dedupe_size >= 1")
        self.client = client
        self.keys = keys or Keys()
        self.center_code = center_code
        self.stream = stream or self.keys.center_stream(center_code)
        self.handler = handler
        self.group = group
        self.consumer = consumer or default_consumer_name()
        self.claim_idle_ms = claim_idle_ms
        self.block_ms = block_ms
        self.batch = batch
        self.max_entry_bytes = max_entry_bytes
        self.dedupe_size = dedupe_size
        self.deadletter_maxlen = deadletter_maxlen
        self.stats = ConsumerStats()
        self._handled_ids: OrderedDict[str, None] = OrderedDict()
        self._group_ready = False
        self._backlog_cursor: Any = "0"  # own pending entries are re-read once, from here; None when done
        self._claim_cursor: str | bytes = "0-0"

    # -- group ----------------------------------------------------------------------------------------
    def ensure_group(self) -> None:
        """Create the group (from the start of the stream, creating the stream) unless it exists."""
        if create_group(self.client, self.stream, self.group):
            log.info("created consumer group %s on %s", self.group, self.stream)
        self._group_ready = True

    # -- the loop -------------------------------------------------------------------------------------
    def poll_once(self, block_ms: int | None = None, limit: int | None = None) -> int:
        """One round: own backlog (first call only), then entries idle longer than ``claim_idle_ms``, then new
        entries (``>``), waiting up to ``block_ms`` (default: the constructor's; 0: do not wait) when there was
        nothing to claim. At most ``limit`` (default ``batch``) entries. Returns how many entries were acked
        (handled, duplicate or dead-lettered). Redis errors propagate; :meth:`run` retries them."""
        if not self._group_ready:
            self.ensure_group()
        limit = self.batch if limit is None else max(1, limit)
        block = self.block_ms if block_ms is None else block_ms
        try:
            return self._poll(block, limit)
        except redis.ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            log.warning("consumer group %s on %s vanished: recreating it", self.group, self.stream)
            self._group_ready = False
            self._claim_cursor = "0-0"
            self.ensure_group()
            return 0

    def _poll(self, block: int, limit: int) -> int:
        acked = 0
        taken = 0
        if self._backlog_cursor is not None:
            own = self._read(self._backlog_cursor, limit, None)
            self._backlog_cursor = own[-1][0] if len(own) == limit else None
            if own:
                log.info("%s: re-reading %d entr(ies) left pending under consumer %s", self.stream, len(own),
                         self.consumer)
            acked += self._process(own)
            taken += len(own)
        if taken < limit:
            claimed = self._claim(limit - taken)
            acked += self._process(claimed)
            taken += len(claimed)
        if taken < limit:
            fresh = self._read(">", limit - taken, block if taken == 0 and block > 0 else None)
            acked += self._process(fresh)
        return acked

    def run(self, stop_event: threading.Event, on_poll: Callable[[], None] | None = None,
            max_handled: int | None = None, retry_s: float = 1.0) -> None:
        """Poll until ``stop_event`` is set (noticed within ``block_ms``) or, if given, ``max_handled`` events
        were handled by this call. Redis outages are logged and retried every ``retry_s``."""
        start = self.stats.handled
        while not stop_event.is_set():
            if on_poll is not None:
                on_poll()
            remaining = None if max_handled is None else max_handled - (self.stats.handled - start)
            if remaining is not None and remaining <= 0:
                return
            try:
                self.poll_once(limit=None if remaining is None else min(remaining, self.batch))
            except _REDIS_DOWN as exc:
                log.warning("%s: redis unavailable (%s), retrying in %.1fs", self.stream, exc, retry_s)
                self._group_ready = False
                # after a reconnect, first re-read what this consumer holds pending (XREADGROUP 0, then >):
                # entries delivered just before the outage were never handled
                self._backlog_cursor = "0"
                stop_event.wait(retry_s)

    # -- redis reads ----------------------------------------------------------------------------------
    def _read(self, start: str, count: int, block: int | None) -> list[tuple[Any, Fields | None]]:
        reply = cast(
            list[Any] | None,
            self.client.xreadgroup(self.group, self.consumer, {self.stream: start}, count=count, block=block),
        )
        if not reply:
            return []
        _name, entries = reply[0]
        return list(entries)

    def _claim(self, count: int) -> list[tuple[Any, Fields | None]]:
        reply = cast(
            list[Any],
            self.client.xautoclaim(self.stream, self.group, self.consumer, self.claim_idle_ms,
                                   start_id=self._claim_cursor, count=count),
        )
        cursor, entries = reply[0], reply[1]
        deleted = reply[2] if len(reply) > 2 else []
        if deleted:  # pending entries trimmed away (MAXLEN) before anyone acked them: Redis dropped them
            log.warning("%s: %d pending entr(ies) were trimmed from the stream before being handled: %s",
                        self.stream, len(deleted), [_s(d) for d in deleted])
        self._claim_cursor = cursor
        got = [(eid, fields) for eid, fields in entries if eid is not None]
        if got:
            self.stats.claimed += len(got)
            log.info("%s: claimed %d entr(ies) idle > %d ms", self.stream, len(got), self.claim_idle_ms)
        return got

    # -- per entry ------------------------------------------------------------------------------------
    def _process(self, entries: list[tuple[Any, Fields | None]]) -> int:
        acked = 0
        for entry_id, fields in entries:
            if fields is None or len(fields) == 0:
                # a pending entry whose data was trimmed from the stream: nothing to handle, release it
                log.warning("%s: entry %s has no data (trimmed from the stream): acking it", self.stream,
                            _s(entry_id))
                self.client.xack(self.stream, self.group, entry_id)
                acked += 1
                continue
            try:
                event = self._decode(fields)
            except PoisonEntry as exc:
                self._deadletter(entry_id, fields, str(exc))
                acked += 1
                continue
            key = event.id if event.updated_at is None else f"{event.id}@{event.updated_at.isoformat()}"
            if key in self._handled_ids:
                self._handled_ids.move_to_end(key)
                log.info("%s: event %s (entry %s) redelivered, already handled: acking", self.stream, event.id,
                         _s(entry_id))
                self.client.xack(self.stream, self.group, entry_id)
                self.stats.duplicates += 1
                acked += 1
                continue
            try:
                self.handler(event)
            except Exception:  # the handler's failure must not stop the stream: retried after claim_idle_ms
                self.stats.failed += 1
                log.exception("%s: handler failed for event %s (entry %s): left pending, retried after %d ms",
                              self.stream, event.id, _s(entry_id), self.claim_idle_ms)
                continue
            self._remember(key)
            self.client.xack(self.stream, self.group, entry_id)
            self.stats.handled += 1
            acked += 1
        return acked

    def _decode(self, fields: Fields) -> Event:
        size = sum(len(_b(k)) + len(_b(v)) for k, v in fields.items())
        if size > self.max_entry_bytes:
            raise PoisonEntry(f"entry is {size} bytes, over max_entry_bytes={self.max_entry_bytes}")
        try:
            return decode_entry(fields)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            extra = f" ({exc.error_count()} errors)" if exc.error_count() > 1 else ""
            raise PoisonEntry(f"invalid event: {loc + ': ' if loc else ''}{first['msg']}{extra}") from None
        except ValueError as exc:  # no 'event' field
            raise PoisonEntry(str(exc)) from None

    def _remember(self, event_id: str) -> None:
        self._handled_ids[event_id] = None
        self._handled_ids.move_to_end(event_id)
        while len(self._handled_ids) > self.dedupe_size:
            self._handled_ids.popitem(last=False)

    def _deadletter(self, entry_id: Any, fields: Fields, reason: str) -> None:
        log.warning("%s: poison entry %s moved to %s: %s", self.stream, _s(entry_id), self.keys.deadletter, reason)
        out: dict[Any, Any] = {}
        truncated = False
        for k, v in fields.items():
            name = _s(k)
            if name in _DEADLETTER_META:
                name = f"raw_{name}"
            value = _b(v)
            if len(value) > self.max_entry_bytes:  # keep the dead-letter stream bounded, whatever came in
                value, truncated = value[: self.max_entry_bytes], True
            out[name] = value
        out.update(reason=reason, source_stream=self.stream, source_id=_s(entry_id), group=self.group,
                   consumer=self.consumer)
        if truncated:
            out["truncated"] = "1"
        pipe = self.client.pipeline(transaction=True)  # dead-letter copy and ack together, or neither
        pipe.xadd(self.keys.deadletter, out, maxlen=self.deadletter_maxlen, approximate=True)
        pipe.xack(self.stream, self.group, entry_id)
        pipe.execute()
        self.stats.deadlettered += 1


class CenterConsumerWorker(Worker):
    """A :class:`CenterConsumer` under the hub's supervisor (restarted if it crashes)."""

    def __init__(self, consumer: CenterConsumer, policy: RestartPolicy | None = None, name: str | None = None) -> None:
        super().__init__(name or f"events:consumer:{consumer.center_code}", policy or RestartPolicy(mode="always"))
        self.consumer = consumer
        # a healthy consumer beats at least every block_ms; give it room for a slow handler batch
        self.heartbeat_timeout_s = max(self.heartbeat_timeout_s, 3 * consumer.block_ms / 1000)

    def run(self) -> None:
        self.consumer.run(self.stopping, on_poll=self.beat)


def _b(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8")


def _s(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
