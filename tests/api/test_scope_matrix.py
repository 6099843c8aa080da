"""Who may do what, where: every operation of the app's OpenAPI schema × every role → the expected outcome
(2xx, 401, 403, 404, 428, or the 502 of an ONVIF probe that got past the guard), then leak checks by content.

The world (:func:`open_world`): two village centers under 丰州镇 (140429100): A 140429100001 and B 140429100002,
each with a camera, and a village without a center under 洪水镇 (140429101) with a third camera; real Redis, the
registry, archive, publisher, archiver consumer, escalator and identity store in one SQLite file; accounts of every
role; events published to A and B and drained into the archive by the archiver (the hub's real path). Path
parameters are real ids of village A (an event, its snapshot, a camera, the center), so B's operator must get 404
for each. An operation in the schema without a row in :data:`EXPECTED` fails the test (a new route needs its
expectations), and so does a row for an operation the schema no longer has. ``bench/api_fuzz.py`` reuses the world.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ApiDeps
from events.archive import Archive
from events.consumer import CenterConsumer
from events.escalation import Escalator
from events.publisher import EventPublisher, Spool
from events.routing import Router, RoutingPolicy
from identity.store import IdentityStore, LoginThrottle
from registry.service import CameraService, CameraSpec
from registry.store import Registry
from registry.vault import Vault
from sharpeyes.keys import ARCHIVE_GROUP, Keys
from sharpeyes.proc import free_port
from sharpeyes.schema import Event, SnapshotRef
from sharpeyes.settings import Settings
from tests.support.events import COUNTY, make_event

TOWNSHIP, VILLAGE_A, VILLAGE_B = "140429100", "140429100001", "140429100002"
OTHER_TOWNSHIP, OTHER_VILLAGE = "140429101", "140429101001"
CAM_A, CAM_B, CAM_C = "14042900001325000001", "14042900001325000002", "14042900001325000003"
PATH_A, PATH_B = (COUNTY, TOWNSHIP, VILLAGE_A), (COUNTY, TOWNSHIP, VILLAGE_B)
PASSWORD = "Matrix-Test-Secret-2024"
REASON = {"X-Sharpeyes-Reason": "%E6%9D%83%E9%99%90%E7%9F%A9%E9%98%B5%E6%B5%8B%E8%AF%95"}  # 权限矩阵测试
CLOSED_PORT = free_port()
"""An ONVIF port nothing listens on: a probe that gets past the guard fails with 502 at once."""

WORLD_YAML = f"""\
jurisdictions:
  - {{code: "{VILLAGE_A}", name: 甲社区（合成）, parent: "{TOWNSHIP}", level: village, center: true, synthetic: true}}
  - {{code: "{VILLAGE_B}", name: 乙村（合成）, parent: "{TOWNSHIP}", level: village, center: true, synthetic: true}}
  - {{code: "{OTHER_VILLAGE}", name: 丙村（合成，无中心）, parent: "{OTHER_TOWNSHIP}", level: village, center: false,
     synthetic: true}}
cameras:
  - id: "{CAM_A}"
    name: 甲社区 校门
    jurisdiction: "{VILLAGE_A}"
    stream: rtsp://127.0.0.1:9/a
    onvif: {{host: 127.0.0.1, port: {CLOSED_PORT}}}
  - id: "{CAM_B}"
    name: 乙村 村委会
    jurisdiction: "{VILLAGE_B}"
    stream: rtsp://127.0.0.1:9/b
  - id: "{CAM_C}"
    name: 丙村 路口
    jurisdiction: "{OTHER_VILLAGE}"
    stream: rtsp://127.0.0.1:9/c
