"""How well one detector configuration agrees with a reference (the *teacher*) on the same frames.

Owns the measure used by ``bench/detect.py``, ``bench/pipeline.py`` and the tests to decide whether a faster
configuration (INT8, asynchronous, motion-region crops, a smaller input) may become a default: the teacher's
persons (by default the FP32 PyTorch model at 640) are matched one to one with the candidate's persons at IoU ≥ 0.5,
greedily by the teacher's confidence; recall = matched / teacher persons, precision = matched / candidate
persons. Labels are compared by canonical class (``person``), so a standing/fallen disagreement still matches.
Pure computation: no models, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from analytics.detections import Detections
from analytics.tracker import iou_matrix

MAX_RECALL_LOSS = 0.05
"""A configuration that loses more recall than this against the teacher is not a default."""


@dataclass(frozen=True)
class Agreement:
    matched: int
    reference: int  # the teacher's objects
    found: int  # the candidate's objects

    @property
    def recall(self) -> float:
        return self.matched / self.reference if self.reference else 1.0

    @property
    def precision(self) -> float:
        return self.matched / self.found if self.found else 1.0

    def __add__(self, other: Agreement) -> Agreement:
        return Agreement(self.matched + other.matched, self.reference + other.reference, self.found + other.found)

    def __str__(self) -> str:
        return (f"recall {self.recall:.3f} ({self.matched}/{self.reference}), precision {self.precision:.3f} "
                f"({self.matched}/{self.found})")


def agreement(teacher: Detections, found: Detections, *, iou: float = 0.5, cls: str = "person") -> Agreement:
    """One frame: the teacher's ``cls`` objects matched one to one with the candidate's at IoU ≥ ``iou``."""
    t, f = teacher.of_classes({cls}), found.of_classes({cls})
    matched = 0
    if len(t) and len(f):
        ious = iou_matrix(t.xyxy, f.xyxy)
        taken = np.zeros(len(f), dtype=bool)
        for i in np.argsort(-t.confidence, kind="stable"):
            row = np.where(taken, -1.0, ious[i])
            j = int(row.argmax())
            if row[j] >= iou:
                taken[j] = True
                matched += 1
    return Agreement(matched, len(t), len(f))


def total_agreement(teacher: Iterable[Detections], found: Iterable[Detections], *, iou: float = 0.5,
                    cls: str = "person") -> Agreement:
    """Frame by frame over two equally long sequences, summed."""
    out = Agreement(0, 0, 0)
    for t, f in zip(teacher, found, strict=True):
        out = out + agreement(t, f, iou=iou, cls=cls)
    return out
