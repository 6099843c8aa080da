"""The archive shared by several hub processes on one PostgreSQL (each with its own engine, as API nodes have):
handling actions on one event at the same moment all land — none overwrites another's change — and a replayed
event is archived once."""

from __future__ import annotations

import threading
from collections.abc import Callable

from events.archive import Archive
from tests.support.events import PATH, VILLAGE, make_event

NODES = 6


def at_once(fn: Callable[[int], object]) -> list[BaseException]:
    """Run ``fn(0..NODES-1)`` in threads released together; the exceptions they raised."""
    start = threading.Barrier(NODES)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        start.wait()
        try:
            fn(n)
        except Exception as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(NODES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_escalations_to_several_centers_at_once_are_all_kept(postgres_url: str) -> None:
    nodes = [Archive(postgres_url) for _ in range(NODES)]
    nodes[0].init()
    event = make_event()
    nodes[0].record(event, PATH)
    try:
        for rnd in range(3):  # a lost update shows within a few rounds
            centers = [f"1404291{rnd}{n:04d}" for n in range(NODES)]
            errors = at_once(lambda n, centers=centers: nodes[n].act(  # type: ignore[misc]
                event.id, "escalate", center=VILLAGE, user=f"op{n}", reason="上报", escalated_to=centers[n]))
            assert errors == []
            stored = nodes[0].get(event.id)
            assert stored is not None and set(centers) <= set(stored.centers), (centers, stored.centers)
            assert len(nodes[0].actions(event.id)) == NODES * (rnd + 1)
    finally:
        for a in nodes:
            a.close()


def test_a_replayed_event_is_archived_once(postgres_url: str) -> None:
    nodes = [Archive(postgres_url) for _ in range(NODES)]
    nodes[0].init()
    event = make_event()
    try:
        results: list[bool] = []
        assert at_once(lambda n: results.append(nodes[n].record(event, PATH))) == []
        assert sorted(results) == [False] * (NODES - 1) + [True]
        assert [e.event.id for e in nodes[0].search()] == [event.id]
    finally:
        for a in nodes:
            a.close()
