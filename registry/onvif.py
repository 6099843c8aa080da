"""ONVIF probe: ask a camera who it is, what it can do and where its streams are.

Owns the conversation with one ONVIF device (Device and Media services, SOAP over HTTP through zeep, WSDLs from the
installed ``onvif-zeep-async`` package, never downloaded). :func:`probe` returns a :class:`ProbeResult` — device
information, capabilities and services, media profiles with their stream and snapshot URIs, and the device clock
offset — or raises one of the :class:`OnvifError` subclasses, whose messages are safe to show (no password, no
traceback). Every request is bounded by ``timeout_s`` and the whole probe by ``deadline_s``.

Authentication: WS-Security UsernameToken with PasswordDigest (the ONVIF default), shifted by the device clock offset
when the device clock is off, plus HTTP Digest when the device challenges for it.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import zeep
import zeep.exceptions
from lxml import etree
from pydantic import ConfigDict, Field, SecretStr
from requests.auth import HTTPDigestAuth
from zeep.wsdl import Document
from zeep.wsse.username import UsernameToken

from sharpeyes.strict import StrictModel

log = logging.getLogger(__name__)
# zeep logs every envelope at DEBUG, WS-Security token (user name, nonce, password digest) included
logging.getLogger("zeep.transports").setLevel(logging.INFO)

DEVICE_BINDING = "{http://www.onvif.org/ver10/device/wsdl}DeviceBinding"
MEDIA_BINDING = "{http://www.onvif.org/ver10/media/wsdl}MediaBinding"
MEDIA_NS = "http://www.onvif.org/ver10/media/wsdl"

OPERATIONS = (
    "GetSystemDateAndTime",
    "GetDeviceInformation",
    "GetCapabilities",
    "GetServices",
    "GetScopes",
    "GetProfiles",
    "GetStreamUri",
    "GetSnapshotUri",
)
"""The ONVIF operations :func:`probe` performs."""


# ------------------------------------------------------------------------------------------------- errors
class OnvifError(Exception):
    """Base of every probe failure. The message names host and port, never credentials."""


class OnvifUnreachable(OnvifError):
    """Nothing answers at host:port (connection refused, no route, DNS failure)."""


class OnvifTimeout(OnvifUnreachable):
    """The device accepted the connection (or not) but did not answer within the timeout."""


class OnvifAuthError(OnvifError):
    """The device refused the credentials (wrong user or password, or clock too far off for the digest)."""


class OnvifProtocolError(OnvifError):
    """The peer speaks HTTP but not ONVIF SOAP: wrong status, HTML, malformed or truncated XML."""


class OnvifFault(OnvifProtocolError):
    """The device answered with a SOAP fault other than an authorisation failure."""


class OnvifProfileNotFound(OnvifError):
    """The requested media profile is not offered by the device (or no H.264 profile exists)."""


# ------------------------------------------------------------------------------------------------- models
class _Out(StrictModel):
    model_config = ConfigDict(frozen=True)


class DeviceInfo(_Out):
    manufacturer: str = Field(description="GetDeviceInformation Manufacturer.")
    model: str = Field(description="GetDeviceInformation Model.")
    firmware: str = Field(description="GetDeviceInformation FirmwareVersion.")
    serial_number: str = Field(description="GetDeviceInformation SerialNumber.")
    hardware_id: str = Field(description="GetDeviceInformation HardwareId.")


class OnvifService(_Out):
    namespace: str = Field(description="Service namespace, e.g. http://www.onvif.org/ver10/media/wsdl.")
    xaddr: str = Field(description="Service endpoint URL as advertised by the device.")
    version: str = Field(description="Service version major.minor ('' when not given).")


class MediaProfile(_Out):
    token: str = Field(description="Profile token (pass as `profile` to choose this profile).")
    name: str = Field(description="Profile name.")
    encoding: str = Field(description="Video encoding: H264, H265, JPEG, MPEG4 ('' without an encoder).")
    width: int | None = Field(description="Encoded width in pixels.")
    height: int | None = Field(description="Encoded height in pixels.")
    fps: float | None = Field(description="Frame-rate limit.")
    bitrate_kbps: int | None = Field(description="Bitrate limit in kbit/s.")
    stream_uri: str | None = Field(description="RTSP URI (RTP unicast over RTSP), without credentials.")
    snapshot_uri: str | None = Field(description="JPEG snapshot URI, without credentials.")

    @property
    def resolution(self) -> str | None:
        return f"{self.width}x{self.height}" if self.width and self.height else None


class ProbeResult(_Out):
    host: str = Field(description="Host probed.")
    port: int = Field(description="ONVIF HTTP port probed.")
    device: DeviceInfo = Field(description="Device information.")
    capabilities: list[str] = Field(description="Capability categories the device reports (Device, Media, PTZ...).")
    services: list[OnvifService] = Field(description="Services from GetServices (or capabilities' XAddrs).")
    scopes: list[str] = Field(description="Device scopes (onvif://www.onvif.org/...).")
    profiles: list[MediaProfile] = Field(description="Media profiles with their URIs.")
    selected_profile: str = Field(description="Token of the chosen profile (main H.264 unless one was named).")
    clock_offset_s: float | None = Field(description="Device UTC clock minus ours, seconds (None: not reported).")
    elapsed_s: float = Field(description="Wall time of the whole probe.")

    @property
    def selected(self) -> MediaProfile:
        return next(p for p in self.profiles if p.token == self.selected_profile)


HOST_PATTERN = r"^(?:[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*|\[?[0-9A-Fa-f:.]+\]?)$"
"""A host name, IPv4 or IPv6 address: nothing that could add a scheme, user, port or path to a URL."""


def _netloc(target: ProbeTarget) -> str:
    host = target.host.strip("[]")
    return f"[{host}]:{target.port}" if ":" in host else f"{host}:{target.port}"


class ProbeTarget(StrictModel):
    """Where and how to reach an ONVIF device."""

    host: str = Field(min_length=1, max_length=253, pattern=HOST_PATTERN,
                      description="Device host name or IP address (nothing else: no scheme, path or user).")
    port: int = Field(80, ge=1, le=65535, description="ONVIF HTTP port.")
    username: str = Field("", max_length=128, description="ONVIF user name.")
    password: SecretStr = Field(SecretStr(""), description="ONVIF password (never returned or logged).")
    profile: str | None = Field(None, description="Profile token or name to select; default: main H.264 profile.")
    timeout_s: float = Field(5.0, gt=0, le=60, description="Timeout of each request to the device, seconds.")
    deadline_s: float = Field(20.0, gt=0, le=300, description="Time budget of the whole probe, seconds.")


# ------------------------------------------------------------------------------------------------- WSDLs
def wsdl_dir() -> Path:
    """The WSDL folder shipped inside the installed ``onvif`` package (onvif-zeep-async), located without
    importing it (its import configures the root logger)."""
    spec = importlib.util.find_spec("onvif")
    if spec is None or not spec.submodule_search_locations:
        raise OnvifError("the onvif-zeep-async package is not installed (pip install -r requirements.txt)")
    path = Path(next(iter(spec.submodule_search_locations))) / "wsdl"
    if not (path / "devicemgmt.wsdl").is_file():
        raise OnvifError(f"ONVIF WSDL files not found in {path}")
    return path


class _LocalOnlyTransport(zeep.Transport):
    """Loads WSDL/XSD only from local files: a schema import that points at the network is an error, not a fetch."""

    def load(self, url: str) -> bytes:
        scheme = urlsplit(url).scheme
        if scheme in ("http", "https"):
            raise OnvifError(f"WSDL import {url} is not in the installed package; refusing to download it")
        return bytes(super().load(url))


_DOCS: dict[str, Document] = {}
_DOCS_LOCK = threading.Lock()


def _document(name: str) -> Document:
    """Parse a bundled WSDL once per process (parsing the ONVIF schema takes a while)."""
    with _DOCS_LOCK:
        doc = _DOCS.get(name)
        if doc is None:
            settings = zeep.Settings(strict=False, xml_huge_tree=True, forbid_external=True)
            doc = Document(str(wsdl_dir() / name), _LocalOnlyTransport(), settings=settings)  # type: ignore[arg-type]
            _DOCS[name] = doc
        return doc


# ------------------------------------------------------------------------------------------------- transport
class _Transport(zeep.Transport):
    """A zeep transport that remembers the last HTTP status (a SOAP fault under 401 is an auth failure)."""

    def __init__(self, timeout_s: float, auth: HTTPDigestAuth | None) -> None:
        session = requests.Session()
        session.trust_env = False  # no proxies from the environment for devices on the local network
        if auth is not None:
            session.auth = auth
        super().__init__(timeout=timeout_s, operation_timeout=timeout_s, session=session)
        self.last_status: int | None = None

    def post(self, address: str, message: Any, headers: dict[str, str]) -> requests.Response:
        response: requests.Response = super().post(address, message, headers)
        self.last_status = response.status_code
        kind = _reply_kind(response)
        if kind is not None:
            raise _BadReply(kind, response.status_code)
        return response


class _BadReply(zeep.exceptions.TransportError):
    """A reply that is not a SOAP envelope: ``kind`` is 'not-onvif' (HTML, text, other XML) or 'malformed'."""

    def __init__(self, kind: str, status: int) -> None:
        super().__init__(kind, status_code=status)
        self.kind = kind


def _reply_kind(response: requests.Response) -> str | None:
    """Classify a reply before zeep sees it (zeep's lenient parser turns some garbage into odd exceptions)."""
    body = response.content or b""
    if not body.strip():
        return None  # zeep reports empty replies by status
    head = body.lstrip(b"\xef\xbb\xbf \t\r\n")[:512].lower()
    ctype = response.headers.get("Content-Type", "").lower()
    if "html" in ctype or head.startswith((b"<!doctype html", b"<html")):
        return "not-onvif"
    try:
        root = etree.fromstring(body, parser=etree.XMLParser(resolve_entities=False, no_network=True,
                                                              huge_tree=True))
    except etree.XMLSyntaxError:
        return "malformed" if head.startswith(b"<") else "not-onvif"
    return None if etree.QName(root).localname == "Envelope" else "not-onvif"


class _ShiftedUsernameToken(UsernameToken):
    """UsernameToken with PasswordDigest whose Created time follows the device clock (devices reject digests
    created too far from their own time)."""

    def __init__(self, username: str, password: str, offset: timedelta) -> None:
        super().__init__(username, password, use_digest=True, zulu_timestamp=True)
        self.offset = offset

    def apply(self, envelope: Any, headers: Any) -> Any:
        self.created = datetime.now(UTC).replace(tzinfo=None) + self.offset
        try:
            return super().apply(envelope, headers)
        finally:
            self.created = None


# ------------------------------------------------------------------------------------------------- session
class _Session:
    """One probe's calls to one device, with error translation."""

    def __init__(self, target: ProbeTarget) -> None:
        self.target = target
        self.where = f"{target.host}:{target.port}"
        password = target.password.get_secret_value()
        auth = HTTPDigestAuth(target.username, password) if target.username else None
        self.transport = _Transport(target.timeout_s, auth)
        self.deadline = time.monotonic() + target.deadline_s
        self.offset = timedelta(0)
        self.settings = zeep.Settings(strict=False, xml_huge_tree=True, forbid_external=True)
        self._username, self._password = target.username, password

    def close(self) -> None:
        self.transport.session.close()

    def service(self, wsdl: str, binding: str, address: str, *, auth: bool = True) -> Any:
        wsse = _ShiftedUsernameToken(self._username, self._password, self.offset) if auth and self._username else None
        client = zeep.Client(_document(wsdl), wsse=wsse, transport=self.transport, settings=self.settings)
        return client.create_service(binding, address)

    def call(self, service: Any, operation: str, **params: Any) -> Any:
        """Call ``operation``; every failure becomes an :class:`OnvifError` with a short, secret-free message."""
        self.transport.last_status = None
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise OnvifTimeout(f"{self.where}: probe took longer than {self.target.deadline_s:g}s (at {operation})")
        timeout = min(self.target.timeout_s, remaining)
        self.transport.operation_timeout = timeout
        try:
            return getattr(service, operation)(**params)
        except requests.exceptions.Timeout:
            raise OnvifTimeout(f"{self.where}: no answer to {operation} within {timeout:.3g}s") from None
        except requests.exceptions.ConnectionError as exc:
            raise OnvifUnreachable(f"{self.where}: cannot connect ({_reason(exc)})") from None
        except requests.exceptions.RequestException as exc:
            raise OnvifUnreachable(f"{self.where}: HTTP request failed ({type(exc).__name__})") from None
        except zeep.exceptions.Fault as exc:
            if exc.code is None and exc.message == "Unknown fault occured":  # XML, but no SOAP Fault in it
                raise OnvifProtocolError(
                    f"{self.where}: not an ONVIF device: {operation} got HTTP {self.transport.last_status} "
                    "with XML that is not a SOAP envelope") from None
            if self.transport.last_status in (401, 403) or _is_auth_fault(exc):
                raise OnvifAuthError(
                    f"{self.where}: {operation} refused: not authorised (wrong user name or password"
                    f"{'' if self._username else ', or the device requires credentials'})"
                ) from None
            raise OnvifFault(f"{self.where}: {operation} returned a SOAP fault: {_short(exc.message)}") from None
        except _BadReply as exc:
            if exc.status_code in (401, 403):
                raise OnvifAuthError(
                    f"{self.where}: {operation} refused with HTTP {exc.status_code} (not authorised)") from None
            if exc.kind == "malformed":
                raise OnvifProtocolError(
                    f"{self.where}: {operation}: malformed or truncated XML in the reply (HTTP {exc.status_code})"
                ) from None
            raise OnvifProtocolError(
                f"{self.where}: not an ONVIF device: {operation} got HTTP {exc.status_code} without a SOAP envelope"
            ) from None
        except zeep.exceptions.TransportError as exc:
            status = exc.status_code
            if status in (401, 403):
                raise OnvifAuthError(f"{self.where}: {operation} refused with HTTP {status} (not authorised)") from None
            head = (exc.content or b"")[:500]
            if status == 200 or (b"<" in head[:200] and b"html" not in head.lower()):
                raise OnvifProtocolError(
                    f"{self.where}: {operation}: malformed or truncated XML in the reply (HTTP {status})"
                ) from None
            raise OnvifProtocolError(
                f"{self.where}: not an ONVIF device: {operation} got HTTP {status} without a SOAP envelope"
            ) from None
        except (zeep.exceptions.XMLSyntaxError, zeep.exceptions.XMLParseError, etree.XMLSyntaxError):
            raise OnvifProtocolError(
                f"{self.where}: not an ONVIF device: {operation}: the reply is not a SOAP envelope") from None
        except (zeep.exceptions.ValidationError, zeep.exceptions.LookupError) as exc:
            raise OnvifProtocolError(f"{self.where}: {operation}: unexpected reply content ({_short(str(exc))})") \
                from None
        except zeep.exceptions.Error as exc:
            raise OnvifProtocolError(f"{self.where}: {operation} failed: {type(exc).__name__}") from None


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for needle, reason in (("Connection refused", "connection refused"), ("timed out", "timed out"),
                           ("Name or service not known", "unknown host"), ("No route", "no route to host"),
                           ("Network is unreachable", "network unreachable"), ("reset", "connection reset"),
                           ("RemoteDisconnected", "connection closed without a reply")):
        if needle in text:
            return reason
    return type(exc).__name__


def _is_auth_fault(exc: zeep.exceptions.Fault) -> bool:
    text = " ".join(str(x) for x in (exc.message, exc.code, exc.subcodes) if x).lower()
    return any(k in text for k in ("notauthorized", "not authorized", "unauthorized", "failedauthentication",
                                   "not authorised", "invalid username", "sender not authorized"))


def _short(text: str | None, limit: int = 200) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _get(obj: Any, *path: str) -> Any:
    for name in path:
        if obj is None:
            return None
        obj = getattr(obj, name, None) if not isinstance(obj, dict) else obj.get(name)
    return obj


def _str(value: Any) -> str:
    return "" if value is None else str(value)


# ------------------------------------------------------------------------------------------------- probe
def probe(target: ProbeTarget) -> ProbeResult:
    """Probe one ONVIF device. Raises an :class:`OnvifError` subclass on any failure."""
    started = time.monotonic()
    session = _Session(target)
    device_url = f"http://{_netloc(target)}/onvif/device_service"
    try:
        # 1. Clock first, without credentials (ONVIF allows it); a device that insists on auth gets them.
        clock_offset = _clock_offset(session, device_url)
        if clock_offset is not None and abs(clock_offset) > 5:
            session.offset = timedelta(seconds=clock_offset)
        devmgmt = session.service("devicemgmt.wsdl", DEVICE_BINDING, device_url)
        info = session.call(devmgmt, "GetDeviceInformation")
        device = DeviceInfo(
            manufacturer=_str(_get(info, "Manufacturer")), model=_str(_get(info, "Model")),
            firmware=_str(_get(info, "FirmwareVersion")), serial_number=_str(_get(info, "SerialNumber")),
            hardware_id=_str(_get(info, "HardwareId")),
        )
        caps = session.call(devmgmt, "GetCapabilities", Category="All")
        capabilities = [
            name for name in ("Analytics", "Device", "Events", "Imaging", "Media", "PTZ", "Extension")
            if _get(caps, name) is not None
        ]
        services = _services(session, devmgmt, caps)
        scopes = _scopes(session, devmgmt)
        media_url = next((s.xaddr for s in services if s.namespace == MEDIA_NS), None) or _str(
            _get(caps, "Media", "XAddr"))
        if not media_url:
            raise OnvifProtocolError(f"{session.where}: the device reports no Media service (not a video device)")
        media = session.service("media.wsdl", MEDIA_BINDING, _same_host(media_url, target))
        profiles = _profiles(session, media)
        if not profiles:
            raise OnvifProtocolError(f"{session.where}: the device has no media profiles")
        selected = select_profile(profiles, target.profile)
    finally:
        session.close()
    elapsed = time.monotonic() - started
    log.info("onvif probe %s: %s %s, %d profile(s), selected %s, %.2fs", session.where, device.manufacturer,
             device.model, len(profiles), selected.token, elapsed)
    return ProbeResult(host=target.host, port=target.port, device=device, capabilities=capabilities,
                       services=services, scopes=scopes, profiles=profiles, selected_profile=selected.token,
                       clock_offset_s=clock_offset, elapsed_s=round(elapsed, 4))


def _clock_offset(session: _Session, device_url: str) -> float | None:
    service = session.service("devicemgmt.wsdl", DEVICE_BINDING, device_url, auth=False)
    before = time.time()
    try:
        reply = session.call(service, "GetSystemDateAndTime")
    except OnvifAuthError:
        service = session.service("devicemgmt.wsdl", DEVICE_BINDING, device_url)
        before = time.time()
        reply = session.call(service, "GetSystemDateAndTime")
    after = time.time()
    utc = _get(reply, "UTCDateTime")
    date, tod = _get(utc, "Date"), _get(utc, "Time")
    if date is None or tod is None:
        return None
    try:
        device_time = datetime(int(date.Year), int(date.Month), int(date.Day), int(tod.Hour), int(tod.Minute),
                               int(tod.Second), tzinfo=UTC)
    except (TypeError, ValueError):
        return None
    return round(device_time.timestamp() - (before + after) / 2, 3)


def _services(session: _Session, devmgmt: Any, caps: Any) -> list[OnvifService]:
    try:
        reply = session.call(devmgmt, "GetServices", IncludeCapability=False)
    except (OnvifFault, OnvifProtocolError):
        reply = None
    out: list[OnvifService] = []
    for svc in reply or []:
        version = _get(svc, "Version")
        ver = f"{_get(version, 'Major')}.{_get(version, 'Minor')}" if version is not None else ""
        out.append(OnvifService(namespace=_str(_get(svc, "Namespace")), xaddr=_str(_get(svc, "XAddr")), version=ver))
    if not out:  # older devices: the capabilities' XAddrs
        for name, ns in (("Device", "http://www.onvif.org/ver10/device/wsdl"), ("Media", MEDIA_NS),
                         ("PTZ", "http://www.onvif.org/ver20/ptz/wsdl"),
                         ("Imaging", "http://www.onvif.org/ver20/imaging/wsdl"),
                         ("Events", "http://www.onvif.org/ver10/events/wsdl")):
            xaddr = _get(caps, name, "XAddr")
            if xaddr:
                out.append(OnvifService(namespace=ns, xaddr=str(xaddr), version=""))
    return out


def _scopes(session: _Session, devmgmt: Any) -> list[str]:
    try:
        reply = session.call(devmgmt, "GetScopes")
    except (OnvifFault, OnvifProtocolError):
        return []
    return [str(_get(s, "ScopeItem")) for s in reply or [] if _get(s, "ScopeItem")]


def _profiles(session: _Session, media: Any) -> list[MediaProfile]:
    out: list[MediaProfile] = []
    for p in session.call(media, "GetProfiles") or []:
        token = _str(_get(p, "token"))
        enc = _get(p, "VideoEncoderConfiguration")
        stream_uri = snapshot_uri = None
        try:
            reply = session.call(media, "GetStreamUri", ProfileToken=token,
                                 StreamSetup={"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}})
            stream_uri = _str(_get(reply, "Uri")) or None
        except OnvifFault as exc:
            log.info("onvif %s: no stream URI for profile %s: %s", session.where, token, exc)
        try:
            reply = session.call(media, "GetSnapshotUri", ProfileToken=token)
            snapshot_uri = _str(_get(reply, "Uri")) or None
        except OnvifFault as exc:
            log.info("onvif %s: no snapshot URI for profile %s: %s", session.where, token, exc)
        fps = _get(enc, "RateControl", "FrameRateLimit")
        bitrate = _get(enc, "RateControl", "BitrateLimit")
        width, height = _get(enc, "Resolution", "Width"), _get(enc, "Resolution", "Height")
        out.append(MediaProfile(
            token=token, name=_str(_get(p, "Name")), encoding=_str(_get(enc, "Encoding")).upper(),
            width=int(width) if width is not None else None, height=int(height) if height is not None else None,
            fps=float(fps) if fps is not None else None, bitrate_kbps=int(bitrate) if bitrate is not None else None,
            stream_uri=_strip_userinfo(stream_uri), snapshot_uri=_strip_userinfo(snapshot_uri),
        ))
    return out


def _same_host(xaddr: str, target: ProbeTarget) -> str:
    """Service XAddrs are used only on the host and port that were probed: a device behind NAT advertises its LAN
    address, and a hostile one could name another host to collect the authenticated requests."""
    parts = urlsplit(xaddr)
    netloc = _netloc(target)
    if parts.netloc != netloc:
        log.info("onvif %s:%d: service advertised at %s, used at %s", target.host, target.port, parts.netloc, netloc)
    return urlunsplit(("http", netloc, parts.path or "/", parts.query, ""))


def _strip_userinfo(uri: str | None) -> str | None:
    """Some devices embed credentials in the URIs they return: never keep them."""
    if not uri:
        return uri
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    netloc = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=netloc).geturl()


def select_profile(profiles: list[MediaProfile], wanted: str | None = None) -> MediaProfile:
    """The named profile (token or name), else the main H.264 profile: the H.264 one with the most pixels."""
    if wanted:
        for p in profiles:
            if wanted in (p.token, p.name):
                return p
        raise OnvifProfileNotFound(
            f"profile {wanted!r} not offered; available: {', '.join(p.token for p in profiles)}")
    h264 = [p for p in profiles if p.encoding == "H264" and p.stream_uri]
    if not h264:
        raise OnvifProfileNotFound(
            "no H.264 profile with a stream URI; name one of: " + ", ".join(f"{p.token} ({p.encoding})"
                                                                          for p in profiles))
    return max(h264, key=lambda p: ((p.width or 0) * (p.height or 0), p.fps or 0))

