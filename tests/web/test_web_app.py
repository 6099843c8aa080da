"""The web app in a real browser (Debian's Chromium over Playwright) against a real hub (real Redis, RTSP cameras
looping vtest.avi, the real detector): log in, deny by default, an event arriving live without a reload, acting
on it with a reason and seeing the change live in another operator's browser of the same center while the other
village's operator never sees it, the event's details with the snapshot and the rule drawn over it, a technician
adding a camera through the form that then goes online, an auditor opening the audit and the access log, and
what each role is not shown.
"""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.support.onvif_camera import IpycamDevice
from tests.web.world import ACCOUNTS, VILLAGE_B, WebHub, crowd_camera

LIVE_TIMEOUT_MS = 90_000  # the camera is registered now: ingest connects, the detector sees a crowd


def test_nothing_renders_without_a_session_and_the_header_says_who(web_hub: WebHub) -> None:
    context = web_hub.browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(web_hub.url + "/#/queue")
    expect(page.locator("#login")).to_be_visible()
    assert page.locator("header.top").count() == 0 and page.locator("#events").count() == 0
    expect(page.locator("#login h2")).to_have_text("登录")
    page.fill("#username", "op-a1")
    page.fill("#password", "not-the-password-1")
    page.click("#login button[type=submit]")
    expect(page.locator("#login-error")).to_have_text("用户名或密码错误。")
    context.close()

    page = web_hub.page_as("op-a1")
    _role, _code, unit, name = ACCOUNTS["op-a1"]
    header = page.locator("header.top")
    expect(header.locator("[data-testid=user]")).to_have_text(name)
    expect(header.locator("[data-testid=unit]")).to_have_text(unit)
    expect(header.locator("[data-testid=role]")).to_have_text("值班员")
    expect(header.locator("[data-testid=jurisdiction]")).to_contain_text("浏览器测试甲村")
    # role-aware: an operator gets the queue, the cameras and the map, not the audit nor the access log
    assert page.locator("header nav a").evaluate_all("els => els.map(e => e.dataset.nav)") == [
        "queue", "cameras", "map"]
    page.goto(web_hub.url + "/#/audit")
    expect(page.locator("#page .notice")).to_have_text("本角色无权访问此页面。")
    # English is one click away, from the same catalogue
    page.click("[data-testid=lang]")
    expect(header.locator("[data-testid=role]")).to_have_text("Operator")
    page.click("[data-testid=lang]")
    # logging out ends the session on the server too: a reload shows the login form again
    page.click("#logout")
    expect(page.locator("#login")).to_be_visible()
    page.reload()
    expect(page.locator("#login")).to_be_visible()
    assert page.request.get(web_hub.url + "/api/auth/me").status == 401
    page.context.close()


