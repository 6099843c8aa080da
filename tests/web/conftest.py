"""One real hub per module for the browser tests: real Redis, the RTSP server looping vtest.avi, the real detector
(the hub's own analytics worker), the hub's app served by uvicorn on a loopback port, and Debian's Chromium driven
by Playwright. Two village centers under 丰州镇: A (two operators) and B (one); a technician and an auditor of the
county. No camera at first: the tests register them (a camera registered while the pages are open is the one
whose events must arrive live).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import redis
from playwright.sync_api import Browser, BrowserContext, Page

from api.app import create_app
from ingest.demo import RtspServer
from sharpeyes.hub import Hub
from sharpeyes.proc import EmbeddedRedis
from sharpeyes.settings import PROJECT_ROOT, Settings
from tests.support.auth import PASSWORD, add_account
from tests.support.browser import HubServer, chromium

COUNTY, TOWNSHIP = "140429", "140429100"
VILLAGE_A, VILLAGE_B = "140429100811", "140429100812"

WORLD = f"""\
jurisdictions:
  - {{code: "{VILLAGE_A}", name: 浏览器测试甲村, parent: "{TOWNSHIP}", center: true, synthetic: true}}
  - {{code: "{VILLAGE_B}", name: 浏览器测试乙村, parent: "{TOWNSHIP}", center: true, synthetic: true}}
"""

ACCOUNTS = {  # login: (role, jurisdiction, unit, display name)
    "op-a1": ("operator", VILLAGE_A, "甲村综治中心", "甲村值班员一"),
    "op-a2": ("operator", VILLAGE_A, "甲村综治中心", "甲村值班员二"),
    "op-b": ("operator", VILLAGE_B, "乙村综治中心", "乙村值班员"),
    "tech-web": ("technician", COUNTY, "县公安局科技通信科", "运维技术员"),
    "auditor-web": ("auditor", COUNTY, "县委政法委", "审计员"),
}


@dataclass
class WebHub:
    hub: Hub
    url: str
    rtsp: RtspServer
    browser: Browser

    def page_as(self, login: str, *, lang: str = "zh-CN") -> Page:
        """A page of a fresh browser context (its own cookies and storage) logged in as ``login`` through the form."""
        context: BrowserContext = self.browser.new_context(locale=lang, viewport={"width": 1400, "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.goto(self.url + "/")
        page.fill("#username", login)
        page.fill("#password", PASSWORD)
        page.click("#login button[type=submit]")
        page.wait_for_selector("header.top [data-testid=user]")
        return page


@pytest.fixture(scope="module")
def web_hub(tmp_path_factory: pytest.TempPathFactory, redis_server: EmbeddedRedis,
            rtsp: RtspServer) -> Iterator[WebHub]:
    root = tmp_path_factory.mktemp("web")
    configs = root / "camera_configs"
    configs.mkdir()
    (configs / "world.yaml").write_text(WORLD, encoding="utf-8")
    redis.Redis.from_url(redis_server.url).flushall()
    settings = Settings(  # type: ignore[call-arg]
        data_dir=root / "data", redis_url=redis_server.url, camera_configs=configs,
        models_dir=PROJECT_ROOT / "data" / "models", camera_reconcile_s=1.0,
    )
    hub = Hub(settings).start()
    try:
        for login, (role, code, unit, name) in ACCOUNTS.items():
            add_account(hub.components.identity, login, role=role, jurisdiction=code, unit=unit, display_name=name)
        with HubServer(create_app(hub.api_deps())) as server, chromium() as browser:
            yield WebHub(hub, server.url, rtsp, browser)
    finally:
        hub.stop()

