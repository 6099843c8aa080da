"""One ffmpeg sampler per stream (ffmpeg-python builds the command): RTSP over TCP, ``auto`` (the default),
``fps`` or ``keyframes`` mode, BGR frames as numpy arrays.

``auto`` probes the stream's keyframe interval with ffprobe at each connection and decodes keyframes only
(``-skip_frame nokey``, about a fifth of the CPU) when keyframes come at least as often as frames are sampled, else
decodes every frame.

Sampling uses ``select`` on the stream's own timestamps, passed through without frame-rate conversion, so a
frame is never emitted twice (``fps`` filter would duplicate frames when keyframes are sparser than the sampling
interval). The URL is validated before it reaches ffmpeg and is always the argument of ``-i``; a protocol
whitelist keeps ffmpeg off files and other local protocols. Camera credentials (from the vault) are injected into
the URL only in the argv of the process being spawned, and scrubbed from every message ffmpeg writes.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import ffmpeg
import numpy as np

from sharpeyes.frames import Frame, ResolvedSampleMode, SampleMode
from sharpeyes.proc import spawn, terminate
from sharpeyes.urls import Credentials, inject_credentials, redact, validate_stream_url

log = logging.getLogger(__name__)

PROTOCOL_WHITELIST = "tcp,udp,rtp,srtp,rtsp,rtsps,tls,http,https,httpproxy,crypto"


class StreamError(RuntimeError):
    """The stream could not be opened or read; the message is safe to show (no credentials)."""


def _input_options(url: str, timeout_s: float, mode: str) -> dict[str, Any]:
    scheme = urlsplit(url).scheme.lower()
    # RTSP's SDP already names the codec; a short analysis keeps the first frame fresh (default is 5 s)
    opts: dict[str, Any] = {"protocol_whitelist": PROTOCOL_WHITELIST, "analyzeduration": "1000000",
                            "probesize": "1000000"}
    if scheme in ("rtsp", "rtsps"):
        opts["rtsp_transport"] = "tcp"
        opts["timeout"] = str(int(timeout_s * 1_000_000))  # socket I/O timeout, µs
    else:
        opts["rw_timeout"] = str(int(timeout_s * 1_000_000))
    if mode == "keyframes":
        opts["skip_frame"] = "nokey"
        # at most one keyframe per sampling interval to decode: one decoder thread is plenty, and frame threading's
        # pool (cores + 1 threads per stream) cost ~10% more CPU per stream (1.14 vs 1.26 CPU-s per camera-minute,
        # 4 × 1080p25 streams at 0.5 fps on 2 cores)
        opts["threads"] = "1"
    return opts


def _secrets(credentials: Credentials | None) -> tuple[str, ...]:
    return (credentials.password.get_secret_value(),) if credentials is not None else ()


def probe_stream(url: str, timeout_s: float = 10.0, keyframe_window_s: float | None = None,
                 credentials: Credentials | None = None) -> dict[str, Any]:
    """ffprobe the first video stream: width, height, codec, avg fps. Raises :class:`StreamError`.

    With ``keyframe_window_s`` it also reads that many seconds of packets and adds ``keyframe_interval`` (median
    seconds between keyframes, None when fewer than two keyframes came in the window)."""
    validate_stream_url(url)
    args = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_streams", "-of", "json"]
    if keyframe_window_s is not None:
        args += ["-show_entries", "packet=pts_time,flags", "-read_intervals", f"%+{keyframe_window_s:g}"]
    for key, value in _input_options(url, timeout_s, "fps").items():
        args += [f"-{key}", str(value)]
    args += ["-i", inject_credentials(url, credentials)]
    limit = timeout_s + 5 + (keyframe_window_s or 0.0)
    try:
        proc = subprocess.run(args, capture_output=True, timeout=limit, check=False)
    except subprocess.TimeoutExpired:
        raise StreamError(f"no answer from stream within {limit:.0f}s") from None
    except FileNotFoundError:
        raise StreamError("ffprobe not found: install the Debian package ffmpeg") from None
    if proc.returncode != 0:
        err = redact(proc.stderr.decode(errors="replace"), *_secrets(credentials)).strip().splitlines()
        raise StreamError(f"cannot open stream: {err[-1] if err else f'ffprobe exited with {proc.returncode}'}")
    try:
        info = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise StreamError("ffprobe returned unreadable output") from None
    streams = info.get("streams") or []
    if not streams:
        raise StreamError("stream has no video track")
    v = streams[0]
    num, _, den = str(v.get("avg_frame_rate") or v.get("r_frame_rate") or "0/1").partition("/")
    fps = float(num) / float(den) if den and float(den) else 0.0
    out = {"width": int(v["width"]), "height": int(v["height"]), "codec": v.get("codec_name"), "fps": fps}
    if keyframe_window_s is not None:
        out["keyframe_interval"] = _keyframe_interval(info.get("packets") or [])
    return out


def _keyframe_interval(packets: list[dict[str, Any]]) -> float | None:
    times = sorted(
        float(p["pts_time"])
        for p in packets
        if "K" in str(p.get("flags", "")) and p.get("pts_time") not in (None, "N/A")
    )
    gaps = [b - a for a, b in itertools.pairwise(times) if b > a]
    return float(statistics.median(gaps)) if gaps else None


def keyframe_window(fps: float) -> float:
    """Seconds of packets to read to see two keyframes whenever the keyframe interval fits the sampling interval."""
    return min(max(2.5 / fps, 3.0), 30.0)


def choose_mode(keyframe_interval: float | None, fps: float, tolerance: float = 0.05) -> ResolvedSampleMode:
    """``auto`` mode: keyframes only when they come at least as often as frames are sampled (else decoding only
    keyframes would sample too slowly), full decode otherwise."""
    if keyframe_interval is not None and keyframe_interval <= (1.0 / fps) * (1.0 + tolerance):
        return "keyframes"
    return "fps"


def build_command(url: str, *, fps: float, mode: ResolvedSampleMode, timeout_s: float,
                  ffmpeg_bin: str = "ffmpeg", credentials: Credentials | None = None) -> list[str]:
    """The ffmpeg argv for sampling ``url`` (validated here, credentials injected after validation)."""
    validate_stream_url(url)
    interval = 1.0 / fps
    # keep a frame when none was kept yet or at least `interval` seconds of stream time passed since the last
    select = f"isnan(prev_selected_t)+gte(t-prev_selected_t,{interval:.6f})"
    stream = (
        ffmpeg.input(inject_credentials(url, credentials), **_input_options(url, timeout_s, mode))
        .video.filter("select", select)
        .output("pipe:", format="rawvideo", pix_fmt="bgr24", fps_mode="passthrough")
        .global_args("-hide_banner", "-nostdin", "-loglevel", "error")
    )
    return list(stream.compile(cmd=ffmpeg_bin))


class FfmpegSampler:
    """Runs one ffmpeg process and yields frames from its stdout until it ends or :meth:`close` is called."""

    def __init__(self, camera_id: str, url: str, *, fps: float = 1.0,
                 mode: SampleMode = "fps", timeout_s: float = 10.0,
                 stall_timeout_s: float = 15.0, credentials: Credentials | None = None) -> None:
        validate_stream_url(url)
        self.credentials = credentials
        self.camera_id = camera_id
        self.url = url
        self.fps = fps
        self.mode = mode
        self.timeout_s = timeout_s
        self.stall_timeout_s = stall_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._last_frame = time.monotonic()
        self._closed = threading.Event()
        self.seq = 0
        self.resolved_mode: ResolvedSampleMode | None = None if mode == "auto" else mode
        self.keyframe_interval: float | None = None

    def frames(self) -> Iterator[Frame]:
        """Probe, start ffmpeg and yield frames. Raises :class:`StreamError` when the stream fails."""
        if self.mode == "auto":
            info = probe_stream(self.url, self.timeout_s, keyframe_window_s=keyframe_window(self.fps),
                                credentials=self.credentials)
            self.keyframe_interval = info["keyframe_interval"]
            self.resolved_mode = choose_mode(self.keyframe_interval, self.fps)
            log.info("camera %s: keyframe interval %s s, sampling every %.2f s: %s mode", self.camera_id,
                     "unknown" if self.keyframe_interval is None else f"{self.keyframe_interval:.2f}",
                     1.0 / self.fps, self.resolved_mode)
        else:
            info = probe_stream(self.url, self.timeout_s, credentials=self.credentials)
            self.resolved_mode = self.mode
        width, height = info["width"], info["height"]
        frame_bytes = width * height * 3
        cmd = build_command(self.url, fps=self.fps, mode=self.resolved_mode, timeout_s=self.timeout_s,
                            credentials=self.credentials)
        self.proc = spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=frame_bytes)
        threading.Thread(target=self._drain_stderr, name=f"ffmpeg-stderr-{self.camera_id}", daemon=True).start()
        self._last_frame = time.monotonic()
        threading.Thread(target=self._watchdog, name=f"ffmpeg-watchdog-{self.camera_id}", daemon=True).start()
        assert self.proc.stdout is not None
        try:
            while not self._closed.is_set():
                buf = self.proc.stdout.read(frame_bytes)
                if len(buf) < frame_bytes:
                    break
                self._last_frame = time.monotonic()
                self.seq += 1
                image = np.frombuffer(buf, np.uint8).reshape(height, width, 3)
                yield Frame(self.camera_id, image, datetime.now(UTC), self.seq)
        finally:
            user_closed = self._closed.is_set()
            self.close()
        if user_closed:
            return
        if self._stalled:
            raise StreamError(f"no frame for {self.stall_timeout_s:.0f}s")
        reason = self.stderr_tail[-1] if self.stderr_tail else f"ffmpeg exited with {self.proc.returncode}"
        raise StreamError(f"stream ended: {reason}")

    _stalled = False

    def _watchdog(self) -> None:
        while not self._closed.wait(1.0):
            if time.monotonic() - self._last_frame > self.stall_timeout_s:
                log.warning("camera %s: no frame for %.0fs, restarting ffmpeg", self.camera_id, self.stall_timeout_s)
                self._stalled = True
                terminate(self.proc, timeout=2)
                return

    def _drain_stderr(self) -> None:
        proc = self.proc
        if proc is None or proc.stderr is None:
            return
        for raw in proc.stderr:
            line = redact(raw.decode(errors="replace"), *_secrets(self.credentials)).strip()
            if line:
                self.stderr_tail.append(line)
                log.debug("ffmpeg[%s]: %s", self.camera_id, line)

    def close(self) -> None:
        self._closed.set()
        terminate(self.proc, timeout=3)
