"""Fixtures of the audit tests: the hand-made world of ``world.py`` in a tmp SQLite database (on both engines in
the modules that say so), default settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sharpeyes.settings import Settings
from tests.audit.world import World, world_at


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[World]:
    """The world on SQLite; test_fourall, test_scope and test_identity_indicators override it with one on each
    engine (SQLite, PostgreSQL)."""
    yield from world_at(tmp_path / "sharpeyes.db", tmp_path)


@pytest.fixture()
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)
