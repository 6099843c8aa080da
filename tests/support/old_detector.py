"""The detector path before analytics/openvino_engine.py — ultralytics' predictor on the FP32 OpenVINO export — kept
as the baseline ``bench/detect.py`` and ``bench/pipeline.py`` measure the hub's own engine against ("today")."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analytics.detections import Detections, from_ultralytics
from analytics.detector import Detector, artifacts
from sharpeyes.settings import DetectorSettings


class UltralyticsOpenVino:
    """``detect_batch``/``describe`` like :class:`~analytics.detector.Detector`, through ultralytics' predictor."""

    def __init__(self, ds: DetectorSettings, model_dir: Path) -> None:
        from ultralytics import YOLO

        self.det = Detector(ds.model_copy(update={"backend": "pytorch"}), model_dir)  # names and labels
        self.model = YOLO(str(artifacts(ds, model_dir)["openvino"]), task="detect")
        self.model.predict(np.zeros((576, 768, 3), np.uint8), imgsz=ds.imgsz, verbose=False)
        self.backend, self.settings = "openvino (ultralytics predict, fp32)", ds

    cuts_regions = False  # ultralytics' predictor: whole frames

    def detect_batch(self, images: list[np.ndarray], regions: object = None) -> list[Detections]:
        ds = self.settings
        results = self.model.predict(images, imgsz=ds.imgsz, conf=ds.confidence, iou=ds.iou, device="cpu",
                                     verbose=False)
        return [from_ultralytics(r, self.det.labels) for r in results]

    def describe(self) -> dict[str, object]:
        return {"backend": self.backend, "precision": "fp32", "execution": "default", "mode": "sync", "requests": 1,
                "imgsz": self.settings.imgsz}
