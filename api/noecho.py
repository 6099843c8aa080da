"""A route class whose request-validation errors do not echo the input (the default 422 does, and a body may hold
a password: a camera's, or a login's).

Owns only that answer; the routes using it (``api/cameras.py``, ``api/auth.py``) own everything else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

log = logging.getLogger(__name__)


class NoEchoRoute(APIRoute):
    """Answers request validation errors with location and message only."""

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
