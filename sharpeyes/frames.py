"""The frame that flows from ingest to analytics, and the sampling modes a camera may ask for.

Owns only the data type: nothing here opens a stream or runs a model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, cast, get_args

import numpy as np

SampleMode = Literal["auto", "fps", "keyframes"]
"""How a camera's stream is sampled: ``auto`` (keyframes only when the GOP fits the sampling interval, else every
frame decoded), ``fps`` (decode every frame, keep N per second) or ``keyframes`` (decode keyframes only)."""

ResolvedSampleMode = Literal["fps", "keyframes"]
"""What ``auto`` resolves to once the stream's keyframe interval is known."""

SAMPLE_MODES: tuple[str, ...] = get_args(SampleMode)


def as_sample_mode(value: str) -> SampleMode:
    """``value`` as a :data:`SampleMode` (stored rows are plain strings); an unknown mode falls back to ``auto``."""
    return cast(SampleMode, value) if value in SAMPLE_MODES else "auto"


@dataclass
class Frame:
    """One sampled picture of one camera."""

    camera_id: str
    image: np.ndarray  # H×W×3 BGR uint8
    captured_at: datetime  # wall clock (UTC) when the frame left ffmpeg
    seq: int
    monotonic: float = field(default_factory=time.monotonic)

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])