"""

# the roles of the matrix: (login, role, jurisdiction) of an account, or a special client
ANON, OP_A, OP_B, OP_TOWNSHIP, TECH, AUDITOR, ADMIN, REVOKED, NO_REASON = (
    "anonymous", "operator A", "operator B", "township operator", "technician", "auditor", "admin",
    "revoked token", "admin, no reason")
ROLES = (ANON, OP_A, OP_B, OP_TOWNSHIP, TECH, AUDITOR, ADMIN, REVOKED, NO_REASON)
ACCOUNTS: dict[str, tuple[str, str, str]] = {
    OP_A: ("op-a", "operator", VILLAGE_A),
    OP_B: ("op-b", "operator", VILLAGE_B),
    OP_TOWNSHIP: ("op-township", "operator", TOWNSHIP),
    TECH: ("tech", "technician", COUNTY),
    AUDITOR: ("auditor", "auditor", TOWNSHIP),
    ADMIN: ("admin", "admin", COUNTY),
    "auditor of 洪水镇": ("auditor-hongshui", "auditor", OTHER_TOWNSHIP),
}
USERS = (OP_A, OP_B, OP_TOWNSHIP, TECH, AUDITOR, ADMIN, NO_REASON)
"""The roles logged in with a password (the admin without a reason is the admin)."""


@dataclass
class World:
    app: FastAPI
    deps: ApiDeps
    store: IdentityStore
    publisher: EventPublisher
    archiver: CenterConsumer
    revoked_token: str
    event_a: Event
    event_b: Event
    snapshot_ref: str
    """The snapshot of ``event_a``, on disk."""
    serial: list[int] = field(default_factory=lambda: [100])

    def publish(self, *events: Event) -> None:
        """Publish, then let the archive consumer take them into the archive."""
        for e in events:
            self.publisher.publish(e)
        while self.archiver.poll_once(block_ms=0):
            pass

    def new_camera_id(self) -> str:
        self.serial[0] += 1
        return f"140429000013250{self.serial[0]:05d}"

    def fresh_camera(self) -> str:
        """A camera of village A registered over the service (not from YAML: it may be changed and removed)."""
        cam = self.new_camera_id()
        self.deps.cameras.register(CameraSpec(id=cam, name=f"临时 {cam[-3:]}", jurisdiction=VILLAGE_A,
                                              stream="rtsp://127.0.0.1:9/t", probe=False), via="test")
        return cam

    def fresh_event(self) -> str:
        """A new event of village A, archived."""
        event = make_event(self.serial[0], camera=CAM_A, civil_codes=PATH_A)
        self.serial[0] += 1
        self.publish(event)
        return event.id


def snapshot_of(ref: str) -> SnapshotRef:
    return SnapshotRef(ref=ref, sha256="0" * 64, width=640, height=360)


@contextmanager
def open_world(root: Path, client: redis.Redis, *, probe_timeout_s: float = 2.0) -> Iterator[World]:
    """The world of this module under ``root`` over ``client`` (a real Redis), closed on exit."""
    configs = root / "cams"
    configs.mkdir(parents=True, exist_ok=True)
    (configs / "world.yaml").write_text(WORLD_YAML, encoding="utf-8")
    url = f"sqlite:///{root / 'hub.db'}"
    with ExitStack() as opened:
        registry = Registry(url)
        opened.callback(registry.close)
        registry.init()
        registry.sync_camera_configs(configs)
        store = IdentityStore(url, throttle=LoginThrottle(max_failures=10_000))
        opened.callback(store.close)
        store.init()
        for login, role, code in ACCOUNTS.values():
            store.add_user(login, role=role, jurisdiction=code, password=PASSWORD, unit=f"{code} 单位")
        revoked = store.add_token("old-wall", role="admin", jurisdiction=COUNTY, unit="县中心大屏")
        store.revoke_token("old-wall")
        keys = Keys()
        router = Router(RoutingPolicy.load(), {c.code for c in registry.centers()})
        spool = Spool(root / "spool.db")
        opened.callback(spool.close)
        publisher = EventPublisher(client, router, keys, spool, ttl_s=30 * 24 * 3600, maxlen=10_000)
        archive = Archive(url)
        opened.callback(archive.close)
        archive.init()
        archiver = CenterConsumer(client, "all", lambda ev: archive.record(ev, router.centers_for(ev)),
                                  keys=keys, group=ARCHIVE_GROUP, stream=keys.firehose, consumer="archiver")
        escalator = Escalator(client, keys, router, archive, ttl_s=30 * 24 * 3600, maxlen=10_000)
        deps = ApiDeps(settings=Settings(data_dir=root), registry=registry,
                       cameras=CameraService(registry, Vault.from_key_file(root / "vault.key"),
                                             probe_timeout_s=probe_timeout_s),
                       redis=client, keys=keys, archive=archive, snapshot_dir=root / "snapshots", identity=store,
                       escalator=escalator)
        ref = f"{CAM_A}/2025-06-01/a.jpg"
        (deps.snapshot_dir / ref).parent.mkdir(parents=True, exist_ok=True)
        (deps.snapshot_dir / ref).write_bytes(b"\xff\xd8 jpeg of village A \xff\xd9")
        event_a = make_event(1, camera=CAM_A, civil_codes=PATH_A, snapshot=snapshot_of(ref))
        event_b = make_event(2, camera=CAM_B, civil_codes=PATH_B,
                             snapshot=snapshot_of(f"{CAM_B}/2025-06-01/b.jpg"))
        world = World(create_app(deps), deps, store, publisher, archiver, revoked, event_a, event_b, ref)
        world.publish(event_a, event_b)
        yield world


def log_in(http: TestClient, login: str) -> dict[str, str]:
    """Bearer header of a new session of ``login``, through ``POST /api/auth/token``."""
    r = http.post("/api/auth/token", data={"username": login, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@dataclass
class Env:
    world: World
    http: TestClient
    headers: dict[str, dict[str, str]]
    """Per role: the headers of its requests (a bearer token and the reason; none for the anonymous)."""

    def login_of(self, role: str) -> str:
        return ACCOUNTS[ADMIN if role == NO_REASON else role][0]


@pytest.fixture()
def env(tmp_path: Path, redis_client: redis.Redis) -> Iterator[Env]:
    with open_world(tmp_path, redis_client) as world, TestClient(world.app) as http:
        headers: dict[str, dict[str, str]] = {ANON: dict(REASON),
                                              REVOKED: {"Authorization": f"Bearer {world.revoked_token}", **REASON}}
        for role in USERS:
            login = ACCOUNTS[ADMIN if role == NO_REASON else role][0]
            headers[role] = log_in(http, login) | ({} if role == NO_REASON else REASON)
        yield Env(world, http, headers)


# ------------------------------------------------------------------------------------------------ expectations
OK = "2xx"
PROBED = "502"
"""The ONVIF probe ran (and found nothing listening): the request got past authentication and scope."""


def expect(allowed: dict[str, str], *, content: bool = False, open_route: bool = False) -> dict[str, str]:
    """Every role's expected outcome: ``allowed`` maps the roles that get past the guard (with the outcome they
    get: 2xx, 404 outside the scope...); every other authenticated role gets 403, the anonymous and the revoked
    token 401 (an open route: what ``allowed`` says). The admin without a reason gets 428 on a content route, else
    what the admin gets."""
    out: dict[str, str] = {}
    for role in ROLES:
        if role in allowed:
            out[role] = allowed[role]
        elif role == NO_REASON and ADMIN in allowed:
            out[role] = "428" if content and allowed[ADMIN] == OK else allowed[ADMIN]
        elif role in (ANON, REVOKED) and not open_route:
            out[role] = "401"
        else:
            out[role] = "403"
    return out


EVERYONE = {r: OK for r in (OP_A, OP_B, OP_TOWNSHIP, TECH, AUDITOR, ADMIN)}
READERS_OF_A = {OP_A: OK, OP_B: "404", OP_TOWNSHIP: OK, AUDITOR: OK, ADMIN: OK}
"""events:read, and village A in the scope (B's operator: outside)."""
ACTORS_ON_A = {OP_A: OK, OP_B: "404", OP_TOWNSHIP: "403", ADMIN: OK}
"""events:act: A's own operator and the admin; the township sees A's event but may not act on it; B does not see
it (404). The auditor and the technician lack events:act (403)."""
WRITERS = {TECH: PROBED, ADMIN: PROBED}

EXPECTED: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/api/health"): expect({r: OK for r in ROLES}, open_route=True),
    ("POST", "/api/auth/token"): expect({ANON: "401", REVOKED: "401", **{r: OK for r in USERS}}, open_route=True),
    ("POST", "/api/auth/login"): expect({ANON: "401", REVOKED: "401", **{r: OK for r in USERS}}, open_route=True),
    ("POST", "/api/auth/logout"): expect({r: OK for r in USERS}),
    ("GET", "/api/auth/me"): expect({r: OK for r in USERS}),
    ("GET", "/api/centers"): expect(EVERYONE),
    ("GET", "/api/centers/{code}/events"): expect(READERS_OF_A),
    ("GET", "/api/centers/{code}/events/stream"): expect(READERS_OF_A),
    ("GET", "/api/events"): expect({OP_A: OK, OP_B: OK, OP_TOWNSHIP: OK, AUDITOR: OK, ADMIN: OK}),
    ("GET", "/api/events/{event_id}"): expect(READERS_OF_A, content=True),
    ("POST", "/api/events/{event_id}/ack"): expect(ACTORS_ON_A),
    ("POST", "/api/events/{event_id}/resolve"): expect(ACTORS_ON_A),
    ("POST", "/api/events/{event_id}/hold"): expect(ACTORS_ON_A),
    ("POST", "/api/events/{event_id}/release"): expect(ACTORS_ON_A),
    ("POST", "/api/events/{event_id}/escalate"): expect(ACTORS_ON_A),
    ("GET", "/snapshots/{ref}"): expect({OP_A: OK, OP_B: "404", OP_TOWNSHIP: OK, ADMIN: OK}, content=True),
    ("GET", "/api/access-log"): expect({AUDITOR: OK, ADMIN: OK}, content=True),
    ("GET", "/api/streams"): expect({TECH: OK, AUDITOR: OK, ADMIN: OK}),
    ("GET", "/api/workers"): expect({TECH: OK, AUDITOR: OK, ADMIN: OK}),
    ("GET", "/api/audit"): expect({AUDITOR: OK, ADMIN: OK}, content=True),
    ("GET", "/api/cameras"): expect(EVERYONE),
    ("POST", "/api/cameras/probe"): expect(WRITERS),
    ("POST", "/api/cameras"): expect({TECH: OK, ADMIN: OK}),
    ("GET", "/api/cameras/completeness"): expect(EVERYONE),
    ("GET", "/api/cameras/export"): expect({TECH: OK, ADMIN: OK}, content=True),
    ("GET", "/api/cameras/{camera_id}"): expect({**EVERYONE, OP_B: "404"}),
    ("POST", "/api/cameras/{camera_id}/probe"): expect(WRITERS),
    ("PATCH", "/api/cameras/{camera_id}"): expect({TECH: OK, ADMIN: OK}),
    ("DELETE", "/api/cameras/{camera_id}"): expect({TECH: OK, ADMIN: OK}),
    ("GET", "/api/ui/config"): expect(EVERYONE),
    ("GET", "/api/ui/jurisdictions"): expect(EVERYONE),
    ("GET", "/api/ui/availability"): expect(EVERYONE),
    ("GET", "/api/ui/changes"): expect({OP_A: OK, OP_B: OK, OP_TOWNSHIP: OK, AUDITOR: OK, ADMIN: OK}),
    ("POST", "/api/ui/cameras/import"): expect({TECH: OK, ADMIN: OK}),
    ("POST", "/api/ui/cameras/discover"): expect({TECH: OK, ADMIN: OK}),
}
"""(method, OpenAPI path) → role → expected outcome."""

