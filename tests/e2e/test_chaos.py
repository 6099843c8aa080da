"""The short chaos run (``bench/chaos.py`` runs the long one): a real hub process on real cameras with the real
detector, an independent recording consumer per center, then SIGKILL of the embedded redis-server, of a center
consumer mid-stream and of the whole hub, and a cut of the cameras' RTSP server (every camera offline within 30 s,
online again, the availability ledger where the transitions were seen). Every event the hub accepted reaches every
center it was routed to and the archive, none is written twice, and each recovery takes under 30 s."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.chaos import ChaosWorld
from tests.support.wait import wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture()
def world(tmp_path: Path, vtest_clip: Path) -> Iterator[ChaosWorld]:
    w = ChaosWorld(tmp_path, vtest_clip, cameras=2, log=lambda _line: None)
    try:
        w.start()
        yield w
    finally:
        w.close()


def test_no_event_lost_or_duplicated_across_redis_consumer_and_hub_kills(world: ChaosWorld) -> None:
    assert wait_until(lambda: len(world._produced()) >= 3, 90, 0.5), "the hub produced no events on vtest"
    world.kill_redis()
    time.sleep(3)
    world.kill_recorder()
    world.cut_camera(down_s=4)
    assert world.offline_s <= 30, world.offline_s  # camera_offline within 30 s of the cut
    # the ledger's rows where the transitions were seen
    assert world.ledger_error_s <= 1.5, (world.ledger_error_s, world.ledger_missing)
    world.kill_hub()
    assert wait_until(lambda: len(world._produced()) >= 6, 60, 0.5)
    world.stop_hub()  # a clean stop: everything accepted is in Redis or the spool
    world.start_hub()  # replays the spool, if any
    world.settle()
    tally = world.tally()
    assert tally.produced >= 6
    assert tally.lost == 0, f"lost {tally.missing[:10]}"
    assert tally.duplicated == 0
    assert tally.archived == tally.produced
    assert [r.fault for r in world.rows] == ["SIGKILL redis-server", "SIGKILL consumer 140429100901",
                                             "RTSP server stopped", "SIGKILL hub (whole process group)"]
    assert max(r.recovery_s for r in world.rows) < 30
