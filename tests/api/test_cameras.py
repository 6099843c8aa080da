"""/api/cameras registration endpoints over a real registry and a real ipycam ONVIF device on loopback, logged in
(an admin unless a test says otherwise)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import ApiDeps
from events.archive import Archive
from identity.store import IdentityStore
from registry.service import CameraService
from registry.store import Registry
from registry.vault import Vault
from sharpeyes.keys import Keys
from sharpeyes.settings import Settings
from tests.support.auth import UNIT, bearer, identity_store
from tests.support.onvif_camera import IpycamDevice, StubHttpServer, free_port

TOWNSHIP = "140429100"


@pytest.fixture(scope="module")
def device() -> Iterator[IpycamDevice]:
    with IpycamDevice(password="Api-Secret-55") as dev:
        yield dev


VIEWER = {"X-Sharpeyes-Reason": quote("一机一档年度核查")}


@pytest.fixture()
def archive(registry: Registry) -> Iterator[Archive]:
    archive = Archive(registry.engine.url.render_as_string(hide_password=False))  # the hub's one database
    try:
        archive.init()
        yield archive
    finally:
        archive.close()


@pytest.fixture()
def identity(registry: Registry) -> Iterator[IdentityStore]:
    store = identity_store(registry.engine.url.render_as_string(hide_password=False))
    try:
        yield store
    finally:
        store.close()


def deps(tmp_path: Path, registry: Registry, archive: Archive, service: CameraService,
         identity: IdentityStore) -> ApiDeps:
    """The API's parts; Redis is never reached by these routes (a client of a closed port)."""
    return ApiDeps(settings=Settings(data_dir=tmp_path), registry=registry, cameras=service,
                   redis=redis.Redis(port=free_port()), keys=Keys("t"), archive=archive,
                   snapshot_dir=tmp_path / "snaps", identity=identity)


@pytest.fixture()
def client(tmp_path: Path, registry: Registry, archive: Archive, identity: IdentityStore) -> Iterator[TestClient]:
    service = CameraService(registry, Vault.from_key_file(tmp_path / "k"), probe_timeout_s=2)
    with TestClient(create_app(deps(tmp_path, registry, archive, service, identity)),
                    headers=bearer(identity, "admin")) as c:
        yield c


def body(device: IpycamDevice, **kw: object) -> dict[str, object]:
    return {"name": "东街", "jurisdiction": TOWNSHIP, "onvif": {"host": "127.0.0.1", "port": device.onvif_port},
            "username": device.username, "password": device.password, **kw}


def test_probe(client: TestClient, device: IpycamDevice) -> None:
    r = client.post("/api/cameras/probe", json={"host": "127.0.0.1", "port": device.onvif_port,
                                                "username": device.username, "password": device.password,
                                                "profile": "Profile_Sub"})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["selected_profile"] == "Profile_Sub" and len(data["profiles"]) == 2
    assert "password" not in r.text.lower()


@pytest.mark.parametrize(("password", "port_kind", "status", "error"), [
    ("wrong-pw", "device", 422, "OnvifAuthError"),
    ("x", "closed", 502, "OnvifUnreachable"),
    ("x", "html", 502, "OnvifProtocolError"),
])
def test_probe_errors(client: TestClient, device: IpycamDevice, password: str, port_kind: str, status: int,
                      error: str) -> None:
    def html(path: str, b: bytes) -> tuple[int, dict[str, str], bytes]:
        return 404, {"Content-Type": "text/html"}, b"<html>no</html>"

    with StubHttpServer(html) as stub:
        port = {"device": device.onvif_port, "closed": free_port(), "html": stub.port}[port_kind]
        r = client.post("/api/cameras/probe", json={"host": "127.0.0.1", "port": port, "username": "operator",
                                                    "password": password})
    assert r.status_code == status and r.json()["detail"]["error"] == error
    assert password not in r.text


