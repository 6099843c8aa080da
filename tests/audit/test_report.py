"""JSON, CSV and HTML renderings of the audit over the hand-made world."""

from __future__ import annotations

import csv
import io
import json
from html import escape
from pathlib import Path

import pytest

from audit.fourall import AuditReport, build_report
from audit.report import CSV_COLUMNS, to_csv, to_html, to_json
from sharpeyes.settings import Settings
from tests.audit.html_tree import Node, parse, section
from tests.audit.world import END, KP3_NAME, START, A, B, D, E, World


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
    assert sections == ["summary"] * 17 + ["camera"] * 5 + ["key_point"] * 3
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


@pytest.fixture()
def lenient(world: World, tmp_path: Path) -> AuditReport:
    """Targets at 0: coverage, sharing and availability pass; control still fails (a default password, a refusal)."""
    zero = {k: 0.0 for k in ("coverage_target", "hd_share_target", "sharing_target", "availability_key_target",
                             "availability_other_target", "control_target", "retention_min_days")}
    return build_report(world.registry, world.archive, Settings(data_dir=tmp_path, audit=zero),  # type: ignore[arg-type]
                        START, END, now=END)


def _legend(node: Node) -> dict[str, str]:
    """Legend label → the colour of its swatch (``<i class="sw" style="background:…">``)."""
    out = {}
    for span in node.iter("span"):
        swatch = next((i for i in span.elements if i.tag == "i" and "sw" in i.classes), None)
        if swatch is not None:
            out[span.text.strip()] = swatch.attrs["style"].removeprefix("background:")
    return out


def _only(values: list[str]) -> str:
    """The one value all of ``values`` share."""
    assert values and len(set(values)) == 1, values
    return values[0]


