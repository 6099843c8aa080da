"""The media tools the stream tests need (opencv-doc's vtest.avi, ffmpeg/ffprobe, GStreamer's RTSP server under
Debian's python), checked once: a missing one fails the tests that need it with a message saying what to install
(``make test`` installs them all through ``scripts/setup-system.sh``). Never a skip.

Owns only the check; must not install anything.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from ingest.demo import GST_PYTHON, VTEST_AVI

_GST_PROBE = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"


@functools.cache
def missing_media_tools() -> tuple[str, ...]:
    """What is missing, one entry a tool, naming the Debian package that provides it; empty when all are there."""
    missing = []
    if not VTEST_AVI.is_file():
        missing.append(f"{VTEST_AVI} (Debian package opencv-doc)")
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            missing.append(f"{tool} on PATH (Debian package ffmpeg)")
    if not Path(GST_PYTHON).exists():
        missing.append(f"{GST_PYTHON} (Debian package python3)")
    elif subprocess.run([GST_PYTHON, "-c", _GST_PROBE], capture_output=True, check=False).returncode != 0:
        missing.append(f"GStreamer RTSP server bindings for {GST_PYTHON} (Debian packages python3-gi "
                       "gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-{base,good,bad,ugly})")
    return tuple(missing)


def require_media_tools() -> None:
    """Fail the calling test (or fixture) when a media tool is missing, naming each missing one."""
    missing = missing_media_tools()
    if missing:
        pytest.fail("the stream tests need: " + "; ".join(missing) + " (`make test` installs them)", pytrace=False)


def vtest_frames(count: int | None, every: int = 10) -> list[np.ndarray]:
    """``count`` BGR frames of vtest.avi (None: to the end), one every ``every`` frames from the start (1 s of
    footage apart at the default)."""
    require_media_tools()
    cap = cv2.VideoCapture(str(VTEST_AVI))
    out, i = [], 0
    try:
        while count is None or len(out) < count:
            ok, frame = cap.read()
            if not ok and count is None:
                break
            assert ok, f"{VTEST_AVI} has fewer than {count * every} frames"
            if i % every == 0:
                out.append(frame)
            i += 1
    finally:
        cap.release()
    return out
