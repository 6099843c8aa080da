"""Declarative camera YAML (``camera_configs/*.yaml``): pydantic models and a loader whose errors name file, line
and field.

A file holds optional ``jurisdictions`` (village/grid nodes below the seeded townships; demo ones must be
``synthetic: true``), ``cameras`` and ``key_points`` (重点公共区域 the four-all audit checks coverage of).
Rules are configured per camera with zones as polygons in normalised coordinates (0..1, origin top-left), tested
against a box's bottom centre.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import Field, TypeAdapter, ValidationError, field_validator, model_validator

from registry.gb28181 import InvalidDeviceId, parse_device_id
from registry.rules import RULE_TYPES, CrowdGatheringRule, Point, RuleConfig, ZoneIntrusionRule, _check_polygon
from sharpeyes.frames import SampleMode
from sharpeyes.strict import StrictModel
from sharpeyes.urls import validate_stream_url

__all__ = ["CrowdGatheringRule", "RuleConfig", "ZoneIntrusionRule"]  # rule models live in registry/rules.py

class Position(StrictModel):
    longitude: float = Field(ge=-180, le=180, description="WGS-84 longitude.")
    latitude: float = Field(ge=-90, le=90, description="WGS-84 latitude.")


class Sampling(StrictModel):
    mode: SampleMode = Field(
        "auto",
        description="'auto': decode keyframes only when the stream's keyframe interval fits the sampling interval "
        "(probed with ffprobe at each connection), else decode every frame; 'fps': always decode every frame and "
        "sample N fps; 'keyframes': always decode keyframes only.",
    )
    fps: float = Field(1.0, gt=0.0, le=30.0, description="Frames per second handed to analytics.")


class PrivacyMask(StrictModel):
    name: str = Field("", description="What is masked, e.g. 'residential windows' (for the operator).")
    polygon: list[Point] = Field(
        description="Polygon, normalised coordinates (0..1, origin top-left), blacked out of every frame before "
        "detection and before any snapshot is stored or shown."
    )

    _poly = field_validator("polygon")(_check_polygon)


def civil_code(v: str) -> str:
    """A jurisdiction reference: a 6 (county), 9 (township) or 12-digit (village/grid) civil code."""
    if not re.fullmatch(r"\d{6}|\d{9}|\d{12}", v):
        raise ValueError("jurisdiction must be a 6, 9 or 12-digit civil code")
    return v


class OnvifEndpoint(StrictModel):
    host: str = Field(min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.:\[\]_-]+$",
                      description="ONVIF device host name or IP address.")
    port: int = Field(80, ge=1, le=65535, description="ONVIF HTTP port.")
    profile: str | None = Field(None, max_length=100, description="Media profile token streamed by the hub.")


class CameraFields(StrictModel):
    """Everything about a camera except its ID and stream URL (shared by the YAML model and registration)."""

    name: str = Field(min_length=1, max_length=200, description="Camera name.")
    jurisdiction: str = Field(description="Civil code of the village/grid (or township) the camera belongs to.")
    position: Position | None = Field(None, description="WGS-84 position.")
    heading_deg: float | None = Field(None, ge=0, lt=360, description="Optical axis bearing, degrees from north.")
    fov_deg: float | None = Field(None, gt=0, le=360, description="Horizontal field of view.")
    range_m: float | None = Field(None, gt=0, description="Useful viewing range in metres.")
    sampling: Sampling = Field(default_factory=Sampling, description="Frame sampling.")  # type: ignore[arg-type]
    rules: list[RuleConfig] = Field(default_factory=list, description="Analytics rules.")
    detector_model: str | None = Field(
        None, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$",
        description="Detector for this camera: the name of a model imported with `sharpeyes model import` "
        "(`sharpeyes model list`). Unset: the hub's default model (detector.model).",
    )
    node_label: str | None = Field(
        None, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$",
        description="Pin to a node label: with camera leases (cluster.leases), only worker nodes with this label in "
        "cluster.labels (e.g. 'gpu') sample the camera, and while no such node is up none does. Unset: any node.",
    )
    motion_regions: bool | None = Field(
        None,
        description="Motion regions for this camera: true, the detector looks only where the frame changed and "
        "where the last persons were (a whole-frame pass every analytics.motion.force_every_s); false, whole "
        "frames every time (e.g. a view where what matters stands still). Unset: the hub's "
        "analytics.motion.regions.",
    )
    privacy_masks: list[PrivacyMask] = Field(
        default_factory=list, description="Regions never analysed, stored or shown (private places, 条例 art. 8)."
    )
    enabled: bool = Field(True, description="Disabled cameras stay registered but are not sampled.")
    # GB/T 28181 catalog (一机一档); code tables in registry/catalog.py
    manufacturer: str | None = Field(None, max_length=100, description="Manufacturer (catalog Manufacturer).")
    model: str | None = Field(None, max_length=100, description="Model (catalog Model).")
    firmware: str | None = Field(None, max_length=100, description="Firmware version reported by the device.")
    serial_number: str | None = Field(None, max_length=100, description="Device serial number.")
    owner: str | None = Field(None, max_length=200, description="Owning unit (catalog Owner).")
    address: str | None = Field(None, max_length=300, description="Installation address (catalog Address).")
    ptz_type: Literal[1, 2, 3, 4] | None = Field(
        None, description="1 dome, 2 half-dome, 3 fixed bullet, 4 remote-controlled bullet.")
    position_type: int | None = Field(
        None, ge=1, le=10, description="1 checkpoint, 2 party/government organ, 3 station/port, 4 square, "
        "5 stadium, 6 commercial centre, 7 religious site, 8 school surroundings, 9 complex public-order area, "
        "10 traffic artery.")
    room_type: Literal[1, 2] | None = Field(None, description="1 outdoor, 2 indoor.")
    use_type: Literal[1, 2, 3] | None = Field(None, description="1 public order, 2 traffic, 3 key area.")
    direction: int | None = Field(
        None, ge=1, le=8, description="1 E, 2 W, 3 S, 4 N, 5 SE, 6 NE, 7 SW, 8 NW (monitoring direction).")
    resolution: str | None = Field(None, pattern=r"^[1-9]\d{1,4}x[1-9]\d{1,4}$",
                                   description="Main-stream resolution WIDTHxHEIGHT, e.g. 1920x1080.")
    onvif: OnvifEndpoint | None = Field(None, description="ONVIF endpoint (credentials live in the vault).")
    snapshot: str | None = Field(None, description="Snapshot URL (http/https), without credentials.")

    @field_validator("snapshot")
    @classmethod
    def _snapshot(cls, v: str | None) -> str | None:
        if v is None:
            return v
        validate_stream_url(v)
        if urlsplit(v).scheme.lower() not in ("http", "https"):
            raise ValueError("snapshot URL must be http(s)")
        return v

    @field_validator("jurisdiction")
    @classmethod
    def _code(cls, v: str) -> str:
        return civil_code(v)

    @model_validator(mode="after")
    def _unique_rule_names(self) -> CameraFields:
        names = [r.name for r in self.rules]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"rule names must be unique per camera: {sorted(dup)}")
        return self


class CameraConfig(CameraFields):
    """One camera as declared in YAML and as stored: GB/T 28181 ID and a credential-free stream URL."""

    id: str = Field(description="GB/T 28181 20-digit device ID.")
    stream: str = Field(description="rtsp://, rtsps:// or http(s):// source, without credentials.")

    @field_validator("id")
    @classmethod
    def _gb_id(cls, v: str) -> str:
        try:
            parse_device_id(v)
        except InvalidDeviceId as exc:
            raise ValueError(str(exc)) from None
        return v

    @field_validator("stream")
    @classmethod
    def _stream(cls, v: str) -> str:
        return validate_stream_url(v)


class JurisdictionConfig(StrictModel):
    code: str = Field(pattern=r"^\d{12}$", description="12-digit village/community or grid code.")
    name: str = Field(min_length=1, max_length=100, description="Name (at most 100 characters).")
    parent: str = Field(pattern=r"^\d{9}$", description="9-digit township code it belongs to.")
    level: Literal["village", "grid"] = Field("village", description="Node level.")
    center: bool = Field(True, description="Whether this node hosts a comprehensive-governance center (综治中心).")
    synthetic: bool = Field(description="True for made-up demo/test nodes (not real statistical codes).")

    @model_validator(mode="after")
    def _prefix(self) -> JurisdictionConfig:
        if not self.code.startswith(self.parent):
            raise ValueError(f"code {self.code} does not start with its parent's code {self.parent}")
        return self


KeyPointKind = Literal["crossroads", "square", "school", "hospital", "station", "market", "government", "other"]


class KeyPointConfig(StrictModel):
    """A key public area (重点公共区域) that ≥1 online camera should see (全域覆盖, four-all audit)."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", description="Slug, e.g. 'fz-school-gate'.")
    name: str = Field(min_length=1, max_length=200, description="Name shown in the audit report.")
    kind: KeyPointKind = Field(description="crossroads, square, school, hospital, station, market, government or "
                                           "other.")
    jurisdiction: str = Field(description="Civil code (6, 9 or 12 digits) of the node the key point lies in.")
    longitude: float = Field(ge=-180, le=180, description="WGS-84 longitude.")
    latitude: float = Field(ge=-90, le=90, description="WGS-84 latitude.")
    synthetic: bool = Field(False, description="True for made-up demo/test points (not a real place).")

    @field_validator("jurisdiction")
    @classmethod
    def _code(cls, v: str) -> str:
        return civil_code(v)


