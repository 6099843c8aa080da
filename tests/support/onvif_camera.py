"""Test doubles for the registry's ONVIF code: a real ONVIF camera (ipycam) on loopback, and small misbehaving
HTTP servers.

:class:`IpycamDevice` runs ipycam's own ONVIF handler, WS-Security digest check and native RTSP server, bound to
127.0.0.1 on ports chosen at run time. ipycam's ``IPCamera.start()`` is not used because it binds every interface
and joins the WS-Discovery multicast group; instead its discovery answers come from :class:`LoopbackDiscovery`, a
responder bound to 127.0.0.1 that replies with ipycam's own ProbeMatch to unicast probes only. Nothing here
multicasts. :class:`StubHttpServer` answers every request with a canned reply; :class:`SlowProxy` stands in front
of a device and holds each of its replies for a while.

Owns only loopback servers started and stopped by the tests; must not touch the hub's database, Redis or any
interface other than 127.0.0.1. ipycam is a test dependency (``requirements.txt``): it is imported here, never by a
product package.
"""

from __future__ import annotations

import http.client
import http.server
import logging
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

import numpy as np

from sharpeyes.proc import free_port

log = logging.getLogger(__name__)

__all__ = ["IpycamDevice", "LoopbackDiscovery", "SlowProxy", "StubHttpServer", "free_port"]


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout tests) is expected; anything else is reported."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class LoopbackDiscovery(threading.Thread):
    """Answers WS-Discovery Probes sent to 127.0.0.1:<port> (unicast) with ipycam's ProbeMatch."""

    def __init__(self, onvif_service: Any, port: int | None = None) -> None:
        super().__init__(daemon=True, name="ws-discovery-loopback")
        self.onvif = onvif_service
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port or 0))
        self.sock.settimeout(0.5)
        self.port = int(self.sock.getsockname()[1])
        self._stop_evt = threading.Event()
        self.probes = 0

    def run(self) -> None:
        while not self._stop_evt.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            msg = data.decode("utf-8", errors="replace")
            if "ProbeMatch" in msg or not re.search(r"<(?:[\w.-]+:)?Probe[\s/>]", msg):
                continue
            self.probes += 1
            m = re.search(r"MessageID>(.+?)</", msg)
            reply = self.onvif.create_probe_match(m.group(1) if m else "urn:uuid:unknown")
            self.sock.sendto(reply.encode("utf-8"), addr)

    def stop(self) -> None:
        self._stop_evt.set()
        self.sock.close()
        self.join(timeout=2)


class IpycamDevice:
    """A real ipycam ONVIF device on loopback: digest auth, two H.264 profiles over native RTSP, snapshots."""

    def __init__(self, *, username: str = "operator", password: str = "S3cret-Pa55!", width: int = 320,
                 height: int = 240, sub_width: int = 160, sub_height: int = 120, fps: int = 10,
                 manufacturer: str = "PythonCam", model: str = "VirtualCam-1", serial: str = "PY-000001",
                 name: str = "Virtual Camera") -> None:
        try:
            from ipycam import CameraConfig, IPCamera
        except ImportError as exc:  # pragma: no cover - environment problem
            raise RuntimeError("ipycam is not installed (pip install -r requirements.txt)") from exc
        self.onvif_port = free_port()
        self.rtsp_port = free_port()
        self.username, self.password = username, password
        cfg = CameraConfig(
            name=name, manufacturer=manufacturer, model=model, serial_number=serial,
            local_ip="127.0.0.1", onvif_port=self.onvif_port, rtsp_port=self.rtsp_port,
            go2rtc_api_port=free_port(), web_port=free_port(), rtmp_port=free_port(),
            username=username, password=password,
            main_width=width, main_height=height, main_fps=fps, main_bitrate="500K",
            sub_width=sub_width, sub_height=sub_height, sub_fps=fps, sub_bitrate="200K",
            show_timestamp=False, hw_accel="cpu",
        )
        self.camera = IPCamera(cfg)
        self.http: _Server | None = None
        self.discovery: LoopbackDiscovery | None = None
        self._feeding = threading.Event()
        self._feeder: threading.Thread | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    def start(self) -> IpycamDevice:
        from ipycam.http import IPCameraHTTPHandler
        from ipycam.rtsp import NativeRTSPServer

        cam, cfg = self.camera, self.camera.config
        handler = type("LoopbackHandler", (IPCameraHTTPHandler,), {"camera": cam})
        self.http = _Server(("127.0.0.1", self.onvif_port), handler)
        threading.Thread(target=self.http.serve_forever, name="ipycam-http", daemon=True).start()
        rtsp = NativeRTSPServer(port=self.rtsp_port, host="127.0.0.1")
        rtsp.add_stream(name=cfg.main_stream_name, width=cfg.main_width, height=cfg.main_height, fps=cfg.main_fps,
                        bitrate=cfg.main_bitrate)
        rtsp.add_stream(name=cfg.sub_stream_name, width=cfg.sub_width, height=cfg.sub_height, fps=cfg.sub_fps,
                        bitrate=cfg.sub_bitrate)
        if not rtsp.start():
            self.stop()
            raise RuntimeError("ipycam native RTSP server did not start (ffmpeg on PATH?)")
        cam.rtsp_server = rtsp
        cam._start_rtsp_fanout()
        cam._streaming_mode = "native_rtsp"
        cam._use_mjpeg_fallback = False
        cam._running = True
        self.discovery = LoopbackDiscovery(cam.onvif)
        self.discovery.start()
        self._feeding.set()
        self._feeder = threading.Thread(target=self._feed, name="ipycam-frames", daemon=True)
        self._feeder.start()
        return self

    def _feed(self) -> None:
        cfg = self.camera.config
        base = np.zeros((cfg.main_height, cfg.main_width, 3), np.uint8)
        base[:, :, 1] = np.linspace(0, 255, cfg.main_width, dtype=np.uint8)[None, :]
        n = 0
        while self._feeding.is_set():
            frame = base.copy()
            x = (n * 8) % cfg.main_width
            frame[:, x:x + 16] = 255  # a moving bar, so consecutive frames differ
            self.camera.stream(frame)
            n += 1

    def stop(self) -> None:
        self._feeding.clear()
        if self._feeder is not None:
            self._feeder.join(timeout=3)
        if self.discovery is not None:
            self.discovery.stop()
        if self.camera.rtsp_server is not None:
            self.camera._stop_rtsp_fanout()
            self.camera.rtsp_server.stop()
        if self.camera.ptz is not None:
            self.camera.ptz.stop()
        if self.http is not None:
            self.http.shutdown()
            self.http.server_close()

    def __enter__(self) -> IpycamDevice:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


