"""The hub's own OpenVINO path (analytics/openvino_engine.py) on real frames: the letterbox is ultralytics' to the
pixel, the FP32 engine finds what ultralytics' predictor finds on the same export, async equals sync frame by
frame and in order, motion regions are cut on the network's input grid and find what the whole frame finds there,
and an INT8 export made by
``sharpeyes model export --int8 --calibration DIR`` keeps ≥ 95 % of the teacher's persons (PyTorch FP32 at 640)
on vtest frames it was not calibrated on.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import ultralytics
from ultralytics.data.augment import LetterBox

from analytics.accuracy import MAX_RECALL_LOSS, total_agreement
from analytics.calibration import CalibrationError, calibration_frames, video_frames
from analytics.detections import Detections, from_ultralytics
from analytics.detector import Detector, ModelError, artifacts
from analytics.openvino_engine import OpenVinoEngine, crop_windows, letterbox, network_input
from analytics.tracker import iou_matrix
from ingest.demo import VTEST_AVI
from sharpeyes.cli import main
from sharpeyes.settings import PROJECT_ROOT, DetectorSettings

MODELS = PROJECT_ROOT / "data" / "models"
BUS = cv2.imread(str(Path(ultralytics.__file__).parent / "assets" / "bus.jpg"))


@pytest.fixture(scope="module")
def vtest() -> list[np.ndarray]:
    return video_frames(VTEST_AVI, 8, step=10)  # the accuracy frames: never among the calibration frames


@pytest.fixture(scope="module")
def fp32_dir(detector: Detector) -> Path:
    """The default model's FP32 OpenVINO export (the session's ``detector`` fixture has made it)."""
    path = artifacts(DetectorSettings(), MODELS)["openvino"]  # type: ignore[call-arg]
    assert path.exists()
    return path


def engine(directory: Path, detector: Detector, mode: str) -> OpenVinoEngine:
    return OpenVinoEngine(directory, imgsz=640, names=detector.names, labels=detector.labels, conf=0.35, iou=0.7,
                          mode=mode, requests=2)  # type: ignore[arg-type]


def assert_same(a: Detections, b: Detections, atol: float = 1.0) -> None:
    assert a.labels == b.labels
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=atol)
    np.testing.assert_allclose(a.confidence, b.confidence, atol=0.01)


@pytest.mark.parametrize("shape", [(576, 768), (1080, 1920), (480, 640), (1000, 37)])
def test_letterbox_is_ultralytics_to_the_pixel(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    theirs = LetterBox(640, auto=True, stride=32)(image=image)
    ours = letterbox(image, 640)
    assert ours.image.shape == theirs.shape and ours.image.dtype == np.uint8
    assert np.array_equal(ours.image, theirs)
    back = np.rint(network_input(ours.image)[0].transpose(1, 2, 0)[..., ::-1] * 255).astype(np.uint8)
    assert np.array_equal(back, theirs)  # the raw network's input: RGB, CHW, [0, 1]


def test_preprocessing_in_the_graph_is_the_float_blob(fp32_dir: Path, vtest: list[np.ndarray]) -> None:
    """The engine's model takes the letterboxed uint8 BGR frame; executed in f32, its outputs equal the raw
    network's on the float blob (RGB, CHW, [0, 1]) to float rounding, for a batch of two."""
    import openvino as ov

    from analytics.openvino_engine import model_xml, with_preprocessing

    core = ov.Core()
    raw = core.compile_model(core.read_model(model_xml(fp32_dir)), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    ours = core.compile_model(with_preprocessing(core.read_model(model_xml(fp32_dir))), "CPU",
                              {"INFERENCE_PRECISION_HINT": "f32"})
    preps = [letterbox(f, 640).image for f in vtest[:2]]
    expected = raw.create_infer_request().infer({0: np.concatenate([network_input(p) for p in preps])})[0]
    got = ours.create_infer_request().infer({0: np.stack(preps)})[0]
    assert got.shape == expected.shape
    np.testing.assert_allclose(got[:, :4], expected[:, :4], atol=0.01)  # boxes, network pixels
    np.testing.assert_allclose(got[:, 4:], expected[:, 4:], atol=1e-4)  # class scores


def test_fp32_engine_finds_what_ultralytics_finds(detector: Detector, fp32_dir: Path, vtest: list[np.ndarray],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Both computed in f32, the engine's boxes are ultralytics' predictor's on the same export to a pixel; in the
    CPU's default execution (bf16 where it has it) both find the same persons. Ultralytics compiles without a
    precision hint, so f32 is patched into its compile_model for the first part."""
    import openvino as ov
    from ultralytics import YOLO

    frames = [BUS, *vtest[:4]]
    default = YOLO(str(fp32_dir), task="detect")
    theirs_default = [default.predict(f, imgsz=640, conf=0.35, iou=0.7, verbose=False)[0] for f in frames]
    ours_default = engine(fp32_dir, detector, "sync").detect_batch(frames)
    agreement = total_agreement([from_ultralytics(r) for r in theirs_default], ours_default)
    assert agreement.recall >= 1 - MAX_RECALL_LOSS and agreement.precision >= 1 - MAX_RECALL_LOSS, agreement

    compile_model = ov.Core.compile_model

    def in_f32(self: ov.Core, model: object, device_name: str = "CPU", config: dict[str, object] | None = None,
               **kw: object) -> object:
        return compile_model(self, model, device_name, {**(config or {}), "INFERENCE_PRECISION_HINT": "f32"},
                             **kw)

    monkeypatch.setattr(ov.Core, "compile_model", in_f32)
    theirs = YOLO(str(fp32_dir), task="detect")
    ours = OpenVinoEngine(fp32_dir, imgsz=640, names=detector.names, labels=detector.labels, conf=0.35, iou=0.7,
                          mode="sync", execution="f32")
    assert ours.precision == "fp32" and ours.execution == "f32"
    for frame in frames:
        ref = theirs.predict(frame, imgsz=640, conf=0.35, iou=0.7, verbose=False)[0]
        got = ours.detect_batch([frame])[0]
        assert len(got) == len(ref.boxes) > 0
        order = np.lexsort((got.xyxy[:, 0], got.xyxy[:, 1]))
        ref_xyxy = ref.boxes.xyxy.numpy()
        ref_order = np.lexsort((ref_xyxy[:, 0], ref_xyxy[:, 1]))
        np.testing.assert_allclose(got.xyxy[order], ref_xyxy[ref_order], atol=1.0)


def test_async_equals_sync_frame_by_frame_in_order(detector: Detector, fp32_dir: Path,
                                                   vtest: list[np.ndarray]) -> None:
    blank = np.zeros((576, 768, 3), np.uint8)
    frames = [vtest[0], blank, BUS, vtest[1], vtest[2]]
    sync = engine(fp32_dir, detector, "sync").detect_batch(frames)
    for mode in ("async", "auto"):
        both = engine(fp32_dir, detector, mode)
        assert both.requests >= 2
        for a, b in zip(both.detect_batch(frames), sync, strict=True):
            assert_same(a, b)
        assert_same(both.detect_batch([BUS])[0], sync[2])  # auto: a lone frame goes the sync way
    assert len(sync[1]) == 0 and len(sync[2]) >= 4


def test_f32_execution_is_f32_and_finds_the_same_persons(detector: Detector, fp32_dir: Path,
                                                          vtest: list[np.ndarray]) -> None:
    """``execution: f32`` turns off OpenVINO's bf16 execution (its default on AVX512-BF16/AMX CPUs, f32 elsewhere)."""
    default = engine(fp32_dir, detector, "sync")
    f32 = OpenVinoEngine(fp32_dir, imgsz=640, names=detector.names, labels=detector.labels, conf=0.35, iou=0.7,
                         mode="sync", execution="f32")
    assert f32.execution == "f32" and default.execution in ("f32", "bf16")
    frames = vtest[:4]
    agreement = total_agreement(f32.detect_batch(frames), default.detect_batch(frames))
    assert agreement.recall >= 1 - MAX_RECALL_LOSS and agreement.precision >= 1 - MAX_RECALL_LOSS, agreement


@pytest.mark.parametrize("shape", [(576, 768), (1080, 1920), (480, 640)])
def test_windows_sit_on_the_stride_grid(shape: tuple[int, int]) -> None:
    """Each region becomes a window of the letterboxed frame whose edges lie on the 32-pixel grid and whose sides
    are multiples of 64 (or the whole side), covering the region, inside the frame; a window inside another goes."""
    h, w = shape
    prep = letterbox(np.zeros((h, w, 3), np.uint8), 640)
    ch, cw = prep.image.shape[:2]
    regions = [(0, 0, 10, 10), (w // 3, h // 4, w // 3 + 57, h // 4 + 201), (w - 90, h - 50, w, h),
               (w // 3 + 5, h // 4 + 5, w // 3 + 20, h // 4 + 20)]  # the last inside the second's window
    windows = crop_windows(prep, regions)
    assert len(windows) == 3
    for (x0, y0, x1, y1), (rx0, ry0, rx1, ry1) in zip(windows, regions, strict=False):
        assert x0 % 32 == 0 and y0 % 32 == 0 and 0 <= x0 < x1 <= cw and 0 <= y0 < y1 <= ch
        assert (x1 - x0) % 64 == 0 or x1 - x0 == cw
        assert (y1 - y0) % 64 == 0 or y1 - y0 == ch
        # the region, in letterboxed pixels, is inside its window
        assert x0 <= rx0 * prep.ratio + prep.left and rx1 * prep.ratio + prep.left <= x1 + 0.5
        assert y0 <= ry0 * prep.ratio + prep.top and ry1 * prep.ratio + prep.top <= y1 + 0.5


def test_regions_find_what_the_whole_frame_finds_there(detector: Detector, fp32_dir: Path,
                                                       vtest: list[np.ndarray]) -> None:
    """Two regions around persons the whole frame found: every person inside a region is found again at the same
    place (the windows are cut on the network's grid; confidences move by up to about 0.1, mostly up, the window's
    edge standing for the context beyond it: bench/detect.py measures what that does to precision), nothing
    outside them, boxes in frame pixels; a frame without regions in the same call is detected whole; sync, async
    and auto agree."""
    frame = vtest[0]
    whole = detector.detect(frame)
    assert len(whole) >= 4
    left, right = whole[whole.xyxy[:, 2] < 300], whole[whole.xyxy[:, 0] > 468]
    assert len(left) and len(right)
    regions = tuple((int(d.xyxy[:, 0].min()) - 20, int(d.xyxy[:, 1].min()) - 20, int(d.xyxy[:, 2].max()) + 20,
                     int(d.xyxy[:, 3].max()) + 20) for d in (left, right))
    part = detector.detect_batch([frame], [regions])[0]
    for d in (left, right):
        ious = iou_matrix(d.xyxy, part.xyxy)
        assert (ious.max(axis=1) >= 0.9).all(), ious
    prep = letterbox(frame, 640)
    windows = crop_windows(prep, regions)
    frame_windows = [((x0 - prep.left) / prep.ratio, (y0 - prep.top) / prep.ratio, (x1 - prep.left) / prep.ratio,
                      (y1 - prep.top) / prep.ratio) for x0, y0, x1, y1 in windows]
    for box in part.xyxy:  # everything found lies in a window, in frame pixels
        assert any(wx0 - 1 <= box[0] and box[2] <= wx1 + 1 and wy0 - 1 <= box[1] and box[3] <= wy1 + 1
                   for wx0, wy0, wx1, wy1 in frame_windows), box
    mixed = detector.detect_batch([frame, frame], [None, regions])
    assert_same(mixed[0], whole)
    assert_same(mixed[1], part)
    plain = engine(fp32_dir, detector, "sync")
    sync = plain.detect_batch([frame, frame, frame], [regions, None, regions[1:]])  # two windows, whole, one
    assert len(sync[2]) and (sync[2].xyxy[:, 0] > 400).all()  # the one window's persons, in frame pixels
    for mode in ("async", "auto"):
        other = engine(fp32_dir, detector, mode)
        for a, b in zip(other.detect_batch([frame, frame, frame], [regions, None, regions[1:]]), sync, strict=True):
            assert_same(a, b, atol=3.0)  # bf16 execution rounds per kernel: a few pixels
        assert_same(other.detect_batch([frame], [regions])[0], sync[0], atol=3.0)


def test_calibration_sources(tmp_path: Path) -> None:
    frames = video_frames(VTEST_AVI, 3, step=50)
    for i, f in enumerate(frames):
        cv2.imwrite(str(tmp_path / f"{i}.jpg"), f)
    writer = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.VideoWriter.fourcc(*"MJPG"), 5, (768, 576))
    for f in frames * 4:
        writer.write(f)
    writer.release()
    (tmp_path / "notes.txt").write_text("not a frame")
    got = calibration_frames(tmp_path, 10)
    assert 3 < len(got) <= 10 and all(g.shape == (576, 768, 3) for g in got)
    assert len(calibration_frames(None, 5)) == 5
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CalibrationError, match="empty: no images"):
        calibration_frames(empty)
    with pytest.raises(CalibrationError, match="does not exist"):
        calibration_frames(tmp_path / "missing")


def test_int8_without_its_export_is_a_clear_error(tmp_path: Path, fp32_dir: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(fp32_dir, models / fp32_dir.name)  # FP32 only
    with pytest.raises(ModelError, match="model export --int8"):
        Detector(DetectorSettings(precision="int8"), models)  # type: ignore[call-arg]
    assert Detector(DetectorSettings(), models).precision == "fp32"  # type: ignore[call-arg]  # auto: what exists


@pytest.mark.e2e
def test_int8_export_keeps_the_teachers_persons(tmp_path: Path, vtest: list[np.ndarray], detector: Detector,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The CLI quantises the default model on an operator's folder of frames; the INT8 detector then finds
    ≥ 95 % of what PyTorch FP32 finds on other frames, faster than the FP32 export, and says it is INT8."""
    calib = tmp_path / "frames"
    calib.mkdir()
    for i, f in enumerate(video_frames(VTEST_AVI, 16, phase=5, step=24)):
        cv2.imwrite(str(calib / f"{i:02}.png"), f)
    data = tmp_path / "data"
    monkeypatch.setenv("SHARPEYES_DATA_DIR", str(data))
    assert main(["model", "export", "--int8", "--calibration", str(calib)]) == 0
    models = data / "models"
    int8_dir = artifacts(DetectorSettings(), models)["openvino-int8"]  # type: ignore[call-arg]
    assert f"openvino-int8: {int8_dir}" in capsys.readouterr().out
    assert (int8_dir / "metadata.yaml").exists() and not list(models.glob(".*tmp"))
    assert main(["model", "list"]) == 0
    listed = capsys.readouterr().out
    assert "openvino,openvino-int8" in listed and "openvino int8 auto" in listed

    teacher = Detector(DetectorSettings(backend="pytorch"), models)  # type: ignore[call-arg]
    int8 = Detector(DetectorSettings(), models)  # type: ignore[call-arg]  # auto: the INT8 export
    assert (int8.backend, int8.precision, int8.mode) == ("openvino", "int8", "auto")
    assert int8.describe()["precision"] == "int8"
    found = int8.detect_batch(vtest)
    agreement = total_agreement([teacher.detect(f) for f in vtest], found)
    assert agreement.reference > 40
    assert agreement.recall >= 1 - MAX_RECALL_LOSS, agreement
    assert agreement.precision >= 0.9, agreement
    fp32 = Detector(DetectorSettings(precision="fp32"), models)  # type: ignore[call-arg]
    assert fp32.precision == "fp32"


def test_nms_free_output_rows_are_decoded_in_frame_pixels() -> None:
    """YOLOv10/YOLO26 exports give rows (x1, y1, x2, y2, score, class) in network pixels: kept above the
    confidence, mapped back through the letterbox, no NMS."""
    from analytics.labels import ModelLabels
    from analytics.openvino_engine import decode

    prep = letterbox(np.zeros((576, 768, 3), np.uint8), 640)  # 640×480, no padding: ratio 640/768
    rows = np.array([[64, 80, 128, 240, 0.9, 0], [64, 80, 128, 240, 0.2, 1], [0, 0, 10, 10, 0.5, 1]], np.float32)
    names = {0: "person", 1: "car"}
    d = decode(np.vstack([rows, np.zeros((297, 6), np.float32)]), prep, names,
               ModelLabels.from_names(names.values()), conf=0.35, iou=0.7)
    assert d.labels == ["person", "car"]
    np.testing.assert_allclose(d.xyxy[0], np.array([64, 80, 128, 240]) * 768 / 640, atol=0.01)
