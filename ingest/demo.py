# SPDX-License-Identifier: AGPL-3.0-or-later
"""The demo cameras of ``sharpeyes run --demo`` (also used by tests and benchmarks): footage and a local RTSP server.

* :func:`transcode_to_h264` turns any video into an H.264 MP4 (no B-frames, fixed GOP)
  that ``ingest/demo_rtsp_server.py`` can loop without re-encoding.
* :class:`RtspServer` runs ``ingest/demo_rtsp_server.py`` as a child process under
  Debian's ``/usr/bin/python3`` (the only interpreter with the GStreamer bindings)
  and serves those files as fake cameras at ``rtsp://HOST:PORT/NAME``.

Needs ``ffmpeg``/``ffprobe`` on PATH and the Debian packages
``python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-{base,good,bad}``.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from sharpeyes.proc import free_port

logger = logging.getLogger(__name__)

VTEST_AVI = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
"""Public-domain pedestrian footage shipped by Debian's opencv-doc: 768x576, 10 fps, ~80 s."""

GST_PYTHON = "/usr/bin/python3"
"""Interpreter that has the GStreamer GObject-introspection bindings (Debian's python3-gi)."""

SERVER_SCRIPT = Path(__file__).resolve().with_name("demo_rtsp_server.py")

_DEFAULT_GOP = 20
_STDERR_TAIL_LINES = 40


def _probe_fps(src: Path) -> float | None:
    """Frame rate of the first video stream of ``src`` per ffprobe, or None if unknown."""
    cmd = [
        "ffprobe",
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=avg_frame_rate,r_frame_rate",
        "-of",
        "json",
        str(src),
    ]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=True).stdout
        streams = json.loads(out).get("streams") or []
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        logger.warning("ffprobe of %s failed: %s", src, exc)
        return None
    if not streams:
        return None
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = str(streams[0].get(key, "")).partition("/")
        try:
            fps = float(num) / float(den or 1)
        except (ValueError, ZeroDivisionError):
            continue
        if fps > 0:
            return fps
    return None


def transcode_to_h264(
    src: Path,
    dst: Path,
    *,
    fps: int | None = None,
    gop: int | None = None,
    width: int | None = None,
    height: int | None = None,
    duration_s: float | None = None,
) -> Path:
    """Transcode ``src`` to an H.264 MP4 at ``dst`` suitable for ``demo_rtsp_server.py``.

    libx264 ``veryfast``, no B-frames, yuv420p, a key frame every ``gop`` frames
    (default: two seconds' worth, 20 when the rate is unknown), no audio.
    ``fps`` resamples the frame rate, ``width``/``height`` scale (give one to keep
    the aspect ratio), ``duration_s`` keeps only the beginning.

    Does nothing if ``dst`` already exists and is newer than ``src`` (note: the
    parameters are not part of that check; use distinct names for distinct
    variants).  Writes to a temporary file and renames it, so ``dst`` is never
    left half-written.  Raises FileNotFoundError if ``src`` is missing and
    RuntimeError if ffmpeg fails.
    """
    src = Path(src)
    dst = Path(dst)
    if not src.is_file():
        raise FileNotFoundError(f"source video not found: {src}")
    if dst.is_file() and dst.stat().st_mtime >= src.stat().st_mtime:
        logger.debug("transcode: %s is up to date", dst)
        return dst
    if gop is None:
        rate = float(fps) if fps else _probe_fps(src)
        gop = max(1, round(2 * rate)) if rate else _DEFAULT_GOP
    if gop < 1:
        raise ValueError(f"gop must be >= 1, got {gop}")

    cmd: list[str] = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src)]
    if duration_s is not None:
        cmd += ["-t", f"{duration_s:g}"]
    filters: list[str] = []
    if fps is not None:
        filters.append(f"fps={fps}")
    if width is not None or height is not None:
        filters.append(f"scale={width if width is not None else -2}:{height if height is not None else -2}")
    if filters:
        cmd += ["-vf", ",".join(filters)]
    cmd += [
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-bf",
        "0",
        "-pix_fmt",
        "yuv420p",
        "-g",
        str(gop),
        "-keyint_min",
        str(gop),
        "-sc_threshold",
        "0",
        "-an",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
    ]
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    cmd.append(str(tmp))
    logger.info("transcode: %s -> %s (gop %d)", src, dst, gop)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-_STDERR_TAIL_LINES:])
            raise RuntimeError(f"ffmpeg failed ({proc.returncode}) transcoding {src} -> {dst}:\n{tail}")
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
    return dst