class CameraFile(StrictModel):
    jurisdictions: list[JurisdictionConfig] = Field(default_factory=list, description="Village/grid nodes.")
    cameras: list[CameraConfig] = Field(default_factory=list, description="Cameras.")
    key_points: list[KeyPointConfig] = Field(
        default_factory=list, description="Key public areas (重点公共区域) for the coverage audit.")


# ------------------------------------------------------------------------------------------------- loading


@dataclass
class ConfigIssue:
    file: Path
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class CameraConfigError(ValueError):
    """One or more problems in camera YAML files; ``issues`` lists each with file, line and field. The message
    shows the first :data:`SHOWN_ISSUES` and a count of the others (a file of 60,000 bad cameras stays readable)."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        lines = [f"  {i}" for i in issues[:SHOWN_ISSUES]]
        if len(issues) > SHOWN_ISSUES:
            lines.append(f"  … and {len(issues) - SHOWN_ISSUES} more ({len(issues)} problems in all)")
        super().__init__("invalid camera configuration:\n" + "\n".join(lines))


SHOWN_ISSUES = 20
"""How many problems the message of :class:`CameraConfigError` lists before it only counts them."""


@dataclass
class LoadedConfigs:
    jurisdictions: list[tuple[Path, JurisdictionConfig]] = field(default_factory=list)
    cameras: list[tuple[Path, CameraConfig]] = field(default_factory=list)
    key_points: list[tuple[Path, KeyPointConfig]] = field(default_factory=list)


def _node_at(node: yaml.Node | None, loc: Iterable[Any]) -> yaml.Node | None:
    """Follow a pydantic error location through the composed YAML tree, as deep as it goes."""
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(part):
                    nxt = v
                    break
            if nxt is None:
                if part in RULE_TYPES:  # discriminator tag in the location, not a key
                    continue
                return node
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return node
            node = node.value[part]
        else:
            # discriminator tags like 'zone_intrusion' in the loc: skip
            continue
    return node


def _fmt_loc(loc: Iterable[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in RULE_TYPES:
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built in: ~10x faster


def _compose_and_load(text: str) -> tuple[yaml.Node | None, Any]:
    """Parse once: the node tree (for line numbers) and the data constructed from it."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        return root, (loader.construct_document(root) if root is not None else None)
    finally:
        loader.dispose()


