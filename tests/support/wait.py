"""Polling for a condition with a time limit: the one helper tests use to wait for a thread, a server or a stream.

Owns nothing but the loop; must not start, stop or change what it watches.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Call ``predicate`` every ``interval`` seconds until it is true or ``timeout`` seconds have passed; return its
    last value (so ``assert wait_until(...)`` fails when the time is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())
