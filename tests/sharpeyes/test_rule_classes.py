"""Rules that need classes the loaded model lacks are refused at load, by ``sharpeyes check-config`` and by the
hub, with a message naming camera, rule and missing classes (the default model has only Normal/Fall)."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics.rules import RuleClassError
from registry.store import Registry
from sharpeyes.cli import main
from sharpeyes.hub import Hub
from sharpeyes.settings import PROJECT_ROOT, Settings

CONFIG = """\
cameras:
  - id: "14042900001325000001"
    name: 停车场
    jurisdiction: "140429100"
    stream: rtsp://127.0.0.1:8554/x
    rules:
      - {type: crowd_gathering, name: 聚集, zone: [[0, 0], [1, 0], [1, 1]], min_count: 3}
      - {type: illegal_parking, name: 禁停区, min_stationary_s: 60}
"""


@pytest.fixture()
def configs(tmp_path: Path) -> Path:
    d = tmp_path / "camera_configs"
    d.mkdir()
    (d / "parking.yaml").write_text(CONFIG, encoding="utf-8")
    return d


def test_check_config_refuses_parking_with_the_default_model(configs: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SHARPEYES_CAMERA_CONFIGS", str(configs))
    assert main(["check-config"]) == 1
    err = capsys.readouterr().err
    assert "camera 14042900001325000001: rule '禁停区' (illegal_parking) needs classes" in err
    assert "['bus', 'car', 'motorcycle', 'truck']" in err and "'Fall', 'Normal'" in err
    assert "聚集" not in err  # the crowd rule is fine


def test_hub_refuses_the_same_rules(configs: Path, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", camera_configs=configs,  # type: ignore[call-arg]
                        models_dir=PROJECT_ROOT / "data" / "models")
    hub = Hub(settings)
    hub.registry = Registry("sqlite://")
    hub.registry.init()
    hub.registry.sync_camera_configs(configs)
    with pytest.raises(RuleClassError, match=r"rule '禁停区' \(illegal_parking\)"):
        hub.check_rules()
    hub.registry.close()


def test_check_config_accepts_rules_the_model_serves(configs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (configs / "parking.yaml").write_text(CONFIG.replace("illegal_parking, name: 禁停区, min_stationary_s: 60",
                                                         "fall, name: 倒地"), encoding="utf-8")
    monkeypatch.setenv("SHARPEYES_CAMERA_CONFIGS", str(configs))
    assert main(["check-config"]) == 0