def test_register_patch_delete(client: TestClient, device: IpycamDevice) -> None:
    r = client.post("/api/cameras", json=body(device, ptz_type=3))
    assert r.status_code == 201, r.text
    cam = r.json()
    assert cam["id"] == "14042900001325000001" and cam["manufacturer"] == "PythonCam" and cam["ptz_type"] == 3
    assert cam["has_password"] and "Api-Secret-55" not in r.text
    assert client.post("/api/cameras", json=body(device, id=cam["id"])).status_code == 409
    r = client.post(f"/api/cameras/{cam['id']}/probe")  # stored credentials, decrypted for the probe only
    assert r.status_code == 200 and r.json()["selected_profile"] == "Profile_Main"
    r = client.patch(f"/api/cameras/{cam['id']}", json={"owner": "武乡县公安局", "direction": 4})
    assert r.status_code == 200 and r.json()["owner"] == "武乡县公安局"
    assert client.patch(f"/api/cameras/{cam['id']}", json={"direction": 11}).status_code == 422
    assert client.patch(f"/api/cameras/{cam['id']}", json={"bogus": 1}).status_code == 422
    report = client.get("/api/cameras/completeness").json()
    assert report["total"] == 1 and report["complete"] == 0
    assert "address" in report["cameras"][0]["missing"]
    assert "14042900001325000001" in client.get("/api/cameras/export", headers=VIEWER).text
    assert client.patch(f"/api/cameras/{cam['id']}", json={"password": "changed-on-our-side"}).status_code == 200
    r = client.post(f"/api/cameras/{cam['id']}/probe")
    assert r.status_code == 422 and r.json()["detail"]["error"] == "OnvifAuthError"
    assert client.delete(f"/api/cameras/{cam['id']}").status_code == 204
    assert client.get(f"/api/cameras/{cam['id']}").status_code == 404
    assert client.delete(f"/api/cameras/{cam['id']}").status_code == 404


def test_export_needs_a_reason_and_is_logged(client: TestClient, device: IpycamDevice, archive: Archive) -> None:
    cam_id = client.post("/api/cameras", json=body(device)).json()["id"]
    exports = lambda: [e for e in archive.access_log() if e.action == "export_cameras"]  # noqa: E731
    r = client.get("/api/cameras/export")
    assert r.status_code == 428 and "the camera export" in r.json()["detail"]
    assert client.get("/api/cameras/export", params={"user": "李四"}).status_code == 428
    assert exports() == []
    r = client.get("/api/cameras/export", headers=VIEWER)
    assert r.status_code == 200 and cam_id in r.text and device.password not in r.text
    [entry] = exports()
    assert (entry.user, entry.unit, entry.reason, entry.action, entry.target, entry.outcome) == (
        "admin", UNIT, "一机一档年度核查", "export_cameras", cam_id, "allowed")


def test_camera_changes_are_logged_with_the_actor(client: TestClient, device: IpycamDevice,
                                                  archive: Archive) -> None:
    cam_id = client.post("/api/cameras", json=body(device)).json()["id"]
    assert client.patch(f"/api/cameras/{cam_id}", json={"owner": "武乡县公安局", "password": "Not-Logged-9"},
                        headers={"X-Sharpeyes-Reason": quote("更换设备密码")}).status_code == 200
    assert client.delete(f"/api/cameras/{cam_id}").status_code == 204
    changes = [(e.action, e.target, e.user, e.unit, e.reason, e.detail) for e in reversed(archive.access_log())]
    assert changes == [("camera_add", cam_id, "admin", UNIT, "", f"jurisdiction {TOWNSHIP}"),
                       ("camera_update", cam_id, "admin", UNIT, "更换设备密码", "fields: owner, password"),
                       ("camera_remove", cam_id, "admin", UNIT, "", "")]
    assert "Not-Logged-9" not in repr(archive.access_log())


def test_a_technician_manages_the_cameras_of_their_jurisdiction_only(
        client: TestClient, identity: IdentityStore, archive: Archive) -> None:
    other = "140429101"  # 洪水镇
    theirs = client.post("/api/cameras", json={"name": "洪水镇", "jurisdiction": other,
                                               "stream": "rtsp://127.0.0.1:9/x", "probe": False}).json()["id"]
    tech = TestClient(client.app, headers=bearer(identity, "tech-fz", role="technician", jurisdiction=TOWNSHIP))
    new = {"name": "东街", "jurisdiction": TOWNSHIP, "stream": "rtsp://127.0.0.1:9/y", "probe": False}
    mine = tech.post("/api/cameras", json=new)
    assert mine.status_code == 201, mine.text
    r = tech.post("/api/cameras", json={**new, "jurisdiction": other})  # outside: as if it did not exist
    assert r.status_code == 422 and "not in the jurisdiction tree you manage" in r.json()["detail"]["message"]
    assert [c["id"] for c in tech.get("/api/cameras").json()] == [mine.json()["id"]]
    assert tech.get("/api/cameras/completeness").json()["total"] == 1
    for method in ("get", "delete"):
        r = getattr(tech, method)(f"/api/cameras/{theirs}")
        assert r.status_code == 404 and r.json()["detail"]["message"] == f"no camera {theirs}"
    assert tech.patch(f"/api/cameras/{theirs}", json={"owner": "x"}).status_code == 404
    assert tech.patch(f"/api/cameras/{mine.json()['id']}", json={"jurisdiction": other}).status_code == 422
    export = tech.get("/api/cameras/export", headers=VIEWER)
    assert export.status_code == 200 and mine.json()["id"] in export.text and theirs not in export.text
    # an auditor reads cameras but changes none; an operator exports none
    auditor = TestClient(client.app, headers=bearer(identity, "aud", role="auditor", jurisdiction="140429"))
    assert auditor.get("/api/cameras").status_code == 200
    assert auditor.post("/api/cameras", json=new).status_code == 403
    operator = TestClient(client.app, headers=bearer(identity, "op", role="operator", jurisdiction=TOWNSHIP))
    assert operator.get("/api/cameras/export", headers=VIEWER).status_code == 403
    refused = [(e.action, e.target, e.user) for e in archive.access_log() if e.outcome == "refused"]
    assert sorted(refused) == [("camera_remove", theirs, "tech-fz"), ("camera_update", theirs, "tech-fz")]


