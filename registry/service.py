"""Camera registration: the one code path behind the CLI (``sharpeyes camera …``), the API (``/api/cameras``) and
YAML import/export.

Owns the rules of registering a camera: GB/T 28181 ID (given, or generated from the jurisdiction's civil code plus
industry, type, network and the next free serial), the jurisdiction tree, duplicate IDs, an optional ONVIF probe
that fills the stream URL and catalog fields, credentials split out of URLs into the vault, and all-or-nothing
writes (a failed probe or validation leaves nothing behind). Also the 一机一档 completeness report.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, SecretStr, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from registry.catalog import CompletenessReport, check_camera, summarise
from registry.config import (
    CameraConfig,
    CameraConfigError,
    CameraFields,
    ConfigIssue,
    JurisdictionConfig,
    load_camera_file,
)
from registry.gb28181 import InvalidDeviceId, make_device_id, parse_device_id
from registry.models import Camera, CameraCredential, Jurisdiction
from registry.onvif import OnvifError, ProbeResult, ProbeTarget, probe
from registry.store import Registry, camera_from_config, config_from_camera
from registry.vault import Vault
from sharpeyes.strict import StrictModel
from sharpeyes.urls import Credentials, split_credentials

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------- errors
class RegistrationError(ValueError):
    """A camera could not be registered or changed; nothing was written. The message is safe to show."""


class InvalidCamera(RegistrationError):
    """The camera data is invalid (ID, jurisdiction, URL, catalog codes...)."""


class DuplicateCamera(RegistrationError):
    """A camera with this GB/T 28181 ID is already registered."""


class UnknownCamera(RegistrationError):
    """No camera with this ID."""


# ------------------------------------------------------------------------------------------------- models
class IdParts(StrictModel):
    """How to build a GB/T 28181 ID when none is given (civil code comes from the jurisdiction)."""

    access_unit: str = Field("00", pattern=r"^\d{2}$", description="Digits 7-8: grass-roots access unit.")
    industry: str = Field("00", pattern=r"^\d{2}$", description="Digits 9-10: 00-03 public order, 04-07 traffic...")
    type_code: str = Field("132", pattern=r"^13[12]$", description="Digits 11-13: 131 camera, 132 IPC.")
    network: str = Field("5", pattern=r"^[5678]$", description="Digit 14: 5 public-security, 6 government, 8 social.")


class CameraSpec(CameraFields):
    """A camera to register. ``id`` may be left out (generated); ``stream`` may carry ``user:pass@`` (moved to the
    vault) or be left out when ``onvif`` is given (taken from the probe)."""

    id: str | None = Field(None, description="GB/T 28181 ID; unset: generated from jurisdiction and id_parts.")
    id_parts: IdParts = Field(default_factory=IdParts, description="Parts of a generated ID.")  # type: ignore[arg-type]
    stream: str | None = Field(None, description="Stream URL; credentials in it are moved to the vault.")
    username: str | None = Field(None, max_length=128, description="Device user name (ONVIF and RTSP).")
    password: SecretStr | None = Field(None, description="Device password; stored encrypted, never returned.")
    probe: bool = Field(True, description="Probe the ONVIF endpoint (when given) and fill stream and catalog.")


class CameraView(CameraConfig):
    """A registered camera as shown by the API and CLI: never a password."""

    source_file: str | None = Field(description="YAML file that defines it (None: registered by API/CLI).")
    username: str | None = Field(description="Device user name in the vault (None: no credentials).")
    has_password: bool = Field(description="Whether the vault holds a password for it.")
    default_password: bool = Field(description="True when the stored password is a factory default or empty.")
    id_info: dict[str, str] = Field(description="What the GB/T 28181 ID encodes.")


class ImportResult(StrictModel):
    added: list[str] = Field(default_factory=list, description="IDs of new cameras.")
    updated: list[str] = Field(default_factory=list, description="IDs of cameras whose record changed.")
    unchanged: list[str] = Field(default_factory=list, description="IDs already registered identically.")
    jurisdictions: int = Field(0, description="Jurisdiction nodes added or updated.")


@dataclass
class _Prepared:
    cfg: CameraConfig
    creds: Credentials | None
    probe: ProbeResult | None = None


def _fit(field: str, value: str) -> str:
    """``value`` cut to the ``max_length`` of ``CameraConfig.<field>`` (the ``cameras`` column's width), if any."""
    limits = [m.max_length for m in CameraConfig.model_fields[field].metadata if getattr(m, "max_length", None)]
    return value[:limits[0]] if limits else value


EXPORT_ORDER = ("id", "name", "jurisdiction", "stream", "enabled", "onvif", "snapshot", "manufacturer", "model",
                "firmware", "serial_number", "owner", "address", "position", "heading_deg", "fov_deg", "range_m",
                "ptz_type", "position_type", "room_type", "use_type", "direction", "resolution", "sampling",
                "detector_model", "node_label", "motion_regions", "rules")


class CameraService:
    """Registers, changes, removes, lists, imports and exports cameras. Thread-safe like :class:`Registry`."""

    def __init__(self, registry: Registry, vault: Vault, *, probe_timeout_s: float = 5.0,
                 prober: Callable[[ProbeTarget], ProbeResult] = probe) -> None:
        self.registry = registry
        self.vault = vault
        self.probe_timeout_s = probe_timeout_s
        self._probe = prober

    # ------------------------------------------------------------------------------------------ probing
    def probe(self, target: ProbeTarget) -> ProbeResult:
        """Probe an ONVIF device (raises :class:`registry.onvif.OnvifError`)."""
        return self._probe(target)

    # ------------------------------------------------------------------------------------------ register
    def register(self, spec: CameraSpec, *, via: str = "api") -> CameraView:
        """Validate, probe when asked, then write camera and credentials in one transaction."""
        prepared = self._prepare(spec)
        cfg = prepared.cfg
        with self.registry.sessions() as s:
            if s.get(Camera, cfg.id) is not None:
                raise DuplicateCamera(f"camera {cfg.id} is already registered")
            cam = camera_from_config(cfg, source_file=None)
            s.add(cam)
            if prepared.creds is not None:
                s.add(self._credential_row(cfg.id, prepared.creds))
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                raise DuplicateCamera(f"camera {cfg.id} is already registered") from None
        log.info("camera %s registered via %s (%s)%s", cfg.id, via, cfg.name,
                 "; default password flagged" if prepared.creds and prepared.creds.is_default else "")
        return self.get(cfg.id)

    def _prepare(self, spec: CameraSpec) -> _Prepared:
        data = spec.model_dump(exclude={"id_parts", "username", "password", "probe", "id", "stream"},
                               exclude_unset=False)
        creds = self._credentials_from(spec)
        stream = spec.stream
        if stream:
            stream, url_creds = split_credentials(stream)
            if url_creds is not None:
                if creds is not None and (creds.username != url_creds.username
                                          or creds.password.get_secret_value()
                                          != url_creds.password.get_secret_value()):
                    raise InvalidCamera("credentials in the stream URL differ from username/password given")
                creds = creds or url_creds
        result: ProbeResult | None = None
        if spec.onvif is not None and spec.probe:
            target = ProbeTarget(host=spec.onvif.host, port=spec.onvif.port,
                                 username=creds.username if creds else "",
                                 password=creds.password if creds else SecretStr(""),
                                 profile=spec.onvif.profile, timeout_s=self.probe_timeout_s)
            result = self._probe(target)  # OnvifError propagates: nothing written yet
            chosen = result.selected
            stream = stream or chosen.stream_uri
            data["onvif"] = {"host": spec.onvif.host, "port": spec.onvif.port, "profile": chosen.token}
            fills = {"manufacturer": result.device.manufacturer, "model": result.device.model,
                     "firmware": result.device.firmware, "serial_number": result.device.serial_number,
                     "resolution": chosen.resolution, "snapshot": chosen.snapshot_uri}
            for key, value in fills.items():
                if data.get(key) in (None, "") and value:
                    # what the device says of itself is kept up to the catalog's length, never refused for it
                    data[key] = _fit(key, value)
        if not stream:
            raise InvalidCamera("a stream URL is required (or an ONVIF endpoint to probe for one)")
        data["stream"] = stream
        data["id"] = spec.id or self._next_id(spec.jurisdiction, spec.id_parts)
        cfg = self._validate(data)
        self._check_place(cfg)
        return _Prepared(cfg=cfg, creds=creds, probe=result)

    @staticmethod
    def _credentials_from(spec: CameraSpec) -> Credentials | None:
        if spec.username is None and spec.password is None:
            return None
        return Credentials(username=spec.username or "", password=spec.password or SecretStr(""))

    @staticmethod
    def _validate(data: dict[str, Any]) -> CameraConfig:
        try:
            return CameraConfig.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'camera'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors(include_url=False))
            raise InvalidCamera(problems) from None

    def _check_place(self, cfg: CameraConfig) -> None:
        """The jurisdiction must exist, and the civil code in the ID must be its county in the tree."""
        with self.registry.sessions() as s:
            node = s.get(Jurisdiction, cfg.jurisdiction)
            if node is None:
                raise InvalidCamera(f"unknown jurisdiction {cfg.jurisdiction} (not in the jurisdiction tree)")
            county = s.get(Jurisdiction, cfg.id[:6])
        if county is None or county.level != "county":
            raise InvalidCamera(f"camera id {cfg.id}: civil code {cfg.id[:6]} is not a county in the jurisdiction "
                                "tree")
        if cfg.id[:6] != cfg.jurisdiction[:6]:
            raise InvalidCamera(f"camera id {cfg.id} encodes county {cfg.id[:6]} but jurisdiction "
                                f"{cfg.jurisdiction} is in county {cfg.jurisdiction[:6]}")

    def _next_id(self, jurisdiction: str, parts: IdParts) -> str:
        prefix = f"{jurisdiction[:6]}{parts.access_unit}{parts.industry}{parts.type_code}{parts.network}"
        with self.registry.sessions() as s:
            ids = list(s.scalars(select(Camera.id).where(Camera.id.startswith(prefix))))
        serial = max((int(i[14:]) for i in ids), default=0) + 1
        try:
            return make_device_id(jurisdiction[:6], serial, access_unit=parts.access_unit, industry=parts.industry,
                                  type_code=parts.type_code, network=parts.network)
        except InvalidDeviceId as exc:
            raise InvalidCamera(str(exc)) from None

    def _credential_row(self, camera_id: str, creds: Credentials) -> CameraCredential:
        return CameraCredential(camera_id=camera_id, username=creds.username,
                                password_token=self.vault.encrypt(creds.password),
                                default_password=creds.is_default)

    # ------------------------------------------------------------------------------------------ change
    def update(self, camera_id: str, patch: dict[str, Any], *, via: str = "api") -> CameraView:
        """Apply ``patch`` (any camera field, plus ``username``/``password``; ``id`` is immutable)."""
        if "id" in patch and patch["id"] != camera_id:
            raise InvalidCamera("the camera id cannot be changed; remove and register again")
        patch = dict(patch)
        username = patch.pop("username", None)
        password = patch.pop("password", None)
        if isinstance(password, SecretStr):
            password = password.get_secret_value()
        with self.registry.sessions() as s:
            cam = s.get(Camera, camera_id)
            if cam is None:
                raise UnknownCamera(f"no camera {camera_id}")
            if cam.source_file and patch:
                raise RegistrationError(f"camera {camera_id} is defined in {cam.source_file}; change it there "
                                        "(only its credentials can be set here)")
            current = config_from_camera(cam).model_dump(mode="json", exclude_none=True)
            cred = s.get(CameraCredential, camera_id)
            creds: Credentials | None = None
            if "stream" in patch and isinstance(patch["stream"], str):
                patch["stream"], creds = split_credentials(patch["stream"])
            merged = {**current, **patch}
            merged = {k: v for k, v in merged.items() if v is not None}
            cfg = self._validate(merged)
            self._check_place(cfg)
            if username is not None or password is not None:
                old_user = cred.username if cred else ""
                old_pw = self.vault.decrypt(cred.password_token).get_secret_value() if cred else ""
                creds = Credentials(username=username if username is not None else old_user,
                                    password=SecretStr(password if password is not None else old_pw))
            fresh = camera_from_config(cfg, source_file=cam.source_file)
            for column in Camera.__table__.columns.keys():
                if column not in ("created_at", "updated_at"):
                    setattr(cam, column, getattr(fresh, column))
            if creds is not None:
                if cred is None:
                    s.add(self._credential_row(camera_id, creds))
                else:
                    cred.username = creds.username
                    cred.password_token = self.vault.encrypt(creds.password)
                    cred.default_password = creds.is_default
            s.commit()
        log.info("camera %s updated via %s (%s)", camera_id, via, ", ".join(sorted(patch)) or "credentials")
        return self.get(camera_id)

    def remove(self, camera_id: str, *, via: str = "api") -> None:
        with self.registry.sessions() as s:
            cam = s.get(Camera, camera_id)
            if cam is None:
                raise UnknownCamera(f"no camera {camera_id}")
            if cam.source_file:
                raise RegistrationError(f"camera {camera_id} is defined in {cam.source_file}; remove it there "
                                        "(it would come back at the next start)")
            s.delete(cam)
            s.commit()
        log.info("camera %s removed via %s", camera_id, via)

    # ------------------------------------------------------------------------------------------ read
    def get(self, camera_id: str) -> CameraView:
        with self.registry.sessions() as s:
            cam = s.get(Camera, camera_id)
            if cam is None:
                raise UnknownCamera(f"no camera {camera_id}")
            return self._view(cam, s.get(CameraCredential, camera_id))

    def list(self) -> list[CameraView]:
        with self.registry.sessions() as s:
            creds = {c.camera_id: c for c in s.scalars(select(CameraCredential))}
            return [self._view(c, creds.get(c.id)) for c in s.scalars(select(Camera).order_by(Camera.id))]

    @staticmethod
    def _view(cam: Camera, cred: CameraCredential | None) -> CameraView:
        info = parse_device_id(cam.id)
        return CameraView(
            **config_from_camera(cam).model_dump(), source_file=cam.source_file,
            username=cred.username if cred else None, has_password=bool(cred and cred.password_token),
            default_password=bool(cred and cred.default_password),
            id_info={"county": info.civil_code, "access_unit": info.access_unit, "industry": info.industry_name,
                     "type": info.type_name, "network": info.network_name, "serial": info.serial},
        )

    def credentials(self, camera_id: str) -> Credentials | None:
        """Decrypted credentials, for the places that contact the device (ffmpeg spawn, ONVIF probe)."""
        with self.registry.sessions() as s:
            cred = s.get(CameraCredential, camera_id)
            if cred is None:
                return None
            return Credentials(username=cred.username, password=self.vault.decrypt(cred.password_token))

    def reprobe(self, camera_id: str) -> ProbeResult:
        """Probe a registered camera's ONVIF endpoint with its stored credentials."""
        view = self.get(camera_id)
        if view.onvif is None:
            raise InvalidCamera(f"camera {camera_id} has no ONVIF endpoint")
        creds = self.credentials(camera_id)
        return self._probe(ProbeTarget(host=view.onvif.host, port=view.onvif.port,
                                       username=creds.username if creds else "",
                                       password=creds.password if creds else SecretStr(""),
                                       profile=view.onvif.profile, timeout_s=self.probe_timeout_s))

    # ------------------------------------------------------------------------------------------ 一机一档
    def completeness(self) -> CompletenessReport:
        with self.registry.sessions() as s:
            defaults = {c.camera_id: c.default_password for c in s.scalars(select(CameraCredential))}
            counties = set(s.scalars(select(Jurisdiction.code).where(Jurisdiction.level == "county")))
            items = []
            for cam in s.scalars(select(Camera).order_by(Camera.id)):
                record = {c: getattr(cam, c) for c in Camera.__table__.columns.keys()}
                items.append(check_camera(record, default_password=defaults.get(cam.id), county_codes=counties))
        return summarise(items)

    # ------------------------------------------------------------------------------------------ YAML
    def import_yaml(self, path: Path, progress: Callable[[int, int], None] | None = None) -> ImportResult:
        """Register or update every camera of one YAML file, all or nothing. Cameras imported this way are managed
        by API/CLI afterwards (the camera_configs/ folder sync owns only the files in that folder).
        ``progress(done, total)`` is called as cameras are written (a CLI progress bar)."""
        cf = load_camera_file(path)
        issues: list[ConfigIssue] = []
        if cf.key_points:  # one source of truth: the folder sync adds, changes and removes them
            issues.append(ConfigIssue(path, None, "key_points", "key points are not imported: declare them in a "
                                      "file of the camera_configs folder (synced at hub start)"))
        with self.registry.sessions() as s:
            nodes = {j.code: j for j in s.scalars(select(Jurisdiction))}
        codes = set(nodes)
        for j in cf.jurisdictions:
            if j.parent not in codes:
                issues.append(ConfigIssue(path, None, "jurisdictions.parent", f"unknown township code {j.parent}"))
            codes.add(j.code)
        seen: set[str] = set()
        for i, spec in enumerate(cf.cameras):
            where = f"cameras[{i}]"
            if spec.id in seen:
                issues.append(ConfigIssue(path, None, f"{where}.id", f"duplicate camera id {spec.id}"))
            seen.add(spec.id)
            if spec.jurisdiction not in codes:
                issues.append(ConfigIssue(path, None, f"{where}.jurisdiction",
                                          f"unknown jurisdiction {spec.jurisdiction}"))
            elif spec.id[:6] != spec.jurisdiction[:6] or nodes.get(spec.id[:6]) is None:
                issues.append(ConfigIssue(path, None, f"{where}.id",
                                          f"camera id {spec.id}: civil code {spec.id[:6]} is not the county of "
                                          f"{spec.jurisdiction}"))
        if issues:
            raise CameraConfigError(issues)
        result = ImportResult()
        with self.registry.sessions.begin() as s:
            for j in cf.jurisdictions:
                node = s.get(Jurisdiction, j.code)
                values = {"name": j.name, "level": j.level, "parent_code": j.parent, "has_center": j.center,
                          "synthetic": j.synthetic}
                if node is None:
                    s.add(Jurisdiction(code=j.code, source=path.name, **values))
                    result.jurisdictions += 1
                elif any(getattr(node, k) != v for k, v in values.items()):
                    for k, v in values.items():
                        setattr(node, k, v)
                    result.jurisdictions += 1
            s.flush()
            ids = [c.id for c in cf.cameras]
            existing = {c.id: c for c in s.scalars(select(Camera).where(Camera.id.in_(ids)))} if ids else {}
            for n, item in enumerate(cf.cameras, 1):
                if progress is not None and (n % 50 == 0 or n == len(cf.cameras)):
                    progress(n, len(cf.cameras))
                cam = existing.get(item.id)
                if cam is None:
                    s.add(camera_from_config(item, source_file=None))
                    result.added.append(item.id)
                elif config_from_camera(cam) == item:
                    result.unchanged.append(item.id)
                else:
                    fresh = camera_from_config(item, source_file=cam.source_file)
                    for column in Camera.__table__.columns.keys():
                        if column not in ("created_at", "updated_at", "source_file"):
                            setattr(cam, column, getattr(fresh, column))
                    result.updated.append(item.id)
        log.info("import %s: %d added, %d updated, %d unchanged", path.name, len(result.added),
                 len(result.updated), len(result.unchanged))
        return result

    def export_yaml(self, ids: Iterable[str] | None = None) -> str:
        """Cameras (all, or ``ids``) and the village/grid nodes they sit in, as camera YAML. Deterministic: the
        same records always give the same bytes. Never contains credentials."""
        wanted = set(ids) if ids is not None else None
        with self.registry.sessions() as s:
            cams = [c for c in s.scalars(select(Camera).order_by(Camera.id)) if wanted is None or c.id in wanted]
            codes = {c.jurisdiction_code for c in cams}
            nodes = [n for n in s.scalars(select(Jurisdiction).where(Jurisdiction.code.in_(codes))
                                          .order_by(Jurisdiction.code)) if n.level in ("village", "grid")]
            cfgs = [config_from_camera(c) for c in cams]
        doc: dict[str, Any] = {}
        if nodes:
            doc["jurisdictions"] = [
                JurisdictionConfig(code=n.code, name=n.name, parent=n.parent_code or "",
                                   level="grid" if n.level == "grid" else "village", center=n.has_center,
                                   synthetic=n.synthetic).model_dump(mode="json")
                for n in nodes]
        doc["cameras"] = [_ordered(c.model_dump(mode="json", exclude_none=True)) for c in cfgs]
        header = ("# Exported by `sharpeyes camera export`. Credentials are never exported: they stay in the "
                  "vault.\n")
        return header + yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=120)


def _ordered(d: dict[str, Any]) -> dict[str, Any]:
    out = {k: d[k] for k in EXPORT_ORDER if k in d}
    out.update({k: v for k, v in d.items() if k not in out})
    if isinstance(out.get("onvif"), dict) and out["onvif"].get("profile") is None:
        out["onvif"].pop("profile", None)
    return out


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Block style for mappings, flow style for short lists of scalars (points, zones); libyaml's emitter when
    available."""


def _represent_list(dumper: Any, data: list[Any]) -> yaml.Node:
    def flat(x: Any) -> bool:
        return not isinstance(x, dict | list) or (isinstance(x, list) and all(not isinstance(y, dict | list)
                                                                                for y in x))
    flow = all(flat(x) for x in data) and not any(isinstance(x, dict) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


__all__ = [
    "CameraService", "CameraSpec", "CameraView", "DuplicateCamera", "IdParts", "ImportResult", "InvalidCamera",
    "OnvifError", "RegistrationError", "UnknownCamera",
]
