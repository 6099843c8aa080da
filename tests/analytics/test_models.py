"""``sharpeyes model import``: an operator's ultralytics checkpoint checked, copied, exported offline and made
selectable per camera (``detector_model``), on real ultralytics checkpoints made here offline.

No COCO weights can be had offline, so the "operator's COCO model" is a real, untrained YOLOv8n built from
ultralytics' own ``yolov8n.yaml`` with the 80 COCO class names: loading, checking, exporting and selecting it run
exactly as with trained weights (what it detects is noise, which these tests do not look at).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import ultralytics
import yaml

from analytics.detections import Detections
from analytics.detector import Detector, ModelError
from analytics.labels import DEFAULT_MODEL_LABELS
from analytics.model_check import camera_model_problems
from analytics.models import import_model, list_models, name_from_file
from analytics.pipeline import AnalyticsWorker, CameraAnalytics
from registry.models import Camera
from sharpeyes.cli import main
from sharpeyes.frames import Frame
from sharpeyes.settings import DetectorSettings, Settings

IMGSZ = 320  # exports at 320 take half the time of 640


@pytest.fixture(scope="module")
def coco_pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ultralytics import YOLO

    out = tmp_path_factory.mktemp("operator") / "YOLOv8n-COCO.pt"
    model = YOLO("yolov8n.yaml")  # ships with ultralytics: no download
    names = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg/datasets/coco.yaml").read_text())["names"]
    model.model.names = names
    model.save(str(out))
    return out


@pytest.fixture(scope="module")
def classify_pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ultralytics import YOLO

    out = tmp_path_factory.mktemp("operator") / "cls.pt"
    YOLO("yolov8n-cls.yaml").save(str(out))
    return out


@pytest.fixture()
def models(tmp_path: Path) -> Iterator[Path]:
    d = tmp_path / "data" / "models"
    d.mkdir(parents=True)
    yield d


def settings() -> DetectorSettings:
    return DetectorSettings(imgsz=IMGSZ)  # type: ignore[call-arg]


def test_name_from_file() -> None:
    assert name_from_file(Path("/x/YOLO11n.pt")) == "yolo11n"
    assert name_from_file(Path("Site A (vehicles).pt")) == "site-a-vehicles"


def test_import_exports_lists_and_loads(coco_pt: Path, models: Path) -> None:
    info = import_model(coco_pt, models, settings())
    assert info.name == "yolov8n-coco"
    assert (models / "imported" / "yolov8n-coco.pt").is_file()
    assert info.classes[:3] == ["person", "bicycle", "car"] and len(info.classes) == 80
    assert info.exported == ["openvino"]  # the fastest backend present on CPU
    assert not info.default
    assert info.labels.person_labels == {"person"} and info.labels.fallen_labels == frozenset()  # COCO: no fall

    listed = {m.name: m for m in list_models(models, settings())}
    assert set(listed) == {"fall-detection", "yolov8n-coco"}
    assert listed["fall-detection"].default and "Fall" in listed["fall-detection"].classes
    assert listed["yolov8n-coco"].exported == ["openvino"] and "suitcase" in listed["yolov8n-coco"].classes
    assert listed["fall-detection"].labels is DEFAULT_MODEL_LABELS and listed["yolov8n-coco"].labels == info.labels

    det = Detector(settings().model_copy(update={"model": "yolov8n-coco"}), models)
    assert det.backend == "openvino" and len(det.names) == 80
    out = det.detect_batch([np.zeros((480, 640, 3), np.uint8)] * 2)
    assert len(out) == 2 and all(isinstance(d, Detections) for d in out)
    assert det.labels == info.labels and all(d.model_labels is det.labels for d in out)


def test_import_refuses_clearly_and_leaves_nothing(coco_pt: Path, classify_pt: Path, models: Path,
                                                   tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    cases = [
        (tmp_path / "missing.pt", {}, r"missing\.pt not found"),
        (tmp_path / "x.onnx", {}, r"must be an ultralytics \.pt"),
        (garbage, {}, r"garbage\.pt is not a loadable ultralytics model"),
        (classify_pt, {}, r"'classify' model; the hub needs a detection"),
        (coco_pt, {"name": "fall-detection"}, "reserved for the default model"),
        (coco_pt, {"name": "Bad Name"}, "model name 'Bad Name'"),
        (coco_pt, {"name": "coco.pt"}, r"model name 'coco\.pt'.*not ending in \.pt"),
    ]
    (tmp_path / "x.onnx").write_bytes(b"")
    for path, kw, msg in cases:
        with pytest.raises(ModelError, match=msg):
            import_model(path, models, settings(), formats=[], **kw)  # type: ignore[arg-type]
    assert list(models.rglob("*.pt")) == []

    import_model(coco_pt, models, settings(), name="coco", formats=[])
    with pytest.raises(ModelError, match=r"already imported.*--force"):
        import_model(coco_pt, models, settings(), name="coco", formats=[])
    assert import_model(coco_pt, models, settings(), name="coco", formats=[], force=True).name == "coco"


def test_cli_import_and_list(coco_pt: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SHARPEYES_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHARPEYES_DETECTOR__IMGSZ", str(IMGSZ))
    assert main(["model", "import", str(coco_pt), "--name", "coco-site"]) == 0
    out = capsys.readouterr().out
    assert "model coco-site: 80 classes (person, bicycle, car" in out and "exported to openvino" in out
    assert "detector_model: coco-site" in out
    assert main(["model", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("* fall-detection") for line in lines)
    assert any(line.startswith("  coco-site") and "openvino" in line and "person" in line for line in lines)
    assert main(["model", "import", str(tmp_path / "nope.pt")]) == 1
    assert "nope.pt not found" in capsys.readouterr().err


def _camera(cam_id: str, rules: list[dict[str, object]], model: str | None) -> Camera:
    return Camera(id=cam_id, name=cam_id, jurisdiction_code="140429100", stream_url="rtsp://h/s", rules=rules,
                  detector_model=model)


def test_rule_classes_are_checked_against_each_cameras_model(coco_pt: Path, tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path / "data", detector=settings())  # type: ignore[call-arg]
    import_model(coco_pt, s.model_dir, s.detector, name="coco", formats=[])
    parking = [{"type": "illegal_parking", "name": "no parking", "zone": [[0, 0], [1, 0], [1, 1], [0, 1]],
                "min_stationary_s": 60}]
    cams = [_camera("14042900001325000001", parking, "coco"), _camera("14042900001325000002", parking, None),
            _camera("14042900001325000003", [], "no-such-model")]
    problems = camera_model_problems(s, cams, {})
    assert len(problems) == 2, problems
    assert "14042900001325000002" in problems[0] and "needs classes" in problems[0]
    assert "14042900001325000003" in problems[1] and "no model named 'no-such-model'" in problems[1]


class Spy:
    cuts_regions = False

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.batches: list[int] = []

    def detect_batch(self, images: list[np.ndarray], regions: object = None) -> list[Detections]:
        self.batches.append(len(images))
        return [Detections() for _ in images]

    def describe(self) -> dict[str, object]:
        return {"backend": self.backend, "precision": "fp32", "execution": "fp32", "mode": "sync", "requests": 1,
                "imgsz": 640}


def test_worker_detects_each_camera_with_its_model(tmp_path: Path) -> None:
    default, coco = Spy("default"), Spy("coco")
    made: list[str] = []

    def factory(name: str) -> Spy:
        made.append(name)
        return coco

    worker = AnalyticsWorker(lambda: default, tmp_path, lambda e: None, batch_size=8,  # type: ignore[arg-type,return-value]
                             model_factory=factory)  # type: ignore[arg-type]
    worker.detector = default  # type: ignore[assignment]
    cams = ["14042900001325000001", "14042900001325000002", "14042900001325000003"]
    for cam, model in zip(cams, [None, "coco", "coco"], strict=True):
        worker.add_camera(CameraAnalytics.build(cam, cam, ["140429"], [], model=model))
    assert worker.load_model("coco") is coco  # type: ignore[comparison-overlap]
    img = np.zeros((48, 64, 3), np.uint8)
    from datetime import UTC, datetime

    worker.handle([Frame(c, img, datetime.now(UTC), 0, monotonic=1.0) for c in cams])
    assert default.batches == [1] and coco.batches == [2]  # one batch per model
    assert made == ["coco"]  # loaded once, shared
    assert worker.status()["models"] == {"coco": "coco"}
