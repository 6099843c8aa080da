"""A hand-made world for the audit tests (fixtures in conftest.py): a tmp SQLite registry with five cameras and
three key points, availability and quality ledgers, credentials and event actions at fixed times, so every
indicator has an exact expected value. Window: 2025-06-01 00:00 – 10:00 UTC (10 h), ``now`` = its end.

- A …0001 covers KP1 (20 m east); online since before the window, offline 03:00–04:00, blur 06:00–07:00 (and a
  freeze 03:15–03:45 while offline): 在线率 0.9, 完好率 0.8; key area (KP1).
- B …0002: KP2 is 50 m south, beyond its 30 m range; online since before, offline at 10:00 (= the end): 1.0 / 1.0;
  other area; offline now.
- C …0003: disabled, no geometry: listed, not counted.
- D …0004: no geometry, use_type 3, no availability record (offline): 0.0 / 0.0; key area (use_type).
- E …0005 covers KP3 (25 m west); created 05:00, online 05:00, offline at 10:00: 1.0 / 1.0; key area (KP3).
- Credentials: A Fernet, B Fernet with a default password, E a plain string. Actions: 4 in the window, 3 with
  user and reason; 1 after it.
- Access log: 4 records in the window, 3 with user, unit and reason (the export has no unit), 1 of them refused
  (an ack for a center the event was not delivered to); 1 refused record at the window's end (not counted).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update
from ulid import ULID

from events.archive import AccessRecord, Archive, EventAction, EventRecord
from registry.models import AvailabilityRecord, Camera, CameraCredential, QualityRecord
from registry.store import Registry
from registry.vault import Vault

START = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)
END = datetime(2025, 6, 1, 10, 0, tzinfo=UTC)
A, B, C, D, E = (f"140429000013250000{n:02d}" for n in range(1, 6))
KP3_NAME = '集贸市场 <东门> & "北"（合成）'

WORLD_YAML = f"""\
jurisdictions:
  - {{code: "140429100001", name: 测试社区（合成）, parent: "140429100", center: true, synthetic: true}}
  - {{code: "140429101001", name: 测试村（合成）, parent: "140429101", center: false, synthetic: true}}
cameras:
  - id: "{A}"
    name: A 校园路口
    jurisdiction: "140429100001"
    stream: rtsp://127.0.0.1:9/a
    position: {{longitude: 112.8640, latitude: 36.8372}}
    heading_deg: 90
    fov_deg: 70
    range_m: 40
    resolution: 1920x1080
  - id: "{B}"
    name: B 村委会
    jurisdiction: "140429101001"
    stream: rtsp://127.0.0.1:9/b
    position: {{longitude: 112.9011, latitude: 36.9205}}
    heading_deg: 180
    fov_deg: 60
    range_m: 30
    resolution: 704x576
    use_type: 1
  - id: "{C}"
    name: C 停用
    jurisdiction: "140429100001"
    stream: rtsp://127.0.0.1:9/c
    enabled: false
  - id: "{D}"
    name: D 无参数
    jurisdiction: "140429100001"
    stream: rtsp://127.0.0.1:9/d
    use_type: 3
  - id: "{E}"
    name: E 市场
    jurisdiction: "140429100001"
    stream: rtsp://127.0.0.1:9/e
    position: {{longitude: 112.8800, latitude: 36.8300}}
    heading_deg: 270
    fov_deg: 90
    range_m: 50
    resolution: 1280x720
key_points:
  - id: kp1-crossroads
    name: 校园路口（合成）
    kind: crossroads
    jurisdiction: "140429100001"
    longitude: 112.86422
    latitude: 36.8372
    synthetic: true
  - id: kp2-gate
    name: 村委会门前（合成）
    kind: government
    jurisdiction: "140429101001"
    longitude: 112.9011
    latitude: 36.92005
    synthetic: true
  - id: kp3-market
    name: '{KP3_NAME}'
    kind: market
    jurisdiction: "140429100"
    longitude: 112.87972
    latitude: 36.8300
    synthetic: true
