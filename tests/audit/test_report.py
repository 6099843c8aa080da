"""JSON, CSV and HTML renderings of the audit over the hand-made world."""

from __future__ import annotations

import csv
import io
import json
import re
from html import escape

import pytest

from audit.fourall import AuditReport, build_report
from audit.report import CSV_COLUMNS, to_csv, to_html, to_json
from sharpeyes.settings import Settings
from tests.audit.world import END, KP3_NAME, START, A, E, World


@pytest.fixture()
def report(world: World, settings: Settings) -> AuditReport:
    return build_report(world.registry, world.archive, settings, START, END, now=END)


def test_json_round_trip(report: AuditReport) -> None:
    text = to_json(report)
    data = json.loads(text)
    assert data["status"] == "fail" and [r["key"] for r in data["requirements"]] == [
        "coverage", "sharing", "availability", "control"]
    cams = {c["id"]: c for c in data["cameras"]}
    assert cams[A]["online_rate"] == 0.9 and cams[A]["intact_rate"] == 0.8
    assert AuditReport.model_validate_json(text) == report


def test_csv_sections_and_columns(report: AuditReport) -> None:
    text = to_csv(report)
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS and CSV_COLUMNS[0] == "section"
    rows = list(reader)
    sections = [r["section"] for r in rows]
    assert sections == ["summary"] * 14 + ["camera"] * 5 + ["key_point"] * 3
    summary = {r["id"]: r for r in rows if r["section"] == "summary"}
    assert summary["availability.online_other"]["value"] == "1.0"
    assert summary["sharing.networked"]["value"] == "0.25" and summary["sharing.networked"]["status"] == "fail"
    assert summary["control.views_logged"]["status"] == "fail"
    assert summary["control.views_logged"]["value"] == "0.75"
    assert summary["control.scope_violations"]["value"] == "1.0"
    cams = {r["id"]: r for r in rows if r["section"] == "camera"}
    assert (cams[A]["online_rate"], cams[A]["intact_rate"], cams[A]["online_pass"]) == ("0.9", "0.8", "false")
    assert cams[A]["key_points"] == "kp1-crossroads" and cams[A]["target"] == "0.98"
    points = {r["id"]: r for r in rows if r["section"] == "key_point"}
    assert points["kp3-market"]["name"] == KP3_NAME and points["kp3-market"]["cameras"] == E
    assert points["kp3-market"]["covered"] == "false" and points["kp1-crossroads"]["covered"] == "true"


def test_html_is_self_contained_and_escaped(report: AuditReport) -> None:
    page = to_html(report)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("<svg") == 2  # the map and the chart
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "@import" not in page and "url(" not in page
    assert not re.search(r"\ssrc=", page)
    assert escape(KP3_NAME) in page and KP3_NAME not in page  # '<东门>' only as &lt;东门&gt;
    assert "<东门>" not in page
    # map: one wedge per camera with full geometry (A, B, E), one marker per positioned camera, a dot per key point
    map_svg = page[page.index("<svg"):page.index("</svg>")]
    assert map_svg.count("<polygon") == 3 and map_svg.count("<rect") == 3 and map_svg.count("<circle") == 3
    assert map_svg.count('fill="#2e9d57"') == 3  # green: A's wedge and marker (online), KP1 (covered)
    assert map_svg.count('fill="#d2392b"') == 6  # red: B's and E's wedges and markers (offline), KP2, KP3
    assert "<title>" in map_svg
    # chart: two bars per enabled camera with a window (A, B, D, E) and a target line each
    chart = page[page.index("<svg", page.index("</svg>")):]
    chart = chart[:chart.index("</svg>")]
    assert chart.count('fill="#3b7dd8"') == 4 and chart.count('fill="#8e5bd0"') == 4
    assert chart.count('stroke-dasharray="4 3"') == 4
    assert "90.00%" in chart and "80.00%" in chart
    # summary colours
    assert 'class="badge fail"' in page and '<td class="pass">' in page and '<td class="fail">' in page
    assert '<td class="not_recorded">' not in page  # every indicator is measured


def test_html_without_positions(world: World, settings: Settings) -> None:
    from events.archive import Archive
    from registry.store import Registry

    url = world.url.replace("sharpeyes.db", "other.db")
    reg, archive = Registry(url), Archive(url)
    reg.init()
    archive.init()
    page = to_html(build_report(reg, archive, settings, START, END, now=END))
    assert "no camera or key point has a position" in page and "no camera with an audit window" in page
    reg.close()
    archive.close()
