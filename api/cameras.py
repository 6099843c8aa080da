"""Camera endpoints: the list with each camera's live state (cameras:read), and registration (cameras:write):
probe, register, change, remove; 一机一档 completeness (cameras:read); the YAML / GB/T 28181 export (cameras:export,
content: a reason, written to the access log first: ``api/access.py``).

Scope: cameras whose jurisdiction is in the principal's subtree (an admin: all); lists, completeness and exports
hold only those, a camera outside answers 404 like an unknown one, and a camera cannot be registered or moved
outside it. Every change is written to the access log with who made it (``camera_add``, ``camera_update``,
``camera_remove``). Owns only HTTP concerns; every rule lives in :class:`registry.service.CameraService` (the same
code path as the CLI and YAML import). Passwords are accepted in request bodies and never returned: responses are
:class:`registry.service.CameraView` (no password), and validation errors are answered without echoing the input.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

import redis
from fastapi import APIRouter, Body, Depends, Query, Response
from fastapi.exceptions import HTTPException
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from api.access import NO_REASON, Access, acting, content
from api.auth import requires
from api.deps import ApiDeps
from api.noecho import NoEchoRoute
from identity.roles import Permission, Principal, Role
from registry.catalog import CompletenessReport, summarise
from registry.catalog_xml import catalog_xml
from registry.gb28181 import parse_device_id
from registry.onvif import (
    OnvifAuthError,
    OnvifError,
    OnvifProfileNotFound,
    OnvifProtocolError,
    OnvifTimeout,
    OnvifUnreachable,
    ProbeResult,
    ProbeTarget,
)
from registry.service import (
    CameraSpec,
    CameraView,
    DuplicateCamera,
    InvalidCamera,
    RegistrationError,
    UnknownCamera,
)

log = logging.getLogger(__name__)

Viewer = Annotated[Principal, Depends(requires(Permission.CAMERAS_READ))]
"""A route parameter of this type: the principal, who must have cameras:read."""
Changer = Annotated[Access, Depends(acting(Permission.CAMERAS_WRITE))]
"""A route parameter of this type: the access of a principal with cameras:write (camera changes are logged)."""


def in_scope(principal: Principal) -> frozenset[str] | None:
    """The jurisdictions whose cameras ``principal`` sees (None for an admin: all)."""
    return None if principal.role is Role.ADMIN else principal.scope


def unknown_camera(camera_id: str) -> HTTPException:
    """The one answer for a camera that does not exist and for one outside the scope."""
    return _http_error(UnknownCamera(f"no camera {camera_id}"))


def outside_jurisdiction(code: object) -> HTTPException:
    """The one answer for a jurisdiction that does not exist and for one outside the scope (a non-admin)."""
    return _http_error(InvalidCamera(f"unknown jurisdiction {code} (not in the jurisdiction tree you manage)"))


def _http_error(exc: Exception) -> HTTPException:
    """Map registration and ONVIF failures to HTTP statuses; messages are already free of secrets."""
    status = 400
    if isinstance(exc, UnknownCamera):
        status = 404
    elif isinstance(exc, DuplicateCamera):
        status = 409
    elif isinstance(exc, InvalidCamera | OnvifProfileNotFound | OnvifAuthError):
        status = 422
    elif isinstance(exc, RegistrationError):
        status = 409
    elif isinstance(exc, OnvifTimeout):
        status = 504
    elif isinstance(exc, OnvifUnreachable | OnvifProtocolError | OnvifError):
        status = 502
    return HTTPException(status, detail={"error": type(exc).__name__, "message": str(exc)})


class CameraOut(BaseModel):
    id: str
    name: str
    jurisdiction_code: str
    civil_codes: list[str]
    stream_url: str
    longitude: float | None
    latitude: float | None
    heading_deg: float | None
    fov_deg: float | None
    range_m: float | None
    sample_mode: str
    sample_fps: float
    enabled: bool
    state: str = Field(description="online, offline or unknown (from the ingest worker)")
    id_info: dict[str, str] = Field(description="What the GB/T 28181 ID encodes.")
    rules: list[dict[str, Any]]


def create_cameras_router(deps: ApiDeps) -> APIRouter:
    """Every ``/api/cameras`` route: the list with each camera's live state (:func:`create_camera_list_router`)
    and registration (:func:`create_registration_router`)."""
    router = APIRouter()
    router.include_router(create_registration_router(deps))
    router.include_router(create_camera_list_router(deps))
    return router


def create_camera_list_router(deps: ApiDeps) -> APIRouter:
    """``GET /api/cameras``: registered cameras with their place, GB/T 28181 ID and state (from Redis)."""
    registry, client, keys = deps.registry, deps.redis, deps.keys
    router = APIRouter()

    @router.get("/api/cameras", response_model=list[CameraOut], summary="Registered cameras of your jurisdiction")
    def cameras(principal: Viewer) -> list[CameraOut]:
        out = []
        for cam in registry.cameras():
            if not principal.sees(cam.jurisdiction_code):
                continue
            info = parse_device_id(cam.id)
            try:
                raw_state = client.hget(keys.camera_status(cam.id), "state")
            except redis.RedisError:
                raw_state = None
            out.append(
                CameraOut(
                    id=cam.id, name=cam.name, jurisdiction_code=cam.jurisdiction_code,
                    civil_codes=[n.code for n in registry.jurisdiction_path(cam.jurisdiction_code)],
                    stream_url=cam.stream_url, longitude=cam.longitude, latitude=cam.latitude,
                    heading_deg=cam.heading_deg, fov_deg=cam.fov_deg, range_m=cam.range_m,
                    sample_mode=cam.sample_mode, sample_fps=cam.sample_fps, enabled=cam.enabled,
                    state=raw_state.decode() if isinstance(raw_state, bytes) else "unknown",
                    id_info={"industry": info.industry_name, "type": info.type_name, "network": info.network_name,
                             "county": info.civil_code, "serial": info.serial},
                    rules=cam.rules,
                )
            )
        return out

    return router


def create_registration_router(deps: ApiDeps) -> APIRouter:
    """The ``/api/cameras`` registration routes over ``deps.cameras``; exports and changes are logged to
    ``deps.archive``."""
    registry, service = deps.registry, deps.cameras
    router = APIRouter(prefix="/api/cameras", tags=["cameras"], route_class=NoEchoRoute)

    def visible_ids(principal: Principal) -> list[str] | None:
        scope = in_scope(principal)
        return None if scope is None else [c.id for c in registry.cameras() if c.jurisdiction_code in scope]

    def scoped(camera_id: str, access: Access, action: str) -> None:
        """404 for a camera that does not exist or is outside the principal's scope (that one logged as
        refused)."""
        cam = registry.get_camera(camera_id)
        if cam is None:
            raise unknown_camera(camera_id)
        if not access.principal.sees(cam.jurisdiction_code):
            raise access.refuse(action, camera_id, "outside the actor's jurisdiction", status=404,
                                message=unknown_camera(camera_id).detail)

    @router.post("/probe", response_model=ProbeResult, summary="Probe an ONVIF device (nothing is registered)")
    def probe(target: ProbeTarget, _access: Changer) -> ProbeResult:
        try:
            return service.probe(target)
        except OnvifError as exc:
            raise _http_error(exc) from None

    @router.post("", response_model=CameraView, status_code=201,
                 summary="Register a camera (probing its ONVIF endpoint when given; logged)")
    def register(spec: CameraSpec, access: Changer) -> CameraView:
        if not access.principal.sees(spec.jurisdiction):
            raise outside_jurisdiction(spec.jurisdiction)
        try:
            view = service.register(spec, via="api")
        except (RegistrationError, OnvifError) as exc:
            raise _http_error(exc) from None
        access.record("camera_add", view.id, detail=f"jurisdiction {view.jurisdiction}")
        return view

    @router.get("/completeness", response_model=CompletenessReport,
                summary="一机一档: missing/invalid fields per camera of your jurisdiction and the completeness rate")
    def completeness(principal: Viewer) -> CompletenessReport:
        report = service.completeness()
        ids = visible_ids(principal)
        if ids is None:
            return report
        wanted = set(ids)
        return summarise([c for c in report.cameras if c.camera_id in wanted])

    @router.get("/export", response_class=PlainTextResponse,
                responses=NO_REASON,
                summary="The cameras of your jurisdiction as camera YAML or a GB/T 28181 Catalog XML (no "
                        "credentials; with a reason; logged)")
    def export(access: Annotated[Access, Depends(content(Permission.CAMERAS_EXPORT, "the camera export"))],
               format: Literal["yaml", "gb28181"] = "yaml",
               encoding: Literal["utf-8", "gb18030"] = "utf-8",
               device_id: Annotated[str | None, Query(pattern=r"^\d{20}$")] = None) -> Response:
        ids = visible_ids(access.principal)
        access.record("export_cameras", ",".join(ids if ids is not None else [c.id for c in registry.cameras()]),
                      detail=f"format={format}")
        if format == "yaml":
            return PlainTextResponse(service.export_yaml(ids), media_type="application/yaml")
        try:
            catalog = catalog_xml(registry, encoding=encoding, device_id=device_id, ids=ids)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return Response(catalog.data, media_type=f"application/xml; charset={catalog.encoding}",
                        headers={"X-Sharpeyes-Problems": str(len(catalog.problems))})

    @router.get("/{camera_id}", response_model=CameraView, summary="One camera's record")
    def show(camera_id: str, principal: Viewer) -> CameraView:
        cam = registry.get_camera(camera_id)
        if cam is None or not principal.sees(cam.jurisdiction_code):
            raise unknown_camera(camera_id)
        try:
            return service.get(camera_id)
        except RegistrationError as exc:
            raise _http_error(exc) from None

    @router.post("/{camera_id}/probe", response_model=ProbeResult,
                 summary="Probe a registered camera's ONVIF endpoint with its stored credentials")
    def reprobe(camera_id: str, access: Changer) -> ProbeResult:
        scoped(camera_id, access, "camera_probe")
        try:
            return service.reprobe(camera_id)
        except (RegistrationError, OnvifError) as exc:
            raise _http_error(exc) from None

    @router.patch("/{camera_id}", response_model=CameraView,
                  summary="Change fields (and credentials) of a camera (logged)")
    def update(camera_id: str, access: Changer, patch: Annotated[dict[str, Any], Body(
            description="Any camera field (as in POST /api/cameras), plus username/password; id is immutable.",
            examples=[{"address": "丰州镇 东街 1 号", "ptz_type": 3}])]) -> CameraView:
        scoped(camera_id, access, "camera_update")
        if "jurisdiction" in patch and not access.principal.sees(str(patch["jurisdiction"])):
            raise outside_jurisdiction(patch["jurisdiction"])
        try:
            view = service.update(camera_id, patch, via="api")
        except RegistrationError as exc:
            raise _http_error(exc) from None
        access.record("camera_update", camera_id, detail="fields: " + ", ".join(sorted(map(str, patch))))
        return view

    @router.delete("/{camera_id}", status_code=204, summary="Remove a camera and its credentials (logged)")
    def remove(camera_id: str, access: Changer) -> Response:
        scoped(camera_id, access, "camera_remove")
        try:
            service.remove(camera_id, via="api")
        except RegistrationError as exc:
            raise _http_error(exc) from None
        access.record("camera_remove", camera_id)
        return Response(status_code=204)

    return router
