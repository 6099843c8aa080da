"""The archive's queries give the same answers on SQLite and PostgreSQL: newest-first paging by id, the filters
(center, many centers, type, camera, status, time window — with a window given in another zone), the SLA scan,
snapshot lookups, holds and retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from events.archive import Archive
from sharpeyes.schema import EventType, Severity, SnapshotRef
from tests.support.events import CAMERAS, COUNTY, PATH, T0, TOWNSHIP_B, VILLAGE, make_event

SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_paging_and_filters(database_url: str) -> None:
    archive = Archive(database_url)
    archive.init()
    try:
        events = [make_event(n, camera=CAMERAS[n % 2],
                             etype=EventType.FALL if n % 3 == 0 else EventType.ZONE_INTRUSION)
                  for n in range(25)]
        for n, e in enumerate(events):
            archive.record(e, PATH if n < 20 else [COUNTY, TOWNSHIP_B])
        newest_first = [e.id for e in reversed(events)]
        pages, before = [], None
        while page := archive.search(limit=7, before=before):
            pages.append([p.event.id for p in page])
            before = page[-1].event.id
        assert [len(p) for p in pages] == [7, 7, 7, 4] and [i for p in pages for i in p] == newest_first
        assert [p.event.id for p in archive.search(center=VILLAGE, limit=100)] == newest_first[5:]
        assert [p.event.id for p in archive.search(center=TOWNSHIP_B, limit=100)] == newest_first[:5]
        many = [f"1404299{n:05d}" for n in range(1500)]  # an auditor's whole county: 1,500 centers
        assert len(archive.search(centers=[*many, TOWNSHIP_B], limit=100)) == 5
        assert archive.search(centers=[]) == []
        falls = archive.search(type=EventType.FALL.value, camera_id=CAMERAS[0], limit=100)
        assert [p.event.detail["n"] for p in falls] == [24, 18, 12, 6, 0]
        # a window written in Beijing time: the same instants as in UTC
        since, until = ((T0 + timedelta(seconds=s)).astimezone(SHANGHAI) for s in (5, 9))
        assert [p.event.detail["n"] for p in archive.search(since=since, until=until)] == [8, 7, 6, 5]
        assert [p.event.detail["n"] for p in archive.search(since=T0.replace(tzinfo=None) + timedelta(seconds=23))] \
            == [24, 23]  # naive: UTC
        archive.act(events[3].id, "ack", center=VILLAGE, user="张三", reason="已核查")
        assert [p.event.id for p in archive.search(status="acknowledged")] == [events[3].id]
        assert archive.get(events[3].id).updated_at.tzinfo is not None  # type: ignore[union-attr]
    finally:
        archive.close()


def test_sla_scan_snapshots_holds_and_retention(database_url: str) -> None:
    archive = Archive(database_url)
    archive.init()
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    try:
        def snap(n: int) -> SnapshotRef:
            return SnapshotRef(ref=f"{CAMERAS[0]}/2026-06-01/{n}.jpg", sha256="0" * 64, width=4, height=3)

        old = make_event(1, severity=Severity.MAJOR, occurred_at=now - timedelta(minutes=20), snapshot=snap(1))
        young = make_event(2, severity=Severity.MAJOR, occurred_at=now - timedelta(minutes=1), snapshot=snap(2))
        ancient = make_event(3, occurred_at=now - timedelta(days=40), snapshot=snap(3))
        kept = make_event(4, occurred_at=now - timedelta(days=40), snapshot=snap(4))
        for e in (old, young, ancient, kept):
            archive.record(e, PATH)
        sla = {"major": 600.0}
        assert [a.event.id for a in archive.overdue(sla, now=now.astimezone(SHANGHAI))] == [old.id]
        city = "140400"  # one tier above the county
        assert archive.claim_escalation(old.id, city) and not archive.claim_escalation(old.id, city)
        assert archive.overdue(sla, now=now) == [] and archive.get(old.id).centers == [*PATH, city]  # type: ignore[union-attr]
        archive.unclaim_escalation(old.id, city)
        assert [a.event.id for a in archive.overdue(sla, now=now)] == [old.id]
        assert archive.snapshot_centers(snap(1).ref) == sorted(PATH) and archive.snapshot_centers("nope") is None
        archive.act(kept.id, "hold", center=COUNTY, user="审计员", reason="案件 2026-17")
        assert archive.held_snapshot_refs() == {snap(4).ref}
        assert archive.purge(now - timedelta(days=30)) == [snap(3).ref]
        assert archive.get(ancient.id) is None and archive.get(kept.id) is not None
    finally:
        archive.close()
