"""``sharpeyes audit`` over the default SQLite database in SHARPEYES_DATA_DIR."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from sharpeyes.cli import main
from tests.audit.world import A, World

WINDOW = ["--since", "2025-06-01T00:00:00+00:00", "--until", "2025-06-01T10:00:00+00:00"]


@pytest.fixture()
def data_dir(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    assert world.url == f"sqlite:///{tmp_path / 'sharpeyes.db'}"  # where the CLI looks without DATABASE_URL
    monkeypatch.setenv("SHARPEYES_DATA_DIR", str(tmp_path))
    for var in ("DATABASE_URL", "SHARPEYES_DATABASE_URL", "SHARPEYES_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_json_to_a_file(data_dir: Path) -> None:
    out = data_dir / "audit.json"
    assert main(["audit", "--format", "json", *WINDOW, "-o", str(out)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["window_start"] == "2025-06-01T00:00:00Z" and data["window_end"] == "2025-06-01T10:00:00Z"
    cams = {c["id"]: c for c in data["cameras"]}
    assert (cams[A]["online_rate"], cams[A]["intact_rate"]) == (0.9, 0.8)
    indicators = {i["key"]: i for r in data["requirements"] for i in r["indicators"]}
    assert indicators["control.actions_logged"]["value"] == 0.75
    assert indicators["coverage.key_points"]["status"] == "fail"


def test_naive_times_are_the_hub_timezone(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--format", "csv", "--since", "2025-06-01T08:00", "--until", "2025-06-01T18:00"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    camera = next(r for r in rows if r["section"] == "camera" and r["id"] == A)
    assert (camera["online_rate"], camera["window_start"]) == ("0.9", "2025-06-01T00:00:00Z")


def test_html_to_stdout_by_default(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", *WINDOW]) == 0
    page = capsys.readouterr().out
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page


def test_bad_window(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--since", "2025-06-02T00:00:00+00:00", "--until", "2025-06-01T00:00:00+00:00"]) == 1
    assert "window is empty" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["audit", "--since", "yesterday"])
    with pytest.raises(SystemExit):
        main(["audit", "--days", "0"])