Reply = tuple[int, dict[str, str], bytes]
"""An HTTP reply: status, headers, body (Content-Length is added)."""


class _LoopbackHttpServer:
    """An HTTP server on 127.0.0.1 (a port chosen at run time, GET and POST) whose replies come from
    :meth:`reply`; serves while used as a context manager."""

    def __init__(self) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                answer = outer.reply(self.command, self.path, dict(self.headers.items()), body)
                if answer is None:
                    return
                status, headers, payload = answer
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _answer
            do_POST = _answer

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, name=type(self).__name__, daemon=True)
        self._closing = threading.Event()

    def reply(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply | None:
        """The reply to one request; None sends nothing (the server is closing)."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()


class StubHttpServer(_LoopbackHttpServer):
    """A plain HTTP server on loopback answering every request with ``responder(path, body) -> (status, headers,
    body)``; used to play a non-ONVIF web server, a faulting device or one sending truncated XML. ``requests``
    records each request's path and body."""

    def __init__(self, responder: Callable[[str, bytes], Reply]) -> None:
        super().__init__()
        self.responder = responder
        self.requests: list[tuple[str, bytes]] = []

    def reply(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply:
        self.requests.append((path, body))
        return self.responder(path, body)


class SlowProxy(_LoopbackHttpServer):
    """Forwards every HTTP request to the server at 127.0.0.1:``upstream_port`` (an :class:`IpycamDevice`) and holds
    each reply ``delay_s`` seconds before sending it back: a device that answers every request correctly, and each
    one within a per-request timeout, but slowly. ``delay_s`` may be changed while it runs; ``requests`` records the
    monotonic time at which each request arrived."""

    _FORWARDED_REQUEST = ("content-type", "soapaction", "authorization")
    _FORWARDED_REPLY = ("content-type", "www-authenticate")

    def __init__(self, upstream_port: int, delay_s: float = 0.0) -> None:
        super().__init__()
        self.upstream_port = upstream_port
        self.delay_s = delay_s
        self.requests: list[float] = []

    def reply(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Reply | None:
        self.requests.append(time.monotonic())
        forwarded = {k: v for k, v in headers.items() if k.lower() in self._FORWARDED_REQUEST}
        upstream = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=10)
        try:
            upstream.request(method, path, body, forwarded)
            answer = upstream.getresponse()
            payload = answer.read()
        finally:
            upstream.close()
        if self._closing.wait(self.delay_s):
            return None
        kept = {k: v for k, v in answer.getheaders() if k.lower() in self._FORWARDED_REPLY}
        return answer.status, kept, payload
