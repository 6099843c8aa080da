"""The models folder: the default model and the operator's imported ones, by name.

An operator's ultralytics detection checkpoint (a COCO ``yolo11n.pt``, a vehicle model…) becomes selectable with one
command, ``sharpeyes model import FILE [--name NAME]``: the file is checked (it loads offline, is a detection model,
has class names), copied to ``<models>/imported/<name>.pt`` and exported to the fastest backend present. A camera
then names it in its YAML (``detector_model: NAME``); cameras that name none use the hub's default
(``detector.model``). What a model's classes mean (which are persons, which persons on the ground) is read from
its names (:func:`~analytics.detector.labels_of`) and listed with it. Nothing here downloads anything, and
nothing here touches frames, Redis or SQL.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import shutil
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from analytics.calibration import CalibrationError
from analytics.detector import (
    DEFAULT_MODEL,
    ModelError,
    artifacts,
    configure_offline,
    export_model,
    imported_model_path,
    labels_of,
    model_names,
    model_source,
    planned_runtime,
)
from analytics.labels import ModelLabels
from sharpeyes.settings import DetectorSettings

log = logging.getLogger(__name__)

MODEL_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

# what a file that is not a loadable ultralytics checkpoint raises inside torch.load / ultralytics
_LOAD_ERRORS = (RuntimeError, ValueError, KeyError, TypeError, AttributeError, EOFError, ImportError,
                pickle.UnpicklingError, zipfile.BadZipFile, OSError, IndexError)


@dataclass(frozen=True)
class ModelInfo:
    """One model the hub can load."""

    name: str
    source: Path  # the .pt it was made from
    classes: list[str]
    exported: list[str]  # exports at the configured input size: openvino, openvino-int8, onnx
    default: bool  # the hub's default (detector.model)
    labels: ModelLabels  # what its classes mean (persons, persons on the ground)
    runtime: str = ""  # how the detector would run it: "openvino int8 async"


def name_from_file(path: Path) -> str:
    """A model name from a file name: ``YOLO11n.pt`` → ``yolo11n``."""
    name = re.sub(r"[^a-z0-9._-]+", "-", path.stem.lower()).strip("-._")
    return name[:64] or "model"


def _check_checkpoint(path: Path, config_dir: Path) -> list[str]:
    """Load ``path`` offline as an ultralytics model; its class names, or a :class:`ModelError` saying why not."""
    configure_offline(config_dir)
    from ultralytics import YOLO

    try:
        model = YOLO(str(path))
        task = getattr(model, "task", None)
        names = dict(model.names or {})
    except _LOAD_ERRORS as exc:
        raise ModelError(f"{path} is not a loadable ultralytics model ({type(exc).__name__}: {exc})") from None
    if task != "detect":
        raise ModelError(f"{path} is an ultralytics {task!r} model; the hub needs a detection ('detect') model")
    if not names:
        raise ModelError(f"{path} has no class names")
    return [str(names[k]) for k in sorted(names)]


def import_model(path: Path, model_dir: Path, detector: DetectorSettings, *, name: str | None = None,
                 force: bool = False, formats: list[str] | None = None, int8: bool = False,
                 calibration: Path | None = None) -> ModelInfo:
    """Check, copy and export an operator's ultralytics ``.pt`` under ``name`` (default: from the file name).

    Refuses a file that does not load as a detection model, a name that is taken (unless ``force``), and the
    reserved name of the default model. With ``int8`` the OpenVINO export is also quantised to INT8, calibrated on
    ``calibration`` (default: the demo footage). On any failure nothing is left in the models folder."""
    path = path.expanduser()
    if not path.is_file():
        raise ModelError(f"model file {path} not found")
    if path.suffix != ".pt":
        raise ModelError(f"model file {path} must be an ultralytics .pt checkpoint")
    name = name or name_from_file(path)
    if not MODEL_NAME_RE.fullmatch(name) or name.endswith(".pt"):
        raise ModelError(f"model name {name!r}: use 1-64 lower-case letters, digits, '.', '_' or '-' "
                         "(not ending in .pt)")
    if name == DEFAULT_MODEL:
        raise ModelError(f"model name {name!r} is reserved for the default model; choose another with --name")
    dest = imported_model_path(model_dir, name)
    if dest.exists() and not force:
        raise ModelError(f"a model named {name!r} is already imported ({dest}); --force replaces it")
    classes = _check_checkpoint(path, model_dir.parent / "ultralytics")

    settings = detector.model_copy(update={"model": name})
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.tmp-{os.getpid()}")
    shutil.copyfile(path, tmp)
    os.replace(tmp, dest)
    arts = artifacts(settings, model_dir)
    _remove(arts.values())  # exports of a model this one replaces are stale
    try:
        done = export_model(settings, model_dir, formats, int8=int8, calibration=calibration)
    except (ModelError, CalibrationError, *_LOAD_ERRORS) as exc:
        _remove([dest, *arts.values()])
        raise ModelError(f"{path}: export failed, nothing imported ({type(exc).__name__}: {exc})") from None
    log.info("model %s imported from %s: %d classes, exported to %s", name, path, len(classes), sorted(done))
    return ModelInfo(name, dest, classes, sorted(b for b in done if b != "pytorch"), name == detector.model,
                     labels_of(name, classes))


def _remove(paths: Iterable[Path]) -> None:
    for p in paths:
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def list_models(model_dir: Path, detector: DetectorSettings) -> list[ModelInfo]:
    """The default model and every imported one, with their classes and exports at the configured input size."""
    names = [DEFAULT_MODEL, *sorted(p.stem for p in (model_dir / "imported").glob("*.pt"))]
    if detector.model not in names:  # a path given in detector.model
        names.insert(0, detector.model)
    out = []
    for name in names:
        settings = detector.model_copy(update={"model": name})
        try:
            arts = artifacts(settings, model_dir)
            by_id = model_names(settings, model_dir)
            classes = [by_id[k] for k in sorted(by_id)]
            stem, source = model_source(settings, model_dir)
        except ModelError as exc:
            log.warning("model %s: %s", name, exc)
            continue
        exported = [b for b in ("openvino", "openvino-int8", "onnx") if arts[b].exists()]
        try:
            runtime = " ".join(planned_runtime(settings, model_dir))
        except ModelError as exc:
            runtime = f"not loadable: {exc}"
        out.append(ModelInfo(name, source, classes, exported, name == detector.model, labels_of(stem, classes),
                             runtime))
    return out