"""


def at(hour: float) -> datetime:
    return START + timedelta(hours=hour)


@dataclass
class World:
    url: str
    registry: Registry
    archive: Archive
    vault: Vault


def world_at(db: Path | str, root: Path) -> Iterator[World]:
    """The world in the SQLite file or at the URL ``db`` (YAML and vault key under ``root``), closed after use: the
    body of the ``world`` fixtures."""
    w = build_world(db, root / "cams")
    try:
        yield w
    finally:
        w.archive.close()
        w.registry.close()


def build_world(db: Path | str, configs: Path) -> World:
    """Write the world into the SQLite file ``db``, or the database at the URL ``db`` (camera YAML goes to
    ``configs``, the vault key beside it)."""
    configs.mkdir(parents=True, exist_ok=True)
    (configs / "world.yaml").write_text(WORLD_YAML, encoding="utf-8")
    url = db if isinstance(db, str) else f"sqlite:///{db}"
    registry = Registry(url)
    registry.init()
    registry.sync_camera_configs(configs)
    archive = Archive(url)
    archive.init()
    vault = Vault.from_key_file(configs.parent / "test-vault.key")
    with registry.sessions.begin() as s:
        s.execute(update(Camera).values(created_at=datetime(2025, 5, 1, tzinfo=UTC)))
        s.execute(update(Camera).where(Camera.id == E).values(created_at=at(5)))
        s.add_all([
            AvailabilityRecord(camera_id=A, state="online", at=at(-1)),
            AvailabilityRecord(camera_id=A, state="offline", at=at(3)),
            AvailabilityRecord(camera_id=A, state="online", at=at(4)),
            AvailabilityRecord(camera_id=B, state="offline", at=datetime(2025, 5, 19, tzinfo=UTC)),
            AvailabilityRecord(camera_id=B, state="online", at=datetime(2025, 5, 20, tzinfo=UTC)),
            AvailabilityRecord(camera_id=B, state="offline", at=at(10)),
            AvailabilityRecord(camera_id=E, state="online", at=at(5)),
            AvailabilityRecord(camera_id=E, state="offline", at=at(10)),
            QualityRecord(camera_id=A, ok=False, faults="freeze", at=at(3.25)),
            QualityRecord(camera_id=A, ok=True, faults="", at=at(3.75)),
            QualityRecord(camera_id=A, ok=False, faults="blur", at=at(6)),
            QualityRecord(camera_id=A, ok=True, faults="", at=at(7)),
            CameraCredential(camera_id=A, username="admin", password_token=vault.encrypt("Str0ng-Pass-1"),
                             default_password=False),
            CameraCredential(camera_id=B, username="admin", password_token=vault.encrypt("12345"),
                             default_password=True),
            CameraCredential(camera_id=E, username="admin", password_token="plain-text-password",
                             default_password=False),
        ])
    event_id = str(ULID())
    with archive.sessions.begin() as s:
        s.add(EventRecord(id=event_id, type="zone_intrusion", severity="minor", camera_id=A,
                          civil_codes="140429,140429100,140429100001", centers=",140429100001,",
                          occurred_at=at(1), body="{}"))
        s.flush()
        s.add_all([
            EventAction(event_id=event_id, action="ack", center="140429100001", user="张三", reason="已派员",
                        at=at(1.1)),
            EventAction(event_id=event_id, action="hold", center="140429100001", user="张三", reason="留证",
                        at=at(1.2)),
            EventAction(event_id=event_id, action="resolve", center="140429100001", user="李四", reason="已处置",
                        at=at(2)),
            EventAction(event_id=event_id, action="release", center="140429100001", user=" ", reason="x",
                        at=at(2.5)),
            EventAction(event_id=event_id, action="ack", center="140429100001", user="", reason="",
                        at=at(11)),  # after the window: not counted
            AccessRecord(at=START, user="张三", unit="派出所", reason="核查聚集事件", action="view_snapshot",
                         target=f"{A}/2025-06-01/x.jpg", outcome="allowed", detail=""),
            AccessRecord(at=at(2.5), user="李四", unit="综治中心", reason="处置", action="view_event",
                         target=event_id, outcome="allowed", detail=""),
            AccessRecord(at=at(3), user="王五", unit=" ", reason="备份", action="export_cameras",
                         target=f"{A},{B}", outcome="allowed", detail=""),
            AccessRecord(at=at(4), user="赵六", unit="派出所", reason="越级查看", action="ack_event",
                         target=event_id, center="140429101", outcome="refused", detail="not delivered"),
            AccessRecord(at=END, user="", unit="", reason="", action="ack_event", target=event_id,
                         center="140429101", outcome="refused", detail="not delivered"),  # at the end: not counted
        ])
    return World(url, registry, archive, vault)
