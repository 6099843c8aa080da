"""The HTTP API over a real registry (SQLite; PostgreSQL too for the tests marked ON_BOTH_ENGINES) and a real
redis-server, through FastAPI's TestClient, logged in (an admin unless a test says otherwise;
tests/api/test_auth.py tests logging in itself)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

import pytest
import redis
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from ulid import ULID

from api.app import create_app, create_worker_app
from api.deps import ApiDeps
from events.archive import Archive
from events.consumer import CenterConsumer
from events.escalation import Escalator
from events.publisher import EventPublisher, Spool
from events.routing import Router, RoutingPolicy
from identity.store import IdentityStore
from registry.service import CameraService
from registry.store import Registry
from registry.vault import Vault
from sharpeyes.keys import ARCHIVE_GROUP, CENTER_GROUP, Keys
from sharpeyes.leases import CameraLeases, Membership, NodeInfo, SingletonLock
from sharpeyes.schema import Event, EventType, Severity, SnapshotRef
from sharpeyes.settings import Settings
from tests.support.auth import UNIT, bearer, identity_store

VILLAGE = "140429100001"
TOWNSHIP = "140429100"
VILLAGE_NO_CENTER = "140429101001"
CAM1, CAM2 = "14042900001325000001", "14042900001325000002"
# why content is viewed, as the web UI sends it: URL-encoded UTF-8 in the header (who views: the logged-in user)
REASON = "核查聚集事件"
VIEWER = {"X-Sharpeyes-Reason": quote(REASON)}

CAMERA_YAML = f"""\
jurisdictions:
  - code: "{VILLAGE}"
    name: 示范社区（合成）
    parent: "140429100"
    level: village
    center: true
    synthetic: true
  - code: "{VILLAGE_NO_CENTER}"
    name: 示范村（合成，无综治中心）
    parent: "140429101"
    level: village
    center: false
    synthetic: true
cameras:
  - id: "{CAM1}"
    name: 示范社区 校园路口 1
    jurisdiction: "{VILLAGE}"
    stream: rtsp://127.0.0.1:9/x
    position: {{longitude: 112.8640, latitude: 36.8372}}
    heading_deg: 90
    fov_deg: 70
    range_m: 40
    sampling: {{mode: fps, fps: 1}}
    rules:
      - type: zone_intrusion
        name: 草坪禁入区
        zone: [[0.0, 0.55], [0.35, 0.55], [0.35, 1.0], [0.0, 1.0]]
        min_duration_s: 2
        severity: minor
  - id: "{CAM2}"
    name: 示范村 村委会门口
    jurisdiction: "{VILLAGE_NO_CENTER}"
    stream: rtsp://127.0.0.1:9/x
    sampling: {{mode: keyframes, fps: 1}}
