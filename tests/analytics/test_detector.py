"""The real detector (default model, exported backend) on ultralytics' own sample images, through
:meth:`Detector.detect`, the code path the hub uses; plus model-path errors and offline configuration.

Reference boxes are approximate hand-checked positions of the persons; a detection matches one at IoU ≥ 0.5, which
absorbs the small differences between the PyTorch and OpenVINO backends.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import ultralytics

from analytics.detections import Detections
from analytics.detector import Detector, ModelError, configure_offline, model_source
from analytics.tracker import iou_matrix
from sharpeyes.settings import DetectorSettings

ASSETS = Path(ultralytics.__file__).parent / "assets"

# bus.jpg shows four persons; the fourth, cut by the left edge, overlaps the first a lot, so an NMS IoU of 0.5
# would merge the two (the default is ultralytics' 0.7, which keeps both).
BUS_PERSONS = np.array(
    [[40, 385, 220, 905], [215, 395, 350, 885], [670, 300, 810, 885], [0, 378, 187, 908]], np.float32
)
ZIDANE_PERSONS = np.array([[700, 0, 1280, 720], [15, 170, 1150, 720]], np.float32)


def image(name: str) -> np.ndarray:
    img = cv2.imread(str(ASSETS / name))  # BGR, as ingest frames are
    assert img is not None, f"{ASSETS / name} missing"
    return img


def assert_matches(d: Detections, reference: np.ndarray) -> None:
    """Every detection is a person and the detections match the reference boxes one to one (IoU ≥ 0.5)."""
    assert d.classes == ["person"] * len(d)
    assert len(d) == len(reference), d.xyxy
    ious = iou_matrix(d.xyxy, reference)
    assert sorted(int(j) for j in ious.argmax(axis=1)) == list(range(len(reference))), ious
    assert (ious.max(axis=1) >= 0.5).all(), ious


def test_bus_persons(detector: Detector) -> None:
    d = detector.detect(image("bus.jpg"))
    assert_matches(d, BUS_PERSONS)
    assert ((d.confidence >= 0.35) & (d.confidence <= 1.0)).all()


def test_zidane_persons(detector: Detector) -> None:
    assert_matches(detector.detect(image("zidane.jpg")), ZIDANE_PERSONS)


def test_detections_are_untracked_model_labels(detector: Detector) -> None:
    d = detector.detect(image("zidane.jpg"))
    assert d.tracker_id is None
    assert set(d.labels) <= detector.class_names == {"Normal", "Fall"}


def test_blank_frame_gives_nothing(detector: Detector) -> None:
    for blank in (np.zeros((480, 640, 3), np.uint8), np.full((720, 1280, 3), 255, np.uint8)):
        assert len(detector.detect(blank)) == 0


def test_batch_matches_single(detector: Detector) -> None:
    # a batch shares one letterbox shape, so batch frames of one size (as one camera's, or one model's input)
    for name, reference in (("bus.jpg", BUS_PERSONS), ("zidane.jpg", ZIDANE_PERSONS)):
        img = image(name)
        single = detector.detect(img)
        batch = detector.detect_batch([img, img.copy()])
        assert [len(d) for d in batch] == [len(reference)] * 2
        for batched in batch:
            np.testing.assert_allclose(batched.xyxy, single.xyxy, atol=2.0)


def test_backend_is_openvino_when_available(detector: Detector) -> None:
    if importlib.util.find_spec("openvino") is None:
        pytest.skip("openvino is not installed")
    assert detector.backend == "openvino"
    assert detector.device == "cpu"


def test_ultralytics_is_offline(detector: Detector) -> None:
    assert os.environ.get("YOLO_OFFLINE") == "1"
    assert os.environ.get("YOLO_AUTOINSTALL") == "false"


def test_configure_offline_sets_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("YOLO_OFFLINE", "YOLO_AUTOINSTALL", "YOLO_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    configure_offline(tmp_path / "ultralytics")
    assert os.environ["YOLO_OFFLINE"] == "1"
    assert os.environ["YOLO_AUTOINSTALL"] == "false"
    assert os.environ["YOLO_CONFIG_DIR"] == str(tmp_path / "ultralytics")
    assert (tmp_path / "ultralytics").is_dir()


def test_missing_operator_model_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "mine.pt"
    settings = DetectorSettings(model=str(missing))  # type: ignore[call-arg]
    with pytest.raises(ModelError, match=r"model file .*mine\.pt not found \(SHARPEYES_DETECTOR__MODEL\)"):
        model_source(settings, tmp_path / "models")
    with pytest.raises(ModelError, match="not found"):
        Detector(settings, tmp_path / "models")


def test_operator_model_must_be_a_pt_file(tmp_path: Path) -> None:
    onnx = tmp_path / "mine.onnx"
    onnx.write_bytes(b"not a model")
    with pytest.raises(ModelError, match=r"must be an ultralytics \.pt file"):
        model_source(DetectorSettings(model=str(onnx)), tmp_path)  # type: ignore[call-arg]


def test_operator_model_source(tmp_path: Path) -> None:
    pt = tmp_path / "site-a.pt"
    pt.write_bytes(b"")
    assert model_source(DetectorSettings(model=str(pt)), tmp_path) == ("site-a", pt)  # type: ignore[call-arg]


def test_unknown_model_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no model named 'yolo11n'.*sharpeyes model import"):
        model_source(DetectorSettings(model="yolo11n"), tmp_path / "models")  # type: ignore[call-arg]


def test_requested_backend_without_export_is_a_clear_error(tmp_path: Path) -> None:
    pt = tmp_path / "site-a.pt"
    pt.write_bytes(b"")
    settings = DetectorSettings(model=str(pt), backend="openvino")  # type: ignore[call-arg]
    with pytest.raises(ModelError, match="sharpeyes model export"):
        Detector(settings, tmp_path / "models")
