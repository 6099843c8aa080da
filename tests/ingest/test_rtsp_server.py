# SPDX-License-Identifier: AGPL-3.0-or-later
"""The RTSP test server (ingest/demo_rtsp_server.py) driven through ingest.demo, checked with ffmpeg.

Without vtest.avi, ffmpeg or GStreamer's RTSP server these tests fail (the ``media_tools`` fixture says what to
install), like every other stream test: ``make test`` installs them."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ingest.demo import SERVER_SCRIPT, VTEST_AVI, RtspServer, transcode_to_h264
from sharpeyes.proc import free_port

_FRAME_RE = re.compile(r"frame=\s*(\d+)")


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory, media_tools: None) -> Path:
    return tmp_path_factory.mktemp("rtsp_media")


@pytest.fixture(scope="session")
def vtest_mp4(media_dir: Path) -> Path:
    # 20 s is plenty for these tests and keeps the transcode cheap on a 2-core box.
    return transcode_to_h264(VTEST_AVI, media_dir / "vtest_20s.mp4", duration_s=20)


@pytest.fixture(scope="session")
def clip4_mp4(media_dir: Path) -> Path:
    return transcode_to_h264(VTEST_AVI, media_dir / "vtest_4s.mp4", duration_s=4)


@pytest.fixture(scope="module")
def server(vtest_mp4: Path, clip4_mp4: Path) -> Iterator[RtspServer]:
    with RtspServer({"cam1": vtest_mp4, "cam2": vtest_mp4, "short": clip4_mp4}) as srv:
        yield srv


def _ffprobe(url: str) -> dict[str, object]:
    cmd = [
        "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-timeout", "10000000",
        "-analyzeduration", "1000000",
        "-select_streams", "v:0", "-show_entries", "stream=codec_name,width,height", "-of", "json", url,
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    streams = json.loads(proc.stdout)["streams"]
    assert streams, proc.stdout
    stream: dict[str, object] = streams[0]
    return stream


def _read(url: str, seconds: float) -> tuple[int, float, str]:
    """Read ``seconds`` of stream time over TCP; return (frames decoded, wall seconds, stderr)."""
    cmd = [
        "ffmpeg", "-nostdin", "-hide_banner", "-rtsp_transport", "tcp", "-timeout", "10000000",
        "-i", url, "-t", f"{seconds:g}", "-f", "null", "-",
    ]  # fmt: skip
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30, check=False)
    wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-2000:]
    counts = _FRAME_RE.findall(proc.stderr)
    assert counts, proc.stderr[-2000:]
    return int(counts[-1]), wall, proc.stderr


def test_transcode_is_cached(vtest_mp4: Path) -> None:
    mtime = vtest_mp4.stat().st_mtime_ns
    assert transcode_to_h264(VTEST_AVI, vtest_mp4, duration_s=20) == vtest_mp4
    assert vtest_mp4.stat().st_mtime_ns == mtime
    assert not list(vtest_mp4.parent.glob(".*.tmp"))


def test_serves_h264_over_tcp(server: RtspServer) -> None:
    info = _ffprobe(server.url("cam1"))
    assert (info["codec_name"], info["width"], info["height"]) == ("h264", 768, 576)


def test_two_mounts_in_parallel_at_real_time(server: RtspServer) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda name: _read(server.url(name), 3), ["cam1", "cam2"]))
    for frames, wall, _ in results:
        assert frames >= 25, results  # 10 fps x 3 s
        assert wall >= 2.0, f"stream not paced at real time: {frames} frames in {wall:.1f} s"


def test_loops_past_end_of_file(server: RtspServer) -> None:
    frames, wall, _ = _read(server.url("short"), 10)  # a 4 s clip, read for 10 s
    assert frames >= 80, f"only {frames} frames from a looped 10 fps stream in 10 s"
    assert wall >= 7.0


def test_stop_then_start_on_same_port(clip4_mp4: Path) -> None:
    srv = RtspServer({"a": clip4_mp4}, port=free_port())
    try:
        srv.start()
        port, url = srv.port, srv.url("a")
        assert _ffprobe(url)["codec_name"] == "h264"
        srv.stop()
        assert not srv.running
        srv.start()
        assert srv.port == port
        assert _ffprobe(srv.url("a"))["codec_name"] == "h264"
    finally:
        srv.stop()
    assert not srv.running


def test_start_failure_is_reported(tmp_path: Path, media_tools: None) -> None:
    srv = RtspServer({"missing": tmp_path / "nope.mp4"})
    with pytest.raises(RuntimeError, match="file not found"):
        srv.start()
    assert not srv.running


def test_server_script_is_standalone() -> None:
    # Must run under Debian's python with nothing from the project importable.
    source = SERVER_SCRIPT.read_text()
    project = r"(ingest|sharpeyes|registry|analytics|events|api)\b"
    assert not re.search(r"^\s*(from|import)\s+" + project, source, re.M)
