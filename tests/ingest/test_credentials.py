"""Camera credentials reach ffmpeg only inside the ``-i`` URL of the spawned process, and never come back in errors
or logs; user-supplied text never becomes an ffmpeg option."""

from __future__ import annotations

import logging
import re
import socket
import threading
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from ingest.sampler import FfmpegSampler, StreamError, build_command
from sharpeyes.urls import Credentials

PASSWORD = "Pa55-w0rd@x:y"
CREDS = Credentials(username="op", password=SecretStr(PASSWORD))


def test_credentials_injected_only_into_input_url() -> None:
    cmd = build_command("rtsp://127.0.0.1:1/x", fps=1, mode="fps", timeout_s=5, credentials=CREDS)
    assert cmd[cmd.index("-i") + 1] == "rtsp://op:Pa55-w0rd%40x%3Ay@127.0.0.1:1/x"
    assert sum(PASSWORD in a or "Pa55-w0rd%40x" in a for a in cmd) == 1
    assert "-protocol_whitelist" in cmd


@pytest.mark.parametrize("url", ["-f lavfi -i testsrc", "file:///etc/passwd", "concat:a|b", "rtsp://",
                                 "rtsp://h/x -y out.mp4", "rtsp://u:p@h/x", "subfile:,,start,0,end,0,,:/etc/passwd"])
def test_unsafe_urls_never_reach_ffmpeg(url: str) -> None:
    with pytest.raises(ValueError):
        build_command(url, fps=1, mode="fps", timeout_s=5, credentials=CREDS)


@pytest.fixture()
def rtsp_401() -> Iterator[int]:
    """An RTSP endpoint that refuses every request with 401 (ffmpeg then prints the URL it used)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    while data := conn.recv(4096):
                        m = re.search(rb"CSeq:\s*(\d+)", data)
                        cseq = m.group(1) if m else b"1"
                        conn.sendall(b"RTSP/1.0 401 Unauthorized\r\nCSeq: " + cseq
                                     + b"\r\nWWW-Authenticate: Basic realm=\"cam\"\r\n\r\n")
                except OSError:
                    pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield int(srv.getsockname()[1])
    stop.set()
    srv.close()
    t.join(timeout=2)


def test_refused_credentials_error_has_no_password(rtsp_401: int, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sampler = FfmpegSampler("14042900001325000001", f"rtsp://127.0.0.1:{rtsp_401}/x", timeout_s=3,
                            credentials=CREDS)
    with pytest.raises(StreamError) as err:
        list(sampler.frames())
    text = str(err.value) + caplog.text
    assert "401" in str(err.value) or "uthoriz" in str(err.value)
    assert PASSWORD not in text and "Pa55-w0rd%40x" not in text and "Pa55-w0rd" not in text
