"""Hand-made detection sequences for the rule tests: a 1000×1000 px frame, zones and lines in normalised
coordinates, boxes placed by their bottom centre (the anchor the rules test), and helpers that feed
``(t, detections)`` frames to a rule and collect the incident changes it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from analytics.detections import Detections
from analytics.labels import DEFAULT_MODEL_LABELS, ModelLabels
from analytics.rules import Incident, Rule

W = H = 1000
SQUARE = [[0.2, 0.2], [0.6, 0.2], [0.6, 0.6], [0.2, 0.6]]  # 200..600 px both ways
BOTTOM_HALF = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]
# vertical line x = 500 from y = 200 to 800, drawn top → bottom: side a is screen-right, side b screen-left
VLINE = [[0.5, 0.2], [0.5, 0.8]]
WALL = datetime(2026, 3, 4, 4, 0, tzinfo=UTC)  # 12:00 in Asia/Shanghai, a Wednesday
Box = tuple[float, float, float, float]


def dets(boxes: Sequence[Box], ids: Sequence[int] | None = None, labels: Sequence[str] | None = None,
         model: ModelLabels = DEFAULT_MODEL_LABELS) -> Detections:
    """Detections of ``boxes`` with track ``ids`` (None: untracked), labels (default ``person``) of ``model``."""
    n = len(boxes)
    return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.full(n, 0.8, np.float32),
                      list(labels) if labels is not None else ["person"] * n,
                      None if ids is None else np.asarray(ids, np.int64), model)


def at(x: float, y: float, w: float = 60, h: float = 160) -> Box:
    """A box whose bottom centre (anchor) is at (x, y) px."""
    return (x - w / 2, y - h, x + w / 2, y)


def changes(rule: Rule, frames: Iterable[tuple[float, Detections]],
            wall: datetime = WALL) -> list[tuple[float, Incident]]:
    """Feed (t, detections) frames seen at ``wall`` + t; return every (t, incident change) produced."""
    return [(t, inc) for t, d in frames for inc in rule.update(d, t, W, H, wall + timedelta(seconds=t))]


def statuses(rule: Rule, frames: Iterable[tuple[float, Detections]], wall: datetime = WALL) -> list[tuple[float, str]]:
    return [(t, inc.status) for t, inc in changes(rule, frames, wall)]


def run(rule: Rule, frames: Iterable[tuple[float, Detections]]) -> list[tuple[float, Incident]]:
    """Feed (t, detections) frames; return every (t, incident) that started."""
    return [(t, inc) for t, inc in changes(rule, frames) if inc.status == "started"]


def fired_at(rule: Rule, frames: Iterable[tuple[float, Detections]]) -> list[float]:
    return [t for t, _ in run(rule, frames)]
