"""Whether each camera's model can serve its rules (analytics/model_check.py): the default model as exported by
`make` in data/models (classes Normal/Fall), a configured default that is not there, an imported model that is not
there. Cameras come from camera YAML through a real registry, closed after each test."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from analytics.model_check import camera_model_problems, refuse_unserved_rules
from analytics.rules import RuleClassError
from registry.models import Camera
from sharpeyes.settings import PROJECT_ROOT, Settings
from tests.support.registry import registry_with_cameras, write_configs

MODELS = PROJECT_ROOT / "data" / "models"
PARKING_CAM, FALL_CAM, PLAIN_CAM, IMPORTED_CAM = (f"1404290000132500000{n}" for n in range(1, 5))
CONFIG = f"""\
cameras:
  - id: "{PARKING_CAM}"
    name: 停车场
    jurisdiction: "140429100"
    stream: rtsp://127.0.0.1:8554/x
    rules:
      - {{type: crowd_gathering, name: 聚集, zone: [[0, 0], [1, 0], [1, 1]], min_count: 3}}
      - {{type: illegal_parking, name: 禁停区, min_stationary_s: 60}}
  - id: "{FALL_CAM}"
    name: 广场
    jurisdiction: "140429100"
    stream: rtsp://127.0.0.1:8554/y
    rules:
      - {{type: fall, name: 倒地}}
  - id: "{PLAIN_CAM}"
    name: 路口
    jurisdiction: "140429100"
    stream: rtsp://127.0.0.1:8554/z
"""
IMPORTED = f"""\
  - id: "{IMPORTED_CAM}"
    name: 村口
    jurisdiction: "140429100"
    stream: rtsp://127.0.0.1:8554/w
    detector_model: no-such-model
"""


@pytest.fixture()
def cameras(tmp_path: Path) -> Iterator[dict[str, Camera]]:
    registry = registry_with_cameras(write_configs(tmp_path / "cams", CONFIG + IMPORTED))
    try:
        yield {cam.id: cam for cam in registry.cameras(enabled_only=True)}
    finally:
        registry.close()


def settings(tmp_path: Path, models: Path, **detector: str) -> Settings:
    return Settings(data_dir=tmp_path / "data", models_dir=models, detector=detector)  # type: ignore[call-arg,arg-type]


def test_the_default_model_serves_fall_not_parking(tmp_path: Path, cameras: dict[str, Camera]) -> None:
    labels: dict[str, set[str]] = {}
    s = settings(tmp_path, MODELS)
    problems = camera_model_problems(s, [cameras[FALL_CAM], cameras[PLAIN_CAM]], labels)
    assert problems == []
    # the model's classes were read (a model that cannot be read fails this test: it is never skipped)
    assert labels == {s.detector.model: {"Normal", "Fall"}}

    [problem] = camera_model_problems(s, [cameras[PARKING_CAM]], labels)
    assert problem.startswith(f"camera {PARKING_CAM}: rule '禁停区' (illegal_parking) needs classes")
    assert "['bus', 'car', 'motorcycle', 'truck']" in problem and "'Fall', 'Normal'" in problem
    assert "聚集" not in problem  # the crowd rule is fine


def test_refusal_lists_every_problem(tmp_path: Path, cameras: dict[str, Camera]) -> None:
    with pytest.raises(RuleClassError) as refused:
        refuse_unserved_rules(settings(tmp_path, MODELS), cameras.values(), {})
    lines = str(refused.value).splitlines()
    assert lines[0] == "rules refused:"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [f"camera {PARKING_CAM}", f"camera {IMPORTED_CAM}"]
    assert "detector_model 'no-such-model'" in lines[2]
    refuse_unserved_rules(settings(tmp_path, MODELS), [cameras[FALL_CAM], cameras[PLAIN_CAM]], {})  # no problem


def test_a_default_model_that_cannot_be_read(tmp_path: Path, cameras: dict[str, Camera],
                                             caplog: pytest.LogCaptureFixture) -> None:
    s = settings(tmp_path, MODELS, model=str(tmp_path / "gone.pt"))
    [problem] = camera_model_problems(s, [cameras[FALL_CAM]], {})  # the hub: refused
    assert problem.startswith(f"camera {FALL_CAM}: detector_model {s.detector.model!r}: ")
    with caplog.at_level(logging.WARNING, logger="analytics.model_check"):  # check-config before `make`: skipped
        assert camera_model_problems(s, [cameras[FALL_CAM]], {}, strict_default=False) == []
    assert f"rule classes of camera {FALL_CAM} not checked" in caplog.text
    # a camera naming its own model is refused either way; one without rules reads no model at all
    [problem] = camera_model_problems(s, [cameras[IMPORTED_CAM], cameras[PLAIN_CAM]], {}, strict_default=False)
    assert problem.startswith(f"camera {IMPORTED_CAM}: detector_model 'no-such-model': ")
