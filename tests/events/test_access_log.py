"""The archive's access log (2025 regulation art. 16) on SQLite and PostgreSQL: written and read back in UTC,
window and order, and added to a database made before it existed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from events.archive import Archive
from tests.support.databases import as_previous_release

T0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


def test_log_and_read_back(database_url: str) -> None:
    archive = Archive(database_url)
    archive.init()
    written = [archive.log_access(user="值班员 张三", unit="派出所", reason="核查聚集事件", action="view_event",
                                  target=f"e{n}", at=T0 + timedelta(hours=n)) for n in range(3)]
    refused = archive.log_access(user="李四", unit="", reason="看看", action="ack_event", target="e0",
                                 center="140429101", outcome="refused", detail="x" * 900,
                                 at=datetime(2025, 6, 1, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai")))  # = 12:00 UTC
    assert refused.at == T0 + timedelta(hours=4) and refused.at.tzinfo is not None
    assert len(refused.detail) == 500
    log = archive.access_log()
    assert [a.target for a in log] == ["e0", "e2", "e1", "e0"]  # newest first
    assert (log[0].outcome, log[0].center, log[1].outcome, log[1].center) == ("refused", "140429101", "allowed", None)
    assert log[1] == written[2] and log[1].user == "值班员 张三" and log[1].at == T0 + timedelta(hours=2)
    # [since, until); a naive time is UTC, an aware one is converted
    assert [a.target for a in archive.access_log(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=2))] == [
        "e1"]
    assert [a.target for a in archive.access_log(since=datetime(2025, 6, 1, 10, 0))] == ["e0", "e2"]
    assert [a.target for a in archive.access_log(until=datetime(2025, 6, 1, 17, 0, tzinfo=ZoneInfo("Asia/Shanghai")),
                                                 limit=1)] == ["e0"]
    archive.close()


def test_added_to_an_existing_database(database_url: str) -> None:
    archive = Archive(database_url)
    archive.init()
    archive.close()
    as_previous_release(database_url, drop_tables=["access_log"])  # as a hub before the access log left it
    archive = Archive(database_url)
    archive.init()
    archive.log_access(user="u", unit="x", reason="r", action="view_snapshot", target="s")
    assert [a.target for a in archive.access_log()] == ["s"]
    archive.close()
