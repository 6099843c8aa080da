"""WS-Discovery: a unicast Probe to ipycam's answer, served by a responder bound to loopback (never multicast)."""

from __future__ import annotations

import socket

from registry.discovery import discover, parse_probe_matches, probe_message
from tests.support.onvif_camera import IpycamDevice


def test_unicast_probe_finds_ipycam() -> None:
    with IpycamDevice(name="CrossRoad") as dev:
        assert dev.discovery is not None
        found = discover(1.0, target=("127.0.0.1", dev.discovery.port))
        assert dev.discovery.probes == 1
    assert len(found) == 1
    d = found[0]
    assert d.address.startswith("urn:uuid:")
    assert "dn:NetworkVideoTransmitter" in d.types
    assert d.xaddrs == [f"http://127.0.0.1:{dev.onvif_port}/onvif/device_service"]
    assert "onvif://www.onvif.org/name/CrossRoad" in d.scopes and d.name == "CrossRoad"
    assert d.source == "127.0.0.1"


def test_no_answer_is_an_empty_list() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        assert discover(0.3, target=("127.0.0.1", silent.getsockname()[1])) == []


def test_probe_asks_for_video_transmitters_and_garbage_is_ignored() -> None:
    msg = probe_message("urn:uuid:1").decode()
    assert "dn:NetworkVideoTransmitter" in msg and "discovery/Probe<" in msg
    assert parse_probe_matches(b"<not xml", "10.0.0.1") == []
    assert parse_probe_matches(b"<a/>", "10.0.0.1") == []


def test_cli_discover_unicast(capsys) -> None:  # type: ignore[no-untyped-def]
    from sharpeyes.cli import main

    with IpycamDevice() as dev:
        assert dev.discovery is not None
        assert main(["camera", "discover", "--timeout", "0.5", "--target", f"127.0.0.1:{dev.discovery.port}"]) == 0
    out = capsys.readouterr().out
    assert f"http://127.0.0.1:{dev.onvif_port}/onvif/device_service" in out and "1 device(s)" in out
