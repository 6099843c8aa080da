"""GB/T 28181 catalog export of a real registry (SQLite in a tmp dir, cameras from YAML and from registration with
credentials): the XML parses, has the Catalog response header, one Item per camera plus the 215/216 nodes of the
jurisdiction tree linked by ParentID, the catalog fields round-trip, GB18030 output decodes with the encoding it
declares, credentials never appear, and a camera without a valid GB/T 28181 ID is reported, not exported."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from registry.catalog_xml import (
    CatalogExport,
    catalog_xml,
    default_platform_id,
    group_id,
    parse_catalog_xml,
    read_catalog_xml,
    resolution_code,
)
from registry.gb28181 import parse_device_id
from registry.models import Camera
from registry.service import CameraService, CameraSpec
from registry.store import Registry
from tests.support.registry import make_camera_service, write_configs

COUNTY, TOWNSHIP, VILLAGE = "140429", "140429100", "140429100001"
CAM_A, CAM_B, CAM_C = "14042900001325000001", "14042900001325000002", "14042900001325000003"
BAD_ID = "14042900001995000009"  # digits 11-13 (199) are no device type
PASSWORD, USERNAME = "Catalog-Pw-42x", "opsadmin"
PLATFORM = "14042900002005000001"

YAML = f"""
jurisdictions:
  - {{code: "{VILLAGE}", name: 示范社区（合成）, parent: "{TOWNSHIP}", synthetic: true}}
cameras:
  - id: "{CAM_A}"
    name: 示范社区 校园路口 1
    jurisdiction: "{VILLAGE}"
    stream: rtsp://127.0.0.1:8554/vtest
    manufacturer: Hikvision
    model: DS-2CD3T47
    owner: 武乡县公安局
    address: 丰州镇 校园路 1 号
    position: {{longitude: 112.8641234, latitude: 36.8372}}
    heading_deg: 90
    ptz_type: 3
    position_type: 8
    room_type: 1
    use_type: 3
    direction: 1
    resolution: 1920x1080
  - id: "{CAM_B}"
    name: 东街 <北> & "口"
    jurisdiction: "{TOWNSHIP}"
    stream: rtsp://127.0.0.1:8554/vtest2
    resolution: 1280x720
