"""The archive's access log (2025 regulation art. 16) on SQLite: written and read back in UTC, window and order,
and added to a database made before it existed."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from events.archive import Archive

T0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)


def test_log_and_read_back(tmp_path: Path) -> None:
    archive = Archive(f"sqlite:///{tmp_path / 'a.db'}")
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


def test_added_to_an_existing_database(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    archive = Archive(f"sqlite:///{db}")
    archive.init()
    archive.close()
    with sqlite3.connect(db) as conn:  # as a hub before the access log left it
        conn.execute("DROP TABLE access_log")
    archive = Archive(f"sqlite:///{db}")
    archive.init()
    archive.log_access(user="u", unit="x", reason="r", action="view_snapshot", target="s")
    assert [a.target for a in archive.access_log()] == ["s"]
    archive.close()
