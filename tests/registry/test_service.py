"""Registration through one code path: CLI, API and YAML give the same record; ID rules; failed probes leave
nothing behind; YAML export → import is byte-stable; the password is nowhere in clear (DB file, logs, API, exports).
IDs, duplicates, update/remove and the YAML round trip run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from registry.onvif import OnvifAuthError, OnvifProtocolError, OnvifUnreachable
from registry.service import (
    CameraService,
    CameraSpec,
    DuplicateCamera,
    InvalidCamera,
    RegistrationError,
    UnknownCamera,
)
from registry.store import Registry
from sharpeyes.cli import main
from sharpeyes.proc import free_port
from sharpeyes.settings import Settings
from tests.support.api import cameras_app
from tests.support.auth import client_as
from tests.support.env import use_data_dir
from tests.support.onvif_camera import IpycamDevice, StubHttpServer
from tests.support.registry import camera_yaml, make_camera_service, write_configs

TOWNSHIP = "140429100"  # 丰州镇, seeded
CATALOG: dict[str, Any] = {
    "owner": "武乡县公安局", "address": "丰州镇 东街 1 号", "ptz_type": 3, "position_type": 10, "room_type": 1,
    "use_type": 1, "direction": 1, "heading_deg": 90.0, "fov_deg": 70.0, "range_m": 40.0,
    "position": {"longitude": 112.864, "latitude": 36.8372},
}


@pytest.fixture(scope="module")
def device() -> Iterator[IpycamDevice]:
    with IpycamDevice(manufacturer="SharpTest", model="ST-200", serial="SN-7", password="Vault-Me-9xq!") as dev:
        yield dev


@pytest.fixture()
def service(tmp_path: Path) -> CameraService:
    return make_camera_service(tmp_path)


def spec(device: IpycamDevice, **kw: Any) -> CameraSpec:
    data: dict[str, Any] = {"name": "东街路口", "jurisdiction": TOWNSHIP,
                            "onvif": {"host": device.host, "port": device.onvif_port},
                            "username": device.username, "password": SecretStr(device.password), **CATALOG}
    data.update(kw)
    return CameraSpec.model_validate(data)


def files_contain(root: Path, needle: str) -> list[str]:
    raw = needle.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and raw in p.read_bytes()]


# ------------------------------------------------------------------------------------------------ registration
def test_register_with_probe_fills_catalog(service: CameraService, device: IpycamDevice) -> None:
    view = service.register(spec(device))
    assert view.id == "14042900001325000001"  # generated: county + 00 + 00 + 132 + 5 + serial
    assert view.stream == f"rtsp://127.0.0.1:{device.rtsp_port}/video_main"
    assert (view.manufacturer, view.model, view.serial_number, view.resolution) == ("SharpTest", "ST-200", "SN-7",
                                                                                    "320x240")
    assert view.onvif is not None and view.onvif.profile == "Profile_Main"
    assert view.username == device.username and view.has_password and not view.default_password
    creds = service.credentials(view.id)
    assert creds is not None and creds.password.get_secret_value() == device.password
    assert service.completeness().rate == 1.0


def test_a_device_reporting_overlong_text_is_registered_with_it_cut(service: CameraService) -> None:
    """A device whose GetDeviceInformation says more than the catalog keeps (100 characters) still registers: the
    probe's text is cut, not refused (the technician could not fix what the device says)."""
    with IpycamDevice(manufacturer="M" * 150, serial="S" * 120, password="Vault-Me-9xq!") as dev:
        view = service.register(spec(dev, manufacturer=None))
    assert (view.manufacturer, view.serial_number) == ("M" * 100, "S" * 100)


