"""The one currency of analytics: :class:`Detections`, flowing detector → tracker → rules → event objects.

Adapters at the edges convert from ultralytics results (:func:`from_ultralytics`) and to event objects
(:meth:`Detections.to_event_objects`). Labels are the model's own class names; what they mean (which is a person,
which a person on the ground) is the :class:`~analytics.labels.ModelLabels` the detections carry, that of the
model that produced them. Must not load models nor apply rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analytics.labels import DEFAULT_MODEL_LABELS, ModelLabels
from sharpeyes.schema import EventObject


def canonical_class(label: str, model_labels: ModelLabels = DEFAULT_MODEL_LABELS) -> str:
    """The canonical class of a model label (``person`` for each of the model's person labels, else the label)."""
    return model_labels.canonical(label)


@dataclass
class Detections:
    xyxy: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))  # N×4 pixels
    confidence: np.ndarray = field(default_factory=lambda: np.zeros((0,), np.float32))
    labels: list[str] = field(default_factory=list)  # model class names
    tracker_id: np.ndarray | None = None  # N, int; None before tracking
    model_labels: ModelLabels = DEFAULT_MODEL_LABELS  # what the labels mean: the producing model's

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if len(self.confidence) != n or len(self.labels) != n:
            raise ValueError("Detections arrays must have the same length")
        if self.tracker_id is not None and len(self.tracker_id) != n:
            raise ValueError("tracker_id length must match")

    def __len__(self) -> int:
        return len(self.xyxy)

    @property
    def classes(self) -> list[str]:
        return [self.model_labels.canonical(lbl) for lbl in self.labels]

    def __getitem__(self, mask: np.ndarray | list[bool]) -> Detections:
        m = np.asarray(mask, dtype=bool)
        return Detections(
            self.xyxy[m],
            self.confidence[m],
            [lbl for lbl, keep in zip(self.labels, m, strict=True) if keep],
            None if self.tracker_id is None else self.tracker_id[m],
            self.model_labels,
        )

    def of_classes(self, classes: set[str] | list[str]) -> Detections:
        wanted = set(classes)
        return self[np.array([c in wanted for c in self.classes], dtype=bool)]

    def anchors(self) -> np.ndarray:
        """Bottom-centre of each box (where the object touches the ground), N×2 pixels."""
        if not len(self):
            return np.zeros((0, 2), np.float32)
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)

    def to_event_objects(self) -> list[EventObject]:
        out = []
        for i in range(len(self)):
            out.append(
                EventObject(
                    cls=self.classes[i],
                    confidence=round(float(self.confidence[i]), 3),
                    box=[round(float(v), 1) for v in self.xyxy[i]],
                    track_id=None if self.tracker_id is None else int(self.tracker_id[i]),
                )
            )
        return out


def from_ultralytics(result: Any, model_labels: ModelLabels | None = None) -> Detections:
    """Adapter: one ``ultralytics.engine.results.Results`` → :class:`Detections` carrying ``model_labels`` (the
    detector's; unset: derived from the result's class names)."""
    names = result.names
    meaning = model_labels if model_labels is not None else ModelLabels.from_names(map(str, dict(names).values()))
    boxes = result.boxes
    if boxes is None or len(boxes) == 0:
        return Detections(model_labels=meaning)
    xyxy = boxes.xyxy.cpu().numpy().astype(np.float32)
    conf = boxes.conf.cpu().numpy().astype(np.float32)
    cls = boxes.cls.cpu().numpy().astype(int)
    return Detections(xyxy, conf, [str(names[int(c)]) for c in cls], model_labels=meaning)
