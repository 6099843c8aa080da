"""``sharpeyes check-config`` refuses rules that need classes the camera's model lacks, with a message naming
camera, rule and missing classes (the default model has only Normal/Fall), and accepts the rules it serves. The
check itself is tested in tests/analytics/test_model_check.py; the hub's refusal to start such a camera in
tests/sharpeyes/test_maintainer.py."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from analytics.detector import model_labels
from sharpeyes.cli import main
from sharpeyes.settings import PROJECT_ROOT, DetectorSettings
from tests.support.env import clean_settings_env

MODELS = PROJECT_ROOT / "data" / "models"
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
def configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The camera configs folder check-config reads, with the models `make` exported."""
    d = tmp_path / "camera_configs"
    d.mkdir()
    (d / "parking.yaml").write_text(CONFIG, encoding="utf-8")
    clean_settings_env(monkeypatch)
    monkeypatch.setenv("SHARPEYES_CAMERA_CONFIGS", str(d))
    monkeypatch.setenv("SHARPEYES_MODELS_DIR", str(MODELS))
    return d


def test_check_config_refuses_parking_with_the_default_model(configs: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config"]) == 1
    err = capsys.readouterr().err
    assert "camera 14042900001325000001: rule '禁停区' (illegal_parking) needs classes" in err
    assert "['bus', 'car', 'motorcycle', 'truck']" in err and "'Fall', 'Normal'" in err
    assert "聚集" not in err  # the crowd rule is fine


def test_check_config_accepts_rules_the_model_serves(configs: Path, capsys: pytest.CaptureFixture[str],
                                                      caplog: pytest.LogCaptureFixture) -> None:
    (configs / "parking.yaml").write_text(CONFIG.replace("illegal_parking, name: 禁停区, min_stationary_s: 60",
                                                         "fall, name: 倒地"), encoding="utf-8")
    # check-config skips (with a warning) a default model it cannot read: this test needs it readable
    assert {"Normal", "Fall"} <= model_labels(DetectorSettings(), MODELS)  # type: ignore[call-arg]
    with caplog.at_level(logging.WARNING):
        assert main(["check-config"]) == 0
    assert "not checked" not in caplog.text  # the rules were checked against the model, not skipped
    assert "1 camera(s) valid" in capsys.readouterr().out