def test_failed_registration_leaves_nothing(client: TestClient, device: IpycamDevice) -> None:
    r = client.post("/api/cameras", json=body(device, password="nope-123"))
    assert r.status_code == 422 and r.json()["detail"]["error"] == "OnvifAuthError"
    r = client.post("/api/cameras", json=body(device, onvif={"host": "127.0.0.1", "port": free_port()}))
    assert r.status_code == 502
    assert client.get("/api/cameras/completeness").json()["total"] == 0


def test_validation_errors_do_not_echo_the_password(client: TestClient, device: IpycamDevice) -> None:
    r = client.post("/api/cameras", json=body(device, stream="file:///etc/passwd", probe=False,
                                             password="Echo-Me-Not-1"))
    assert r.status_code == 422 and "Echo-Me-Not-1" not in r.text
    r = client.post("/api/cameras", json={**body(device, password="Echo-Me-Not-2"), "rules": "x"})
    assert r.status_code == 422 and "Echo-Me-Not-2" not in r.text


def test_create_app_serves_the_router(tmp_path: Path, registry: Registry, archive: Archive,
                                      identity: IdentityStore) -> None:
    """The app's camera routes use the service it is given (its registry, its vault), not one of their own."""
    vault = Vault.from_key_file(tmp_path / "given.key")
    service = CameraService(registry, vault)
    app = create_app(deps(tmp_path, registry, archive, service, identity))
    paths = set(app.openapi()["paths"])
    assert {"/api/cameras/probe", "/api/cameras/{camera_id}", "/api/cameras/completeness"} <= paths
    with TestClient(app, headers=bearer(identity, "admin")) as c:
        assert c.get("/api/cameras/completeness").json()["total"] == 0
        r = c.post("/api/cameras", json={"name": "东街", "jurisdiction": TOWNSHIP, "stream": "rtsp://127.0.0.1:9/x",
                                         "username": "op", "password": "Given-Vault-1", "probe": False})
        assert r.status_code == 201, r.text
        assert c.get("/api/cameras/completeness").json()["total"] == 1
    cam_id = r.json()["id"]
    assert [cam.id for cam in registry.cameras()] == [cam_id]
    assert service.credentials(cam_id) is not None  # readable with the given vault's key
    assert not (tmp_path / "vault.key").exists()  # no vault built from the settings


def test_catalog_export_is_gb28181_xml_without_credentials(client: TestClient, device: IpycamDevice,
                                                          archive: Archive) -> None:
    from registry.catalog_xml import parse_catalog_xml

    cam_id = client.post("/api/cameras", json=body(device)).json()["id"]
    assert client.get("/api/cameras/export", params={"format": "gb28181"}).status_code == 428
    r = client.get("/api/cameras/export", params={"format": "gb28181", "encoding": "gb18030"}, headers=VIEWER)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/xml; charset=GB")
    assert r.headers["x-sharpeyes-problems"] == "0" and device.password.encode() not in r.content
    items = {i["DeviceID"]: i for i in parse_catalog_xml(r.content)}
    assert items[cam_id]["CivilCode"] == "140429" and items[cam_id]["ParentID"] in items  # its township node
    assert [e.action for e in archive.access_log() if e.action == "export_cameras"] == ["export_cameras"]
    r = client.get("/api/cameras/export", params={"format": "gb28181", "device_id": "123"}, headers=VIEWER)
    assert r.status_code == 422
