"""Registry store: privacy masks and the sampling mode travel from YAML into the database, and a database made
by the previous release (no ``privacy_masks`` column) is upgraded in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from registry.store import Registry

YAML = """
jurisdictions:
  - {code: "140429100001", name: 合成社区, parent: "140429100", synthetic: true}
cameras:
  - id: "14042900001325000001"
    name: 校园路口
    jurisdiction: "140429100001"
    stream: rtsp://127.0.0.1:8554/vtest
    privacy_masks:
      - {name: 住宅窗户, polygon: [[0, 0], [0.3, 0], [0.3, 0.2]]}
  - id: "14042900001325000002"
    name: 村委会
    jurisdiction: "140429100001"
    stream: rtsp://127.0.0.1:8554/vtest2
    sampling: {mode: fps, fps: 2}
"""


def test_masks_and_mode_from_yaml(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(YAML, encoding="utf-8")
    reg = Registry("sqlite://")
    reg.init()
    reg.sync_camera_configs(tmp_path)
    a, b = reg.cameras()
    assert a.privacy_masks == [{"name": "住宅窗户", "polygon": [[0, 0], [0.3, 0], [0.3, 0.2]]}]
    assert (a.sample_mode, a.sample_fps) == ("auto", 1.0)  # the default
    assert b.privacy_masks == [] and (b.sample_mode, b.sample_fps) == ("fps", 2.0)


def test_old_database_gains_new_columns(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    reg = Registry(f"sqlite:///{db}")
    reg.init()
    reg.close()
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE cameras DROP COLUMN privacy_masks")  # as the previous release made it
    con.commit()
    assert "privacy_masks" not in {r[1] for r in con.execute("PRAGMA table_info(cameras)")}
    con.close()

    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "c.yaml").write_text(YAML, encoding="utf-8")
    reg = Registry(f"sqlite:///{db}")
    reg.init()
    reg.sync_camera_configs(tmp_path / "cfg")
    assert reg.cameras()[0].privacy_masks[0]["name"] == "住宅窗户"
    reg.close()
