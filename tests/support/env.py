"""The hub's settings environment in tests: no setting leaks in from the developer's or CI's environment, and a
CLI run under test uses a data folder of the test's own.

Owns only environment variables, always through ``monkeypatch`` (restored after the test); must not write files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SETTINGS_PREFIX = "SHARPEYES_"
BARE_SETTINGS = ("REDIS_URL", "DATABASE_URL")
"""Settings also read without the prefix (sharpeyes/settings.py)."""


def clean_settings_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every hub setting from the environment for the rest of the test."""
    for name in list(os.environ):
        if name.startswith(SETTINGS_PREFIX) or name in BARE_SETTINGS:
            monkeypatch.delenv(name)


def use_data_dir(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> Path:
    """A clean settings environment whose data folder (database, vault key, snapshots) is ``data_dir``."""
    clean_settings_env(monkeypatch)
    monkeypatch.setenv(f"{SETTINGS_PREFIX}DATA_DIR", str(data_dir))
    return data_dir
