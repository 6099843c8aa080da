"""Ingest over a real GStreamer RTSP server and real ffmpeg: frames, keyframe mode, offline → online."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ingest.demo import RtspServer
from ingest.sampler import FfmpegSampler, StreamError, build_command, probe_stream
from ingest.worker import CameraIngest, StateNotRecorded
from sharpeyes.frames import Frame
from sharpeyes.schema import Event, EventType
from sharpeyes.settings import IngestSettings
from tests.support.wait import wait_until

CAM = "14042900001325000009"


@pytest.fixture()
def own_rtsp(vtest_clip: Path) -> Iterator[RtspServer]:
    """A server this test may stop and restart."""
    with RtspServer({"cam": vtest_clip}) as server:
        yield server


def take(sampler: FfmpegSampler, n: int) -> list[Frame]:
    out = []
    for frame in sampler.frames():
        out.append(frame)
        if len(out) >= n:
            sampler.close()
    return out


def test_probe_reads_h264_dimensions(rtsp: RtspServer) -> None:
    info = probe_stream(rtsp.url("cam1"))
    assert (info["codec"], info["width"], info["height"]) == ("h264", 768, 576)


def test_fps_mode_frames_are_bgr_arrays(rtsp: RtspServer) -> None:
    frames = take(FfmpegSampler(CAM, rtsp.url("cam1"), fps=2, mode="fps"), 4)
    assert [f.seq for f in frames] == [1, 2, 3, 4]
    assert all(f.image.shape == (576, 768, 3) and f.image.dtype == np.uint8 for f in frames)
    assert frames[-1].image.std() > 10  # real picture, not a blank buffer


def test_keyframes_mode_never_duplicates(rtsp: RtspServer) -> None:
    # the clip has a keyframe every 2 s; asking for 2 fps must not repeat keyframes to fill the rate
    frames = take(FfmpegSampler(CAM, rtsp.url("cam2"), fps=2, mode="keyframes"), 3)
    assert len(frames) == 3
    for a, b in itertools.pairwise(frames):
        assert not np.array_equal(a.image, b.image)


def test_command_keeps_url_as_input_and_whitelists_protocols() -> None:
    cmd = build_command("rtsp://127.0.0.1:1/x", fps=1, mode="fps", timeout_s=5)
    assert cmd[cmd.index("-i") + 1] == "rtsp://127.0.0.1:1/x"
    assert "-protocol_whitelist" in cmd and "file" not in cmd[cmd.index("-protocol_whitelist") + 1].split(",")
    with pytest.raises(ValueError):
        build_command("-i /etc/passwd", fps=1, mode="fps", timeout_s=5)


def test_unreachable_stream_is_a_clear_error() -> None:
    from sharpeyes.proc import free_port

    with pytest.raises(StreamError, match="cannot open stream"):
        list(FfmpegSampler(CAM, f"rtsp://127.0.0.1:{free_port()}/none", timeout_s=2).frames())


def test_offline_then_online(own_rtsp: RtspServer) -> None:
    frames: list[Frame] = []
    events: list[Event] = []
    states: list[str] = []
    lock = threading.Lock()

    def on_frame(f: Frame) -> None:
        with lock:
            frames.append(f)

    worker = CameraIngest(
        camera_id=CAM, camera_name="test", civil_codes=["140429", "140429100"], url=own_rtsp.url("cam"), fps=2,
        mode="fps",
        settings=IngestSettings(connect_timeout_s=3, stall_timeout_s=5, backoff_initial_s=0.3, backoff_max_s=1.0),
        on_frame=on_frame, on_event=events.append, on_state=lambda _c, s, _r: states.append(s),
    )
    worker.start()
    try:
        assert wait_until(lambda: len(frames) >= 2, 30), "no frames from a live stream"
        assert worker.state == "online" and events == []  # first connection is not news

        own_rtsp.stop()
        assert wait_until(lambda: any(e.type == EventType.CAMERA_OFFLINE for e in events), 30), worker.status()
        offline = next(e for e in events if e.type == EventType.CAMERA_OFFLINE)
        assert offline.camera_id == CAM and offline.civil_codes == ["140429", "140429100"]
        assert worker.state == "offline"
        with lock:
            seen = len(frames)

        own_rtsp.start()
        assert wait_until(lambda: any(e.type == EventType.CAMERA_ONLINE for e in events), 30), worker.status()
        assert wait_until(lambda: len(frames) > seen + 1, 30), "frames did not resume"
        assert [e.type for e in events] == [EventType.CAMERA_OFFLINE, EventType.CAMERA_ONLINE]
        assert states == ["online", "offline", "online"]
    finally:
        worker.stop()
    assert not worker.alive
    assert worker._sampler is None or worker._sampler.proc is None or worker._sampler.proc.poll() is not None


def test_a_state_change_not_recorded_is_reported_again_later() -> None:
    """``on_state`` refusing a change (the ledger could not take it) leaves the worker in its previous state, with
    no event; the change is reported again once ``state_retry_s`` has passed, and then the event comes."""
    events: list[Event] = []
    calls: list[str] = []

    def on_state(_camera: str, state: str, _reason: str) -> None:
        calls.append(state)
        if len(calls) == 1:
            raise StateNotRecorded("database is locked")

    worker = CameraIngest(
        camera_id=CAM, camera_name="test", civil_codes=["140429"], url="rtsp://127.0.0.1:1/none", fps=1,
        mode="fps", settings=IngestSettings(), on_frame=lambda _f: None, on_event=events.append, on_state=on_state,
        initial_state="online",
    )
    worker._set_state("offline", "stream closed")
    assert (worker.state, events, calls) == ("online", [], ["offline"])
    worker._set_state("offline", "stream closed")  # within state_retry_s: not tried again
    assert calls == ["offline"]
    worker.state_retry_s, worker._retry_state_at = 0.0, 0.0
    worker._set_state("offline", "stream closed")
    assert (worker.state, calls) == ("offline", ["offline", "offline"])
    assert [e.type for e in events] == [EventType.CAMERA_OFFLINE]