UNDOCUMENTED: dict[tuple[str, str], dict[str, str]] = {
    ("GET", "/"): expect({r: OK for r in ROLES}, open_route=True),
    ("GET", "/openapi.json"): expect({r: OK for r in USERS}),
    ("GET", "/docs"): expect({r: OK for r in USERS}),
    ("GET", "/metrics"): expect({TECH: OK, AUDITOR: OK, ADMIN: OK}),
    ("GET", "/ui/{name}"): expect({r: OK for r in ROLES}, open_route=True),
}
"""Routes served but not in the schema, checked the same way."""


# ------------------------------------------------------------------------------------------------ the requests
Call = Callable[[Env, str, dict[str, str]], int]
"""(env, role, headers) → the status of the request of one matrix cell."""


def _status(env: Env, method: str, url: str, headers: dict[str, str], **kw: Any) -> int:
    return env.http.request(method, url, headers=headers, **kw).status_code


def get(url: str, **params: Any) -> Call:
    return lambda env, role, h: _status(env, "GET", url, h, params=params or None)


def sse(url: str) -> Call:
    def call(env: Env, role: str, h: dict[str, str]) -> int:
        with env.http.stream("GET", url, params={"heartbeat_s": 0.2}, headers=h) as r:
            return r.status_code  # the stream is closed unread
    return call