@pytest.mark.parametrize("which", ["report", "lenient"])
def test_html_structure(which: str, request: pytest.FixtureRequest) -> None:
    report: AuditReport = request.getfixturevalue(which)
    page = to_html(report)
    doctype, doc = parse(page)  # parse() fails on badly nested or unclosed elements
    assert doctype.lower() == "doctype html" and page.rstrip().endswith("</html>")
    body = doc.find("body")

    # self-contained: nothing to run or to fetch
    tags = {n.tag for n in doc.iter()}
    assert not tags & {"script", "link", "img", "iframe", "object", "embed", "image", "use", "foreignobject"}, tags
    for node in doc.iter():
        assert not {"href", "src", "srcset", "xlink:href", "action", "data", "poster"} & set(node.attrs), node.tag
        assert not any(name.startswith("on") for name in node.attrs), node.tag
    css = [n.text for n in doc.iter("style")] + [n.attrs["style"] for n in doc.iter() if "style" in n.attrs]
    assert css and not any("@import" in c or "url(" in c for c in css)
    assert "http://" not in page and "https://" not in page

    # the four requirements, each with its status, and each indicator's status, in order
    h1_badge = next(s for s in doc.find("h1").iter("span") if "badge" in s.classes)
    assert h1_badge.classes == {"badge", report.status}
    summary = section(body, "四项要求")[0]
    rows = [tr for tr in summary.find("tbody").elements if tr.tag == "tr"]
    assert len(rows) == sum(len(r.indicators) for r in report.requirements) == 17
    row = iter(rows)
    for req in report.requirements:
        for n, ind in enumerate(req.indicators):
            cells = next(row).elements
            if n == 0:
                head = cells.pop(0)
                assert head.attrs["rowspan"] == str(len(req.indicators))
                assert req.label_zh in head.text and req.label_en in head.text
                assert [s.classes for s in head.iter("span")] == [{"badge", req.status}]
            label, _value, _target, status, note = cells
            assert ind.label_zh in label.text and status.classes == {ind.status}
            assert note.text == ind.note
    assert {r.status for r in report.requirements} == ({"fail"} if which == "report" else {"pass", "fail"})
    assert not any("not_recorded" in n.classes for n in doc.iter("td"))  # every indicator is measured

    # the map: one wedge per camera with every coverage field, one marker per positioned camera, one per key point
    map_nodes = section(body, "覆盖地图")
    legend = _legend(map_nodes[0])
    online_c = legend["在线摄像机 online camera / 已覆盖重点 covered key point"]
    offline_c = legend["离线摄像机 offline camera / 未覆盖重点 uncovered key point"]
    assert online_c != offline_c
    svg_map = map_nodes[1].find("svg")
    assert "coverage map" in svg_map.attrs["aria-label"]
    cams = {c.id: c for c in report.cameras}
    wedges = {w.title.split()[0]: w for w in svg_map.iter("polygon")}
    assert len(wedges) == len(list(svg_map.iter("polygon")))
    assert set(wedges) == {c.id for c in report.cameras if not c.geometry_missing} == {A, B, E}
    for cid, wedge in wedges.items():
        c = cams[cid]
        assert f"heading {c.heading_deg:g}°, fov {c.fov_deg:g}°, range {c.range_m:g} m" in wedge.title
        assert ("在线 online" in wedge.title) is c.online_now
        assert wedge.attrs["fill"] == (online_c if c.online_now else offline_c)
    markers = {m.title.split()[0]: m for m in svg_map.iter("rect")}
    assert set(markers) == {c.id for c in report.cameras if c.longitude is not None and c.latitude is not None}
    assert len(markers) == len(list(svg_map.iter("rect"))) == 3
    dots = list(svg_map.iter("circle"))
    assert len(dots) == len(report.key_points) == 3
    for dot, point in zip(dots, report.key_points, strict=True):
        assert dot.title.startswith(f"{point.name} ({point.id}, {point.kind}): ")
        assert ("已覆盖" in dot.title) is point.covered
        assert dot.attrs["fill"] == (online_c if point.covered else offline_c)
    assert [p.covered for p in report.key_points] == [True, False, False]

    # the chart: per enabled camera with a window, an 在线率 and a 完好率 bar (height ∝ rate) and a target line
    chart_nodes = section(body, "在线率与完好率")
    legend = _legend(chart_nodes[0])
    chart = chart_nodes[1].find("svg")
    charted = [c for c in report.cameras if c.enabled and c.online_rate is not None]
    assert [c.id for c in charted] == [A, B, D, E]
    bars = list(chart.iter("rect"))
    assert len(bars) == 2 * len(charted)
    for (online_bar, intact_bar), c in zip(zip(bars[::2], bars[1::2], strict=True), charted, strict=True):
        assert online_bar.title.startswith(f"{c.id} {c.name}: 在线率 online ")
        assert intact_bar.title.startswith(f"{c.id} {c.name}: 完好率 intact ")
        assert float(online_bar.attrs["height"]) == pytest.approx(200 * (c.online_rate or 0), abs=0.05)
        assert float(intact_bar.attrs["height"]) == pytest.approx(200 * (c.intact_rate or 0), abs=0.05)
    assert _only([b.attrs["fill"] for b in bars[::2]]) == legend["在线率 online rate"]
    assert _only([b.attrs["fill"] for b in bars[1::2]]) == legend["完好率 intact rate"]
    targets = [line for line in chart.iter("line") if line.title.startswith("目标 target")]
    assert [t.title for t in targets] == [f"目标 target {c.target * 100:.2f}%" for c in charted]
    assert all("stroke-dasharray" in t.attrs and t.attrs["y1"] == t.attrs["y2"] for t in targets)
    y_of = {c.target: float(t.attrs["y1"]) for c, t in zip(charted, targets, strict=True)}
    assert len(y_of) == (1 if which == "lenient" else 2)
    if which == "report":
        assert y_of[0.95] > y_of[0.98]  # a lower target is drawn lower
    labels = [t.text for t in chart.iter("text")]
    assert "90.00%" in labels and "80.00%" in labels  # A's 在线率 and 完好率 under its bars

    # untrusted text comes out as text: the key point named '集贸市场 <东门> & "北"（合成）'
    assert escape(KP3_NAME) in page and KP3_NAME not in page and "<东门>" not in page
    points_table = section(body, "重点公共区域")[0]
    assert KP3_NAME in [td.text for td in points_table.iter("td")]


def test_untrusted_names_are_escaped_everywhere(report: AuditReport) -> None:
    hostile = '</title></svg><script>alert(1)</script><img src=x onerror="alert(2)">'
    cameras = [c.model_copy(update={"name": f"{c.name}{hostile}"}) for c in report.cameras]
    points = [p.model_copy(update={"name": hostile, "kind": hostile}) for p in report.key_points]
    evil = report.model_copy(update={"cameras": cameras, "key_points": points, "notes": [*report.notes, hostile]})
    page = to_html(evil)
    _, doc = parse(page)
    tags = {n.tag for n in doc.iter()}
    assert "script" not in tags and "img" not in tags
    assert len(list(doc.iter("svg"))) == 2
    assert not any(name.startswith("on") or name == "src" for n in doc.iter() for name in n.attrs)
    assert hostile not in page
    texts = [n.text for n in doc.iter("td")] + [n.text for n in doc.iter("title")] + [n.text for n in doc.iter("li")]
    assert sum(hostile in t for t in texts) >= len(cameras) + len(points) + 1


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


def test_renderings_are_deterministic(world: World, settings: Settings, report: AuditReport) -> None:
    again = build_report(world.registry, world.archive, settings, START, END, now=END)
    again = again.model_copy(update={"generated_at": report.generated_at})
    for render in (to_json, to_csv, to_html):
        assert render(again) == render(report), render.__name__