"""


@dataclass
class Env:
    http: TestClient
    """Logged in as ``admin`` (role admin, county 140429)."""
    registry: Registry
    publisher: EventPublisher
    archiver: CenterConsumer
    snapshots: Path
    archive: Archive
    identity: IdentityStore

    def client(self, login: str, *, role: str = "operator", jurisdiction: str = VILLAGE) -> TestClient:
        """A client of the same app logged in (bearer) as ``login`` (created with ``role`` and ``jurisdiction``)."""
        return TestClient(self.http.app, headers=bearer(self.identity, login, role=role, jurisdiction=jurisdiction))

    @property
    def anonymous(self) -> TestClient:
        return TestClient(self.http.app)

    def publish(self, *events: Event) -> None:
        """Publish, then let the archive consumer (the hub's real path into the archive) take them in."""
        for e in events:
            self.publisher.publish(e)
        while self.archiver.poll_once(block_ms=0):
            pass


def api_deps(tmp_path: Path, registry: Registry, client: redis.Redis, archive: Archive, keys: Keys,
             identity: IdentityStore, *, escalator: Escalator | None = None) -> ApiDeps:
    """What the hub gives the API, over the test's registry, archive, identity store and Redis (vault key in
    ``tmp_path``)."""
    return ApiDeps(settings=Settings(data_dir=tmp_path), registry=registry,
                   cameras=CameraService(registry, Vault.from_key_file(tmp_path / "vault.key")), redis=client,
                   keys=keys, archive=archive, snapshot_dir=tmp_path / "snapshots", identity=identity,
                   escalator=escalator)


@pytest.fixture()
def env_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database of ``env``: SQLite, or PostgreSQL in the tests parametrised with ``ON_BOTH_ENGINES``."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'r.db'}"


ON_BOTH_ENGINES = pytest.mark.parametrize("env_database_url", ["sqlite", "postgresql"], indirect=True)
"""For the API tests whose queries matter most (paging, filters, scope, actions, access log): run them on both."""


@pytest.fixture()
def env(tmp_path: Path, redis_client: redis.Redis, env_database_url: str) -> Iterator[Env]:
    configs = tmp_path / "cams"
    configs.mkdir()
    (configs / "cams.yaml").write_text(CAMERA_YAML, encoding="utf-8")
    with ExitStack() as opened:  # whatever was opened is closed, also when a step fails
        registry = Registry(env_database_url)
        opened.callback(registry.close)
        registry.init()
        registry.sync_camera_configs(configs)
        keys = Keys()
        router = Router(RoutingPolicy.load(), {c.code for c in registry.centers()})
        spool = Spool(tmp_path / "spool.db")
        opened.callback(spool.close)
        publisher = EventPublisher(redis_client, router, keys, spool, ttl_s=30 * 24 * 3600, maxlen=1000)
        archive = Archive(env_database_url)
        opened.callback(archive.close)
        archive.init()
        archiver = CenterConsumer(redis_client, "all", lambda ev: archive.record(ev, router.centers_for(ev)),
                                  keys=keys, group=ARCHIVE_GROUP, stream=keys.firehose, consumer="archiver")
        escalator = Escalator(redis_client, keys, router, archive, ttl_s=30 * 24 * 3600, maxlen=1000)
        identity = identity_store(env_database_url)
        opened.callback(identity.close)
        deps = api_deps(tmp_path, registry, redis_client, archive, keys, identity, escalator=escalator)
        with TestClient(create_app(deps), headers=bearer(identity, "admin")) as http:
            yield Env(http, registry, publisher, archiver, deps.snapshot_dir, archive, identity)


def make_event(n: int, camera: str = CAM1, path: tuple[str, ...] = ("140429", "140429100", VILLAGE)) -> Event:
    return Event(
        type=EventType.ZONE_INTRUSION,
        severity=Severity.MINOR,
        camera_id=camera,
        civil_codes=list(path),
        occurred_at=datetime(2025, 6, 1, 8, 0, tzinfo=UTC) + timedelta(seconds=n),
        zone="草坪禁入区",
    )


def test_health_reports_redis(env: Env) -> None:
    r = env.anonymous.get("/api/health")  # open: no user needed
    assert r.status_code == 200
    body = r.json()
    assert body["redis"] is True
    assert body["status"] == "ok"
    assert body["workers"] == []


def test_cameras(env: Env) -> None:
    r = env.http.get("/api/cameras")
    assert r.status_code == 200
    assert "password" not in r.text.lower()
    cams = {c["id"]: c for c in r.json()}
    assert set(cams) == {CAM1, CAM2}
    c1 = cams[CAM1]
    assert c1["name"] == "示范社区 校园路口 1"
    assert c1["jurisdiction_code"] == VILLAGE
    assert c1["civil_codes"] == ["140429", "140429100", VILLAGE]
    assert c1["stream_url"] == "rtsp://127.0.0.1:9/x"
    assert (c1["longitude"], c1["latitude"]) == (112.864, 36.8372)
    assert (c1["heading_deg"], c1["fov_deg"], c1["range_m"]) == (90, 70, 40)
    assert c1["sample_mode"] == "fps"
    assert c1["enabled"] is True
    assert c1["state"] == "unknown"
    assert c1["id_info"] == {
        "industry": "social order (public security)",
        "type": "IPC",
        "network": "public-security network",
        "county": "140429",
        "serial": "000001",
    }
    assert [rule["name"] for rule in c1["rules"]] == ["草坪禁入区"]
    assert cams[CAM2]["sample_mode"] == "keyframes"
    assert cams[CAM2]["civil_codes"] == ["140429", "140429101", VILLAGE_NO_CENTER]
    assert cams[CAM2]["longitude"] is None


def test_camera_state_comes_from_redis(env: Env, redis_client: redis.Redis) -> None:
    redis_client.hset(Keys().camera_status(CAM1), mapping={"state": "online"})
    cams = {c["id"]: c for c in env.http.get("/api/cameras").json()}
    assert cams[CAM1]["state"] == "online"
    assert cams[CAM2]["state"] == "unknown"


def test_centers(env: Env) -> None:
    r = env.http.get("/api/centers")
    assert r.status_code == 200
    centers = {c["code"]: c for c in r.json()}
    county = centers["140429"]
    assert county["tier"] == "county"
    assert county["synthetic"] is False
    assert county["name"] == "武乡县综治中心"
    assert county["stream"] == "sharpeyes:center:140429:events"
    townships = [c for c in centers.values() if len(c["code"]) == 9]
    assert len(townships) >= 10
    assert all(t["tier"] == "township" and t["parent_code"] == "140429" and not t["synthetic"] for t in townships)
    village = centers[VILLAGE]
    assert village["tier"] == "village"
    assert village["synthetic"] is True
    assert village["parent_code"] == "140429100"
    assert VILLAGE_NO_CENTER not in centers
    # province and city nodes are seeded but host no center here
    assert "14" not in centers and "1404" not in centers


@ON_BOTH_ENGINES
def test_center_events_newest_first_and_paged(env: Env) -> None:
    events = [make_event(i) for i in range(3)]
    # an event elsewhere in the county must not show up in this center
    env.publish(*events, make_event(9, CAM2, ("140429", "140429101", VILLAGE_NO_CENTER)))
    newest_first = [e.id for e in reversed(events)]

    r = env.http.get(f"/api/centers/{VILLAGE}/events")
    assert r.status_code == 200
    page = r.json()
    assert [e["id"] for e in page["items"]] == newest_first
    assert page["next_before"] is None
    assert Event.model_validate({k: v for k, v in page["items"][0].items() if k in Event.model_fields}) == events[2]

    r1 = env.http.get(f"/api/centers/{VILLAGE}/events", params={"limit": 2})
    p1 = r1.json()
    assert [e["id"] for e in p1["items"]] == newest_first[:2]
    assert p1["next_before"]
    r2 = env.http.get(f"/api/centers/{VILLAGE}/events", params={"limit": 2, "before": p1["next_before"]})
    p2 = r2.json()
    assert [e["id"] for e in p2["items"]] == newest_first[2:]
    assert p2["next_before"] is None

    # the firehose has all four; the township of the no-center village got its event
    assert len(env.http.get("/api/events").json()["items"]) == 4
    township = env.http.get("/api/centers/140429101/events").json()["items"]
    assert [e["camera_id"] for e in township] == [CAM2]


def test_center_events_errors(env: Env) -> None:
    assert env.http.get("/api/centers/140429999999/events").status_code == 404
    assert env.http.get(f"/api/centers/{VILLAGE_NO_CENTER}/events").status_code == 404  # exists, no center
    assert env.http.get(f"/api/centers/{VILLAGE}/events", params={"limit": 0}).status_code == 422
    assert env.http.get(f"/api/centers/{VILLAGE}/events", params={"before": "abc"}).status_code == 422
    # a center with no events yet: an empty page, not an error
    empty = env.http.get("/api/centers/140429102/events")
    assert empty.status_code == 200
    assert empty.json() == {"items": [], "next_before": None}


def test_get_event_by_id(env: Env) -> None:
    event = make_event(0)
    assert env.http.get(f"/api/events/{event.id}", headers=VIEWER).status_code == 404
    env.publish(event)
    r = env.http.get(f"/api/events/{event.id}", headers=VIEWER)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "new" and body["actions"] == [] and body["centers"] == [VILLAGE]  # minor: village only
    assert Event.model_validate({k: v for k, v in body.items() if k in Event.model_fields}) == event
    assert env.http.get(f"/api/events/{ULID()}", headers=VIEWER).status_code == 404
    assert env.http.get("/api/events/not-a-ulid", headers=VIEWER).status_code == 422
    assert env.http.get(f"/api/events/{event.id}x", headers=VIEWER).status_code == 422
    # the two lookups of a missing event are logged too ("not found"); malformed ids are not
    log = env.archive.access_log()
    assert [(a.action, a.detail) for a in reversed(log)] == [
        ("view_event", "not found"), ("view_event", ""), ("view_event", "not found")]


def test_snapshots_served_and_traversal_refused(env: Env, tmp_path: Path) -> None:
    ref = f"{CAM1}/2025-06-01/abc.jpg"
    target = env.snapshots / ref
    target.parent.mkdir(parents=True)
    payload = b"\xff\xd8\xff\xe0 not really a jpeg \xff\xd9"
    target.write_bytes(payload)
    (tmp_path / "secret.txt").write_text("root:x:0:0:secret", encoding="utf-8")

    (env.snapshots.parent / "outside.jpg").write_bytes(b"secret")
    (env.snapshots / "link.jpg").symlink_to(env.snapshots.parent / "outside.jpg")

    r = env.http.get(f"/snapshots/{ref}", headers=VIEWER)
    assert r.status_code == 200
    assert r.content == payload
    assert r.headers["content-type"] == "image/jpeg"
    assert "no-store" in r.headers["cache-control"]
    assert env.http.get("/snapshots/missing.jpg", headers=VIEWER).status_code == 404
    assert env.http.get("/snapshots/link.jpg", headers=VIEWER).status_code == 404  # a link out of the folder

    for bad in ("/snapshots/../../etc/passwd", "/snapshots/..%2F..%2Fetc%2Fpasswd",
                "/snapshots/%2e%2e/%2e%2e/etc/passwd", "/snapshots/../secret.txt", "/snapshots/%2e%2e/secret.txt",
                "/snapshots//etc/passwd", "/snapshots/%2Fetc%2Fpasswd", f"/snapshots/{CAM1}/..%2F..%2F..%2Fsecret.txt"):
        resp = env.http.get(bad, headers=VIEWER)
        assert not (resp.status_code == 200 and b"root:" in resp.content), bad
        assert resp.status_code in (404, 428), bad  # 428: the client's normalised path left /snapshots/


def sample(metrics_text: str, name: str, labels: dict[str, str]) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return 0.0


def test_metrics(env: Env) -> None:
    published = ("sharpeyes_events_published_total", {"severity": "minor", "type": "zone_intrusion"})
    before = sample(env.http.get("/metrics").text, *published)  # process-global: earlier tests raised it
    env.publisher.publish(make_event(0))
    env.publisher.publish(make_event(1, CAM2, ("140429", "140429101", VILLAGE_NO_CENTER)))
    r = env.http.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert sample(r.text, *published) - before == 2.0
    assert sample(r.text, "sharpeyes_events_pending_publish", {}) == 0.0  # both reached Redis
    # per-center backlog, read from Redis at scrape time: the village stream has 1 entry, unread by its group
    assert sample(r.text, "sharpeyes_stream_length", {"stream": VILLAGE}) == 1.0
    assert sample(r.text, "sharpeyes_stream_lag", {"group": "center", "stream": VILLAGE}) == 1.0
    assert f'sharpeyes_stream_pending{{group="center",stream="{VILLAGE}"}} 0.0' in r.text
    assert sample(r.text, "sharpeyes_stream_length", {"stream": "firehose"}) == 2.0
    backlog = env.http.get("/api/streams").json()
    assert backlog[Keys().center_stream(VILLAGE)] == {
        "length": 1, "groups": {"center": {"pending": 0, "lag": 1, "consumers": 0}}}


class _Page(HTMLParser):
    """The title, element ids and script text of an HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.title, self.ids, self.script = "", set[str](), ""
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids.update(v for k, v in attrs if k == "id" and v)
        self._in = tag if tag in ("title", "script") else None

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "title":
            self.title += data
        elif self._in == "script":
            self.script += data


# every documented route: (method, path) → summary
ROUTES = {
    ("POST", "/api/auth/token"): "Log in with the OAuth2 password form: a bearer access token (revocable)",
    ("POST", "/api/auth/login"): "Log in from the browser: an HttpOnly session cookie and its CSRF token",
    ("POST", "/api/auth/logout"): "End this session (cookie or bearer access token)",
    ("GET", "/api/auth/me"): "Who is logged in: role, jurisdiction and permissions",
    ("GET", "/api/health"): "Liveness and worker status",
    ("GET", "/api/cameras"): "Registered cameras of your jurisdiction",
    ("GET", "/api/centers"): "Comprehensive-governance centers (综治中心) of your jurisdiction",
    ("GET", "/api/centers/{code}/events"): "A center's events, newest first",
    ("GET", "/api/centers/{code}/events/stream"): "Live events of a center (Server-Sent Events)",
    ("GET", "/api/events"): "Archived events delivered to the centers you see, newest first, filterable",
    ("GET", "/api/events/{event_id}"): "One event with its action log (with a reason; logged)",
    ("POST", "/api/events/{event_id}/ack"): "Acknowledge (with a reason)",
    ("POST", "/api/events/{event_id}/resolve"): "Resolve (with a reason)",
    ("POST", "/api/events/{event_id}/hold"):
        "Put on hold (kept past the retention period, e.g. as evidence; with a reason)",
    ("POST", "/api/events/{event_id}/release"): "Release a hold (purged by retention again; with a reason)",
    ("POST", "/api/events/{event_id}/escalate"): "Escalate one tier up (with a reason)",
    ("GET", "/snapshots/{ref}"): "An event's snapshot JPEG (with a reason; logged)",
    ("GET", "/api/access-log"):
        "The access log of your jurisdiction (who viewed what, from which unit, why; logins; camera changes; "
        "refused actions), newest first",
    ("GET", "/api/streams"): "Backlog of each event stream: length, pending and lag per consumer group",
    ("GET", "/api/workers"): "Worker nodes, the cameras each holds, and who runs the singleton workers",
    ("GET", "/api/audit"): "Four-all (四全) audit of your jurisdiction: coverage, sharing, availability, control "
                           "(JSON, CSV or HTML; with a reason; logged)",
    ("POST", "/api/cameras/probe"): "Probe an ONVIF device (nothing is registered)",
    ("POST", "/api/cameras"): "Register a camera (probing its ONVIF endpoint when given; logged)",
    ("GET", "/api/cameras/completeness"):
        "一机一档: missing/invalid fields per camera of your jurisdiction and the completeness rate",
    ("GET", "/api/cameras/export"):
        "The cameras of your jurisdiction as camera YAML or a GB/T 28181 Catalog XML (no credentials; with a "
        "reason; logged)",
    ("GET", "/api/cameras/{camera_id}"): "One camera's record",
    ("POST", "/api/cameras/{camera_id}/probe"):
        "Probe a registered camera's ONVIF endpoint with its stored credentials",
    ("PATCH", "/api/cameras/{camera_id}"): "Change fields (and credentials) of a camera (logged)",
    ("DELETE", "/api/cameras/{camera_id}"): "Remove a camera and its credentials (logged)",
}
WEB_APP_ROUTES = {
    ("GET", "/api/ui/config"): "What the web app shows: the SLA of each severity and the hub's timezone",
    ("GET", "/api/ui/jurisdictions"): "The jurisdiction nodes of your subtree (county → township → village)",
    ("GET", "/api/ui/availability"):
        "在线率 and 完好率 of each camera of your subtree over the last days, and the key points",
    ("GET", "/api/ui/changes"):
        "Changes of the events you see (actions by anyone, incident updates, escalations) as Server-Sent Events",
    ("POST", "/api/ui/cameras/import"): "Import a camera YAML file (all or nothing; within your jurisdiction; logged)",
    ("POST", "/api/ui/cameras/discover"):
        "Find ONVIF cameras by WS-Discovery (multicast, or one address); registers nothing",
}
ROUTES.update(WEB_APP_ROUTES)
REASON_ROUTES = {("GET", "/api/events/{event_id}"), ("GET", "/snapshots/{ref}"), ("GET", "/api/access-log"),
                 ("GET", "/api/audit"), ("GET", "/api/cameras/export")}


def test_index_and_openapi(env: Env) -> None:
    r = env.anonymous.get("/")  # the page is open: a shell whose script shows the login form first
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    page = _Page()
    page.feed(r.text)
    assert page.title == "Sharp Eyes Hub"
    assert page.ids == {"root"}  # no admin notice: an admin exists; no content before a login
    assert '<script type="module" src="/ui/app.js">' in r.text and "http" not in r.text.split("<body>")[1]
    # its modules are open too (code, no data), served by flat name only, with a JavaScript type
    app = env.anonymous.get("/ui/app.js")
    assert app.status_code == 200 and app.headers["content-type"].startswith("text/javascript")
    client = env.anonymous.get("/ui/api.js").text
    assert '"/api/auth/login"' in client and '"X-CSRF-Token"' in client and "X-Sharpeyes-User" not in client
    assert env.anonymous.get("/ui/app.css").headers["content-type"].startswith("text/css")
    for name in ("index.html", "..%2Fapp.py", "nope.js", "App.JS"):
        assert env.anonymous.get(f"/ui/{name}").status_code == 404, name
    # the queue reads the center's list, then its stream and the change feed: routes the app has
    queue = env.anonymous.get("/ui/queue.js").text
    assert "`/api/centers/${code}/events?${q}`" in queue
    assert "`/api/centers/${code}/events/stream?heartbeat_s=4`" in queue
    assert "/api/ui/changes" in queue and "setInterval(refresh" not in queue
    assert env.http.get(f"/api/centers/{VILLAGE}/events", params={"limit": 200}).status_code == 200

    spec = env.http.get("/openapi.json").json()
    documented = {(method.upper(), path): op["summary"] for path, ops in spec["paths"].items()
                  for method, op in ops.items()}
    assert documented == ROUTES
    for method, path in REASON_ROUTES:
        assert "428" in spec["paths"][path][method.lower()]["responses"], (method, path)
    assert "/metrics" not in spec["paths"] and "/" not in spec["paths"]  # served, not documented
    assert spec["info"]["title"] == "Sharp Eyes Hub"
    assert spec["info"]["license"]["identifier"] == "AGPL-3.0-or-later"
    params = {p["name"] for ops in spec["paths"].values() for op in ops.values() for p in op.get("parameters", [])}
    assert "X-Sharpeyes-User" not in params and "X-Sharpeyes-Unit" not in params
    assert {"bearer", "session cookie"} <= set(spec["components"]["securitySchemes"])


def test_health_degraded_when_redis_down(tmp_path: Path) -> None:
    from sharpeyes.proc import free_port

    dead = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5, socket_timeout=0.5)
    registry = Registry(f"sqlite:///{tmp_path / 'r.db'}")
    archive = Archive(f"sqlite:///{tmp_path / 'r.db'}")
    try:
        registry.init()
        archive.init()
        identity = identity_store(f"sqlite:///{tmp_path / 'r.db'}")
        app = create_app(api_deps(tmp_path, registry, dead, archive, Keys(), identity))
        with TestClient(app, headers=bearer(identity, "admin")) as http:
            body = http.get("/api/health").json()
            assert body["redis"] is False
            assert body["status"] == "degraded"
            # the archive (SQL) still answers while Redis is down
            assert http.get(f"/api/events/{ULID()}", headers=VIEWER).status_code == 404
            assert http.get("/api/events").json() == {"items": [], "next_before": None}
    finally:
        identity.close()
        archive.close()
        registry.close()


def act(env: Env, event_id: str, action: str, center: str | None, reason: str = "seen on the wall screen",
        http: TestClient | None = None) -> Any:
    """An action as the admin for ``center`` (or through ``http``; no center: the actor's own)."""
    body = {"reason": reason} if center is None else {"center": center, "reason": reason}
    return (http or env.http).post(f"/api/events/{event_id}/{action}", json=body)


@ON_BOTH_ENGINES
def test_ack_resolve_with_reason_are_logged_and_xacked(env: Env, redis_client: redis.Redis) -> None:
    event = make_event(0)
    env.publish(event)
    stream = Keys().center_stream(VILLAGE)
    # the center's software read the entry (pending in the center group) but a person has not acknowledged it
    redis_client.xreadgroup(CENTER_GROUP, "wall-screen", {stream: ">"})
    assert cast(dict[str, Any], redis_client.xpending(stream, CENTER_GROUP))["pending"] == 1

    assert act(env, event.id, "ack", VILLAGE, reason="").status_code == 422  # a reason is required
    assert act(env, event.id, "ack", "140429101").status_code == 403  # not delivered to that center
    r = act(env, event.id, "ack", VILLAGE)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "acknowledged"
    assert cast(dict[str, Any], redis_client.xpending(stream, CENTER_GROUP))["pending"] == 0

    # the village's operator acts as their own center (no center in the body); who acts is the logged-in user,
    # whatever the body's (ignored) user field says
    operator = env.client("op-village")
    r = operator.post(f"/api/events/{event.id}/resolve", json={"user": "李站长", "reason": "crowd dispersed"})
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["status"] == "resolved"
    assert [(a["action"], a["center"], a["user"], a["reason"]) for a in detail["actions"]] == [
        ("ack", VILLAGE, "admin", "seen on the wall screen"),
        ("resolve", VILLAGE, "op-village", "crowd dispersed"),
    ]
    # status filter over the archive
    assert [e["id"] for e in env.http.get("/api/events", params={"status": "resolved"}).json()["items"]] == [event.id]
    assert env.http.get("/api/events", params={"status": "new"}).json()["items"] == []
    assert act(env, str(ULID()), "ack", VILLAGE).status_code == 404


@ON_BOTH_ENGINES
def test_escalate_by_hand_goes_one_tier_up_once(env: Env, redis_client: redis.Redis) -> None:
    event = make_event(0)  # minor: the village center only, by the default policy
    env.publish(event)
    township_stream = Keys().center_stream(TOWNSHIP)
    assert redis_client.xlen(township_stream) == 0
    assert env.http.get(f"/api/centers/{TOWNSHIP}/events").json()["items"] == []
    township = env.client("op-fengzhou", jurisdiction=TOWNSHIP)
    # the township operator sees the village's event (below it) but may not act on it: 403, logged as refused
    assert township.get(f"/api/events/{event.id}", headers=VIEWER).status_code == 200
    assert act(env, event.id, "ack", None, http=township).status_code == 403

    r = act(env, event.id, "escalate", None, reason="needs the township's law-enforcement team",
            http=env.client("op-village"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["escalated_to"] == TOWNSHIP
    assert body["centers"] == [VILLAGE, TOWNSHIP]
    assert body["actions"][-1]["action"] == "escalate" and body["actions"][-1]["user"] == "op-village"
    copies = cast(list[tuple[bytes, dict[bytes, bytes]]], redis_client.xrange(township_stream))
    assert len(copies) == 1
    copy = Event.from_json(copies[0][1][b"event"])
    assert copy.id == event.id and copy.escalated_from == VILLAGE

    assert act(env, event.id, "escalate", VILLAGE).status_code == 409  # once
    assert redis_client.xlen(township_stream) == 1
    # the township now sees it in its list, and may act on it as its own center
    assert [e["id"] for e in township.get(f"/api/centers/{TOWNSHIP}/events").json()["items"]] == [event.id]
    assert act(env, event.id, "ack", None, http=township).status_code == 200
    refused = [a for a in env.archive.access_log() if a.outcome == "refused"]
    assert [(a.user, a.action, a.center) for a in refused] == [("op-fengzhou", "ack_event", TOWNSHIP)]


@ON_BOTH_ENGINES
def test_filters_by_type_camera_and_time(env: Env) -> None:
    a, b = make_event(0), make_event(100, CAM2, ("140429", "140429101", VILLAGE_NO_CENTER))
    env.publish(a, b)
    assert [e["id"] for e in env.http.get("/api/events", params={"camera_id": CAM2}).json()["items"]] == [b.id]
    since = (a.occurred_at + timedelta(seconds=50)).isoformat()
    assert [e["id"] for e in env.http.get("/api/events", params={"since": since}).json()["items"]] == [b.id]
    assert [e["id"] for e in env.http.get("/api/events", params={"until": since}).json()["items"]] == [a.id]
    assert env.http.get("/api/events", params={"type": "crowd_gathering"}).json()["items"] == []


def test_sse_stream_delivers_new_events_and_resumes(env: Env) -> None:
    before, event, later = make_event(0), make_event(1), make_event(2)
    env.publisher.publish(before)  # published before connecting: not replayed
    url = f"/api/centers/{VILLAGE}/events/stream"

    def first_data(resp: Any, on_connected: Any = None) -> tuple[str, Event]:
        entry_id = ""
        for line in resp.iter_lines():
            if line == ": connected" and on_connected is not None:
                on_connected()
            elif line.startswith("id: "):
                entry_id = line[4:]
            elif line.startswith("data: "):
                return entry_id, Event.from_json(line[6:])
        raise AssertionError("stream ended")

    operator = env.client("op-village")
    with operator.stream("GET", url, params={"heartbeat_s": 0.5}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        entry_id, got = first_data(resp, lambda: env.publisher.publish(event))
    assert got == event
    # a browser reconnecting sends Last-Event-ID: it gets what it missed, nothing twice
    env.publisher.publish(later)
    with operator.stream("GET", url, params={"heartbeat_s": 0.5}, headers={"Last-Event-ID": entry_id}) as resp:
        assert first_data(resp)[1] == later
    assert env.http.get(url, headers={"Last-Event-ID": "nonsense"}).status_code == 422
    # another village's operator, or a technician (no events:read), may not open it; nor may nobody
    other = env.client("op-other", jurisdiction="140429101")
    assert other.get(url, params={"heartbeat_s": 0.5}).status_code == 404
    assert env.client("tech", role="technician", jurisdiction="140429").get(url).status_code == 403
    assert env.anonymous.get(url).status_code == 401


def test_hold_and_release_are_logged(env: Env) -> None:
    event = make_event(0)
    env.publish(event)
    r = act(env, event.id, "hold", VILLAGE, reason="evidence for case 2026-17")
    assert r.status_code == 200 and r.json()["hold"] is True
    r = act(env, event.id, "release", VILLAGE, reason="case closed")
    assert r.json()["hold"] is False
    assert [(a["action"], a["user"]) for a in r.json()["actions"]] == [("hold", "admin"), ("release", "admin")]


# ------------------------------------------------------------------------------------------------ scope
@ON_BOTH_ENGINES
def test_an_operator_sees_only_the_events_of_their_centers(env: Env, redis_client: redis.Redis) -> None:
    mine, theirs = make_event(0), make_event(1, CAM2, ("140429", "140429101", VILLAGE_NO_CENTER))
    env.publish(mine, theirs)
    operator = env.client("op-village")
    assert [e["id"] for e in operator.get("/api/events").json()["items"]] == [mine.id]
    assert operator.get("/api/events", params={"center": "140429101"}).json()["items"] == []
    assert operator.get(f"/api/events/{theirs.id}", headers=VIEWER).status_code == 404  # as if it did not exist
    assert operator.get(f"/api/events/{ULID()}", headers=VIEWER).status_code == 404
    assert operator.get("/api/centers/140429101/events").status_code == 404
    assert [c["code"] for c in operator.get("/api/centers").json()] == [VILLAGE]
    assert [c["id"] for c in operator.get("/api/cameras").json()] == [CAM1]
    assert operator.get(f"/api/cameras/{CAM2}").status_code == 404
    assert act(env, theirs.id, "ack", None, http=operator).status_code == 404
    assert act(env, mine.id, "ack", "140429101", http=operator).status_code == 403  # acts as its own center only
    # the county operator reads both, the township's (洪水镇) only its village's
    county = env.client("op-county", jurisdiction="140429")
    assert {e["id"] for e in county.get("/api/events").json()["items"]} == {mine.id, theirs.id}
    hongshui = env.client("op-hongshui", jurisdiction="140429101")
    assert [e["id"] for e in hongshui.get("/api/events").json()["items"]] == [theirs.id]
    # the refused attempts are in the access log, with the actor's login and unit
    refused = [(a.user, a.unit, a.action, a.target, a.outcome) for a in reversed(env.archive.access_log())
               if a.outcome == "refused"]
    assert refused == [("op-village", UNIT, "view_event", theirs.id, "refused"),
                       ("op-village", UNIT, "ack_event", theirs.id, "refused"),
                       ("op-village", UNIT, "ack_event", mine.id, "refused")]


def test_snapshots_are_served_within_the_scope(env: Env) -> None:
    ref = write_snapshot(env)
    event = make_event(0).model_copy(update={"snapshot": SnapshotRef(ref=ref, sha256="0" * 64, width=4, height=3)})
    env.publish(event)
    orphan = write_snapshot(env, f"{CAM2}/2025-06-01/orphan.jpg")  # no archived event has it
    assert env.client("op-village").get(f"/snapshots/{ref}", headers=VIEWER).status_code == 200
    assert env.client("op-other", jurisdiction="140429101").get(f"/snapshots/{ref}",
                                                                  headers=VIEWER).status_code == 404
    assert env.client("op-village").get(f"/snapshots/{orphan}", headers=VIEWER).status_code == 404
    assert env.http.get(f"/snapshots/{orphan}", headers=VIEWER).status_code == 200  # an admin: any file
    # an auditor reads events, never snapshots
    assert env.client("auditor", role="auditor", jurisdiction="140429").get(
        f"/snapshots/{ref}", headers=VIEWER).status_code == 403


# ------------------------------------------------------------------------------------------------ access log
def write_snapshot(env: Env, ref: str = f"{CAM1}/2025-06-01/snap.jpg") -> str:
    (env.snapshots / ref).parent.mkdir(parents=True, exist_ok=True)
    (env.snapshots / ref).write_bytes(b"\xff\xd8 jpeg \xff\xd9")
    return ref


def protected_urls(env: Env) -> dict[str, str]:
    event = make_event(0)
    env.publish(event)
    return {"view_snapshot": f"/snapshots/{write_snapshot(env)}", "view_event": f"/api/events/{event.id}",
            "export_cameras": "/api/cameras/export", "audit_report": "/api/audit",
            "view_access_log": "/api/access-log"}


@pytest.mark.parametrize("action", ["view_snapshot", "view_event", "export_cameras", "audit_report",
                                    "view_access_log"])
def test_content_needs_a_reason(env: Env, action: str) -> None:
    url = protected_urls(env)[action]
    for headers in ({}, {"X-Sharpeyes-User": quote("张三"), "X-Sharpeyes-Unit": quote("派出所")},
                    {"X-Sharpeyes-Reason": "%20 "}):
        r = env.http.get(url, headers=headers)
        assert r.status_code == 428, (headers, r.text)
        detail = r.json()["detail"]
        assert "a reason is required to view" in detail
        assert "X-Sharpeyes-Reason header or the reason query parameter" in detail
    assert env.anonymous.get(url, headers=VIEWER).status_code == 401  # and a user
    assert env.archive.access_log() == []  # refused for lack of a reason or a user: nothing logged


@pytest.mark.parametrize("action", ["view_snapshot", "view_event", "export_cameras", "audit_report",
                                    "view_access_log"])
def test_content_is_served_and_logged_once_as_the_logged_in_user(env: Env, action: str) -> None:
    url = protected_urls(env)[action]
    # the old viewer headers no longer change who the log says viewed
    r = env.http.get(url, headers={**VIEWER, "X-Sharpeyes-User": quote("someone else"),
                                   "X-Sharpeyes-Unit": quote("另一单位")})
    assert r.status_code == 200, r.text
    [entry] = env.archive.access_log()
    assert (entry.user, entry.unit, entry.reason, entry.action, entry.outcome, entry.center) == (
        "admin", UNIT, REASON, action, "allowed", "140429")
    expected_target = {"view_snapshot": url.removeprefix("/snapshots/"), "view_event": url.rsplit("/", 1)[1],
                       "export_cameras": f"{CAM1},{CAM2}", "view_access_log": ".."}.get(action)
    if expected_target is not None:
        assert entry.target == expected_target
    assert entry.at.tzinfo is not None and abs(datetime.now(UTC) - entry.at) < timedelta(minutes=1)


def test_query_parameter_for_img_tags(env: Env) -> None:
    ref = write_snapshot(env)
    # what the web UI puts in <img src>: encodeURIComponent of the reason (the cookie says who)
    r = env.http.get(f"/snapshots/{ref}?reason={quote(REASON)}&user=someone-else")
    assert r.status_code == 200 and r.content.startswith(b"\xff\xd8")
    [entry] = env.archive.access_log()
    assert (entry.user, entry.unit, entry.reason, entry.target) == ("admin", UNIT, REASON, ref)
    # the header wins over the query; raw UTF-8 in a header (curl -H) is read as UTF-8, not as Latin-1
    r = env.http.get(f"/snapshots/{ref}", params={"reason": "x"}, headers={"X-Sharpeyes-Reason": REASON.encode()})
    assert r.status_code == 200
    assert env.archive.access_log()[0].reason == REASON


def test_missing_snapshot_is_logged_as_not_found_and_long_values_refused(env: Env) -> None:
    assert env.http.get("/snapshots/nope.jpg", headers=VIEWER).status_code == 404
    [entry] = env.archive.access_log()
    assert (entry.action, entry.target, entry.outcome, entry.detail) == ("view_snapshot", "nope.jpg", "allowed",
                                                                        "not found")
    r = env.http.get("/snapshots/nope.jpg", headers={"X-Sharpeyes-Reason": "x" * 2001})
    assert r.status_code == 422 and len(env.archive.access_log()) == 1


@ON_BOTH_ENGINES
def test_refused_action_is_logged_as_refused(env: Env) -> None:
    event = make_event(0)
    env.publish(event)
    other = "140429101"
    r = env.http.post(f"/api/events/{event.id}/ack", headers={"X-Sharpeyes-Unit": quote("另一单位")},
                      json={"center": other, "user": "王工", "reason": "看看"})
    assert r.status_code == 403
    assert act(env, event.id, "escalate", other).status_code == 403
    assert act(env, event.id, "ack", VILLAGE).status_code == 200  # allowed actions go to the event's action log
    log = list(reversed(env.archive.access_log()))
    assert [(a.action, a.target, a.center, a.outcome, a.user, a.unit, a.reason) for a in log] == [
        ("ack_event", event.id, other, "refused", "admin", UNIT, "看看"),
        ("escalate_event", event.id, other, "refused", "admin", UNIT, "seen on the wall screen"),
    ]
    assert log[0].detail == f"event {event.id} was not delivered to center {other}"
    assert [a["action"] for a in env.http.get(f"/api/events/{event.id}", headers=VIEWER).json()["actions"]] == [
        "ack"]


@ON_BOTH_ENGINES
def test_access_log_endpoint(env: Env) -> None:
    t0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
    for n, (outcome, center) in enumerate((("allowed", VILLAGE), ("refused", "140429101"), ("allowed", VILLAGE))):
        env.archive.log_access(user=f"u{n}", unit="派出所", reason="r", action="view_snapshot", target=f"s{n}",
                               center=center, outcome=outcome, at=t0 + timedelta(hours=n))  # type: ignore[arg-type]
    r = env.http.get("/api/access-log", headers=VIEWER)
    assert r.status_code == 200, r.text
    items = r.json()
    # newest first: this very request is logged before the log is read
    assert [(i["action"], i["user"], i["target"]) for i in items] == [
        ("view_access_log", "admin", ".."), ("view_snapshot", "u2", "s2"), ("view_snapshot", "u1", "s1"),
        ("view_snapshot", "u0", "s0")]
    assert items[2]["outcome"] == "refused" and items[1]["at"] == "2025-06-01T10:00:00+00:00"
    window = {"since": "2025-06-01T09:00:00+00:00", "until": "2025-06-01T18:00:00+08:00"}  # 09:00 .. 10:00 UTC
    assert [i["target"] for i in env.http.get("/api/access-log", params=window, headers=VIEWER).json()] == ["s1"]
    assert len(env.http.get("/api/access-log", params={"limit": 2}, headers=VIEWER).json()) == 2
    assert env.http.get("/api/access-log", params={"limit": 0}, headers=VIEWER).status_code == 422
    assert "/api/access-log" in env.http.get("/openapi.json").json()["paths"]
    # an auditor of 丰州镇 reads the records of its subtree only (its own reading included); an operator none
    auditor = env.client("aud-fengzhou", role="auditor", jurisdiction=TOWNSHIP)
    assert [(i["user"], i["center"]) for i in auditor.get("/api/access-log", headers=VIEWER).json()] == [
        ("aud-fengzhou", TOWNSHIP), ("u2", VILLAGE), ("u0", VILLAGE)]
    assert env.client("op-village").get("/api/access-log", headers=VIEWER).status_code == 403


def test_event_lists_are_unlogged(env: Env) -> None:
    env.publish(make_event(0))
    assert len(env.http.get("/api/events").json()["items"]) == 1
    assert len(env.http.get(f"/api/centers/{VILLAGE}/events", headers=VIEWER).json()["items"]) == 1
    assert env.archive.access_log() == []
    assert env.anonymous.get("/api/events").status_code == 401


def test_workers_show_nodes_leases_and_the_singleton_holder_in_scope(env: Env, redis_client: redis.Redis) -> None:
    keys = Keys()
    membership, leases = Membership(redis_client, keys), CameraLeases(redis_client, keys)
    membership.heartbeat(NodeInfo("node-a", 32, frozenset({"gpu"}), detect_fps=48.0, frames_detected=900,
                                  detected_fps=15.5, started_at=1.0))
    membership.heartbeat(NodeInfo("node-b", 16))
    assert leases.acquire(CAM1, "node-a", 30) is not None and leases.acquire(CAM2, "node-b", 30) is not None
    lock = SingletonLock(redis_client, keys, "node-a", ttl_s=30)
    assert lock.step()
    r = env.http.get("/api/workers")  # admin
    assert r.status_code == 200, r.text
    body = r.json()
    nodes = {n["node_id"]: n for n in body["nodes"]}
    assert nodes["node-a"]["cameras"] == [CAM1] and nodes["node-b"]["cameras"] == [CAM2]
    a = nodes["node-a"]
    assert (a["labels"], a["capacity"], a["detect_fps"], a["detected_fps"], a["frames_detected"]) == (
        ["gpu"], 32, 48.0, 15.5, 900)
    assert a["singletons"] and not nodes["node-b"]["singletons"] and 0 < a["heartbeat_expires_in_s"] <= 10
    assert body["singletons"] == {"node_id": "node-a", "token": lock.token} and body["cameras_unheld"] == []
    assert body["cameras_here"] == 0  # this app's process samples nothing itself
    # a technician of the village sees its camera only; the counts still cover every camera
    tech = env.client("tech-village", role="technician", jurisdiction=VILLAGE).get("/api/workers").json()
    tn = {n["node_id"]: n for n in tech["nodes"]}
    assert tn["node-a"]["cameras"] == [CAM1] and tn["node-b"]["cameras"] == [] and tn["node-b"]["cameras_held"] == 1
    # a camera whose holder died is unheld; an operator may not look; nobody anonymous
    membership.leave("node-b")
    assert env.http.get("/api/workers").json()["cameras_unheld"] == [CAM2]
    assert env.client("op-village").get("/api/workers").status_code == 403
    assert env.anonymous.get("/api/workers").status_code == 401


def test_a_worker_node_serves_health_and_metrics_only(env: Env) -> None:
    deps = env.http.app.state.api_deps  # type: ignore[attr-defined]
    with TestClient(create_worker_app(deps)) as worker:
        assert worker.get("/api/health").json()["redis"] is True  # open: a load balancer's probe
        assert worker.get("/metrics").status_code == 401  # deny by default here too
        tech = bearer(env.identity, "tech-metrics", role="technician", jurisdiction=VILLAGE)
        assert worker.get("/metrics", headers=tech).status_code == 200
        for path in ("/", "/api/events", "/api/workers", "/docs", "/openapi.json", "/ui/app.js", "/api/auth/login"):
            assert worker.get(path, headers=tech).status_code in (404, 405), path
