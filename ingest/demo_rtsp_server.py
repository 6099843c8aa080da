#!/usr/bin/python3
# SPDX-License-Identifier: AGPL-3.0-or-later
"""Standalone RTSP test/demo server: loops pre-encoded H.264 MP4 files forever.

This script is a test and demo fixture for Sharp Eyes Hub, not part of the hub
itself.  It stands in for a set of IP cameras: every ``--stream NAME=FILE``
is served at ``rtsp://HOST:PORT/NAME``, paced at real time and looped
forever, **without decoding or re-encoding**.

How it works (the gst-rtsp-server "test-appsrc" pattern):

* At startup each distinct file is demuxed once into memory
  (``filesrc ! qtdemux ! h264parse config-interval=-1 ! byte-stream/au ! appsink``),
  keeping the H.264 access units, their caps and the frame duration.
  Mounts that name the same file share those access units.
* Each mount's media is ``appsrc ! h264parse ! rtph264pay``.  On
  ``need-data`` the next access unit is pushed with a monotonically
  increasing timestamp (``n * frame_duration``); the index wraps at the end
  of the file, which starts with an IDR frame, so the loop is clean.
  The RTSP sinks synchronise on the pipeline clock, which gives real-time pacing.
* Media are shared: all clients of one mount watch the same live stream
  (like a real camera; a late joiner starts at the next key frame).
  ``--unshared`` gives each client its own pipeline starting at frame 0.

Input files must be H.264 in MP4 without B-frames (e.g. made with
``ffmpeg ... -c:v libx264 -bf 0``); see ``ingest/demo.py``.

It needs only the standard library and the GStreamer GObject-introspection
bindings, which on Debian load only under ``/usr/bin/python3``::

    /usr/bin/python3 ingest/demo_rtsp_server.py --host 127.0.0.1 --port 8554 \\
        --stream cam1=/tmp/a.mp4 --stream cam2=/tmp/b.mp4

Once listening it prints exactly one line, ``READY rtsp://HOST:PORT``, to
stdout.  Errors go to stderr with exit status 2.  It exits cleanly on
SIGTERM/SIGINT and when its parent process dies.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import re
import signal
import sys
import threading
from typing import NoReturn

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_LOAD_TIMEOUT_S = 120.0
_PARENT_POLL_S = 1
_DEFAULT_FRAME_NS = 40_000_000  # 25 fps, used only when a file carries no rate at all


class ServerError(Exception):
    """A user-facing error: printed on stderr, exit status 2."""


def _log(msg: str) -> None:
    try:
        print(f"rtsp_server: {msg}", file=sys.stderr, flush=True)
    except (OSError, ValueError):  # the parent (reading our stderr) may be gone
        pass


def _fail(msg: str) -> NoReturn:
    print(f"rtsp_server: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(2)


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Serve H.264 MP4 files as looped, real-time RTSP streams (test/demo fixture)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, required=True, help="TCP port to listen on (1-65535)")
    parser.add_argument(
        "--stream",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="serve FILE at rtsp://HOST:PORT/NAME (repeatable, at least one)",
    )
    parser.add_argument(
        "--unshared",
        action="store_true",
        help="give every client its own pipeline from frame 0 instead of one shared live stream per mount",
    )
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="exit once this process is no longer our parent (default: the parent at startup)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(f"--port must be in 1..65535, got {args.port}")
    if not args.stream:
        parser.error("at least one --stream NAME=FILE is required")
    streams: dict[str, str] = {}
    for spec in args.stream:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            parser.error(f"--stream expects NAME=FILE, got {spec!r}")
        if not _NAME_RE.match(name):
            parser.error(f"invalid stream name {name!r} (use letters, digits, '.', '_', '-')")
        if name in streams:
            parser.error(f"duplicate stream name {name!r}")
        path = os.path.abspath(os.path.expanduser(path))
        if not os.path.isfile(path):
            parser.error(f"stream {name!r}: file not found: {path}")
        if not os.access(path, os.R_OK):
            parser.error(f"stream {name!r}: file not readable: {path}")
        streams[name] = path
    args.streams = streams
    return args


class Clip:
    """One file's H.264 access units, held in memory and shared by all mounts."""

    def __init__(self, path: str, caps, units: list, rate: tuple[int, int]) -> None:
        self.path = path
        self.caps = caps
        self.units = units  # list[Gst.Buffer], byte-stream, one AU each, first is a key frame
        self.rate_num, self.rate_den = rate  # frames per second, as a fraction

    def timestamp_ns(self, n: int) -> int:
        """Presentation time of the n-th frame pushed (exact, no accumulated rounding)."""
        return n * 1_000_000_000 * self.rate_den // self.rate_num

    @property
    def fps(self) -> float:
        return self.rate_num / self.rate_den

    @property
    def duration_s(self) -> float:
        return len(self.units) / self.fps