"""


@pytest.fixture()
def service(tmp_path: Path) -> Iterator[CameraService]:
    svc = make_camera_service(tmp_path / "hub")
    svc.registry.sync_camera_configs(write_configs(tmp_path / "configs", YAML))
    svc.register(CameraSpec(id=CAM_C, name="村委会 门口", jurisdiction=VILLAGE, probe=False, ptz_type=1,
                            stream=f"rtsp://{USERNAME}:{PASSWORD}@127.0.0.1:8554/cam3"))
    with svc.registry.sessions.begin() as s:  # a record the registration path would refuse: straight into SQL
        s.add(Camera(id=BAD_ID, name="旧平台导入", jurisdiction_code=TOWNSHIP, stream_url="rtsp://127.0.0.1:9/old"))
    svc.registry.record_availability(CAM_A, "online")
    svc.registry.record_availability(CAM_B, "online")
    svc.registry.record_availability(CAM_B, "offline", "stalled")
    yield svc
    svc.registry.close()


def by_id(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["DeviceID"]: item for item in items}


def declared(data: bytes) -> str:
    first = data.split(b"\n", 1)[0].decode("ascii")
    return first.split('encoding="', 1)[1].split('"', 1)[0]


def test_catalog_response_header_items_and_tree(service: CameraService) -> None:
    export = catalog_xml(service.registry, sn=7, device_id=PLATFORM)
    assert export.data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Response>')
    root = ET.fromstring(export.data)  # plain UTF-8 XML: any parser reads it
    assert (root.findtext("CmdType"), root.findtext("SN"), root.findtext("DeviceID")) == ("Catalog", "7", PLATFORM)
    items = parse_catalog_xml(export.data)
    device_list = root.find("DeviceList")
    assert device_list is not None
    assert root.findtext("SumNum") == device_list.get("Num") == str(len(items)) == str(export.items)

    county, township, village = group_id(COUNTY), group_id(TOWNSHIP), group_id(VILLAGE)
    assert (county, township, village) == ("14042900002155000000", "14042900002165100000", "14042900002165100001")
    for gid in (county, township, village, PLATFORM):
        parse_device_id(gid, require_camera=False)  # valid GB/T 28181 IDs
    got = by_id(items)
    assert sorted(got) == sorted([county, township, village, CAM_A, CAM_B, CAM_C])
    assert (export.cameras, export.groups) == (3, 3)
    # groups first, parents before children; cameras by ID
    assert [i["DeviceID"] for i in items] == [county, township, village, CAM_A, CAM_B, CAM_C]
    assert got[county] == {"DeviceID": county, "Name": "武乡县", "CivilCode": COUNTY, "ParentID": PLATFORM}
    assert got[township] == {"DeviceID": township, "Name": "丰州镇", "CivilCode": COUNTY, "ParentID": county,
                             "BusinessGroupID": county}
    assert got[village]["ParentID"] == township and got[village]["Name"] == "示范社区（合成）"
    assert [got[c]["ParentID"] for c in (CAM_A, CAM_B, CAM_C)] == [village, township, village]
    assert {got[c]["Info"]["BusinessGroupID"] for c in (CAM_A, CAM_B, CAM_C)} == {county}


def test_catalog_fields_round_trip(service: CameraService) -> None:
    got = by_id(parse_catalog_xml(catalog_xml(service.registry, device_id=PLATFORM).data))
    a = got[CAM_A]
    assert {k: a[k] for k in ("Name", "Manufacturer", "Model", "Owner", "CivilCode", "Address", "Parental",
                              "SafetyWay", "RegisterWay", "Secrecy", "Status")} == {
        "Name": "示范社区 校园路口 1", "Manufacturer": "Hikvision", "Model": "DS-2CD3T47", "Owner": "武乡县公安局",
        "CivilCode": COUNTY, "Address": "丰州镇 校园路 1 号", "Parental": "0", "SafetyWay": "0", "RegisterWay": "1",
        "Secrecy": "0", "Status": "ON"}
    assert float(a["Longitude"]) == pytest.approx(112.8641234, abs=1e-7)
    assert float(a["Latitude"]) == pytest.approx(36.8372, abs=1e-7)
    assert a["Info"] == {"PTZType": "3", "PositionType": "8", "RoomType": "1", "UseType": "3", "DirectionType": "1",
                         "Resolution": "6", "BusinessGroupID": group_id(COUNTY)}
    b = got[CAM_B]
    assert b["Name"] == '东街 <北> & "口"'  # escaped in the XML, intact after parsing
    assert b["Status"] == "OFF"  # its last ledger entry
    assert b["Info"] == {"Resolution": "5", "BusinessGroupID": group_id(COUNTY)}
    assert "Longitude" not in b and b["Manufacturer"] == "" and b["Owner"] == ""  # required tags kept, empty
    assert got[CAM_C]["Status"] == "OFF"  # never seen online
    live = by_id(parse_catalog_xml(catalog_xml(service.registry, online={CAM_B: True}).data))
    assert (live[CAM_A]["Status"], live[CAM_B]["Status"]) == ("OFF", "ON")  # the caller's live state wins


def test_gb18030_output_decodes_with_its_declared_encoding(service: CameraService) -> None:
    utf8 = catalog_xml(service.registry, device_id=PLATFORM)
    gb = catalog_xml(service.registry, device_id=PLATFORM, encoding="gb18030")
    assert declared(gb.data) == gb.encoding == "GB2312"  # every character fits GB2312: declared as peers expect
    text = gb.data.decode(declared(gb.data))
    assert "示范社区 校园路口 1" in text and "武乡县公安局" in text
    with pytest.raises(UnicodeDecodeError):
        gb.data.decode("utf-8")  # really GB-encoded, not UTF-8 with a GB label
    assert parse_catalog_xml(gb.data) == parse_catalog_xml(utf8.data)

    service.update(CAM_C, {"name": "朱镕基路口"})  # 镕 is in GB18030 (and GBK) but not in GB2312
    wide = catalog_xml(service.registry, device_id=PLATFORM, encoding="gb18030")
    assert declared(wide.data) == wide.encoding == "GB18030"
    assert "朱镕基路口" in wide.data.decode(declared(wide.data))
    assert by_id(parse_catalog_xml(wide.data))[CAM_C]["Name"] == "朱镕基路口"
    assert any("outside GB2312" in p.detail and "镕" in p.detail for p in wide.problems)


def test_credentials_and_stream_urls_never_exported(service: CameraService) -> None:
    assert service.credentials(CAM_C) is not None  # the vault does hold them
    for encoding in ("utf-8", "gb18030"):
        export = catalog_xml(service.registry, encoding=encoding)  # type: ignore[arg-type]
        text = export.data.decode(export.encoding)
        for needle in (PASSWORD, USERNAME, "rtsp://", "8554", "127.0.0.1", "vtest", "cam3"):
            assert needle not in text, needle


def test_invalid_id_is_reported_not_exported(service: CameraService) -> None:
    export = catalog_xml(service.registry, device_id=PLATFORM)
    assert BAD_ID.encode() not in export.data
    [problem] = [p for p in export.problems if p.id == BAD_ID]
    assert "not exported" in problem.detail and "199" in problem.detail
    assert len(export.problems) == 1


def test_platform_id_default_and_validation(service: CameraService) -> None:
    export: CatalogExport = catalog_xml(service.registry)
    assert export.device_id == default_platform_id(COUNTY) == "14042900002005000001"
    with pytest.raises(ValueError, match="platform ID"):
        catalog_xml(service.registry, device_id="1234")
    eight = catalog_xml(service.registry, device_id="14042900002008000001")  # social-resources network
    assert group_id(COUNTY, network="8") in eight.data.decode()
    with pytest.raises(ValueError, match="SN"):
        catalog_xml(service.registry, sn=-1)


def test_disabled_cameras_are_off_or_left_out(service: CameraService) -> None:
    service.update(CAM_C, {"enabled": False})
    export = catalog_xml(service.registry, online={CAM_C: True})
    assert by_id(parse_catalog_xml(export.data))[CAM_C]["Status"] == "OFF"  # disabled: not served, whatever the state
    assert CAM_C.encode() not in catalog_xml(service.registry, include_disabled=False).data


def test_export_of_chosen_cameras(service: CameraService) -> None:
    export = catalog_xml(service.registry, ids=[CAM_B, "14042900001325999999"])
    got = by_id(parse_catalog_xml(export.data))
    assert sorted(got) == sorted([group_id(COUNTY), group_id(TOWNSHIP), CAM_B])  # only the nodes on its path
    assert [(p.id, p.detail) for p in export.problems] == [("14042900001325999999", "no such camera")]


def test_empty_registry_and_resolution_codes(tmp_path: Path) -> None:
    reg = Registry(f"sqlite:///{tmp_path / 'empty.db'}")
    reg.init()
    try:
        export = catalog_xml(reg)
        assert parse_catalog_xml(export.data) == [] and export.items == 0 and export.problems == []
        assert ET.fromstring(export.data).findtext("SumNum") == "0"
    finally:
        reg.close()
    assert [resolution_code(r) for r in ("3840x2160", "1920x1080", "1280x720", "720x576", "704x576", "352x288",
                                         "176x144", None, "bad")] == ["6", "6", "5", "4", "3", "2", "1", None, None]


def test_parser_refuses_entities_and_garbage() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><Response>&a;</Response>'
    with pytest.raises(ValueError, match="DTD"):
        read_catalog_xml(bomb)
    with pytest.raises(ValueError, match="does not parse"):
        parse_catalog_xml(b'<?xml version="1.0" encoding="UTF-8"?><Response><Item>')
    with pytest.raises(ValueError, match="not valid gb2312"):
        parse_catalog_xml(b'<?xml version="1.0" encoding="GB2312"?><Response/>' + b"\xff\xff")


def test_cli_export_gb28181(service: CameraService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    from sharpeyes.cli import main
    from tests.support.env import use_data_dir

    use_data_dir(monkeypatch, tmp_path / "hub")
    out = tmp_path / "catalog.xml"
    assert main(["camera", "export", "--format", "gb28181", "--encoding", "gb18030", "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"{BAD_ID}:" in captured.err and "wrote" in captured.out  # the invalid ID is reported, not exported
    data = out.read_bytes()
    assert declared(data) == "GB2312" and PASSWORD.encode() not in data
    items = by_id(parse_catalog_xml(data))
    assert {CAM_A, CAM_B, CAM_C} <= set(items) and BAD_ID not in items
    assert main(["camera", "export", "--format", "gb28181", "--device-id", "12"]) == 2
    assert "platform ID" in capsys.readouterr().err