def test_same_record_through_cli_api_and_yaml(tmp_path: Path, device: IpycamDevice,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # CLI
    cli_root = tmp_path / "cli"
    use_data_dir(monkeypatch, cli_root)
    monkeypatch.setenv("CAM_PW", device.password)
    sets = [f"{k}={v}" for k, v in CATALOG.items() if k != "position"]
    sets.append("position={longitude: 112.864, latitude: 36.8372}")
    argv = ["camera", "add", "--name", "东街路口", "--jurisdiction", TOWNSHIP, "--onvif",
            f"127.0.0.1:{device.onvif_port}", "--user", device.username, "--password-env", "CAM_PW"]
    for s in sets:
        argv += ["--set", s]
    assert main(argv) == 0, capsys.readouterr().err
    cli = make_camera_service(cli_root).get("14042900001325000001")
    # API
    api_service = make_camera_service(tmp_path / "api")
    app = cameras_app(api_service, tmp_path / "api")
    body = spec(device).model_dump(mode="json", exclude_none=True)
    body["password"] = device.password
    r = client_as(app, "tech", role="technician").post("/api/cameras", json=body)
    assert r.status_code == 201, r.text
    api = api_service.get(r.json()["id"])
    assert cli == api
    # YAML: the CLI camera exported, then imported elsewhere
    exported = make_camera_service(cli_root).export_yaml()
    (tmp_path / "cams.yaml").write_text(exported, encoding="utf-8")
    yaml_service = make_camera_service(tmp_path / "yaml")
    assert yaml_service.import_yaml(tmp_path / "cams.yaml").added == [cli.id]
    from_yaml = yaml_service.get(cli.id)
    no_creds = {"username", "has_password", "default_password"}
    assert from_yaml.model_dump(exclude=no_creds) == cli.model_dump(exclude=no_creds)
    assert from_yaml.username is None  # YAML never carries credentials
    out = capsys.readouterr()
    assert device.password not in out.out + out.err + exported


def test_failed_probe_registers_nothing(service: CameraService, device: IpycamDevice) -> None:
    with pytest.raises(OnvifAuthError):
        service.register(spec(device, password=SecretStr("wrong-1")))
    with pytest.raises(OnvifUnreachable):
        service.register(spec(device, onvif={"host": "127.0.0.1", "port": free_port()}))
    assert service.list() == []
    with service.registry.sessions() as s:
        from sqlalchemy import func, select

        from registry.models import CameraCredential

        assert s.scalar(select(func.count()).select_from(CameraCredential)) == 0


def test_cli_failed_probe_is_one_line_and_no_camera(tmp_path: Path, device: IpycamDevice,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    use_data_dir(monkeypatch, tmp_path)
    monkeypatch.setenv("CAM_PW", "wrong-2")
    rc = main(["camera", "add", "--name", "x", "--jurisdiction", TOWNSHIP, "--onvif",
               f"127.0.0.1:{device.onvif_port}", "--user", device.username, "--password-env", "CAM_PW"])
    err = capsys.readouterr().err
    assert rc == 3 and "OnvifAuthError" in err and "Traceback" not in err and "wrong-2" not in err
    assert make_camera_service(tmp_path).list() == []


# ------------------------------------------------------------------------------------------------ IDs
def test_explicit_and_generated_ids(tmp_path: Path, database_url: str) -> None:
    service = make_camera_service(tmp_path, url=database_url)
    base = {"name": "c", "jurisdiction": TOWNSHIP, "stream": "rtsp://10.1.1.1/x"}
    assert service.register(CameraSpec.model_validate({**base, "id": "14042900001325000007"})).id \
        == "14042900001325000007"
    assert service.register(CameraSpec.model_validate(base)).id == "14042900001325000008"  # next free serial
    traffic = service.register(CameraSpec.model_validate(
        {**base, "id_parts": {"industry": "04", "type_code": "131", "network": "6"}}))
    assert traffic.id == "14042900041316000001"
    assert traffic.id_info["industry"] == "traffic" and traffic.id_info["network"] == "government network"


@pytest.mark.parametrize(("camera_id", "jurisdiction", "message"), [
    ("14042900001115000001", TOWNSHIP, "not a camera type"),             # 111 = DVR
    ("1404290000132500001", TOWNSHIP, "exactly 20 digits"),
    ("14042900991325000001", TOWNSHIP, "industry"),
    ("14043000001325000001", TOWNSHIP, "not a county in the jurisdiction tree"),  # civil code 140430 unknown
    ("14042900001325000001", "140429999", "unknown jurisdiction"),
])
def test_invalid_ids_are_refused(service: CameraService, camera_id: str, jurisdiction: str, message: str) -> None:
    with pytest.raises(InvalidCamera, match=message):
        service.register(CameraSpec(id=camera_id, name="c", jurisdiction=jurisdiction, stream="rtsp://10.1.1.1/x"))
    assert service.list() == []


def test_duplicate_id_is_refused(tmp_path: Path, database_url: str) -> None:
    service = make_camera_service(tmp_path, url=database_url)
    cam = CameraSpec(id="14042900001325000003", name="c", jurisdiction=TOWNSHIP, stream="rtsp://10.1.1.1/x")
    service.register(cam)
    with pytest.raises(DuplicateCamera):
        service.register(cam.model_copy(update={"name": "other"}))
    assert [v.name for v in service.list()] == ["c"]


def test_update_and_remove(tmp_path: Path, database_url: str) -> None:
    service = make_camera_service(tmp_path, url=database_url)
    view = service.register(CameraSpec(name="c", jurisdiction=TOWNSHIP, stream="rtsp://admin:12345@10.1.1.1/x"))
    assert view.stream == "rtsp://10.1.1.1/x" and view.default_password  # moved to the vault, flagged
    view = service.update(view.id, {"password": "Long-Unique-Pass-1", "address": "东街", "ptz_type": 1})
    assert not view.default_password and view.address == "东街" and view.ptz_type == 1
    creds = service.credentials(view.id)
    assert creds is not None and (creds.username, creds.password.get_secret_value()) == ("admin",
                                                                                        "Long-Unique-Pass-1")
    assert view.node_label is None and service.registry.camera_pins() == {view.id: None}
    assert service.update(view.id, {"node_label": "gpu"}).node_label == "gpu"
    assert service.registry.camera_pins() == {view.id: "gpu"}
    with pytest.raises(InvalidCamera, match="node_label"):
        service.update(view.id, {"node_label": "GPU node"})
    assert service.update(view.id, {"node_label": None}).node_label is None  # unpinned: any node
    assert view.motion_regions is None and service.update(view.id, {"motion_regions": False}).motion_regions is False
    assert service.get(view.id).motion_regions is False  # stored
    assert "motion_regions: false" in service.export_yaml([view.id])
    with pytest.raises(InvalidCamera, match="ptz_type"):
        service.update(view.id, {"ptz_type": 9})
    with pytest.raises(InvalidCamera, match="cannot be changed"):
        service.update(view.id, {"id": "14042900001325000099"})
    service.remove(view.id)
    with pytest.raises(UnknownCamera):
        service.get(view.id)
    assert service.credentials(view.id) is None


# ------------------------------------------------------------------------------------------------ YAML
def test_export_import_round_trip_is_byte_stable(tmp_path: Path, database_url: str) -> None:
    a = make_camera_service(tmp_path / "a", url=database_url)  # and b on SQLite: the same bytes across engines
    yaml_in = tmp_path / "in.yaml"
    yaml_in.write_text(f"""\
jurisdictions:
  - {{code: "140429100901", name: 东街社区（合成）, parent: "140429100", synthetic: true}}
cameras:
  - id: "14042900001325000011"
    name: 东街 1
    jurisdiction: "140429100901"
    stream: rtsp://10.0.0.11:554/ch1
    position: {{longitude: 112.864, latitude: 36.8372}}
    heading_deg: 90
    fov_deg: 70.5
    ptz_type: 3
    address: 丰州镇 东街
    rules:
      - {{type: zone_intrusion, name: 禁入, zone: [[0, 0], [1, 0], [1, 1]], min_duration_s: 2}}
  - id: "14042900001325000012"
    name: 东街 2
    jurisdiction: "{TOWNSHIP}"
    stream: rtsp://10.0.0.12:554/ch1
    sampling: {{mode: keyframes, fps: 0.5}}
    detector_model: yolo11n
    node_label: gpu
""", encoding="utf-8")
    first = a.import_yaml(yaml_in)
    assert a.get("14042900001325000012").detector_model == "yolo11n"
    assert a.get("14042900001325000011").detector_model is None
    assert a.get("14042900001325000012").node_label == "gpu"
    assert a.get("14042900001325000011").node_label is None
    assert a.registry.camera_pins() == {"14042900001325000011": None, "14042900001325000012": "gpu"}
    assert (first.added, first.jurisdictions) == (["14042900001325000011", "14042900001325000012"], 1)
    text1 = a.export_yaml()
    (tmp_path / "out.yaml").write_text(text1, encoding="utf-8")
    b = make_camera_service(tmp_path / "b")
    b.import_yaml(tmp_path / "out.yaml")
    assert b.export_yaml() == text1
    again = b.import_yaml(tmp_path / "out.yaml")
    assert again.unchanged == ["14042900001325000011", "14042900001325000012"] and not again.updated
    assert b.export_yaml() == text1
    # a changed camera is an update, and the change shows in the export
    (tmp_path / "out.yaml").write_text(text1.replace("东街 2", "东街 二"), encoding="utf-8")
    assert b.import_yaml(tmp_path / "out.yaml").updated == ["14042900001325000012"]
    assert "东街 二" in b.export_yaml()
    assert b.export_yaml().count("detector_model: yolo11n") == 1
    assert b.export_yaml().count("node_label: gpu") == 1
    assert b.export_yaml().index("detector_model: yolo11n") < b.export_yaml().index("node_label: gpu")


def test_invalid_import_writes_nothing(tmp_path: Path, service: CameraService) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("""\
cameras:
  - {id: "14042900001325000021", name: ok, jurisdiction: "140429100", stream: "rtsp://10.0.0.1/x"}
  - {id: "14042900001325000022", name: bad, jurisdiction: "140429555", stream: "rtsp://10.0.0.1/x"}
""", encoding="utf-8")
    from registry.config import CameraConfigError

    with pytest.raises(CameraConfigError, match="unknown jurisdiction 140429555"):
        service.import_yaml(bad)
    assert service.list() == []


def test_import_refuses_key_points(tmp_path: Path, service: CameraService) -> None:
    from registry.config import CameraConfigError

    path = tmp_path / "kp.yaml"
    path.write_text("""\
cameras:
  - {id: "14042900001325000021", name: ok, jurisdiction: "140429100", stream: "rtsp://10.0.0.1/x"}
key_points:
  - {id: kp-gate, name: 校门, kind: school, jurisdiction: "140429100", longitude: 112.87, latitude: 36.84}
""", encoding="utf-8")
    with pytest.raises(CameraConfigError, match="key_points: key points are not imported"):
        service.import_yaml(path)
    assert service.list() == [] and service.registry.key_points() == []


# ------------------------------------------------------------------------------------------------ secrets
def test_password_never_in_clear(tmp_path: Path, device: IpycamDevice, caplog: pytest.LogCaptureFixture,
                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    caplog.set_level(logging.DEBUG)
    root = tmp_path / "hub"
    use_data_dir(monkeypatch, root)
    service = make_camera_service(root)
    app = cameras_app(service, root)
    client = client_as(app)
    body = spec(device).model_dump(mode="json", exclude_none=True)
    body["password"] = device.password
    responses = [client.post("/api/cameras/probe", json={"host": device.host, "port": device.onvif_port,
                                                         "username": device.username, "password": device.password})]
    responses.append(client.post("/api/cameras", json=body))
    cam_id = responses[-1].json()["id"]
    responses += [client.get(f"/api/cameras/{cam_id}"), client.get("/api/cameras/completeness"),
                  client.get("/api/cameras/export", headers={"X-Sharpeyes-Reason": "backup"}),
                  client.patch(f"/api/cameras/{cam_id}", json={"owner": "x", "password": device.password}),
                  client.post("/api/cameras", json={**body, "ptz_type": 99})]  # a 422 must not echo the body
    assert [r.status_code for r in responses] == [200, 201, 200, 200, 200, 200, 422]
    export_file = tmp_path / "export.yaml"
    assert main(["camera", "export", "-o", str(export_file)]) == 0
    assert main(["camera", "show", cam_id]) == 0 and main(["camera", "list", "--json"]) == 0
    out = capsys.readouterr()
    service.registry.close()  # flush WAL into the database file
    secret = device.password
    assert all(secret not in r.text for r in responses)
    assert secret not in caplog.text and secret not in out.out + out.err
    assert files_contain(root, secret) == [] and files_contain(tmp_path, secret) == []
    assert service.credentials(cam_id) is not None  # ...yet it is stored (encrypted)
    assert secret not in repr(service.credentials(cam_id)) and secret not in repr(service.vault)


def test_settings_document_vault_fields() -> None:
    fields = Settings.model_fields
    assert fields["vault_key"].description and fields["vault_key_file"].description


def test_old_database_schema_is_a_clear_error(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:  # the cameras table as the previous release created it
        conn.execute("CREATE TABLE cameras (id VARCHAR(20) PRIMARY KEY, name VARCHAR(200))")
    with pytest.raises(RuntimeError, match="lacks column"):
        Registry(f"sqlite:///{db}").init()


def _stub(kind: str) -> StubHttpServer:
    def respond(path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if kind == "html":
            return 200, {"Content-Type": "text/html"}, b"<html><body>NVR login</body></html>"
        if kind == "fault":
            return 500, {"Content-Type": "application/soap+xml"}, (
                b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><s:Fault><s:Code>'
                b"<s:Value>s:Receiver</s:Value></s:Code><s:Reason><s:Text>busy</s:Text></s:Reason></s:Fault>"
                b"</s:Body></s:Envelope>")
        return 200, {"Content-Type": "application/soap+xml"}, b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/so'

    return StubHttpServer(respond)


@pytest.mark.parametrize("kind", ["html", "fault", "truncated"])
def test_misbehaving_device_registers_nothing(service: CameraService, device: IpycamDevice, kind: str) -> None:
    with _stub(kind) as stub, pytest.raises(OnvifProtocolError):
        service.register(spec(device, onvif={"host": "127.0.0.1", "port": stub.port}))
    assert service.list() == [] and service.completeness().total == 0


def test_yaml_managed_camera_takes_only_credentials(tmp_path: Path) -> None:
    service = make_camera_service(tmp_path)
    configs = write_configs(tmp_path / "camera_configs",
                            camera_yaml("14042900001325000031", name="y", stream="rtsp://10.0.0.31/x"), "a.yaml")
    service.registry.sync_camera_configs(configs)
    with pytest.raises(RegistrationError, match=r"defined in a\.yaml"):
        service.update("14042900001325000031", {"name": "z"})
    view = service.update("14042900001325000031", {"username": "op", "password": "Long-Unique-Pass-2"})
    assert view.has_password and view.source_file == "a.yaml"
    service.registry.sync_camera_configs(configs)  # the next start keeps the credentials
    assert service.credentials("14042900001325000031") is not None
    with pytest.raises(RegistrationError, match=r"defined in a\.yaml"):
        service.remove("14042900001325000031")


def test_cli_list_and_completeness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    use_data_dir(monkeypatch, tmp_path)
    assert main(["camera", "add", "--name", "c", "--jurisdiction", TOWNSHIP,
                 "--stream", "rtsp://10.0.0.9/x", "--set", "ptz_type=3", "--set", "node_label=gpu"]) == 0
    assert main(["camera", "list"]) == 0 and main(["camera", "completeness"]) == 0
    out = capsys.readouterr().out
    assert "14042900001325000001" in out and "0/1 cameras complete" in out and "missing manufacturer" in out
    row = next(line for line in out.splitlines() if line.strip().startswith("14042900001325000001"))  # the list's
    assert " gpu " in row
    assert main(["camera", "show", "14042900001325000001"]) == 0
    assert "node_label: gpu" in capsys.readouterr().out
    assert main(["camera", "remove", "14042900001325000001"]) == 0
    assert main(["camera", "show", "14042900001325000001"]) == 2


def test_cli_validation_error_is_clear_and_silent_about_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    use_data_dir(monkeypatch, tmp_path)
    monkeypatch.setenv("CAM_PW", "Never-Printed-3")
    rc = main(["camera", "add", "--name", "c", "--jurisdiction", TOWNSHIP, "--stream", "rtsp://10.0.0.9/x",
               "--user", "op", "--password-env", "CAM_PW", "--set", "ptz_type=9", "--set", "colour=red"])
    err = capsys.readouterr().err
    assert rc == 2 and "ptz_type" in err and "colour" in err and "Never-Printed-3" not in err
    assert "Traceback" not in err


def test_export_into_camera_configs_round_trips(tmp_path: Path) -> None:
    """An export dropped into camera_configs/ is what the hub's folder sync loads, and exports back identically."""
    a = make_camera_service(tmp_path / "a")
    for i in (1, 2):
        a.register(CameraSpec(name=f"c{i}", jurisdiction=TOWNSHIP, stream=f"rtsp://10.0.0.{i}/x", ptz_type=1,
                              heading_deg=45.5, direction=6))
    text = a.export_yaml()
    configs = write_configs(tmp_path / "camera_configs", text, "registered.yaml")
    b = make_camera_service(tmp_path / "b")
    assert b.registry.sync_camera_configs(configs) == ["14042900001325000001", "14042900001325000002"]
    assert b.export_yaml() == text


def test_bulk_import_reports_progress_and_cli_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    cams = "".join(f"""\
  - id: "140429000013250{i:05d}"
    name: 批量 {i}
    jurisdiction: "{TOWNSHIP}"
    stream: rtsp://10.0.{i // 250}.{i % 250 + 1}/ch1
""" for i in range(1, 121))
    path = tmp_path / "bulk.yaml"
    path.write_text("cameras:\n" + cams, encoding="utf-8")
    calls: list[tuple[int, int]] = []
    result = make_camera_service(tmp_path / "a").import_yaml(path, lambda done, total: calls.append((done, total)))
    assert len(result.added) == 120 and calls == [(50, 120), (100, 120), (120, 120)]

    use_data_dir(monkeypatch, tmp_path / "cli")
    assert main(["camera", "import", str(path)]) == 0
    assert "120 added, 0 updated, 0 unchanged" in capsys.readouterr().out
    assert main(["camera", "list"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("120 camera(s)")
    rows = [line for line in out.splitlines() if line.strip().startswith("140429")]
    assert len(rows) == 120 and "rtsp://10.0.0.2/ch1" in rows[0]
    assert "auto@1" in rows[0] and "default" in rows[0] and " any " in rows[0] and "批量 1" in rows[0]