def _load_clip(Gst, path: str) -> Clip:
    """Demux ``path`` once into memory; raise ServerError if it is not usable H.264."""
    desc = (
        "filesrc name=src ! qtdemux ! h264parse config-interval=-1 ! "
        "video/x-h264,stream-format=byte-stream,alignment=au ! "
        "appsink name=sink sync=false emit-signals=false max-buffers=0 drop=false"
    )
    from gi.repository import GLib

    try:
        pipeline = Gst.parse_launch(desc)
    except GLib.Error as exc:
        raise ServerError(f"cannot build demux pipeline: {exc.message}") from None
    pipeline.get_by_name("src").set_property("location", path)
    sink = pipeline.get_by_name("sink")
    bus = pipeline.get_bus()
    units: list = []
    pts_list: list[int] = []
    caps = None
    frame_ns = 0
    try:
        if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            msg = bus.pop_filtered(Gst.MessageType.ERROR)
            detail = msg.parse_error()[0].message if msg else "state change failed"
            raise ServerError(f"{path}: {detail}")
        deadline = Gst.util_get_timestamp() + int(_LOAD_TIMEOUT_S * Gst.SECOND)
        while True:
            sample = sink.emit("try-pull-sample", 100 * Gst.MSECOND)
            if sample is not None:
                buf = sample.get_buffer()
                if caps is None:
                    caps = sample.get_caps()
                if not units and buf.has_flags(Gst.BufferFlags.DELTA_UNIT):
                    continue  # skip anything before the first key frame: the loop must start clean
                units.append(buf)
                if buf.pts != Gst.CLOCK_TIME_NONE:
                    pts_list.append(buf.pts)
                if not frame_ns and buf.duration not in (0, Gst.CLOCK_TIME_NONE):
                    frame_ns = buf.duration
                continue
            msg = bus.pop_filtered(Gst.MessageType.ERROR)
            if msg is not None:
                err, _dbg = msg.parse_error()
                raise ServerError(f"{path}: cannot demux as H.264 MP4 (is the video track H.264?): {err.message}")
            if sink.get_property("eos"):
                break
            if Gst.util_get_timestamp() > deadline:
                raise ServerError(f"{path}: timed out loading the file")
    finally:
        pipeline.set_state(Gst.State.NULL)
    if not units:
        raise ServerError(f"{path}: no H.264 key frame found (is it an H.264 video?)")
    if any(b < a for a, b in itertools.pairwise(pts_list)):
        _log(f"warning: {path} has B-frames (out-of-order PTS); re-encode with -bf 0 for correct timing")

    # Frame duration: prefer the caps' frame rate, then buffer durations, then PTS spacing.
    s = caps.get_structure(0) if caps is not None else None
    rate: tuple[int, int] | None = None  # frames per second as (num, den)
    if s is not None:
        ok, num, den = s.get_fraction("framerate")
        if ok and num > 0 and den > 0:
            rate = (num, den)
    if not frame_ns and len(pts_list) > 1:
        pts_sorted = sorted(pts_list)
        diffs = sorted(b - a for a, b in itertools.pairwise(pts_sorted) if b > a)
        if diffs:
            frame_ns = diffs[len(diffs) // 2]
    if rate is None:
        if not frame_ns:
            frame_ns = _DEFAULT_FRAME_NS
        g = math.gcd(Gst.SECOND, frame_ns)
        rate = (Gst.SECOND // g, frame_ns // g)
    # The appsrc caps: byte-stream AUs plus the basic facts (no codec_data: SPS/PPS are in-band).
    fields = ["video/x-h264", "stream-format=byte-stream", "alignment=au"]
    if s is not None:
        for field in ("width", "height"):
            ok, value = s.get_int(field)
            if ok:
                fields.append(f"{field}=(int){value}")
        for field in ("profile", "level"):
            value = s.get_string(field)
            if value:
                fields.append(f"{field}=(string){value}")
    fields.append(f"framerate=(fraction){rate[0]}/{rate[1]}")
    src_caps = Gst.Caps.from_string(",".join(fields))
    if src_caps is None:
        raise ServerError(f"{path}: cannot build caps from {caps.to_string() if caps else None}")
    return Clip(path, src_caps, units, rate)


class StreamFeeder:
    """Feeds one media's appsrc from a Clip, looping forever with increasing timestamps."""

    def __init__(self, Gst, clip: Clip, appsrc) -> None:
        self._clip = clip
        self._n = 0  # frames pushed so far
        self._copy_flags = Gst.BufferCopyFlags.FLAGS | Gst.BufferCopyFlags.MEMORY | Gst.BufferCopyFlags.META
        appsrc.connect("need-data", self._on_need_data)

    def _on_need_data(self, appsrc, _length) -> None:
        clip = self._clip
        unit = clip.units[self._n % len(clip.units)]
        # Shallow copy: shares the memory, gets its own timestamps.
        buf = unit.copy_region(self._copy_flags, 0, unit.get_size())
        ts = clip.timestamp_ns(self._n)
        buf.pts = ts
        buf.dts = ts
        buf.duration = clip.timestamp_ns(self._n + 1) - ts
        self._n += 1
        appsrc.emit("push-buffer", buf)


def _make_factory(Gst, GstRtspServer, clip: Clip, shared: bool, feeders: set):
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( appsrc name=src is-live=true format=time do-timestamp=false min-latency=0 "
        "! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    factory.set_shared(shared)
    # A live loop has nothing to preroll again: never suspend the media.
    factory.set_suspend_mode(GstRtspServer.RTSPSuspendMode.NONE)

    def on_media_configure(_factory, media) -> None:
        appsrc = media.get_element().get_by_name_recurse_up("src")
        appsrc.set_property("caps", clip.caps)
        if appsrc.find_property("max-buffers") is not None:  # GStreamer >= 1.20
            # Queue at most a couple of frames; the sinks' clock sync does the pacing.
            appsrc.set_property("max-buffers", 2)
            appsrc.set_property("max-bytes", 0)
        feeder = StreamFeeder(Gst, clip, appsrc)
        feeders.add(feeder)  # keep it alive as long as the media is
        media.connect("unprepared", lambda _m: feeders.discard(feeder))

    factory.connect("media-configure", on_media_configure)
    return factory


def _start_reaper(parent_pid: int) -> None:
    """Exit at once on SIGTERM/SIGINT or when the parent process is gone, whatever the main loop is doing.

    The signals are blocked in every thread (GStreamer's threads, started later, inherit the mask) and taken by
    this thread with ``sigtimedwait``: a GLib signal source or a Python handler would only run when the main
    thread is free, and a streaming pipeline can keep it busy, leaving an orphan server behind. Nothing needs
    flushing, so ``os._exit`` is the clean way out.
    """
    wanted = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, wanted)

    def reap() -> None:
        try:
            while signal.sigtimedwait(wanted, _PARENT_POLL_S) is None and os.getppid() == parent_pid:
                pass
            if os.getppid() != parent_pid:
                _log("parent process gone, exiting")
        finally:
            os._exit(0)

    threading.Thread(target=reap, name="reaper", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(sys.argv[1:] if argv is None else argv)
    parent_pid = args.parent_pid if args.parent_pid is not None else os.getppid()
    _start_reaper(parent_pid)

    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtspServer
    except (ImportError, ValueError) as exc:
        _fail(
            f"GStreamer Python bindings unavailable ({exc}); run with Debian's /usr/bin/python3 "
            "and install python3-gi gir1.2-gst-rtsp-server-1.0"
        )

    Gst.init(None)
    for factory_name in ("qtdemux", "h264parse", "rtph264pay", "appsrc", "appsink"):
        if Gst.ElementFactory.find(factory_name) is None:
            _fail(f"GStreamer element {factory_name!r} is missing (install gstreamer1.0-plugins-good/bad)")

    clips: dict[str, Clip] = {}
    try:
        for path in dict.fromkeys(args.streams.values()):
            clips[path] = _load_clip(Gst, path)
    except ServerError as exc:
        _fail(str(exc))

    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    feeders: set = set()
    for name, path in args.streams.items():
        mounts.add_factory(f"/{name}", _make_factory(Gst, GstRtspServer, clips[path], not args.unshared, feeders))

    try:
        source = server.create_source(None)  # binds and listens; raises GLib.Error on failure
    except GLib.Error as exc:
        _fail(f"cannot listen on {args.host}:{args.port}: {exc.message}")
    source.attach(None)

    loop = GLib.MainLoop()


    # Pool cleanup: drop expired sessions so abandoned clients free their media.
    def cleanup_sessions() -> bool:
        server.get_session_pool().cleanup()
        return GLib.SOURCE_CONTINUE

    GLib.timeout_add_seconds(2, cleanup_sessions)

    for name, path in args.streams.items():
        clip = clips[path]
        _log(
            f"/{name}: {os.path.basename(path)}, {len(clip.units)} frames, "
            f"{clip.fps:.3g} fps, {clip.duration_s:.1f} s loop"
        )
    try:
        sys.stdout.write(f"READY rtsp://{args.host}:{args.port}\n")
        sys.stdout.flush()
    except BrokenPipeError:
        pass  # nobody listens to stdout; keep serving anyway

    try:
        loop.run()
    except KeyboardInterrupt:
        pass
    source.destroy()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
    except Exception as exc:  # last resort: one clear line (set RTSP_SERVER_DEBUG=1 for the traceback)
        if os.environ.get("RTSP_SERVER_DEBUG"):
            raise
        _fail(f"unexpected {type(exc).__name__}: {exc}")