def credentials(env: Env, role: str) -> tuple[str, str]:
    """What a role types into a login form: its own login and password; the anonymous a wrong password, the
    revoked token's holder its token's name and secret."""
    if role == ANON:
        return "admin", "not-the-password-1"
    if role == REVOKED:
        return "old-wall", env.world.revoked_token
    return env.login_of(role), PASSWORD


def token_form(env: Env, role: str, h: dict[str, str]) -> int:
    user, password = credentials(env, role)
    return _status(env, "POST", "/api/auth/token", {}, data={"username": user, "password": password})


def login_json(env: Env, role: str, h: dict[str, str]) -> int:
    user, password = credentials(env, role)
    env.http.cookies.clear()
    status = _status(env, "POST", "/api/auth/login", {}, json={"username": user, "password": password})
    env.http.cookies.clear()  # the matrix authenticates by bearer only
    return status


def logout(env: Env, role: str, h: dict[str, str]) -> int:
    """With a session of its own (logging out the role's matrix session would end its other cells)."""
    if role in USERS:
        h = {**h, **log_in(env.http, env.login_of(role))}
    return _status(env, "POST", "/api/auth/logout", h)


def event_action(action: str) -> Call:
    def call(env: Env, role: str, h: dict[str, str]) -> int:
        event_id = env.world.fresh_event()  # one per cell: each acts on a new event of village A
        body: dict[str, str] = {"reason": "权限矩阵"}
        if role in (ADMIN, NO_REASON):
            body["center"] = VILLAGE_A  # an admin names the center it acts for
        return _status(env, "POST", f"/api/events/{event_id}/{action}", h, json=body)
    return call


