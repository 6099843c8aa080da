"""Renderings of an :class:`audit.models.AuditReport`: JSON, CSV and one self-contained HTML page (inline CSS,
inline SVG map of the cameras' field-of-view sectors and the key points, SVG bar chart of 在线率/完好率).

Owns presentation only: every number comes from the report, none is computed here except map and chart
coordinates. Must not read the registry, the archive or any file, and must not reference anything outside the page
(no scripts, fonts, stylesheets, images or links to fetch). All text is escaped.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Iterable
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from audit.geometry import EARTH_RADIUS_M, sector_outline
from audit.models import AuditReport, CameraResult, Indicator, KeyPointResult

log = logging.getLogger(__name__)

CSV_COLUMNS = (
    "section", "id", "name", "requirement", "label_zh", "label_en", "value", "target", "comparison", "unit", "status",
    "note", "jurisdiction_code", "kind", "enabled", "use_type", "longitude", "latitude", "heading_deg", "fov_deg",
    "range_m", "geometry_missing", "online_now", "resolution", "hd", "upper_tier_centers", "key_points", "key_area",
    "cameras", "online_cameras", "covered", "synthetic", "window_start", "window_end", "window_s", "online_s",
    "intact_s", "online_rate", "intact_rate", "online_pass", "intact_pass", "has_credentials", "default_password",
)
"""Columns of :func:`to_csv`, in order. ``section`` is summary (one row per indicator), camera or key_point."""

_STATUS_ZH = {"pass": "达标 pass", "fail": "未达标 fail", "not_recorded": "未记录 not recorded",
              "no_data": "无数据 no data"}


# ------------------------------------------------------------------------------------------------- JSON / CSV
def to_json(report: AuditReport) -> str:
    """The report as JSON (the pydantic model; round-trips with ``AuditReport.model_validate_json``)."""
    return report.model_dump_json(indent=2)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):  # as in the JSON: UTC with a Z
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, list):
        return ";".join(str(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def to_csv(report: AuditReport) -> str:
    """One table: a ``summary`` row per indicator, then a ``camera`` row per camera and a ``key_point`` row per key
    point; columns :data:`CSV_COLUMNS` (cells a row does not use are empty; lists are joined with ';')."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for req in report.requirements:
        for ind in req.indicators:
            writer.writerow({"section": "summary", "id": ind.key, **_row(ind.model_dump(exclude={"key"}))})
    for cam in report.cameras:
        writer.writerow({"section": "camera", **_row(cam.model_dump())})
    for point in report.key_points:
        writer.writerow({"section": "key_point", **_row(point.model_dump())})
    return out.getvalue()


def _row(data: dict[str, object]) -> dict[str, str]:
    unknown = set(data) - set(CSV_COLUMNS)
    if unknown:  # a new report field needs a column
        raise ValueError(f"report fields without a CSV column: {sorted(unknown)}")
    return {k: _cell(v) for k, v in data.items()}


