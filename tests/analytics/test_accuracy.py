"""The teacher agreement measure (analytics/accuracy.py) on hand-made detections."""

from __future__ import annotations

import numpy as np

from analytics.accuracy import Agreement, agreement, total_agreement
from analytics.detections import Detections


def dets(boxes: list[list[float]], labels: list[str] | None = None, conf: list[float] | None = None) -> Detections:
    n = len(boxes)
    return Detections(np.array(boxes, np.float32).reshape(n, 4), np.array(conf or [0.9] * n, np.float32),
                      labels or ["Normal"] * n)


def test_one_to_one_at_iou_half() -> None:
    teacher = dets([[0, 0, 10, 10], [20, 0, 30, 10], [50, 50, 60, 60]])
    found = dets([[0, 0, 10, 11], [1, 0, 11, 10], [52, 50, 62, 60], [80, 80, 90, 90]])
    a = agreement(teacher, found)
    # two candidates on the first person count once; the third person shifted by 2 px (IoU 0.67) matches
    assert (a.matched, a.reference, a.found) == (2, 3, 4)
    assert a.recall == 2 / 3 and a.precision == 0.5


def test_fallen_and_standing_are_both_persons_and_empty_frames_count_as_perfect() -> None:
    assert agreement(dets([[0, 0, 10, 10]], ["Normal"]), dets([[0, 0, 10, 10]], ["Fall"])).matched == 1
    empty = agreement(Detections(), Detections())
    assert empty.recall == 1.0 and empty.precision == 1.0
    total = total_agreement([dets([[0, 0, 10, 10]]), Detections()], [Detections(), dets([[0, 0, 5, 5]])])
    assert total == Agreement(0, 1, 1) and total.recall == 0.0
    assert "recall 0.000 (0/1)" in str(total)
