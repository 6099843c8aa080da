"""Registry store: privacy masks and the sampling mode travel from YAML into the database, a database made by the
previous release (no ``privacy_masks`` column) is upgraded in place, node pins of the enabled cameras are read in
one query, key points follow the YAML folder, and the quality ledger records changes; on SQLite and on
PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from registry.config import CameraConfigError
from registry.models import QualityRecord
from registry.store import Registry
from sharpeyes.connections import make_engine
from tests.support.databases import as_previous_release
from tests.support.registry import TWO_CAMERAS_YAML, registry_with_cameras, write_configs


def test_masks_and_mode_from_yaml(tmp_path: Path, database_url: str) -> None:
    reg = registry_with_cameras(write_configs(tmp_path, TWO_CAMERAS_YAML), url=database_url)
    a, b = reg.cameras()
    assert a.privacy_masks == [{"name": "住宅窗户", "polygon": [[0, 0], [0.3, 0], [0.3, 0.2]]}]
    assert (a.sample_mode, a.sample_fps) == ("auto", 1.0)  # the default
    assert b.privacy_masks == [] and (b.sample_mode, b.sample_fps) == ("fps", 2.0)


def test_old_database_gains_new_columns(tmp_path: Path, database_url: str) -> None:
    reg = registry_with_cameras(write_configs(tmp_path / "cfg", TWO_CAMERAS_YAML), url=database_url)
    reg.close()
    # as the previous release made it: no migrations, no privacy_masks column
    as_previous_release(database_url, drop_columns={"cameras": ["privacy_masks"]})
    engine = make_engine(database_url)
    assert "privacy_masks" not in {c["name"] for c in inspect(engine).get_columns("cameras")}
    engine.dispose()

    reg = Registry(database_url)
    reg.init()
    assert [c.privacy_masks for c in reg.cameras()] == [[], []]  # the rows it had get the default
    reg.sync_camera_configs(tmp_path / "cfg")
    assert reg.cameras()[0].privacy_masks[0]["name"] == "住宅窗户"
    reg.close()


PINNED = """
jurisdictions:
  - {code: "140429100001", name: 合成社区, parent: "140429100", synthetic: true}
cameras:
  - {id: "14042900001325000001", name: 校园路口, jurisdiction: "140429100001", stream: "rtsp://127.0.0.1:9/a",
     node_label: gpu}
  - {id: "14042900001325000002", name: 村委会, jurisdiction: "140429100001", stream: "rtsp://127.0.0.1:9/b"}
  - {id: "14042900001325000003", name: 停用, jurisdiction: "140429100001", stream: "rtsp://127.0.0.1:9/c",
     node_label: gpu, enabled: false}
  - {id: "14042900001325000004", name: 边缘, jurisdiction: "140429100001", stream: "rtsp://127.0.0.1:9/d",
     node_label: edge-2}
"""


def test_camera_pins_are_the_enabled_cameras_and_their_labels(tmp_path: Path, database_url: str) -> None:
    reg = registry_with_cameras(write_configs(tmp_path, PINNED), url=database_url)
    try:
        assert reg.camera_pins() == {"14042900001325000001": "gpu", "14042900001325000002": None,
                                     "14042900001325000004": "edge-2"}
        assert reg.camera_pins().keys() == reg.camera_fingerprints().keys()  # the same cameras the maintainer runs
        disabled = reg.get_camera("14042900001325000003")
        assert disabled is not None and disabled.node_label == "gpu"  # stored, not handed out
        # a pin changed in the file is what the next sync stores
        write_configs(tmp_path, PINNED.replace("node_label: edge-2", "node_label: gpu"))
        reg.sync_camera_configs(tmp_path)
        assert reg.camera_pins()["14042900001325000004"] == "gpu"
    finally:
        reg.close()


KEY_POINTS = """
jurisdictions:
  - {code: "140429100001", name: 合成社区, parent: "140429100", synthetic: true}
key_points:
  - {id: kp-gate, name: 校门（合成）, kind: school, jurisdiction: "140429100001", longitude: 112.87, latitude: 36.84,
     synthetic: true}
  - {id: kp-square, name: 广场（合成）, kind: square, jurisdiction: "140429100", longitude: 112.88, latitude: 36.85}
"""


def test_key_points_follow_the_folder(tmp_path: Path, database_url: str) -> None:
    reg = registry_with_cameras(write_configs(tmp_path / "cfg", KEY_POINTS, "k.yaml"), url=database_url)
    cfg = tmp_path / "cfg" / "k.yaml"
    gate, square = reg.key_points()
    assert (gate.id, gate.kind, gate.jurisdiction_code, gate.synthetic, gate.source_file) == \
        ("kp-gate", "school", "140429100001", True, "k.yaml")
    assert (square.longitude, square.latitude, square.synthetic) == (112.88, 36.85, False)
    # changed and dropped in the file: updated and removed
    cfg.write_text(KEY_POINTS.replace("longitude: 112.87", "longitude: 112.871").split("  - {id: kp-square")[0],
                   encoding="utf-8")
    reg.sync_camera_configs(tmp_path / "cfg")
    (gate,) = reg.key_points()
    assert gate.longitude == 112.871
    # an invalid folder changes nothing
    cfg.write_text(KEY_POINTS.replace("latitude: 36.84", "latitude: 95"), encoding="utf-8")
    with pytest.raises(CameraConfigError, match=r"k.yaml:5: key_points\[0\].latitude"):
        reg.sync_camera_configs(tmp_path / "cfg")
    assert [(k.id, k.longitude) for k in reg.key_points()] == [("kp-gate", 112.871)]
    reg.close()


def test_quality_ledger(tmp_path: Path, database_url: str) -> None:
    reg = registry_with_cameras(write_configs(tmp_path, TWO_CAMERAS_YAML), url=database_url)
    reg.record_quality("14042900001325000001", False, "blur,too_dark")
    reg.record_quality("14042900001325000001", True)
    with reg.sessions() as s:
        rows = list(s.scalars(select(QualityRecord).order_by(QualityRecord.id)))
    assert [(r.camera_id, r.ok, r.faults) for r in rows] == [
        ("14042900001325000001", False, "blur,too_dark"), ("14042900001325000001", True, "")]
    assert rows[0].at is not None
    reg.close()
