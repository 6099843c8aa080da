"""Camera endpoints: the list with each camera's live state, and registration: probe, register, change, remove,
一机一档 completeness, YAML export (the export only to a named viewer with a reason, written to the access log
first: ``api/access.py``).

Owns only HTTP concerns; every rule lives in :class:`registry.service.CameraService` (the same code path as the CLI
and YAML import). Passwords are accepted in request bodies and never returned: responses are
:class:`registry.service.CameraView` (no password), and validation errors are answered without echoing the input.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Literal

import redis
from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from api.access import NO_VIEWER, Who, record, require
from api.deps import ApiDeps
from registry.catalog import CompletenessReport
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


class _NoEchoRoute(APIRoute):
    """Answers request validation errors with location and message only: the default 422 echoes the input, which
    may hold a password."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                          for e in exc.errors()]
                return JSONResponse({"detail": errors}, status_code=422)

        return route


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

    @router.get("/api/cameras", response_model=list[CameraOut], summary="Registered cameras")
    def cameras() -> list[CameraOut]:
        out = []
        for cam in registry.cameras():
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
    """The ``/api/cameras`` registration routes over ``deps.cameras``; exports are logged to ``deps.archive``."""
    registry, service, archive = deps.registry, deps.cameras, deps.archive
    router = APIRouter(prefix="/api/cameras", tags=["cameras"], route_class=_NoEchoRoute)

    @router.post("/probe", response_model=ProbeResult, summary="Probe an ONVIF device (nothing is registered)")
    def probe(target: ProbeTarget) -> ProbeResult:
        try:
            return service.probe(target)
        except OnvifError as exc:
            raise _http_error(exc) from None

    @router.post("", response_model=CameraView, status_code=201,
                 summary="Register a camera (probing its ONVIF endpoint when given)")
    def register(spec: CameraSpec) -> CameraView:
        try:
            return service.register(spec, via="api")
        except (RegistrationError, OnvifError) as exc:
            raise _http_error(exc) from None

    @router.get("/completeness", response_model=CompletenessReport,
                summary="一机一档: missing/invalid fields per camera and the completeness rate")
    def completeness() -> CompletenessReport:
        return service.completeness()

    @router.get("/export", response_class=PlainTextResponse,
                responses=NO_VIEWER,
                summary="All cameras as camera YAML or a GB/T 28181 Catalog XML (no credentials; named viewer with "
                        "a reason; logged)")
    def export(who: Who, format: Literal["yaml", "gb28181"] = "yaml",
               encoding: Literal["utf-8", "gb18030"] = "utf-8",
               device_id: Annotated[str | None, Query(pattern=r"^\d{20}$")] = None) -> Response:
        require(who, "the camera export")
        record(archive, who, "export_cameras", ",".join(c.id for c in registry.cameras()))
        if format == "yaml":
            return PlainTextResponse(service.export_yaml(), media_type="application/yaml")
        try:
            catalog = catalog_xml(registry, encoding=encoding, device_id=device_id)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        return Response(catalog.data, media_type=f"application/xml; charset={catalog.encoding}",
                        headers={"X-Sharpeyes-Problems": str(len(catalog.problems))})

    @router.get("/{camera_id}", response_model=CameraView, summary="One camera's record")
    def show(camera_id: str) -> CameraView:
        try:
            return service.get(camera_id)
        except RegistrationError as exc:
            raise _http_error(exc) from None

    @router.post("/{camera_id}/probe", response_model=ProbeResult,
                 summary="Probe a registered camera's ONVIF endpoint with its stored credentials")
    def reprobe(camera_id: str) -> ProbeResult:
        try:
            return service.reprobe(camera_id)
        except (RegistrationError, OnvifError) as exc:
            raise _http_error(exc) from None

    @router.patch("/{camera_id}", response_model=CameraView, summary="Change fields (and credentials) of a camera")
    def update(camera_id: str, patch: Annotated[dict[str, Any], Body(
            description="Any camera field (as in POST /api/cameras), plus username/password; id is immutable.",
            examples=[{"address": "丰州镇 东街 1 号", "ptz_type": 3}])]) -> CameraView:
        try:
            return service.update(camera_id, patch, via="api")
        except RegistrationError as exc:
            raise _http_error(exc) from None

    @router.delete("/{camera_id}", status_code=204, summary="Remove a camera and its credentials")
    def remove(camera_id: str) -> Response:
        try:
            service.remove(camera_id, via="api")
        except RegistrationError as exc:
            raise _http_error(exc) from None
        return Response(status_code=204)

    return router
