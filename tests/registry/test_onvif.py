"""ONVIF probe against a real ipycam device on loopback (WS-Security digest auth, native RTSP), and against
misbehaving servers: each failure is one typed error with a clear message, never a traceback or a password."""

from __future__ import annotations

import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from ingest.sampler import FfmpegSampler
from registry.onvif import (
    OPERATIONS,
    OnvifAuthError,
    OnvifError,
    OnvifFault,
    OnvifProfileNotFound,
    OnvifProtocolError,
    OnvifTimeout,
    OnvifUnreachable,
    ProbeResult,
    ProbeTarget,
    _document,
    _LocalOnlyTransport,
    probe,
    wsdl_dir,
)
from sharpeyes.proc import free_port
from sharpeyes.urls import Credentials
from tests.support.onvif_camera import IpycamDevice, SlowProxy, StubHttpServer

SOAP_FAULT = b"""<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error">
 <s:Body><s:Fault>
  <s:Code><s:Value>s:Receiver</s:Value><s:Subcode><s:Value>ter:ActionNotSupported</s:Value></s:Subcode></s:Code>
  <s:Reason><s:Text xml:lang="en">Optional Action Not Implemented</s:Text></s:Reason>
 </s:Fault></s:Body>
</s:Envelope>"""


@pytest.fixture(scope="module")
def device() -> Iterator[IpycamDevice]:
    with IpycamDevice(manufacturer="SharpTest", model="ST-200", serial="SN-42") as dev:
        yield dev


def target(dev: IpycamDevice, **kw: object) -> ProbeTarget:
    args: dict[str, object] = {"host": dev.host, "port": dev.onvif_port, "username": dev.username,
                               "password": SecretStr(dev.password), "timeout_s": 5.0}
    args.update(kw)
    return ProbeTarget.model_validate(args)


@pytest.fixture(scope="module")
def result(device: IpycamDevice) -> ProbeResult:
    return probe(target(device))


def test_device_information(result: ProbeResult, device: IpycamDevice) -> None:
    d = result.device
    assert (d.manufacturer, d.model, d.serial_number) == ("SharpTest", "ST-200", "SN-42")
    assert d.firmware and d.hardware_id
    assert {"Device", "Media", "PTZ"} <= set(result.capabilities)
    media = [s for s in result.services if s.namespace == "http://www.onvif.org/ver10/media/wsdl"]
    assert media and media[0].xaddr.startswith(f"http://127.0.0.1:{device.onvif_port}/")
    assert any(s.startswith("onvif://www.onvif.org/") for s in result.scopes)


def test_both_profiles_with_uris(result: ProbeResult, device: IpycamDevice) -> None:
    by_token = {p.token: p for p in result.profiles}
    assert set(by_token) == {"Profile_Main", "Profile_Sub"}
    main, sub = by_token["Profile_Main"], by_token["Profile_Sub"]
    assert (main.encoding, main.width, main.height, main.fps, main.bitrate_kbps) == ("H264", 320, 240, 10.0, 500)
    assert (sub.encoding, sub.width, sub.height, sub.bitrate_kbps) == ("H264", 160, 120, 200)
    assert main.stream_uri == f"rtsp://127.0.0.1:{device.rtsp_port}/video_main"
    assert sub.stream_uri == f"rtsp://127.0.0.1:{device.rtsp_port}/video_sub"
    assert main.snapshot_uri == f"http://127.0.0.1:{device.onvif_port}/snapshot.jpg"
    assert result.selected_profile == "Profile_Main"  # the main H.264 profile by default


def test_clock_offset_is_measured(result: ProbeResult) -> None:
    assert result.clock_offset_s is not None
    assert abs(result.clock_offset_s) < 2.5  # same machine; ipycam reports whole seconds


def test_pick_another_profile(device: IpycamDevice) -> None:
    assert probe(target(device, profile="Profile_Sub")).selected_profile == "Profile_Sub"
    assert probe(target(device, profile="SubStream")).selected_profile == "Profile_Sub"  # by name too
    with pytest.raises(OnvifProfileNotFound, match="Profile_Main, Profile_Sub"):
        probe(target(device, profile="Profile_9"))


