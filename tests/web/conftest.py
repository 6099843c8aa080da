"""One real hub per module for the browser tests (``tests/web/world.py``): real Redis, the RTSP server looping
vtest.avi, the real detector, uvicorn on a loopback port, and Debian's Chromium driven by Playwright. No camera at
first: the tests register them (a camera registered while the pages are open is the one whose events must arrive
live).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from ingest.demo import RtspServer
from sharpeyes.proc import EmbeddedRedis
from tests.web.world import WebHub, open_web_hub

expect.set_options(timeout=15_000)  # a busy 2-core machine: the detector shares it with the browser and the hub


@pytest.fixture(scope="module")
def web_hub(tmp_path_factory: pytest.TempPathFactory, redis_server: EmbeddedRedis,
            rtsp: RtspServer) -> Iterator[WebHub]:
    with open_web_hub(tmp_path_factory.mktemp("web"), redis_server.url, rtsp) as world:
        yield world
