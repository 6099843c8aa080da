"""``auto`` sampling over the real GStreamer RTSP server: keyframes only when the probed keyframe interval fits the
sampling interval, full decode otherwise, and never a duplicate frame either way."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ingest.demo import VTEST_AVI, RtspServer, transcode_to_h264
from ingest.sampler import FfmpegSampler, choose_mode, keyframe_window, probe_stream
from sharpeyes.frames import Frame
from sharpeyes.settings import PROJECT_ROOT

CAM = "14042900001325000009"


@pytest.fixture(scope="module")
def short_gop(vtest_clip: Path) -> Iterator[RtspServer]:
    """vtest with a keyframe every 0.5 s (GOP 5 at 10 fps) next to the session clip (every 2 s)."""
    clip = transcode_to_h264(VTEST_AVI, PROJECT_ROOT / "data" / "test-cache" / "vtest-gop5-20s.mp4", gop=5,
                             duration_s=20)
    with RtspServer({"gop2s": vtest_clip, "gop05s": clip}) as server:
        yield server


def take(sampler: FfmpegSampler, n: int) -> tuple[list[Frame], float]:
    """The first ``n`` frames and the wall time from the third to the last (a client gets a burst of the
    server's first seconds on connecting)."""
    out: list[Frame] = []
    for frame in sampler.frames():
        out.append(frame)
        if len(out) >= n:
            sampler.close()
    return out, out[-1].monotonic - out[2].monotonic


def assert_no_duplicates(frames: list[Frame]) -> None:
    for a, b in itertools.pairwise(frames):
        assert not np.array_equal(a.image, b.image), (a.seq, b.seq)


def test_choose_mode() -> None:
    assert choose_mode(2.0, fps=1.0) == "fps"  # keyframes every 2 s cannot feed 1 frame/s
    assert choose_mode(2.0, fps=0.5) == "keyframes"
    assert choose_mode(0.5, fps=1.0) == "keyframes"
    assert choose_mode(1.02, fps=1.0) == "keyframes"  # timestamp jitter
    assert choose_mode(None, fps=1.0) == "fps"  # fewer than two keyframes seen: too sparse or unknown
    assert keyframe_window(1.0) >= 2.0 and keyframe_window(0.01) == 30.0


def test_probe_measures_keyframe_interval(short_gop: RtspServer) -> None:
    assert probe_stream(short_gop.url("gop2s"), 5, keyframe_window_s=5)["keyframe_interval"] == pytest.approx(2.0)
    assert probe_stream(short_gop.url("gop05s"), 5, keyframe_window_s=3)["keyframe_interval"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("mount", "fps", "expected"),
    [("gop2s", 1.0, "fps"), ("gop2s", 0.5, "keyframes"), ("gop05s", 1.0, "keyframes")],
)
def test_auto_mode_selection(short_gop: RtspServer, mount: str, fps: float, expected: str) -> None:
    sampler = FfmpegSampler(CAM, short_gop.url(mount), fps=fps, mode="auto", timeout_s=5)
    frames, elapsed = take(sampler, 6)
    assert sampler.resolved_mode == expected, sampler.keyframe_interval
    assert len(frames) == 6
    assert_no_duplicates(frames)
    # the sampling rate holds: 3 intervals of 1/fps (live stream, so in wall time), not faster, not much slower
    # (keyframes-only decoding of the 2 s GOP at 1 fps would take 6 s)
    assert 3 / fps * 0.6 < elapsed < 3 / fps * 1.6 + 1.0, elapsed