@pytest.mark.parametrize("token", ["Profile_Main", "Profile_Sub"])
def test_ffmpeg_reads_frames_from_probed_stream(result: ProbeResult, token: str) -> None:
    prof = next(p for p in result.profiles if p.token == token)
    assert prof.stream_uri and prof.width and prof.height
    creds = Credentials(username="operator", password=SecretStr("S3cret-Pa55!"))  # injected at spawn time
    sampler = FfmpegSampler("14042900001325000001", prof.stream_uri, fps=5, timeout_s=10, credentials=creds)
    frames = []
    for frame in sampler.frames():
        frames.append(frame)
        if len(frames) == 3:
            sampler.close()
    assert len(frames) == 3
    assert frames[0].image.shape == (prof.height, prof.width, 3)


def test_snapshot_uri_serves_jpeg(result: ProbeResult, device: IpycamDevice) -> None:
    import requests

    uri = result.selected.snapshot_uri
    assert uri
    r = requests.get(uri, auth=(device.username, device.password), timeout=5)
    assert r.status_code == 200 and r.content[:2] == b"\xff\xd8"


def test_wrong_password_is_auth_error(device: IpycamDevice) -> None:
    with pytest.raises(OnvifAuthError) as err:
        probe(target(device, password=SecretStr("not-the-password-123")))
    assert "not-the-password-123" not in str(err.value)
    assert f"127.0.0.1:{device.onvif_port}" in str(err.value)


def test_missing_credentials_is_auth_error(device: IpycamDevice) -> None:
    with pytest.raises(OnvifAuthError, match="requires credentials"):
        probe(target(device, username="", password=SecretStr("")))


def test_closed_port_is_unreachable() -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(OnvifUnreachable, match="connection refused"):
        probe(ProbeTarget(host="127.0.0.1", port=port, username="u", password=SecretStr("p"), timeout_s=2))
    assert time.monotonic() - started < 2


def test_silent_server_times_out_within_bound() -> None:
    with socket.socket() as listener:  # accepts connections (kernel backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        started = time.monotonic()
        with pytest.raises(OnvifTimeout, match="within 1s"):
            probe(ProbeTarget(host="127.0.0.1", port=listener.getsockname()[1], timeout_s=1))
        assert time.monotonic() - started < 3