def import_yaml(camera_id: str, village: str) -> str:
    """A camera YAML file of one camera in ``village``."""
    return (f'cameras:\n  - {{id: "{camera_id}", name: 导入摄像机, jurisdiction: "{village}", '
            f'stream: "rtsp://127.0.0.1:9/imported"}}\n')


def register(env: Env, role: str, h: dict[str, str]) -> int:
    body = {"id": env.world.new_camera_id(), "name": "新摄像机", "jurisdiction": VILLAGE_A,
            "stream": "rtsp://127.0.0.1:9/new", "probe": False}
    return _status(env, "POST", "/api/cameras", h, json=body)


def remove(env: Env, role: str, h: dict[str, str]) -> int:
    return _status(env, "DELETE", f"/api/cameras/{env.world.fresh_camera()}", h)


CALLS: dict[tuple[str, str], Call] = {
    ("GET", "/api/health"): get("/api/health"),
    ("POST", "/api/auth/token"): token_form,
    ("POST", "/api/auth/login"): login_json,
    ("POST", "/api/auth/logout"): logout,
    ("GET", "/api/auth/me"): get("/api/auth/me"),
    ("GET", "/api/centers"): get("/api/centers"),
    ("GET", "/api/centers/{code}/events"): get(f"/api/centers/{VILLAGE_A}/events"),
    ("GET", "/api/centers/{code}/events/stream"): sse(f"/api/centers/{VILLAGE_A}/events/stream"),
    ("GET", "/api/events"): get("/api/events"),
    ("GET", "/api/events/{event_id}"): lambda env, role, h: _status(env, "GET",
                                                                    f"/api/events/{env.world.event_a.id}", h),
    **{("POST", f"/api/events/{{event_id}}/{a}"): event_action(a)
       for a in ("ack", "resolve", "hold", "release", "escalate")},
    ("GET", "/snapshots/{ref}"): lambda env, role, h: _status(env, "GET", f"/snapshots/{env.world.snapshot_ref}", h),
    ("GET", "/api/access-log"): get("/api/access-log"),
    ("GET", "/api/streams"): get("/api/streams"),
    ("GET", "/api/workers"): get("/api/workers"),
    ("GET", "/api/audit"): get("/api/audit", format="json"),
    ("GET", "/api/cameras"): get("/api/cameras"),
    ("POST", "/api/cameras/probe"): lambda env, role, h: _status(
        env, "POST", "/api/cameras/probe", h,
        json={"host": "127.0.0.1", "port": CLOSED_PORT, "username": "u", "password": "probe-pass"}),
    ("POST", "/api/cameras"): register,
    ("GET", "/api/cameras/completeness"): get("/api/cameras/completeness"),
    ("GET", "/api/cameras/export"): get("/api/cameras/export"),
    ("GET", "/api/cameras/{camera_id}"): get(f"/api/cameras/{CAM_A}"),
    ("POST", "/api/cameras/{camera_id}/probe"): lambda env, role, h: _status(env, "POST",
                                                                             f"/api/cameras/{CAM_A}/probe", h),
    ("PATCH", "/api/cameras/{camera_id}"): lambda env, role, h: _status(
        env, "PATCH", f"/api/cameras/{CAM_A}", h, json={"username": "admin", "password": "Rotated-Pass-77"}),
    ("DELETE", "/api/cameras/{camera_id}"): remove,
    ("GET", "/"): get("/"),
    ("GET", "/ui/{name}"): get("/ui/app.js"),
    ("GET", "/api/ui/config"): get("/api/ui/config"),
    ("GET", "/api/ui/jurisdictions"): get("/api/ui/jurisdictions"),
    ("GET", "/api/ui/availability"): get("/api/ui/availability"),
    ("GET", "/api/ui/changes"): sse("/api/ui/changes"),
    ("POST", "/api/ui/cameras/discover"): lambda env, role, h: _status(
        env, "POST", "/api/ui/cameras/discover", h, json={"host": "127.0.0.1", "port": CLOSED_PORT, "timeout_s": 0.05}),
    ("POST", "/api/ui/cameras/import"): lambda env, role, h: _status(
        env, "POST", "/api/ui/cameras/import", h, json={"yaml": import_yaml(env.world.new_camera_id(), VILLAGE_A)}),
    ("GET", "/openapi.json"): get("/openapi.json"),
    ("GET", "/docs"): get("/docs"),
    ("GET", "/metrics"): get("/metrics"),
}


