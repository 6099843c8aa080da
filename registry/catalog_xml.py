"""GB/T 28181 catalog export: the registry as the XML body of a Catalog response (目录查询应答), and its parser.

Owns :func:`catalog_xml` (cameras plus the jurisdiction tree as business-group / virtual-organisation nodes),
the derivation of those nodes' 20-digit IDs (:func:`group_id`), and :func:`parse_catalog_xml`. It reads the
``jurisdictions``, ``cameras`` and ``camera_availability`` tables; it must not write anything, must not read
``camera_credentials`` (no user name, password, stream or snapshot URL ever goes into the XML), and must not touch
streams, Redis or HTTP. It writes the document only: no SIP signalling (a sender splits the list into
MESSAGEs of a few items each, keeping ``SumNum``).

Node IDs (documented in docs/gb28181.md): ``CCCCCC 00 00 TTT N SSSSSS`` with CCCCCC the county civil code, access
unit and industry ``00``, TTT ``215`` (business group) for the county and ``216`` (virtual organisation) for a
township or village, N the network digit of the platform ID, and SSSSSS digits 7-12 of the node's code padded with
zeros: 武乡县 140429 → 14042900002155000000, 丰州镇 140429100 → 14042900002165100000, village 140429100001 →
14042900002165100001. Stable across exports; a collision (not possible with statistical codes) falls back to
the next free serial from 900000 and is reported.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field
from sqlalchemy import func, select

from registry.gb28181 import InvalidDeviceId, parse_device_id
from registry.models import AvailabilityRecord, Camera, Jurisdiction
from registry.store import Registry
from sharpeyes.strict import StrictModel

log = logging.getLogger(__name__)

BUSINESS_GROUP = "215"
VIRTUAL_ORGANISATION = "216"
PLATFORM = "200"
_DECLARATION_RE = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_XML_INVALID_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# GB/T 28181-2016 annex F (SDP f= field) resolution codes, highest first: (code, min height, min width)
RESOLUTION_CODES: tuple[tuple[int, int, int], ...] = (
    (6, 1080, 0),  # 1080P/I
    (5, 720, 0),  # 720P
    (4, 480, 720),  # D1 (720×576 / 720×480)
    (3, 480, 0),  # 4CIF (704×576 / 704×480)
    (2, 240, 0),  # CIF (352×288)
    (1, 0, 0),  # QCIF (176×144)
)


class CatalogProblem(StrictModel):
    """Something the export left out or had to change."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Camera ID or jurisdiction code concerned ('' for the whole document).")
    detail: str = Field(description="What is wrong, for the operator.")


class CatalogExport(StrictModel):
    """The XML document and what the export could not do cleanly."""

    model_config = ConfigDict(frozen=True)

    data: bytes = Field(description="The XML document, encoded as declared in its first line.")
    encoding: str = Field(description="Encoding declared in the document: UTF-8, GB2312 or GB18030.")
    device_id: str = Field(description="Platform ID in the response's DeviceID.")
    cameras: int = Field(description="Camera items written.")
    groups: int = Field(description="Business-group (215) and virtual-organisation (216) items written.")
    problems: list[CatalogProblem] = Field(description="Cameras left out (invalid ID) and other problems.")

    @property
    def items(self) -> int:
        return self.cameras + self.groups


def group_id(code: str, *, network: str = "5") -> str:
    """The 215 (county) or 216 (township, village) ID derived from a jurisdiction code of 6, 9 or 12 digits."""
    if not re.fullmatch(r"\d{6}(\d{3}){0,2}", code):
        raise ValueError(f"jurisdiction code {code!r} is not 6, 9 or 12 digits")
    kind = BUSINESS_GROUP if len(code) == 6 else VIRTUAL_ORGANISATION
    return f"{code[:6]}0000{kind}{network}{code[6:].ljust(6, '0')}"


def default_platform_id(county: str, *, network: str = "5") -> str:
    """``CCCCCC 00 00 200 N 000001``: a platform ID for the county when none is configured."""
    return f"{county}0000{PLATFORM}{network}000001"


def resolution_code(resolution: str | None) -> str | None:
    """GB/T 28181 resolution code of ``WIDTHxHEIGHT`` (the highest the frame size reaches), or None."""
    if not resolution or not re.fullmatch(r"\d+x\d+", resolution):
        return None
    width, height = (int(v) for v in resolution.split("x"))
    return next(str(code) for code, min_h, min_w in RESOLUTION_CODES if height >= min_h and width >= min_w)


