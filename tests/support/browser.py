"""A real browser against a real hub: the hub's app served by uvicorn on a loopback port chosen at run time, and
Debian's Chromium driven by Playwright (the PyPI package; it never downloads a browser: it launches
``/usr/bin/chromium``).

Owns only the server thread and the browser process it starts, both stopped on exit; must not read the hub's
data folder or reach anything but loopback.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, sync_playwright

from sharpeyes.proc import free_port

log = logging.getLogger(__name__)

CHROMIUM = Path("/usr/bin/chromium")
"""Debian's Chromium (package ``chromium``; ``scripts/setup-system.sh`` installs it with ``fonts-noto-cjk``)."""


class HubServer:
    """``app`` served over HTTP on 127.0.0.1 (a free port) by uvicorn in a thread, like ``sharpeyes run`` does."""

    def __init__(self, app: FastAPI) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off",
                                timeout_graceful_shutdown=1)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="test-hub-http", daemon=True)

    def start(self, timeout_s: float = 10.0) -> HubServer:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=5)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def require_chromium() -> None:
    """Fail (never skip) with what to install when Debian's Chromium or the Noto CJK fonts are missing."""
    missing = [pkg for path, pkg in ((CHROMIUM, "chromium"),
                                     (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), "fonts-noto-cjk"))
               if not path.exists()]
    if missing:
        raise RuntimeError(f"the browser tests need Debian packages: apt-get install -y {' '.join(missing)} "
                           "(or run `make`, which runs scripts/setup-system.sh)")


@contextmanager
def chromium(*, headless: bool = True) -> Iterator[Browser]:
    """A Playwright ``Browser`` on Debian's Chromium (headless), closed on exit."""

    require_chromium()
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium's sandbox refuses to run as root
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=headless,
                                     args=[*args, "--disable-gpu", "--no-first-run", "--lang=zh-CN"])
        try:
            yield browser
        finally:
            browser.close()
