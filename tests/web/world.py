"""The world of the browser tests and of ``make screenshots``: a real hub (real Redis, the RTSP server looping
vtest.avi, the real detector) over two synthetic village centers under 丰州镇 — A (two operators) and B (one) —
plus a technician and an auditor of the county, served by uvicorn on a loopback port, and Debian's Chromium.

Owns only what it opens (the hub, the HTTP server, the browser), all closed on exit; reads no data folder but
its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
from playwright.sync_api import Browser, BrowserContext, Page

from api.app import create_app
from ingest.demo import RtspServer
from registry.service import CameraSpec
from sharpeyes.hub import Hub
from sharpeyes.settings import PROJECT_ROOT, Settings
from tests.support.auth import PASSWORD, add_account
from tests.support.browser import HubServer, chromium

COUNTY, TOWNSHIP = "140429", "140429100"
VILLAGE_A, VILLAGE_B = "140429100811", "140429100812"
EVENT_CAMERA = "14042900001325000811"

WORLD = f"""\
jurisdictions:
  - {{code: "{VILLAGE_A}", name: 浏览器测试甲村, parent: "{TOWNSHIP}", center: true, synthetic: true}}
  - {{code: "{VILLAGE_B}", name: 浏览器测试乙村, parent: "{TOWNSHIP}", center: true, synthetic: true}}
key_points:
  - {{id: web-crossroads, name: 甲村路口（合成）, kind: crossroads, jurisdiction: "{VILLAGE_A}", longitude: 112.86422,
     latitude: 36.8372, synthetic: true}}
  - {{id: web-school, name: 乙村小学门口（合成）, kind: school, jurisdiction: "{VILLAGE_B}", longitude: 112.8712,
     latitude: 36.8391, synthetic: true}}
"""

ACCOUNTS = {  # login: (role, jurisdiction, unit, display name)
    "op-a1": ("operator", VILLAGE_A, "甲村综治中心", "甲村值班员一"),
    "op-a2": ("operator", VILLAGE_A, "甲村综治中心", "甲村值班员二"),
    "op-b": ("operator", VILLAGE_B, "乙村综治中心", "乙村值班员"),
    "tech-web": ("technician", COUNTY, "县公安局科技通信科", "运维技术员"),
    "auditor-web": ("auditor", COUNTY, "县委政法委", "审计员"),
}


def crowd_camera(rtsp: RtspServer, *, severity: str = "minor") -> CameraSpec:
    """The camera whose events the tests wait for: village A, a crowd rule over the whole frame (vtest.avi always
    shows 3 or more pedestrians, so it fires within seconds of the camera being registered)."""
    return CameraSpec.model_validate({
        "id": EVENT_CAMERA, "name": "浏览器测试 路口", "jurisdiction": VILLAGE_A, "stream": rtsp.url("cam1"),
        "sampling": {"mode": "fps", "fps": 2}, "position": {"longitude": 112.8640, "latitude": 36.8372},
        "heading_deg": 90, "fov_deg": 70, "range_m": 40,
        "rules": [{"type": "crowd_gathering", "name": "路口聚集", "zone": [[0, 0.3], [1, 0.3], [1, 1], [0, 1]],
                   "min_count": 3, "min_duration_s": 1, "clear_after_s": 600, "severity": severity}]})


@dataclass
class WebHub:
    hub: Hub
    url: str
    rtsp: RtspServer
    browser: Browser
    requests: list[str] = field(default_factory=list)
    """Every URL a page of :meth:`page_as` requested."""

    def page_as(self, login: str, *, lang: str = "zh-CN") -> Page:
        """A page of a fresh browser context (its own cookies and storage) logged in as ``login`` through the form."""
        context: BrowserContext = self.browser.new_context(locale=lang, viewport={"width": 1400, "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.on("request", lambda request: self.requests.append(request.url))
        # shown by pytest when a test fails: what the page said and what it could not load
        page.on("console", lambda msg: print(f"[{login} console {msg.type}] {msg.text}"))
        page.on("requestfailed", lambda request: print(f"[{login} failed] {request.url} {request.failure}"))
        page.on("response", lambda r: print(f"[{login} {r.status}] {r.url}")
                if r.status >= 400 or "stream" in r.url or "changes" in r.url else None)
        page.on("request", lambda r: print(f"[{login} request {time.strftime('%X')}] {r.url}")
                if "stream" in r.url or "changes" in r.url else None)
        page.goto(self.url + "/")
        page.fill("#username", login)
        page.fill("#password", PASSWORD)
        page.click("#login button[type=submit]")
        page.wait_for_selector("header.top [data-testid=user]")
        return page


@contextmanager
def open_web_hub(root: Path, redis_url: str, rtsp: RtspServer) -> Iterator[WebHub]:
    """The world under ``root`` on the (flushed) Redis at ``redis_url``, with its cameras on ``rtsp``."""
    configs = root / "camera_configs"
    configs.mkdir(parents=True, exist_ok=True)
    (configs / "world.yaml").write_text(WORLD, encoding="utf-8")
    redis.Redis.from_url(redis_url).flushall()
    settings = Settings(  # type: ignore[call-arg]
        data_dir=root / "data", redis_url=redis_url, camera_configs=configs,
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
