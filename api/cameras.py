"""Camera registration endpoints: probe, register, change, remove, 一机一档 completeness, YAML export (the export
only to a named viewer with a reason, written to the access log first: ``api/access.py``).

Owns only HTTP concerns; every rule lives in :class:`registry.service.CameraService` (the same code path as the CLI
and YAML import). Passwords are accepted in request bodies and never returned: responses are
:class:`registry.service.CameraView` (no password), and validation errors are answered without echoing the input.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response
from fastapi.exceptions import HTTPException, RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute

from api.access import Who, record, require
from events.archive import Archive
from registry.catalog import CompletenessReport
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
    CameraService,
    CameraSpec,
    CameraView,
    DuplicateCamera,
    InvalidCamera,
    RegistrationError,
    UnknownCamera,
)
from registry.store import Registry

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


def create_cameras_router(registry: Registry, service: CameraService | None = None, *,
                          archive: Archive | None = None) -> APIRouter:
    """The ``/api/cameras`` registration router. Without ``service``, one is built on first use with the vault
    named by the hub settings; without ``archive`` (where exports are logged), one on the hub's database."""

    @cache
    def svc() -> CameraService:
        if service is not None:
            return service
        from registry.vault import Vault
        from sharpeyes.settings import Settings

        return CameraService(registry, Vault.from_settings(Settings()))

    @cache
    def access_archive() -> Archive:
        if archive is not None:
            return archive
        from sharpeyes.settings import Settings

        built = Archive(Settings().effective_database_url)
        built.init()
        return built

    router = APIRouter(prefix="/api/cameras", tags=["cameras"], route_class=_NoEchoRoute)

    @router.post("/probe", response_model=ProbeResult, summary="Probe an ONVIF device (nothing is registered)")
    def probe(target: ProbeTarget) -> ProbeResult:
        try:
            return svc().probe(target)
        except OnvifError as exc:
            raise _http_error(exc) from None

    @router.post("", response_model=CameraView, status_code=201,
                 summary="Register a camera (probing its ONVIF endpoint when given)")
    def register(spec: CameraSpec) -> CameraView:
        try:
            return svc().register(spec, via="api")
        except (RegistrationError, OnvifError) as exc:
            raise _http_error(exc) from None

    @router.get("/completeness", response_model=CompletenessReport,
                summary="一机一档: missing/invalid fields per camera and the completeness rate")
    def completeness() -> CompletenessReport:
        return svc().completeness()

    @router.get("/export", response_class=PlainTextResponse,
                responses={428: {"description": "No name or no reason given (X-Sharpeyes-User/-Unit/-Reason "
                                                "headers or user/unit/reason query)."}},
                summary="All cameras as camera YAML (no credentials; named viewer with a reason; logged)")
    def export(who: Who) -> PlainTextResponse:
        require(who, "the camera export")
        record(access_archive(), who, "export_cameras", ",".join(c.id for c in registry.cameras()))
        return PlainTextResponse(svc().export_yaml(), media_type="application/yaml")

    @router.get("/{camera_id}", response_model=CameraView, summary="One camera's record")
    def show(camera_id: str) -> CameraView:
        try:
            return svc().get(camera_id)
        except RegistrationError as exc:
            raise _http_error(exc) from None

    @router.post("/{camera_id}/probe", response_model=ProbeResult,
                 summary="Probe a registered camera's ONVIF endpoint with its stored credentials")
    def reprobe(camera_id: str) -> ProbeResult:
        try:
            return svc().reprobe(camera_id)
        except (RegistrationError, OnvifError) as exc:
            raise _http_error(exc) from None

    @router.patch("/{camera_id}", response_model=CameraView, summary="Change fields (and credentials) of a camera")
    def update(camera_id: str, patch: Annotated[dict[str, Any], Body(
            description="Any camera field (as in POST /api/cameras), plus username/password; id is immutable.",
            examples=[{"address": "丰州镇 东街 1 号", "ptz_type": 3}])]) -> CameraView:
        try:
            return svc().update(camera_id, patch, via="api")
        except RegistrationError as exc:
            raise _http_error(exc) from None

    @router.delete("/{camera_id}", status_code=204, summary="Remove a camera and its credentials")
    def remove(camera_id: str) -> Response:
        try:
            svc().remove(camera_id, via="api")
        except RegistrationError as exc:
            raise _http_error(exc) from None
        return Response(status_code=204)

    return router
