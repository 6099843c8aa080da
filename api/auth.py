"""Who a request acts as, and what it may do: the auth routes (``/api/auth/token``, ``/login``, ``/logout``,
``/me``) and the one way a route states what it needs.

A route declares ``Depends(requires(Permission.X))`` (or ``Depends(authenticated)``, or the content form of
``api/access.py``, built on it) and gets the :class:`identity.roles.Principal`; deny by default: ``create_app``
refuses to build an app with a route that declares none and is not in :data:`OPEN_ROUTES`
(:func:`unguarded_routes`). The principal comes from a bearer token (an OAuth2 access token from
``/api/auth/token`` or an API token ``se_…``) or from the browser's session cookie, whose unsafe requests must carry
the session's CSRF secret in ``X-CSRF-Token``. Sessions are rows of the identity store: logout, a password change, a
disabled or removed account end them at once.

Owns only HTTP concerns of authentication; accounts, hashing, sessions and the throttle live in ``identity/``.
Writes logins, failed logins and logouts to the access log; never logs a password or a token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any

import fastapi.routing
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from api.deps import ApiDeps
from api.noecho import NoEchoRoute
from events.archive import Archive, Outcome
from identity.roles import Permission, Principal, Role
from identity.store import LoginRefused, LoginThrottled
from sharpeyes.strict import StrictModel

log = logging.getLogger(__name__)

SESSION_COOKIE = "sharpeyes_session"
CSRF_HEADER = "X-CSRF-Token"
API_TOKEN_PREFIX = "se_"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
OPEN_ROUTES: frozenset[tuple[str, str]] = frozenset({
    ("GET", "/api/health"), ("POST", "/api/auth/token"), ("POST", "/api/auth/login"), ("GET", "/"),
    ("GET", "/ui/{name}"),
})
"""The routes served without a user: liveness, logging in, the page with its login form, and the page's own
script and style files (``api/webui.py``: code, no data). Every other route must declare what it needs."""
GUARD_ATTRIBUTE = "__sharpeyes_guard__"
"""Set on every dependency that authenticates (value: the permissions it requires, or ``authenticated``)."""
LOGIN_FAILED_DETAIL = "wrong login or password"

bearer_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/auth/token", auto_error=False, scheme_name="bearer",
    description="An access token from POST /api/auth/token, or an API token (se_…) an admin created.")
cookie_scheme = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, scheme_name="session cookie",
    description="The browser session of POST /api/auth/login; unsafe methods also need the X-CSRF-Token header.")


def api_deps_of(request: Request) -> ApiDeps:
    """The :class:`ApiDeps` of the app serving ``request`` (kept by ``create_app``)."""
    deps = getattr(request.app.state, "api_deps", None)
    if not isinstance(deps, ApiDeps):
        raise RuntimeError("the app has no api_deps: build it with api.app.create_app")
    return deps


def client_address(request: Request) -> str:
    """The peer address the login throttle counts per (behind a reverse proxy: the proxy's, unless uvicorn is told
    to trust its X-Forwarded-For)."""
    return request.client.host if request.client else ""


def not_authenticated(detail: str = "Not authenticated") -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def current_principal(
    request: Request,
    bearer: Annotated[str | None, Depends(bearer_scheme)],
    cookie: Annotated[str | None, Depends(cookie_scheme)],
) -> Principal:
    """FastAPI dependency: the principal of the bearer token, else of the session cookie (an unsafe method then
    needs ``X-CSRF-Token``: 403 without it); 401 when there is neither or it is unknown, expired or revoked."""
    store = api_deps_of(request).identity
    try:
        if bearer:
            if bearer.startswith(API_TOKEN_PREFIX):
                principal = store.token_principal(bearer)
            else:
                found = store.session_principal(bearer)
                principal = found[0] if found else None
            if principal is None:
                raise not_authenticated("unknown, expired or revoked token: log in again")
        elif cookie:
            session = store.session_principal(cookie)
            if session is None:
                raise not_authenticated("session ended or expired: log in again")
            principal, csrf = session
            if request.method not in SAFE_METHODS and not store.csrf_matches(csrf, request.headers.get(CSRF_HEADER,
                                                                                                       "")):
                raise HTTPException(403, "CSRF token missing or wrong")
        else:
            raise not_authenticated()
    except SQLAlchemyError as exc:
        log.error("identity store unavailable: %s", exc)
        raise HTTPException(503, "the identity store cannot be read") from None
    return principal


def authenticated(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    """FastAPI dependency of routes any logged-in user may use: the principal."""
    return principal


setattr(authenticated, GUARD_ATTRIBUTE, "authenticated")  # the marker the route walk reads

_requirements: dict[frozenset[Permission], Callable[..., Principal]] = {}


def requires(*permissions: Permission) -> Callable[..., Principal]:
    """The FastAPI dependency of a route needing ``permissions``: the principal, or 401 (no user) / 403 (the role
    lacks one). One dependency per set of permissions, so FastAPI resolves it once per request."""
    if not permissions:
        raise ValueError("requires() needs at least one permission; use `authenticated` for any user")
    key = frozenset(permissions)
    if key in _requirements:
        return _requirements[key]
    names = ", ".join(sorted(p.value for p in key))

    def need(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        missing = sorted(p.value for p in key if not principal.may(p))
        if missing:
            log.warning("refused: %s (%s) lacks %s", principal.login, principal.role.value, ", ".join(missing))
            raise HTTPException(403, f"the role {principal.role.value} may not do this (needs {', '.join(missing)})")
        return principal

    need.__name__ = need.__qualname__ = f"requires({names})"
    setattr(need, GUARD_ATTRIBUTE, key)
    _requirements[key] = need
    return need


# ------------------------------------------------------------------------------------------------ deny by default
def _guard_of(dependant: Dependant | None) -> Any:
    todo = list(dependant.dependencies) if dependant is not None else []
    while todo:
        d = todo.pop(0)
        mark = getattr(d.call, GUARD_ATTRIBUTE, None)
        if mark is not None:
            return mark
        todo.extend(d.dependencies)
    return None


def app_routes(app: FastAPI) -> Iterator[tuple[str, frozenset[str], Any]]:
    """``(path, methods, guard)`` of every route ``app`` serves, included routers flattened; ``guard`` is what the
    route requires (a frozenset of permissions, ``authenticated``), None when it declares nothing, and ``"?"`` for
    a route that is not a FastAPI route (a mount, a plain Starlette route)."""
    iterate = getattr(fastapi.routing, "iter_route_contexts", None)  # recent FastAPI includes routers lazily
    contexts: Iterable[Any] = iterate(app.routes) if iterate is not None else app.routes
    for ctx in contexts:
        original = getattr(ctx, "original_route", ctx)
        path = str(getattr(ctx, "path", None) or getattr(original, "path", "?"))
        if isinstance(original, APIRoute):
            yield path, frozenset(ctx.methods or ()), _guard_of(getattr(ctx, "dependant", None))
        else:
            yield path, frozenset(getattr(ctx, "methods", None) or ()), "?"


def unguarded_routes(app: FastAPI) -> list[str]:
    """The routes of ``app`` that are not in :data:`OPEN_ROUTES` and declare no authentication (``METHOD path``);
    a route that is not a FastAPI route (a mount, a plain Starlette route) is reported as well."""
    out: list[str] = []
    for path, methods, guard in app_routes(app):
        if guard == "?" or (guard is None and not all((m, path) in OPEN_ROUTES for m in methods)):
            out.append(f"{','.join(sorted(methods)) or '*'} {path}")
    return out


# ------------------------------------------------------------------------------------------------ the routes
class MeOut(BaseModel):
    """Who is logged in, and what they may do."""

    login: str = Field(description="Login name (``token:<name>`` for an API token).")
    display_name: str = Field(description="Name shown in the header.")
    unit: str = Field(description="Their unit (单位), written to the access log.")
    role: Role = Field(description="operator, technician, auditor or admin.")
    jurisdiction: str = Field(description="Civil code of the node the role covers (with its subtree).")
    permissions: list[str] = Field(description="What the role may do (e.g. events:read, events:act).")
    kind: str = Field(description="user (password login) or token (API token).")

    @classmethod
    def of(cls, p: Principal) -> MeOut:
        return cls(login=p.login, display_name=p.display_name, unit=p.unit, role=p.role, jurisdiction=p.jurisdiction,
                   permissions=p.permissions, kind=p.kind)


class LoginIn(StrictModel):
    username: str = Field(min_length=1, max_length=64, description="Login name.")
    password: str = Field(min_length=1, max_length=1024, description="Password (never logged nor echoed).")


class LoginOut(BaseModel):
    csrf_token: str = Field(description="Send as X-CSRF-Token on every POST/PUT/PATCH/DELETE of this session.")
    user: MeOut = Field(description="Who logged in.")


class TokenOut(BaseModel):
    access_token: str = Field(description="Send as `Authorization: Bearer <token>`; revoked by POST /api/auth/logout.")
    token_type: str = Field(description="Always bearer.")
    expires_in: int = Field(description="Seconds until the token expires.")


def log_auth(archive: Archive, action: str, login: str, *, unit: str = "", center: str | None = None,
             outcome: Outcome = "allowed", detail: str = "") -> None:
    """One access record of the auth endpoints (user and target: the login name)."""
    try:
        archive.log_access(user=login[:100], unit=unit, reason="", action=action, target=login, center=center,
                           outcome=outcome, detail=detail)
    except SQLAlchemyError as exc:
        log.error("access log unavailable, %s of %s not recorded: %s", action, login, exc)
        raise HTTPException(503, "the access log cannot be written; nobody is logged in unlogged") from None


def create_auth_router(deps: ApiDeps) -> APIRouter:
    """``POST /api/auth/token``, ``POST /api/auth/login``, ``POST /api/auth/logout`` and ``GET /api/auth/me``."""
    store, archive = deps.identity, deps.archive
    router = APIRouter(prefix="/api/auth", tags=["auth"], route_class=NoEchoRoute)

    def log_in(request: Request, username: str, password: str, how: str) -> Principal:
        address = client_address(request)
        try:
            principal = store.authenticate(username, password, address=address)
        except LoginThrottled as exc:
            log.warning("login of %r from %s throttled for %d s", username[:64], address, exc.retry_after_s)
            raise HTTPException(429, "too many failed logins: try again later",
                                headers={"Retry-After": str(exc.retry_after_s)}) from None
        except LoginRefused:
            account = store.get_user(username)  # for the record only: the answer is the same either way
            log_auth(archive, "login_failed", username[:64], unit=account.unit if account else "",
                     center=account.jurisdiction if account else None, outcome="refused",
                     detail=f"{how} from {address}")
            log.info("failed login of %r from %s", username[:64], address)
            raise not_authenticated(LOGIN_FAILED_DETAIL) from None
        log_auth(archive, "login", principal.login, unit=principal.unit, center=principal.jurisdiction,
                 detail=f"{how} from {address}")
        log.info("login: %s (%s of %s) from %s", principal.login, principal.role.value, principal.jurisdiction,
                 address)
        return principal

    @router.post("/token", response_model=TokenOut,
                 summary="Log in with the OAuth2 password form: a bearer access token (revocable)")
    def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenOut:
        principal = log_in(request, form.username, form.password, "token")
        session = store.start_session(principal)
        return TokenOut(access_token=session.token, token_type="bearer", expires_in=int(store.session_ttl_s))

    @router.post("/login", response_model=LoginOut,
                 summary="Log in from the browser: an HttpOnly session cookie and its CSRF token")
    def login(request: Request, body: LoginIn, response: Response) -> LoginOut:
        principal = log_in(request, body.username, body.password, "browser")
        session = store.start_session(principal)
        response.set_cookie(SESSION_COOKIE, session.token, max_age=int(store.session_ttl_s), path="/",
                            httponly=True, samesite="strict", secure=request.url.scheme == "https")
        return LoginOut(csrf_token=session.csrf, user=MeOut.of(principal))

    @router.post("/logout", status_code=204, summary="End this session (cookie or bearer access token)")
    def logout(
        request: Request,
        principal: Annotated[Principal, Depends(authenticated)],
        bearer: Annotated[str | None, Depends(bearer_scheme)],
        cookie: Annotated[str | None, Depends(cookie_scheme)],
    ) -> Response:
        if principal.kind == "token":
            raise HTTPException(400, "an API token is not logged out: an admin revokes it (sharpeyes token revoke "
                                     "NAME)")
        for secret in (bearer, cookie):
            if secret and not secret.startswith(API_TOKEN_PREFIX):
                store.end_session(secret)
        log_auth(archive, "logout", principal.login, unit=principal.unit, center=principal.jurisdiction,
                 detail=f"from {client_address(request)}")
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                               secure=request.url.scheme == "https")
        return response

    @router.get("/me", response_model=MeOut, summary="Who is logged in: role, jurisdiction and permissions")
    def me(principal: Annotated[Principal, Depends(authenticated)]) -> MeOut:
        return MeOut.of(principal)

    return router