def test_plain_http_server_is_not_onvif() -> None:
    def page(path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        return 404, {"Content-Type": "text/html"}, b"<html><body><h1>Not Found</h1></body></html>"

    with StubHttpServer(page) as srv:
        with pytest.raises(OnvifProtocolError, match="not an ONVIF device") as err:
            probe(ProbeTarget(host="127.0.0.1", port=srv.port, username="u", password=SecretStr("p")))
    assert not isinstance(err.value, OnvifFault)


def test_html_with_200_is_a_protocol_error() -> None:
    def page(path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "text/html"}, b"<!doctype html><html><body>router login</body></html>"

    with StubHttpServer(page) as srv, pytest.raises(OnvifProtocolError):
        probe(ProbeTarget(host="127.0.0.1", port=srv.port))


def test_soap_fault_is_a_clear_error() -> None:
    def fault(path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        return 500, {"Content-Type": "application/soap+xml"}, SOAP_FAULT

    with StubHttpServer(fault) as srv, pytest.raises(OnvifFault, match="Optional Action Not Implemented"):
        probe(ProbeTarget(host="127.0.0.1", port=srv.port, username="u", password=SecretStr("p")))


def test_truncated_xml_is_a_clear_error(device: IpycamDevice) -> None:
    import requests

    # a real ipycam reply, cut in the middle
    envelope = (b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>'
                b'<tds:GetSystemDateAndTime xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>')
    real = requests.post(f"http://127.0.0.1:{device.onvif_port}/onvif/device_service", data=envelope,
                         headers={"Content-Type": "application/soap+xml"}, timeout=5).content
    assert real.startswith(b"<?xml")  # unauthenticated: a fault envelope, still a real ipycam reply

    def truncated(path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        return 200, {"Content-Type": "application/soap+xml"}, real[: len(real) // 2]

    with StubHttpServer(truncated) as srv, pytest.raises(OnvifProtocolError, match="malformed or truncated"):
        probe(ProbeTarget(host="127.0.0.1", port=srv.port))


def test_errors_share_one_base() -> None:
    for cls in (OnvifAuthError, OnvifUnreachable, OnvifTimeout, OnvifProtocolError, OnvifFault,
                OnvifProfileNotFound):
        assert issubclass(cls, OnvifError)


def test_wsdls_come_from_the_installed_package() -> None:
    path = wsdl_dir()
    assert path.parts[-2:] == ("onvif", "wsdl") and "site-packages" in path.parts
    assert _document("devicemgmt.wsdl").location == str(path / "devicemgmt.wsdl")
    with pytest.raises(OnvifError, match="refusing to download"):
        _LocalOnlyTransport().load("http://www.onvif.org/ver10/schema/onvif.xsd")


def test_cli_probe_prints_profiles(device: IpycamDevice, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from sharpeyes.cli import main

    monkeypatch.setenv("CAM_PW", device.password)
    rc = main(["camera", "probe", f"127.0.0.1:{device.onvif_port}", "--user", device.username,
               "--password-env", "CAM_PW"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "SharpTest ST-200" in out.out and "* Profile_Main" in out.out and "Profile_Sub" in out.out
    assert device.password not in out.out + out.err
    monkeypatch.setenv("CAM_PW", "wrong-pass-77")
    rc = main(["camera", "probe", f"127.0.0.1:{device.onvif_port}", "--user", device.username,
               "--password-env", "CAM_PW"])
    out = capsys.readouterr()
    assert rc == 3 and "OnvifAuthError" in out.err and "Traceback" not in out.err and "wrong-pass-77" not in out.err


def test_ffprobe_sees_h264(result: ProbeResult) -> None:
    uri = result.selected.stream_uri
    assert uri
    proc = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-select_streams", "v:0",
                           "-show_entries", "stream=codec_name,width,height", "-of", "csv=p=0", uri],
                          capture_output=True, timeout=30, check=False)
    assert proc.stdout.decode().strip() == "h264,320,240"


@pytest.mark.parametrize("host", ["evil.example/x?", "user@host", "http://host", "host:80", "h ost", ""])
def test_probe_target_accepts_only_a_host(host: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        ProbeTarget(host=host)


def test_advertised_service_host_is_not_trusted() -> None:
    """A device behind NAT (or a hostile one) advertising another host: its services are still used on the
    host and port that were probed."""
    with IpycamDevice() as dev:
        dev.camera.config.local_ip = "192.0.2.1"  # TEST-NET-1: unreachable
        started = time.monotonic()
        result = probe(target(dev, timeout_s=2))
        assert time.monotonic() - started < 2
    assert any(s.xaddr.startswith("http://192.0.2.1:") for s in result.services)  # reported as advertised
    assert len(result.profiles) == 2  # but the media service was reached on 127.0.0.1


def test_whole_probe_has_a_deadline(device: IpycamDevice) -> None:
    """A device that answers every request, each well within the per-request timeout, but slowly: the probe's
    requests together would take longer than its deadline, and the probe stops at the deadline."""
    timeout_s, deadline_s, delay_s = 1.0, 1.5, 0.4
    assert delay_s < timeout_s and delay_s * len(OPERATIONS) > deadline_s  # no single request times out
    _document("devicemgmt.wsdl")  # parsed once per process: keep the parse out of the measured probe
    _document("media.wsdl")
    with SlowProxy(device.onvif_port) as proxy:
        through = target(device, port=proxy.port, timeout_s=timeout_s)
        assert probe(through).device.model == "ST-200"  # without delay the proxy is the device itself
        proxy.delay_s, proxy.requests = delay_s, []
        started = time.monotonic()
        with pytest.raises(OnvifTimeout) as err:
            probe(through.model_copy(update={"deadline_s": deadline_s}))
        elapsed = time.monotonic() - started
        arrived = [t - started for t in proxy.requests]
    assert deadline_s - 0.05 <= elapsed < deadline_s + 0.75, f"stopped after {elapsed:.2f}s; requests at {arrived}"
    assert len(arrived) >= 3, f"the deadline must be cumulative over requests; requests at {arrived}"
    message = str(err.value)
    assert f"127.0.0.1:{proxy.port}" in message
    cut = re.search(r"no answer to (\w+) within ([0-9.]+)s", message)
    if cut is None:
        assert f"probe took longer than {deadline_s:g}s" in message, message
    else:  # the last request was given only what was left of the deadline, less than the per-request timeout
        assert cut.group(1) in OPERATIONS and float(cut.group(2)) < timeout_s, message
