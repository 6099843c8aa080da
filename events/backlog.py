"""Backlog of the event streams, read from Redis at scrape time (a Prometheus collector): per stream its length,
and per consumer group the entries delivered but not acknowledged (pending) and not yet delivered (lag).

Reads only (XLEN, XINFO GROUPS); owns no keys.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sharpeyes.keys import Keys

log = logging.getLogger(__name__)


def stream_backlog(client: redis.Redis, stream: str) -> dict[str, Any]:
    """``{"length": n, "groups": {name: {"pending": p, "lag": l | None, "consumers": c}}}`` of one stream
    (length 0 and no groups when it does not exist). ``lag`` is None when Redis cannot tell (after deletions)."""
    length = int(client.xlen(stream))
    groups: dict[str, dict[str, int | None]] = {}
    try:
        infos: Any = client.xinfo_groups(stream)
    except redis.ResponseError:  # no such key
        infos = []
    for info in infos:
        name = info["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
        lag = info.get("lag")
        groups[name] = {"pending": int(info["pending"]), "lag": None if lag is None else int(lag),
                        "consumers": int(info["consumers"])}
    return {"length": length, "groups": groups}


class StreamBacklogCollector(Collector):
    """Prometheus gauges ``sharpeyes_stream_length``, ``sharpeyes_stream_pending``, ``sharpeyes_stream_lag`` for
    the firehose, the dead-letter stream and each center stream (``centers()`` is read at every scrape)."""

    def __init__(self, client: redis.Redis, keys: Keys, centers: Callable[[], list[str]]) -> None:
        self.client, self.keys, self.centers = client, keys, centers

    def collect(self) -> Iterator[GaugeMetricFamily]:
        length = GaugeMetricFamily("sharpeyes_stream_length", "Entries in an event stream", labels=["stream"])
        pending = GaugeMetricFamily("sharpeyes_stream_pending",
                                    "Entries delivered to a consumer group but not acknowledged",
                                    labels=["stream", "group"])
        lag = GaugeMetricFamily("sharpeyes_stream_lag", "Entries not yet delivered to a consumer group",
                                labels=["stream", "group"])
        streams = {"firehose": self.keys.firehose, "deadletter": self.keys.deadletter}
        streams.update({code: self.keys.center_stream(code) for code in self.centers()})
        try:
            for label, key in streams.items():
                info = stream_backlog(self.client, key)
                length.add_metric([label], info["length"])
                for group, g in info["groups"].items():
                    pending.add_metric([label, group], g["pending"])
                    if g["lag"] is not None:
                        lag.add_metric([label, group], g["lag"])
        except redis.RedisError as exc:
            log.warning("stream backlog not collected: %s", exc)
        yield length
        yield pending
        yield lag