class RtspServer:
    """Runs ``ingest/demo_rtsp_server.py`` as a child process; use as a context manager.

    ``streams`` maps mount names to H.264 MP4 files (see :func:`transcode_to_h264`);
    each is served, looped forever at real time, at ``rtsp://HOST:PORT/NAME``.
    The port is chosen once (``free_port()`` when not given) and kept, so
    ``stop()`` followed by ``start()`` serves the same URLs again.
    """

    def __init__(
        self,
        streams: dict[str, Path],
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        start_timeout_s: float = 20.0,
        python: str = GST_PYTHON,
    ) -> None:
        if not streams:
            raise ValueError("RtspServer needs at least one stream")
        self.streams: dict[str, Path] = {name: Path(path) for name, path in streams.items()}
        self.host = host
        self.port: int = port if port is not None else free_port(host)
        self.start_timeout_s = start_timeout_s
        self.python = python
        self._proc: subprocess.Popen[str] | None = None
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL_LINES)
        self._threads: list[threading.Thread] = []

    # -- URLs ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"rtsp://{self.host}:{self.port}"

    def url(self, name: str) -> str:
        """The RTSP URL of mount ``name``."""
        if name not in self.streams:
            raise KeyError(f"no stream named {name!r} (have: {', '.join(sorted(self.streams))})")
        return f"{self.base_url}/{name}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def stderr_tail(self) -> str:
        """The last lines the server wrote to stderr."""
        return "\n".join(self._stderr_tail)

    # -- lifecycle -------------------------------------------------------------------------

    def command(self) -> list[str]:
        cmd = [self.python, "-I", str(SERVER_SCRIPT), "--host", self.host, "--port", str(self.port)]
        cmd += ["--parent-pid", str(os.getpid())]
        for name, path in self.streams.items():
            cmd += ["--stream", f"{name}={path}"]
        return cmd

    def start(self) -> Self:
        """Spawn the server and wait until it listens; RuntimeError (with its stderr) if it fails."""
        if self.running:
            return self
        self._reap()
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONHOME", "PYTHONPATH")}
        cmd = self.command()
        logger.info("starting RTSP test server on %s with %d stream(s)", self.base_url, len(self.streams))
        logger.debug("RTSP test server command: %s", cmd)
        self._stderr_tail.clear()
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
                env=env,
                start_new_session=True,  # a Ctrl-C in the terminal goes to us; we stop it ourselves
            )
        except OSError as exc:
            raise RuntimeError(f"cannot run the RTSP test server ({cmd[0]}): {exc}") from exc
        self._proc = proc
        ready = threading.Event()
        assert proc.stdout is not None and proc.stderr is not None
        self._threads = [
            threading.Thread(
                target=self._pump_stdout, args=(proc.stdout, ready), name="rtsp-server-stdout", daemon=True
            ),
            threading.Thread(target=self._pump_stderr, args=(proc.stderr,), name="rtsp-server-stderr", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

        deadline = time.monotonic() + self.start_timeout_s
        while not ready.wait(0.05):
            if proc.poll() is not None:
                self._join_pumps()
                self._proc = None
                raise RuntimeError(
                    f"RTSP test server exited with status {proc.returncode} before it was ready:\n{self.stderr_tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"RTSP test server not ready after {self.start_timeout_s:g} s:\n{self.stderr_tail()}"
                )
        logger.info("RTSP test server ready at %s (pid %d)", self.base_url, proc.pid)
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after ``timeout_s``) and wait for it."""
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    logger.warning("RTSP test server (pid %d) ignored SIGTERM, killing it", proc.pid)
                    proc.kill()
                    proc.wait(timeout=timeout_s)
        finally:
            self._join_pumps()
            self._proc = None
        logger.info("RTSP test server on %s stopped (status %s)", self.base_url, proc.returncode)

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def _reap(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            self._join_pumps()
            self._proc = None

    def _join_pumps(self) -> None:
        for thread in self._threads:
            thread.join(timeout=2.0)
        self._threads = []

    def _pump_stdout(self, stream: IO[str], ready: threading.Event) -> None:
        for line in stream:
            line = line.rstrip("\n")
            if line.startswith("READY "):
                ready.set()
            elif line:
                logger.debug("rtsp_server stdout: %s", line)
        stream.close()

    def _pump_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            line = line.rstrip("\n")
            self._stderr_tail.append(line)
            logger.debug("rtsp_server: %s", line)
        stream.close()

    # -- context manager / cleanup -------------------------------------------------------

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        proc = getattr(self, "_proc", None)
        if proc is not None and proc.poll() is None:
            proc.kill()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"RtspServer({self.base_url}, streams={sorted(self.streams)}, {state})"


__all__ = ["GST_PYTHON", "SERVER_SCRIPT", "VTEST_AVI", "RtspServer", "free_port", "transcode_to_h264"]