def outcome(status: int) -> str:
    return OK if 200 <= status < 300 else str(status)


def schema_operations(app: FastAPI) -> list[tuple[str, str]]:
    methods = ("get", "put", "post", "patch", "delete", "head", "options", "trace")
    return sorted((m.upper(), path) for path, ops in app.openapi()["paths"].items() for m in ops if m in methods)


def test_every_operation_for_every_role(env: Env, record_property: Callable[[str, object], None]) -> None:
    operations = schema_operations(env.world.app)
    unexpected = sorted(set(operations) - set(EXPECTED))
    stale = sorted(set(EXPECTED) - set(operations))
    assert not unexpected, f"operations without expectations in EXPECTED (add a row for each): {unexpected}"
    assert not stale, f"EXPECTED rows for operations the schema no longer has: {stale}"
    wrong: list[str] = []
    cells = 0
    for op in [*operations, *UNDOCUMENTED]:
        table = EXPECTED.get(op) or UNDOCUMENTED[op]
        assert set(table) == set(ROLES), op
        for role in ROLES:
            got = outcome(CALLS[op](env, role, env.headers[role]))
            cells += 1
            if got != table[role]:
                wrong.append(f"{op[0]} {op[1]} as {role}: expected {table[role]}, got {got}")
    matrix = len(operations) * len(ROLES)
    record_property("scope_matrix_operations", len(operations))
    record_property("scope_matrix_roles", len(ROLES))
    record_property("scope_matrix_cells", matrix)
    print(f"\nscope matrix: {len(operations)} operations × {len(ROLES)} roles = {matrix} cells "
          f"(+ {len(UNDOCUMENTED)} undocumented routes × {len(ROLES)} roles: {cells} requests checked)")
    assert not wrong, "\n".join(wrong)


def test_the_matrix_covers_every_outcome() -> None:
    """The table states each kind of refusal at least once (a table of 2xx only would prove nothing)."""
    seen = {v for table in EXPECTED.values() for v in table.values()}
    assert {OK, "401", "403", "404", "428", PROBED} <= seen


# ------------------------------------------------------------------------------------------------ leaks by content
def ids_in(body: Any) -> set[str]:
    return {e["id"] for e in body["items"]}


def test_event_lists_do_not_leak(env: Env) -> None:
    w, http, h = env.world, env.http, env.headers
    a, b = w.event_a.id, w.event_b.id
    extra_a = [make_event(10 + n, camera=CAM_A, civil_codes=PATH_A) for n in range(3)]
    extra_b = [make_event(20 + n, camera=CAM_B, civil_codes=PATH_B) for n in range(3)]
    w.publish(*extra_a, *extra_b)
    of_a, of_b = {a, *(e.id for e in extra_a)}, {b, *(e.id for e in extra_b)}
    for role, mine, theirs, center, other in ((OP_A, of_a, of_b, VILLAGE_A, VILLAGE_B),
                                              (OP_B, of_b, of_a, VILLAGE_B, VILLAGE_A)):
        r = http.get("/api/events", headers=h[role], params={"limit": 500})
        assert r.status_code == 200 and ids_in(r.json()) == mine, role
        r = http.get(f"/api/centers/{center}/events", headers=h[role], params={"limit": 500})
        assert r.status_code == 200 and ids_in(r.json()) == mine, role
        for params in ({"center": other}, {"camera_id": CAM_B if role == OP_A else CAM_A}):
            r = http.get("/api/events", headers=h[role], params=params)
            assert r.status_code == 200 and not ids_in(r.json()) & theirs, (role, params)
        r = http.get(f"/api/centers/{other}/events", headers=h[role])
        assert r.status_code == 404 and not any(i in r.text for i in theirs), role
        for event_id in theirs:
            r = http.get(f"/api/events/{event_id}", headers=h[role])
            assert r.status_code == 404 and CAM_A not in r.text and CAM_B not in r.text, role
    # the township sees both villages' events: the lists above were filtered, not empty by accident
    r = http.get("/api/events", headers=h[OP_TOWNSHIP], params={"limit": 500})
    assert ids_in(r.json()) == of_a | of_b