def test_an_event_arrives_live_is_acknowledged_and_the_other_operator_sees_it(web_hub: WebHub) -> None:
    first, second, other = (web_hub.page_as(login) for login in ("op-a1", "op-a2", "op-b"))
    for page in (first, second, other):
        expect(page.locator("[data-testid=live]")).to_contain_text("实时")  # both SSE subscriptions open
        assert page.locator("article.card").count() == 0
    # a camera registered now, with a crowd rule: its first event can only reach the pages live
    web_hub.hub.components.cameras.register(crowd_camera(web_hub.rtsp), via="test")

    live = first.locator("article.card").first
    expect(live).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    event_id = live.get_attribute("data-id")
    assert event_id
    expect(live).to_contain_text("人员聚集")
    expect(live.locator("[data-testid=status]")).to_have_text("未处理")
    expect(live.locator(".sla")).to_have_text(re.compile(r"剩余 (29|30):\d\d"))  # minor: 30 min SLA
    expect(first.locator("[data-testid=unhandled]")).to_have_text("未处理 1")
    mirror = second.locator(f"article.card[data-id='{event_id}']")
    expect(mirror).to_be_visible()

    # keyboard: the newest card is selected; `a` asks the reason, then acknowledges
    first.keyboard.press("a")
    dialog = first.locator("dialog.reason-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("textarea").fill("已电话联系网格员到场核实")
    dialog.locator("button[type=submit]").click()
    expect(live.locator("[data-testid=status]")).to_have_text("已签收")
    expect(first.locator("[data-testid=unhandled]")).to_have_text("未处理 0")
    # the other operator of the same center sees it change, without a reload
    expect(mirror.locator("[data-testid=status]")).to_have_text("已签收", timeout=10_000)
    expect(mirror.locator("[data-action=ack]")).to_have_count(0)
    # the other village's operator never sees it: not live, not in its list, not through the API
    assert other.locator("article.card").count() == 0
    assert other.request.get(f"{web_hub.url}/api/events/{event_id}",
                             headers={"X-Sharpeyes-Reason": "check"}).status == 404
    other.reload()
    expect(other.locator("[data-testid=shown]")).to_have_text("显示 0 条")
    assert other.locator("select[name=center]").evaluate("s => [...s.options].map(o => o.value)") == [VILLAGE_B]

    # the details: a reason first, then the snapshot with the detections and the rule's zone, and the action log
    second.locator(f"article.card[data-id='{event_id}'] [data-action=open]").click()
    second.click("[data-testid=give-reason]")
    second.locator("dialog.reason-dialog .chip").first.click()
    second.locator("dialog.reason-dialog button[type=submit]").click()
    detail = second.locator(f".detail[data-id='{event_id}']")
    expect(detail).to_be_visible()
    image = second.locator("[data-testid=snapshot]")
    expect(image).to_be_visible()
    second.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert second.locator("[data-testid=overlay] .box rect").count() >= 3
    assert second.locator("[data-testid=overlay] polygon.zone").count() == 1
    log = second.locator("[data-testid=action-log]")
    expect(log).to_contain_text("op-a1")
    expect(log).to_contain_text("已电话联系网格员到场核实")
    expect(log).to_contain_text("浏览器测试甲村")
    expect(second.locator("[data-testid=routing]")).to_contain_text("浏览器测试甲村")
    # every view was logged as the viewer, with the reason picked, by the server
    accesses = [(a.user, a.action, a.reason) for a in web_hub.hub.components.archive.access_log(limit=50)]
    assert ("op-a2", "view_event", "值班研判") in accesses and ("op-a2", "view_snapshot", "值班研判") in accesses
    # resolving from the details shows up in the first operator's queue at once
    detail.locator("[data-action=resolve]").click()
    second.locator("dialog.reason-dialog textarea").fill("现场已疏散")
    second.locator("dialog.reason-dialog button[type=submit]").click()
    expect(second.locator(".detail [data-testid=status]")).to_have_text("已办结")
    expect(live.locator("[data-testid=status]")).to_have_text("已办结", timeout=10_000)
    for page in (first, second, other):
        page.context.close()


def test_a_technician_adds_a_camera_through_the_form_and_it_goes_online(web_hub: WebHub) -> None:
    page = web_hub.page_as("tech-web")
    assert page.locator("header nav a").evaluate_all("els => els.map(e => e.dataset.nav)") == [
        "cameras", "map", "system"]
    expect(page.locator("#camera-tree")).to_contain_text("浏览器测试甲村")
    page.click("#add-camera")
    form = page.locator("#camera-form")
    form.locator("input[name=id]").fill("14042900001325000812")
    form.locator("input[name=name]").fill("浏览器测试 乙村村口")
    form.locator("select[name=jurisdiction]").select_option(VILLAGE_B)
    form.locator("input[name=stream]").fill(web_hub.rtsp.url("cam2"))
    for name, value in (("manufacturer", "Hikvision"), ("model", "DS-2CD3T47"), ("owner", "乙村村委会"),
                        ("address", "乙村村口"), ("longitude", "112.87"), ("latitude", "36.84"),
                        ("resolution", "1920x1080"), ("heading_deg", "90"), ("fov_deg", "60"), ("range_m", "40")):
        form.locator(f"input[name={name}]").fill(value)
    for name, value in (("ptz_type", "3"), ("position_type", "9"), ("room_type", "1"), ("use_type", "1"),
                        ("direction", "1")):
        form.locator(f"select[name={name}]").select_option(value)
    expect(form.locator("[data-testid=filled]")).to_have_text("档案完整度 17/17")
    page.click("#save-camera")
    row = page.locator("li.camera[data-id='14042900001325000812']")
    expect(row).to_be_visible()
    expect(row.locator(".tag")).to_have_text("档案完整")
    expect(row).to_have_attribute("data-state", "online", timeout=30_000)
    expect(row.locator("[data-testid=state]")).to_have_text("在线")
    cam = web_hub.hub.components.registry.get_camera("14042900001325000812")
    assert cam is not None and cam.jurisdiction_code == VILLAGE_B and cam.owner == "乙村村委会"
    # edited from its row: the form comes back filled with the record
    row.locator("button", has_text="编辑").click()
    expect(form.locator("input[name=owner]")).to_have_value("乙村村委会")
    expect(form.locator("select[name=ptz_type]")).to_have_value("3")
    form.locator("input[name=address]").fill("乙村村口东侧")
    page.click("#save-camera")
    expect(page.locator("#camera-form")).to_have_count(0)
    cam = web_hub.hub.components.registry.get_camera("14042900001325000812")
    assert cam is not None and cam.address == "乙村村口东侧" and cam.owner == "乙村村委会" and cam.ptz_type == 3
    # a YAML file (the export's format) imported from the page, then that camera disabled from its row
    yaml = (f'cameras:\n  - {{id: "14042900001325000813", name: 导入的摄像机, jurisdiction: "{VILLAGE_B}", '
            f'stream: "{web_hub.rtsp.url("cam2")}"}}\n')
    page.set_input_files("#import-file", files=[{"name": "乙村.yaml", "mimeType": "application/yaml",
                                                 "buffer": yaml.encode()}])
    expect(page.locator(".toast", has_text="已导入")).to_contain_text("已导入：新增 1 台")
    imported = page.locator("li.camera[data-id='14042900001325000813']")
    expect(imported).to_be_visible()
    imported.locator("button", has_text="停用").click()
    expect(imported).to_have_attribute("data-state", "disabled")
    assert web_hub.hub.components.registry.get_camera("14042900001325000813").enabled is False  # type: ignore[union-attr]
    page.context.close()


def test_a_technician_onboards_an_onvif_camera_discover_probe_fill_add(web_hub: WebHub) -> None:
    """The whole onboarding of a real ONVIF camera (ipycam on loopback; discovery unicast, never multicast)."""
    with IpycamDevice(name="VillageGate", manufacturer="SharpTest", model="ST-300", password="Gate-Pass-2024") as dev:
        assert dev.discovery is not None
        page = web_hub.page_as("tech-web")
        page.click("#add-camera")
        form = page.locator("#camera-form")
        form.locator("input[name=discover_target]").fill(f"127.0.0.1:{dev.discovery.port}")
        form.locator("#discover").click()
        found = form.locator("[data-testid=discovered] button.chip")
        expect(found).to_have_count(1)
        expect(found).to_contain_text("VillageGate")
        found.click()
        expect(form.locator("input[name=onvif_host]")).to_have_value("127.0.0.1")
        expect(form.locator("input[name=onvif_port]")).to_have_value(str(dev.onvif_port))
        form.locator("input[name=username]").fill(dev.username)
        form.locator("input[name=password]").fill(dev.password)
        form.locator("#probe").click()
        expect(form.locator("input[name=manufacturer]")).to_have_value("SharpTest")
        expect(form.locator("input[name=model]")).to_have_value("ST-300")
        expect(form.locator("input[name=resolution]")).to_have_value("320x240")
        assert (form.locator("input[name=stream]").input_value()).startswith(f"rtsp://127.0.0.1:{dev.rtsp_port}/")
        form.locator("input[name=id]").fill("14042900001325000814")
        form.locator("select[name=jurisdiction]").select_option(VILLAGE_B)
        page.click("#save-camera")
        row = page.locator("li.camera[data-id='14042900001325000814']")
        expect(row).to_have_attribute("data-state", "online", timeout=30_000)
        view = web_hub.hub.components.cameras.get("14042900001325000814")
        assert view.has_password and view.username == dev.username and view.manufacturer == "SharpTest"
        assert dev.password not in page.content()  # sent once, never shown back
        # removed from its row, after a confirmation
        page.once("dialog", lambda dialog: dialog.accept())
        row.locator("button", has_text="删除").click()
        expect(row).to_have_count(0)
        assert web_hub.hub.components.registry.get_camera("14042900001325000814") is None
        page.context.close()


def test_an_auditor_opens_the_audit_and_the_access_log(web_hub: WebHub) -> None:
    page = web_hub.page_as("auditor-web")
    assert page.locator("header nav a").evaluate_all("els => els.map(e => e.dataset.nav)") == [
        "queue", "cameras", "map", "audit", "access", "system"]
    page.click("header nav a[data-nav=audit]")
    dialog = page.locator("dialog.reason-dialog")
    expect(dialog).to_be_visible()
    dialog.locator(".chip", has_text="合规审计").click()
    dialog.locator("button[type=submit]").click()
    report = page.frame_locator("#audit-report")
    expect(report.locator("body")).to_contain_text("全域覆盖", timeout=20_000)
    assert "format=csv" in (page.locator("#audit-csv").get_attribute("href") or "")
    csv = page.request.get(web_hub.url + (page.locator("#audit-csv").get_attribute("href") or ""))
    assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
    page.select_option("select[name=period]", "7")
    page.click("#audit-show")
    expect(page.locator("#audit-report")).to_have_attribute("src", re.compile("days=7"))
    page.click("header nav a[data-nav=access]")
    table = page.locator("#access-log")
    expect(table).to_contain_text("audit_report")
    expect(table).to_contain_text("合规审计")
    page.fill("input[name=q]", "login_failed")
    expect(table.locator("tbody tr").first).to_contain_text("op-a1")
    # the system page: this hub's health and, a single hub, no worker nodes and nobody holding the singleton lock
    page.click("header nav a[data-nav=system]")
    expect(page.locator("#node-health")).to_contain_text("本节点")
    expect(page.locator("#node-health [data-testid=health]")).to_have_text(re.compile("正常|降级"))
    expect(page.locator("#worker-nodes")).to_contain_text("没有在线的工作节点")
    expect(page.locator("#worker-nodes")).to_contain_text("当前没有节点持有单例锁")
    expect(page.locator("#worker-nodes")).to_contain_text("本进程直接采集")  # its cameras: sampled here, not unheld
    expect(page.locator("#unheld")).to_have_count(0, timeout=15_000)
    # read-only: the auditor's queue has no action buttons
    page.click("header nav a[data-nav=queue]")
    expect(page.locator("[data-testid=live]")).to_be_visible()
    assert page.locator("[data-action=ack]").count() == 0
    page.context.close()


def test_the_pages_asked_nothing_of_anyone_but_the_hub(web_hub: WebHub) -> None:
    """Over every page the tests above opened: no font, script, tile or image from anywhere else."""
    page = web_hub.page_as("tech-web")
    page.click("header nav a[data-nav=map]")
    expect(page.locator("[data-testid=map] g.camera")).to_have_count(2)
    expect(page.locator("[data-testid=map] g.keypoint")).to_have_count(2)
    page.context.close()
    assert len(web_hub.requests) > 50
    assert [u for u in web_hub.requests if not u.startswith(web_hub.url + "/")] == []