def _duplicate_keys(path: Path, root: yaml.Node | None) -> list[ConfigIssue]:
    """Keys written twice in one mapping (``id:`` twice in a camera): YAML would keep the later value silently.
    Nodes are visited in document order and each shared (aliased) node once, where it is first written, so an
    alias bomb costs no more than its nodes."""
    issues: list[ConfigIssue] = []
    seen: set[int] = set()
    todo: list[tuple[yaml.Node, str]] = [(root, "")] if root is not None else []
    while todo:
        node, where = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        children: list[tuple[yaml.Node, str]] = []
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key, value in node.value:
                name = key.value if isinstance(key, yaml.ScalarNode) else None
                line = key.start_mark.line + 1
                if name is not None and name in first:
                    issues.append(ConfigIssue(path, line, f"{where}.{name}" if where else name,
                                              f"duplicate key (first at line {first[name]}); write it once"))
                elif name is not None:
                    first[name] = line
                children.append((value, f"{where}.{name}" if where else str(name)))
        elif isinstance(node, yaml.SequenceNode):
            children = [(item, f"{where}[{i}]") for i, item in enumerate(node.value)]
        todo.extend(reversed(children))  # the stack pops the first child next
    return sorted(issues, key=lambda i: i.line or 0)


def load_camera_file(path: Path) -> CameraFile:
    """Parse and validate one YAML file. Raises :class:`CameraConfigError` with file/line/field."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CameraConfigError([ConfigIssue(path, None, "", f"cannot read: {exc}")]) from None
    try:
        root, data = _compose_and_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise CameraConfigError([ConfigIssue(path, line, "", f"YAML syntax error: {problem}")]) from None
    if duplicates := _duplicate_keys(path, root):
        raise CameraConfigError(duplicates)
    if data is None:
        return CameraFile()
    if not isinstance(data, dict):
        raise CameraConfigError([ConfigIssue(path, 1, "", "top level must be a mapping with 'cameras:'")])
    try:
        return CameraFile.model_validate(data)
    except ValidationError as exc:
        issues = []
        for err in exc.errors(include_url=False):
            node = _node_at(root, err["loc"])
            line = node.start_mark.line + 1 if node is not None else None
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (not allowed here)"
            issues.append(ConfigIssue(path, line, _fmt_loc(err["loc"]), msg))
        raise CameraConfigError(issues) from None


def load_camera_configs(directory: Path, known_codes: set[str]) -> LoadedConfigs:
    """Load every ``*.yaml``/``*.yml`` in ``directory`` and cross-check them.

    ``known_codes`` are the jurisdiction codes already in the tree (seeded county/townships). All problems from all
    files are collected and raised together.
    """
    issues: list[ConfigIssue] = []
    loaded = LoadedConfigs()
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]) if directory.is_dir() else []
    for path in files:
        try:
            cf = load_camera_file(path)
        except CameraConfigError as exc:
            issues.extend(exc.issues)
            continue
        loaded.jurisdictions.extend((path, j) for j in cf.jurisdictions)
        loaded.cameras.extend((path, c) for c in cf.cameras)
        loaded.key_points.extend((path, k) for k in cf.key_points)

    codes = set(known_codes)
    for path, j in loaded.jurisdictions:
        if j.parent not in codes:
            issues.append(ConfigIssue(path, _line_of(path, j.code), "jurisdictions.parent",
                                      f"unknown township code {j.parent}"))
        codes.add(j.code)
    seen: dict[str, Path] = {}
    for path, cam in loaded.cameras:
        line = _line_of(path, cam.id)
        if cam.id in seen:
            issues.append(
                ConfigIssue(path, line, "cameras.id", f"duplicate camera id {cam.id} (also in {seen[cam.id]})")
            )
        seen[cam.id] = path
        if cam.jurisdiction not in codes:
            issues.append(ConfigIssue(path, line, "cameras.jurisdiction",
                                      f"unknown jurisdiction {cam.jurisdiction} for camera {cam.id}"))
        elif cam.id[:6] != cam.jurisdiction[:6]:
            issues.append(ConfigIssue(path, line, "cameras.id",
                                      f"camera id {cam.id} encodes county {cam.id[:6]} but its jurisdiction "
                                      f"{cam.jurisdiction} is in county {cam.jurisdiction[:6]}"))
    seen_points: dict[str, Path] = {}
    for path, point in loaded.key_points:
        line = _line_of_id(path, point.id)
        if point.id in seen_points:
            issues.append(ConfigIssue(path, line, "key_points.id",
                                      f"duplicate key point id {point.id} (also in {seen_points[point.id]})"))
        seen_points[point.id] = path
        if point.jurisdiction not in codes:
            issues.append(ConfigIssue(path, line, "key_points.jurisdiction",
                                      f"unknown jurisdiction {point.jurisdiction} for key point {point.id}"))
    if issues:
        raise CameraConfigError(issues)
    return loaded


def _line_of(path: Path, needle: str | re.Pattern[str]) -> int | None:
    """First line of ``path`` containing ``needle`` (a string, or a pattern searched for)."""
    try:
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if needle.search(line) if isinstance(needle, re.Pattern) else needle in line:
                return n
    except OSError:
        return None
    return None


def _line_of_id(path: Path, value: str) -> int | None:
    """Line of ``id: <value>`` (quoted or not, block or flow style) in ``path``: a slug may also occur elsewhere."""
    return _line_of(path, re.compile(r"(^|[\s{,-])id:\s*[\"']?" + re.escape(value) + r"[\"']?\s*([,}#]|$)"))


TypeAdapterRules: TypeAdapter[list[RuleConfig]] = TypeAdapter(list[RuleConfig])
"""Validates rule dicts stored in the database back into rule models."""