def test_sse_stream_does_not_leak(env: Env) -> None:
    w = env.world
    later_b = make_event(30, camera=CAM_B, civil_codes=PATH_B)
    later_a = make_event(31, camera=CAM_A, civil_codes=PATH_A)
    seen: list[str] = []
    deadline = time.monotonic() + 10
    with env.http.stream("GET", f"/api/centers/{VILLAGE_A}/events/stream", params={"heartbeat_s": 0.2},
                         headers=env.headers[OP_A]) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            seen.append(line)
            if line == ": connected":
                w.publisher.publish(later_b)  # B's first: had it leaked, it would come before A's
                w.publisher.publish(later_a)
            if line.startswith("data: ") and Event.from_json(line[6:]).id == later_a.id:
                break
            assert time.monotonic() < deadline, f"no event of village A on its stream within 10 s: {seen}"
    text = "\n".join(seen)
    assert later_a.id in text and later_b.id not in text and CAM_B not in text
    # B's stream, the township's and the county's are not A's operator's to open
    for center in (VILLAGE_B, TOWNSHIP, COUNTY):
        r = env.http.get(f"/api/centers/{center}/events/stream", headers=env.headers[OP_A])
        assert r.status_code == 404 and later_b.id not in r.text, center


def test_change_feed_and_web_app_lists_do_not_leak(env: Env) -> None:
    w, http, h = env.world, env.http, env.headers
    seen: list[str] = []
    deadline = time.monotonic() + 10
    with http.stream("GET", "/api/ui/changes", params={"heartbeat_s": 0.2}, headers=h[OP_A]) as resp:
        assert resp.status_code == 200
        for line in resp.iter_lines():
            seen.append(line)
            if line == ": connected":  # B's action first: had it leaked, it would come before A's
                assert http.post(f"/api/events/{w.event_b.id}/ack", headers=h[OP_B],
                                 json={"reason": "乙村签收"}).status_code == 200
                assert http.post(f"/api/events/{w.event_a.id}/ack", headers=h[OP_A],
                                 json={"reason": "甲村签收"}).status_code == 200
            if line.startswith("data: ") and json.loads(line[6:])["id"] == w.event_a.id:
                break
            assert time.monotonic() < deadline, f"no change of village A's event within 10 s: {seen}"
    text = "\n".join(seen)
    assert '"status":"acknowledged"' in text and w.event_b.id not in text and CAM_B not in text
    # a later state of an incident (the firehose) reaches the feed too, with the handling state kept
    now = datetime.now(UTC)
    seen = []
    with http.stream("GET", "/api/ui/changes", params={"heartbeat_s": 0.2}, headers=h[OP_A]) as resp:
        for line in resp.iter_lines():
            seen.append(line)
            if line == ": connected":
                for ev in (w.event_b, w.event_a):
                    w.publisher.publish_update(ev.model_copy(update={"updated_at": now, "ended_at": now}))
            if line.startswith("data: ") and json.loads(line[6:])["id"] == w.event_a.id:
                state = json.loads(line[6:])
                break
            assert time.monotonic() < deadline + 10, f"no update of village A's event within 10 s: {seen}"
    assert state["ended_at"] and state["status"] == "acknowledged" and w.event_b.id not in "\n".join(seen)
    nodes = {n["code"]: n["in_scope"] for n in http.get("/api/ui/jurisdictions", headers=h[OP_B]).json()}
    assert nodes == {VILLAGE_B: True, TOWNSHIP: False, COUNTY: False}  # the nodes above: named, not in scope
    cams = http.get("/api/ui/availability", headers=h[OP_B]).json()["cameras"]
    assert {c["id"] for c in cams} == {CAM_B}