# ------------------------------------------------------------------------------------------------- export
def catalog_xml(registry: Registry, *, encoding: Literal["utf-8", "gb18030"] = "utf-8", sn: int = 1,
                device_id: str | None = None, online: Mapping[str, bool] | None = None,
                include_disabled: bool = True, ids: Collection[str] | None = None) -> CatalogExport:
    """The registry as a GB/T 28181 Catalog response body.

    ``device_id``: the platform's own ID (the response's DeviceID; default :func:`default_platform_id` of the first
    county); its network digit is used for the group nodes. ``online``: camera ID → online, e.g. from the hub's live
    state; default: the last entry of each camera's availability ledger (none: OFF); a disabled camera is OFF.
    ``ids``: only these cameras (an unknown one is reported); default: all.
    ``encoding="gb18030"`` declares GB2312 (what GB/T 28181 peers expect) when every character fits it, else
    GB18030 (reported). Raises ``ValueError`` for an invalid ``device_id`` or a negative ``sn``."""
    if sn < 0:
        raise ValueError(f"SN must be >= 0, got {sn}")
    with registry.sessions() as s:
        nodes = {j.code: j for j in s.scalars(select(Jurisdiction))}
        cameras = list(s.scalars(select(Camera).order_by(Camera.id)))
        states = _last_states(s) if online is None else {}
    problems: list[CatalogProblem] = []
    if device_id is None:
        counties = sorted(c for c, j in nodes.items() if j.level == "county")
        device_id = default_platform_id(counties[0] if counties else "000000")
    try:
        network = parse_device_id(device_id, require_camera=False).network
    except InvalidDeviceId as exc:
        raise ValueError(f"platform ID: {exc}") from None

    if ids is not None:
        wanted = set(ids)
        problems.extend(CatalogProblem(id=i, detail="no such camera") for i in sorted(wanted - {c.id for c in cameras}))
        cameras = [c for c in cameras if c.id in wanted]
    exported: list[tuple[Camera, list[str]]] = []
    for cam in cameras:
        if not cam.enabled and not include_disabled:
            continue
        try:
            parse_device_id(cam.id)
        except InvalidDeviceId as exc:
            problems.append(CatalogProblem(id=cam.id, detail=f"not exported: {exc}"))
            continue
        path = _path(nodes, cam.jurisdiction_code)
        if not path or len(path[0]) != 6:
            problems.append(CatalogProblem(id=cam.id, detail=f"jurisdiction {cam.jurisdiction_code} is not under a "
                                                             "county: listed under the platform"))
        exported.append((cam, path))

    ids = _group_ids(sorted({code for _cam, path in exported for code in path if len(path[0]) == 6}), network,
                     problems)
    root = ET.Element("Response")
    _sub(root, "CmdType", "Catalog")
    _sub(root, "SN", str(sn))
    _sub(root, "DeviceID", device_id)
    items: list[ET.Element] = []
    for code, gid in ids.items():
        node = nodes[code]
        item = ET.Element("Item")
        _sub(item, "DeviceID", gid)
        _sub(item, "Name", node.name)
        _sub(item, "CivilCode", code[:6])
        if len(code) == 6:
            _sub(item, "ParentID", device_id)
        else:
            _sub(item, "ParentID", ids[node.parent_code or ""] if node.parent_code in ids else device_id)
            _sub(item, "BusinessGroupID", ids[code[:6]])
        items.append(item)
    groups = len(items)
    for cam, path in exported:
        is_online = (online.get(cam.id, False) if online is not None else states.get(cam.id) == "online")
        items.append(_camera_item(cam, path, ids, device_id, is_online and cam.enabled))
    _sub(root, "SumNum", str(len(items)))
    device_list = _sub(root, "DeviceList")
    device_list.set("Num", str(len(items)))
    device_list.extend(items)

    for element in root.iter():
        if element.text and _XML_INVALID_RE.search(element.text):
            problems.append(CatalogProblem(id=_item_id(root, element), detail=f"{element.tag}: characters not "
                                                                               "allowed in XML removed"))
            element.text = _XML_INVALID_RE.sub("", element.text)
    declared, data = _encode(root, encoding, problems)
    log.info("catalog export: %d camera(s), %d group node(s), %s, %d problem(s)", len(exported), groups, declared,
             len(problems))
    return CatalogExport(data=data, encoding=declared, device_id=device_id, cameras=len(exported), groups=groups,
                         problems=problems)


def _camera_item(cam: Camera, path: list[str], ids: Mapping[str, str], platform: str, is_online: bool) \
        -> ET.Element:
    item = ET.Element("Item")
    county = path[0] if path and len(path[0]) == 6 else cam.id[:6]
    parent = ids.get(path[-1], platform) if path else platform
    for tag, value in (("DeviceID", cam.id), ("Name", cam.name), ("Manufacturer", cam.manufacturer or ""),
                       ("Model", cam.model or ""), ("Owner", cam.owner or ""), ("CivilCode", county),
                       ("Address", cam.address or ""), ("Parental", "0"), ("ParentID", parent), ("SafetyWay", "0"),
                       ("RegisterWay", "1"), ("Secrecy", "0"), ("Status", "ON" if is_online else "OFF")):
        _sub(item, tag, value)
    if cam.longitude is not None and cam.latitude is not None:
        _sub(item, "Longitude", _coordinate(cam.longitude))
        _sub(item, "Latitude", _coordinate(cam.latitude))
    info = _sub(item, "Info")
    for tag, number in (("PTZType", cam.ptz_type), ("PositionType", cam.position_type), ("RoomType", cam.room_type),
                        ("UseType", cam.use_type), ("DirectionType", cam.direction)):
        if number is not None:
            _sub(info, tag, str(number))
    code = resolution_code(cam.resolution)
    if code is not None:
        _sub(info, "Resolution", code)
    if path and path[0] in ids:
        _sub(info, "BusinessGroupID", ids[path[0]])
    return item


