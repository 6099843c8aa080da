"""WS-Discovery: find ONVIF NetworkVideoTransmitters on the local network.

Owns the Probe message and the parsing of ProbeMatch replies (endpoint address, types, scopes, XAddrs). By default
the Probe goes to the WS-Discovery multicast group 239.255.255.250:3702; ``target`` sends it unicast to one
address instead (what the tests do, against a responder on loopback).
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from xml.sax.saxutils import escape

from lxml import etree
from pydantic import ConfigDict, Field

from sharpeyes.strict import StrictModel

log = logging.getLogger(__name__)

MULTICAST = ("239.255.255.250", 3702)
NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
}


class DiscoveredDevice(StrictModel):
    model_config = ConfigDict(frozen=True)

    address: str = Field(description="Endpoint reference address (usually urn:uuid:...).")
    types: list[str] = Field(description="Types, e.g. dn:NetworkVideoTransmitter.")
    scopes: list[str] = Field(description="Scopes: onvif://www.onvif.org/name/..., /location/..., /hardware/...")
    xaddrs: list[str] = Field(description="Device service URLs.")
    source: str = Field(description="IP address the reply came from.")

    @property
    def name(self) -> str | None:
        for s in self.scopes:
            if s.startswith("onvif://www.onvif.org/name/"):
                return s.rsplit("/", 1)[1]
        return None


def probe_message(message_id: str, types: str = "dn:NetworkVideoTransmitter") -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
        'xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" '
        'xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
        "<s:Header>"
        f"<a:MessageID>{escape(message_id)}</a:MessageID>"
        "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>"
        "<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action>"
        "</s:Header>"
        f"<s:Body><d:Probe><d:Types>{escape(types)}</d:Types></d:Probe></s:Body>"
        "</s:Envelope>"
    ).encode()


def parse_probe_matches(data: bytes, source: str, relates_to: str | None = None) -> list[DiscoveredDevice]:
    """Devices in one ProbeMatches datagram ([] for anything else: malformed, unrelated or another reply)."""
    try:
        root = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        log.debug("ws-discovery: unparseable datagram from %s", source)
        return []
    if relates_to is not None:
        rel = root.findtext("s:Header/a:RelatesTo", namespaces=NS)
        if rel is not None and rel.strip() != relates_to:
            return []
    out = []
    # d:ProbeMatches/d:ProbeMatch per the spec; some devices (ipycam) put d:ProbeMatch directly in the body
    for match in root.iterfind(".//d:ProbeMatch", namespaces=NS):
        def text(path: str, node: etree._Element = match) -> str:
            return (node.findtext(path, namespaces=NS) or "").strip()

        out.append(DiscoveredDevice(address=text("a:EndpointReference/a:Address")
                                    or text("d:EndpointReference/a:Address"), types=text("d:Types").split(),
                                    scopes=text("d:Scopes").split(), xaddrs=text("d:XAddrs").split(),
                                    source=source))
    return out


def discover(timeout_s: float = 3.0, target: tuple[str, int] | None = None,
             types: str = "dn:NetworkVideoTransmitter") -> list[DiscoveredDevice]:
    """Send one Probe (multicast, or unicast to ``target``) and collect the ProbeMatches for ``timeout_s``."""
    message_id = f"urn:uuid:{uuid.uuid4()}"
    dest = target or MULTICAST
    found: dict[str, DiscoveredDevice] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) as sock:
        if target is None:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.bind(("127.0.0.1", 0) if target and target[0].startswith("127.") else ("", 0))
        sock.sendto(probe_message(message_id, types), dest)
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, addr = sock.recvfrom(65535)
            except TimeoutError:
                break
            for dev in parse_probe_matches(data, addr[0], message_id):
                found.setdefault(dev.address or f"{addr[0]}:{len(found)}", dev)
    log.info("ws-discovery: %d device(s) answered a probe to %s:%d", len(found), *dest)
    return sorted(found.values(), key=lambda d: d.xaddrs[0] if d.xaddrs else d.address)