# ------------------------------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei","PingFang SC",sans-serif;margin:1.5em;
color:#1d2733;background:#fafbfc}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.6em 0 .5em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.4em 0;font-size:.9em}th,td{border:1px solid #d0d7de;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#eef1f4}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td.nowrap{white-space:nowrap}
.pass{background:#dcf5e3;color:#135c2a}.fail{background:#fde2e1;color:#8a1c14}
.not_recorded{background:#fff3cd;color:#6b4e00}.no_data{background:#eceff1;color:#4a5560}
.badge{display:inline-block;padding:.1em .6em;border-radius:.8em;font-weight:600}
.meta{color:#4a5560;font-size:.9em}.scroll{overflow-x:auto;max-width:100%}
svg{background:#fff;border:1px solid #d0d7de}svg text{font-size:11px;fill:#1d2733}
.legend span{display:inline-block;margin-right:1.2em;font-size:.85em}
.sw{display:inline-block;width:.9em;height:.9em;vertical-align:middle;margin-right:.3em;border:1px solid #888}
"""

_GREEN, _RED, _GREY = "#2e9d57", "#d2392b", "#8a96a3"
"""Map colours: online camera / covered key point, offline / uncovered (and target lines), no coverage fields."""
_ONLINE_BAR, _INTACT_BAR = "#3b7dd8", "#8e5bd0"
"""Chart colours of the 在线率 and 完好率 bars."""


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    if unit == "count":
        return f"{value:.0f}"
    return f"{value:g}"


def _target(ind: Indicator) -> str:
    if ind.target is None:
        return "—"
    return f"{'≥' if ind.comparison == '>=' else '≤'} {_fmt(ind.target, ind.unit)}"


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def _yes(value: bool | None) -> str:
    return "—" if value is None else ("是 yes" if value else "否 no")


def _badge(status: str) -> str:
    return f'<span class="badge {escape(status)}">{escape(_STATUS_ZH.get(status, status))}</span>'


def _time(dt: datetime | None, tz: ZoneInfo) -> str:
    return "—" if dt is None else dt.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S %Z")


def _short(dt: datetime | None, tz: ZoneInfo) -> str:
    return "—" if dt is None else dt.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _table(head: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """``head`` is escaped here; each row cell is HTML already (callers escape their text)."""
    out = ["<table><thead><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _td(text: str, cls: str = "") -> str:
    return f'<td class="{escape(cls)}">{escape(text)}</td>' if cls else f"<td>{escape(text)}</td>"


def to_html(report: AuditReport) -> str:
    """One self-contained HTML page: summary of the four requirements, map, chart, per-camera and per-key-point
    tables and notes. Nothing is loaded from anywhere else."""
    tz = ZoneInfo(report.timezone)
    window = f"{_time(report.window_start, tz)} – {_time(report.window_end, tz)}"
    parts = [
        '<!DOCTYPE html>\n<html lang="zh-CN"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape('四全审计 Four-all audit ' + window)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>四全审计 Four-all audit {_badge(report.status)}</h1>",
        f'<p class="meta">{escape("窗口 window: " + window)}'
        f"<br>{escape(_scope_line(report))}"
        f"<br>{escape('当前状态时刻 current states at: ' + _time(report.now, tz))}"
        f"<br>{escape('生成 generated: ' + _time(report.generated_at, tz))}</p>",
        "<h2>四项要求 The four requirements</h2>",
        _summary(report),
        "<h2>覆盖地图 Coverage map</h2>",
        f'<p class="legend"><span><i class="sw" style="background:{_GREEN}"></i>在线摄像机 online camera / 已覆盖重点 '
        f'covered key point</span><span><i class="sw" style="background:{_RED}"></i>离线摄像机 offline camera / '
        f'未覆盖重点 uncovered key point</span><span><i class="sw" style="background:{_GREY}"></i>缺覆盖参数 no '
        "coverage fields</span></p>",
        f'<div class="scroll">{svg_map(report)}</div>',
        "<h2>在线率与完好率 Online and intact rates</h2>",
        f'<p class="legend"><span><i class="sw" style="background:{_ONLINE_BAR}"></i>在线率 online rate</span><span>'
        f'<i class="sw" style="background:{_INTACT_BAR}"></i>完好率 intact rate</span><span>- - 目标 target</span></p>',
        f'<div class="scroll">{svg_rates(report.cameras)}</div>',
        "<h2>摄像机 Cameras</h2>",
        f'<div class="scroll">{_cameras_table(report.cameras, tz)}</div>',
        "<h2>重点公共区域 Key points</h2>",
        _points_table(report.key_points),
        "<h2>说明 Notes</h2><ul>",
        *(f"<li>{escape(n)}</li>" for n in report.notes),
        "</ul>",
        f'<p class="meta">{escape(_settings_line(report))}</p>',
        "</body></html>\n",
    ]
    return "".join(parts)


def _scope_line(report: AuditReport) -> str:
    if report.scope is None:
        return "范围 scope: 全部辖区 every jurisdiction"
    return f"范围 scope: {report.scope} 及下级 and below"


def _settings_line(report: AuditReport) -> str:
    s = report.settings
    return (f"targets: coverage {s.coverage_target:g}, HD share {s.hd_share_target:g} (height ≥ {s.hd_min_height}), "
            f"sharing {s.sharing_target:g}, 在线率/完好率 key areas {s.availability_key_target:g}, others "
            f"{s.availability_other_target:g}, control {s.control_target:g}, retention ≥ {s.retention_min_days:g} "
            f"days (retention_days = {report.retention_days:g})")


def _summary(report: AuditReport) -> str:
    rows = []
    for req in report.requirements:
        for n, ind in enumerate(req.indicators):
            head = ""
            if n == 0:
                head = (f'<td rowspan="{len(req.indicators)}">{escape(req.label_zh)}<br>{escape(req.label_en)}<br>'
                        f"{_badge(req.status)}</td>")
            rows.append([head, f"<td>{escape(ind.label_zh)}<br><small>{escape(ind.label_en)}</small></td>",
                         _td(_fmt(ind.value, ind.unit), "num"), _td(_target(ind), "num"),
                         f'<td class="{escape(ind.status)}">{escape(_STATUS_ZH.get(ind.status, ind.status))}</td>',
                         _td(ind.note)])
    return _table(["要求 requirement", "指标 indicator", "值 value", "目标 target", "状态 status", "说明 note"], rows)


def _cameras_table(cameras: list[CameraResult], tz: ZoneInfo) -> str:
    rows = []
    for c in cameras:
        status = "no_data" if c.online_pass is None else ("pass" if c.online_pass and c.intact_pass else "fail")
        rows.append([
            _td(c.id), _td(c.name), _td(c.jurisdiction_code), _td(_yes(c.enabled)),
            _td(_yes(c.online_now), "pass" if c.online_now else "fail"),
            _td(", ".join(c.geometry_missing) or "✓", "fail" if c.geometry_missing else ""),
            _td(c.resolution or "—"), _td(_yes(c.hd)), _td(", ".join(c.upper_tier_centers) or "—"),
            _td(", ".join(c.key_points) or "—"), _td(_yes(c.key_area)), _td(_pct(c.target), "num"),
            _td(_pct(c.online_rate), "num " + ("" if c.online_pass is None else "pass" if c.online_pass else "fail")),
            _td(_pct(c.intact_rate), "num " + ("" if c.intact_pass is None else "pass" if c.intact_pass else "fail")),
            _td(f"{_short(c.window_start, tz)} – {_short(c.window_end, tz)}" if c.window_start else "—", "nowrap"),
            _td(_yes(c.has_credentials)), _td(_yes(c.default_password)),
            f'<td class="{status}">{escape(_STATUS_ZH[status])}</td>',
        ])
    return _table(["编号 id", "名称 name", "辖区 jurisdiction", "启用 enabled", "当前在线 online now",
                   "缺覆盖参数 missing coverage fields", "分辨率 resolution", "高清 HD", "上级中心 upper-tier centers",
                   "覆盖重点 key points", "重点区域 key area", "目标 target", "在线率 online", "完好率 intact",
                   f"窗口 window ({tz.key})", "存有凭据 credentials", "默认密码 default password", "结论 result"], rows)


def _points_table(points: list[KeyPointResult]) -> str:
    rows = [[_td(p.id), _td(p.name), _td(p.kind), _td(p.jurisdiction_code), _td(f"{p.longitude:.6f}", "num"),
             _td(f"{p.latitude:.6f}", "num"), _td(", ".join(p.cameras) or "—"),
             _td(", ".join(p.online_cameras) or "—"), _td(_yes(p.covered), "pass" if p.covered else "fail"),
             _td(_yes(p.synthetic))] for p in points]
    return _table(["编号 id", "名称 name", "类型 kind", "辖区 jurisdiction", "经度 lon", "纬度 lat",
                   "视场内摄像机 cameras seeing it", "其中在线 online", "已覆盖 covered", "合成 synthetic"], rows)


# ------------------------------------------------------------------------------------------------- SVG map
def svg_map(report: AuditReport, width: float = 800.0) -> str:
    """Equirectangular map of the cameras (field-of-view wedges to scale, coloured online/offline, and a marker
    with a heading tick) and the key points (green covered, red not), with ``<title>`` tooltips and a scale bar."""
    wedges: list[tuple[CameraResult, list[tuple[float, float]]]] = []
    markers: list[CameraResult] = []
    for c in report.cameras:
        if c.longitude is None or c.latitude is None:
            continue
        markers.append(c)
        if c.heading_deg is not None and c.fov_deg is not None and c.range_m is not None:
            wedges.append((c, sector_outline(c.longitude, c.latitude, c.heading_deg, c.fov_deg, c.range_m)))
    lons = [c.longitude for c in markers if c.longitude is not None] + [p.longitude for p in report.key_points]
    lats = [c.latitude for c in markers if c.latitude is not None] + [p.latitude for p in report.key_points]
    for _, poly in wedges:
        lons += [x for x, _y in poly]
        lats += [y for _x, y in poly]
    if not lons:
        return ('<svg viewBox="0 0 400 60" width="400" height="60" role="img"><text x="10" y="35">'
                f"{escape('无位置数据 no camera or key point has a position')}</text></svg>")
    lat0 = math.radians((min(lats) + max(lats)) / 2)
    kx = max(math.cos(lat0), 1e-6)
    # extent in metres on the plane, at least 200 m so a lone point gets some context
    m_per_deg = math.pi * EARTH_RADIUS_M / 180.0
    span_x = max((max(lons) - min(lons)) * kx * m_per_deg, 200.0)
    span_y = max((max(lats) - min(lats)) * m_per_deg, 200.0)
    pad = 0.08
    cx, cy = (min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2
    inner_w = width * (1 - 2 * pad)
    height = min(max(inner_w * span_y / span_x / (1 - 2 * pad), 240.0), 900.0)
    scale = min(inner_w / span_x, height * (1 - 2 * pad) / span_y)  # px per metre

    def xy(lon: float, lat: float) -> tuple[float, float]:
        return (width / 2 + (lon - cx) * kx * m_per_deg * scale, height / 2 - (lat - cy) * m_per_deg * scale)

    out = [f'<svg viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" role="img" '
           f'aria-label="{escape("覆盖地图 coverage map")}">']
    for c, poly in wedges:
        colour = _GREEN if c.online_now else _RED
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(lon, lat) for lon, lat in poly))
        tip = f"{c.id} {c.name}: {'在线 online' if c.online_now else '离线 offline'}, heading {c.heading_deg:g}°, " \
              f"fov {c.fov_deg:g}°, range {c.range_m:g} m"
        out.append(f'<polygon points="{pts}" fill="{colour}" fill-opacity="0.3" stroke="{colour}" '
                   f'stroke-width="1"><title>{escape(tip)}</title></polygon>')
    for c in markers:
        assert c.longitude is not None and c.latitude is not None
        x, y = xy(c.longitude, c.latitude)
        colour = _GREY if c.geometry_missing else (_GREEN if c.online_now else _RED)
        state = "在线 online" if c.online_now else "离线 offline"
        missing = f"; 缺 missing {', '.join(c.geometry_missing)}: covers nothing" if c.geometry_missing else ""
        if c.heading_deg is not None:  # which way it looks, visible even where the wedge is too small to see
            rad = math.radians(c.heading_deg)
            out.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x + 11 * math.sin(rad):.1f}" '
                       f'y2="{y - 11 * math.cos(rad):.1f}" stroke="{colour}" stroke-width="2"/>')
        out.append(f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{colour}" stroke="#1d2733" '
                   f'stroke-width="0.8"><title>{escape(f"{c.id} {c.name}: {state}{missing}")}</title></rect>')
    for p in report.key_points:
        x, y = xy(p.longitude, p.latitude)
        colour = _GREEN if p.covered else _RED
        seen = ", ".join(p.online_cameras) if p.covered else "无在线摄像机 no online camera sees it"
        tip = f"{p.name} ({p.id}, {p.kind}): {'已覆盖 covered by ' + seen if p.covered else '未覆盖 ' + seen}"
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour}" stroke="#fff" stroke-width="1.5">'
                   f"<title>{escape(tip)}</title></circle>")
    # scale bar: a round length near 120 px
    raw = 120.0 / scale
    nice = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 5, 10):
        if nice * step >= raw * 0.6:
            nice *= step
            break
    bar = nice * scale
    label = f"{nice / 1000:g} km" if nice >= 1000 else f"{nice:g} m"
    y0 = height - 14
    out.append(f'<line x1="12" y1="{y0:.1f}" x2="{12 + bar:.1f}" y2="{y0:.1f}" stroke="#1d2733" stroke-width="2"/>'
               f'<text x="12" y="{y0 - 5:.1f}">{escape(label)}</text>')
    out.append(f'<text x="{width - 12:.0f}" y="16" text-anchor="end">N ↑</text></svg>')
    return "".join(out)


# ------------------------------------------------------------------------------------------------- SVG chart
def svg_rates(cameras: list[CameraResult]) -> str:
    """Bar chart: per enabled camera with a window, 在线率 and 完好率 (0–100 %), with its target as a dashed line."""
    rows = [c for c in cameras if c.enabled and c.online_rate is not None]
    if not rows:
        return ('<svg viewBox="0 0 400 60" width="400" height="60" role="img"><text x="10" y="35">'
                f"{escape('无可统计的摄像机 no camera with an audit window')}</text></svg>")
    left, top, plot_h, group_w = 48.0, 16.0, 200.0, 64.0
    width = left + group_w * len(rows) + 16
    height = top + plot_h + 70

    def y(v: float) -> float:
        return top + plot_h * (1 - v)

    out = [f'<svg viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" role="img" '
           f'aria-label="{escape("在线率与完好率 online and intact rates")}">']
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        out.append(f'<line x1="{left:.0f}" y1="{y(tick):.1f}" x2="{width - 8:.0f}" y2="{y(tick):.1f}" '
                   f'stroke="#e3e7eb"/><text x="{left - 6:.0f}" y="{y(tick) + 4:.1f}" text-anchor="end">'
                   f"{tick * 100:.0f}%</text>")
    for i, c in enumerate(rows):
        x0 = left + group_w * i + 8
        for j, (value, colour, what) in enumerate(((c.online_rate, _ONLINE_BAR, "在线率 online"),
                                                   (c.intact_rate, _INTACT_BAR, "完好率 intact"))):
            v = max(0.0, min(1.0, value or 0.0))
            bx = x0 + j * 22
            tip = f"{c.id} {c.name}: {what} {_pct(value)} (目标 target {_pct(c.target)})"
            out.append(f'<rect x="{bx:.1f}" y="{y(v):.1f}" width="20" height="{plot_h * v:.1f}" fill="{colour}">'
                       f"<title>{escape(tip)}</title></rect>")
        ty = y(c.target)
        out.append(f'<line x1="{x0 - 4:.1f}" y1="{ty:.1f}" x2="{x0 + 48:.1f}" y2="{ty:.1f}" stroke="{_RED}" '
                   f'stroke-width="1.5" stroke-dasharray="4 3"><title>{escape(f"目标 target {_pct(c.target)}")}'
                   "</title></line>")
        short = c.id[-6:]
        out.append(f'<text x="{x0 + 21:.1f}" y="{top + plot_h + 14:.1f}" text-anchor="middle">{escape(short)}</text>'
                   f'<text x="{x0 + 21:.1f}" y="{top + plot_h + 28:.1f}" text-anchor="middle">'
                   f"{escape(_pct(c.online_rate))}</text>"
                   f'<text x="{x0 + 21:.1f}" y="{top + plot_h + 42:.1f}" text-anchor="middle">'
                   f"{escape(_pct(c.intact_rate))}</text>")
    out.append("</svg>")
    return "".join(out)