def _group_ids(codes: Iterable[str], network: str, problems: list[CatalogProblem]) -> dict[str, str]:
    """Jurisdiction code → group ID, parents first (codes sorted: a prefix sorts before its children)."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for code in codes:
        gid = group_id(code, network=network)
        if gid in used:
            serial = 900_000
            while (gid := f"{gid[:14]}{serial:06d}") in used:
                serial += 1
            problems.append(CatalogProblem(id=code, detail=f"derived group ID collides: assigned {gid} by order "
                                                            "(not stable across exports)"))
        used.add(gid)
        out[code] = gid
    return out


def _path(nodes: Mapping[str, Jurisdiction], code: str) -> list[str]:
    """Codes from the county down to ``code`` (like :meth:`Registry.jurisdiction_path`, in memory)."""
    path: list[str] = []
    node = nodes.get(code)
    while node is not None and node.code not in path:
        path.append(node.code)
        if node.level == "county":
            break
        node = nodes.get(node.parent_code) if node.parent_code else None
    return list(reversed(path))


def _last_states(session: Any) -> dict[str, str]:
    """Camera ID → state of its latest availability record (ids grow with time)."""
    latest = select(func.max(AvailabilityRecord.id)).group_by(AvailabilityRecord.camera_id)
    rows = session.execute(select(AvailabilityRecord.camera_id, AvailabilityRecord.state)
                           .where(AvailabilityRecord.id.in_(latest)))
    return {camera_id: state for camera_id, state in rows}


def _encode(root: ET.Element, encoding: str, problems: list[CatalogProblem]) -> tuple[str, bytes]:
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode", short_empty_elements=False)
    if encoding == "utf-8":
        declared, codec = "UTF-8", "utf-8"
    elif encoding == "gb18030":
        outside = sorted({ch for ch in body if not _encodes(ch, "gb2312")})
        declared, codec = ("GB2312", "gb2312") if not outside else ("GB18030", "gb18030")
        if outside:
            problems.append(CatalogProblem(id="", detail=f"characters outside GB2312 ({''.join(outside[:20])}): "
                                                         "declared GB18030; a peer expecting GB2312 may misread them"))
    else:
        raise ValueError(f"encoding must be 'utf-8' or 'gb18030', got {encoding!r}")
    text = f'<?xml version="1.0" encoding="{declared}"?>\n{body}\n'
    return declared, text.encode(codec)


def _encodes(ch: str, codec: str) -> bool:
    try:
        ch.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, tag)
    if text is not None:
        element.text = text
    return element


def _coordinate(value: float) -> str:
    return format(value, ".7f").rstrip("0").rstrip(".")


def _item_id(root: ET.Element, element: ET.Element) -> str:
    for item in root.iter("Item"):
        if any(e is element for e in item.iter()):
            return item.findtext("DeviceID") or ""
    return ""


# ------------------------------------------------------------------------------------------------- parse
def read_catalog_xml(data: bytes) -> ET.Element:
    """The ``<Response>`` element of a catalog document, decoded as its declaration says (GB2312 and GBK are read
    as GB18030, their superset; no declaration: UTF-8). Refuses DTDs and entities (``ValueError``)."""
    match = _DECLARATION_RE.match(data)
    declared = match.group(1).decode("ascii").lower() if match else "utf-8"
    codec = "gb18030" if declared in ("gb2312", "gbk", "gb18030") else declared
    try:
        text = data.decode(codec)
    except (LookupError, UnicodeDecodeError) as exc:
        raise ValueError(f"catalog XML is not valid {declared}: {exc}") from None
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise ValueError("catalog XML must not contain a DTD or entity declarations")
    text = re.sub(r"^\s*<\?xml[^>]*\?>", "", text, count=1)
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"catalog XML does not parse: {exc}") from None


def parse_catalog_xml(data: bytes) -> list[dict[str, Any]]:
    """The ``<Item>``s of a Catalog response, in document order: tag → text, with ``Info`` as a nested dict."""
    root = read_catalog_xml(data)
    out: list[dict[str, Any]] = []
    for item in root.iter("Item"):
        record: dict[str, Any] = {}
        for child in item:
            if len(child) or child.tag == "Info":
                record[child.tag] = {grand.tag: grand.text or "" for grand in child}
            else:
                record[child.tag] = child.text or ""
        out.append(record)
    return out