def test_a_camera_import_stays_in_the_importers_jurisdiction(env: Env) -> None:
    w, http = env.world, env.http
    w.store.add_user("tech-fengzhou", role="technician", jurisdiction=TOWNSHIP, password=PASSWORD, unit="丰州镇派出所")
    h = log_in(http, "tech-fengzhou")
    outside, inside = w.new_camera_id(), w.new_camera_id()
    both = import_yaml(inside, VILLAGE_A) + import_yaml(outside, OTHER_VILLAGE).removeprefix("cameras:\n")
    r = http.post("/api/ui/cameras/import", headers=h, json={"yaml": both, "name": "两台.yaml"})
    assert r.status_code == 422 and outside in r.json()["detail"]["message"], r.text
    assert w.deps.registry.get_camera(inside) is None and w.deps.registry.get_camera(outside) is None  # all or none
    # a village of another township is not created either, nor one of the tree changed
    village = f'jurisdictions:\n  - {{code: "{OTHER_TOWNSHIP}009", name: 新村, parent: "{OTHER_TOWNSHIP}", ' \
              'synthetic: true}\n'
    r = http.post("/api/ui/cameras/import", headers=h, json={"yaml": village})
    assert r.status_code == 422 and w.deps.registry.get_jurisdiction(f"{OTHER_TOWNSHIP}009") is None
    r = http.post("/api/ui/cameras/import", headers=h, json={"yaml": import_yaml(inside, VILLAGE_A)})
    assert r.status_code == 200 and r.json()["added"] == [inside], r.text
    assert (w.deps.archive.access_log(limit=1)[0].user, w.deps.archive.access_log(limit=1)[0].action) == (
        "tech-fengzhou", "camera_add")
    r = http.post("/api/ui/cameras/import", headers=h, json={"yaml": "cameras: [{id: 1}]", "name": "../x.yaml"})
    assert r.status_code == 422 and "cameras: [{id: 1}]" not in r.text


def test_township_audit_does_not_leak(env: Env) -> None:
    http = env.http
    other = log_in(http, ACCOUNTS["auditor of 洪水镇"][0]) | REASON
    reports = {}
    for who, headers in (("fengzhou", env.headers[AUDITOR]), ("hongshui", other), ("admin", env.headers[ADMIN])):
        r = http.get("/api/audit", headers=headers, params={"format": "json"})
        assert r.status_code == 200, (who, r.text)
        reports[who] = r.json()
    cams = {who: {c["id"] for c in rep["cameras"]} for who, rep in reports.items()}
    assert cams == {"fengzhou": {CAM_A, CAM_B}, "hongshui": {CAM_C}, "admin": {CAM_A, CAM_B, CAM_C}}
    assert (reports["fengzhou"]["scope"], reports["hongshui"]["scope"], reports["admin"]["scope"]) == (
        TOWNSHIP, OTHER_TOWNSHIP, None)
    text = json.dumps(reports["hongshui"], ensure_ascii=False)
    assert CAM_A not in text and CAM_B not in text and "甲社区" not in text and "乙村" not in text
    assert CAM_C not in json.dumps(reports["fengzhou"], ensure_ascii=False)
    for fmt in ("csv", "html"):
        r = http.get("/api/audit", headers=other, params={"format": fmt})
        assert r.status_code == 200 and CAM_A not in r.text and CAM_B not in r.text, fmt


def test_camera_lists_and_access_log_do_not_leak(env: Env) -> None:
    http, h = env.http, env.headers
    assert {c["id"] for c in http.get("/api/cameras", headers=h[OP_A]).json()} == {CAM_A}
    assert {c["id"] for c in http.get("/api/cameras", headers=h[OP_B]).json()} == {CAM_B}
    assert {c["id"] for c in http.get("/api/cameras", headers=h[AUDITOR]).json()} == {CAM_A, CAM_B}
    completeness = http.get("/api/cameras/completeness", headers=h[OP_B]).json()
    assert {c["camera_id"] for c in completeness["cameras"]} == {CAM_B}
    # an access of 洪水镇 is not in 丰州镇's auditor's log; the admin's has it
    env.world.deps.archive.log_access(user="someone", unit="洪水镇", reason="查看", action="view_event",
                                      target=env.world.event_b.id, center=OTHER_TOWNSHIP,
                                      at=datetime.now(UTC))
    records = http.get("/api/access-log", headers=h[AUDITOR], params={"limit": 5000}).json()
    assert records and all(r["center"] and r["center"].startswith(TOWNSHIP) for r in records)
    admin_records = http.get("/api/access-log", headers=h[ADMIN], params={"limit": 5000}).json()
    assert any(r["center"] == OTHER_TOWNSHIP for r in admin_records)
