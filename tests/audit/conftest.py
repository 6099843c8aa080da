"""Fixtures of the audit tests: the hand-made world of ``world.py`` in a tmp SQLite database, default settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sharpeyes.settings import Settings
from tests.audit.world import World, build_world


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[World]:
    w = build_world(tmp_path / "sharpeyes.db", tmp_path / "cams")
    yield w
    w.archive.close()
    w.registry.close()


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)
