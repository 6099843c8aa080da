"""The four-all (四全) audit: 全域覆盖 coverage, 全网共享 sharing, 全时可用 availability, 全程可控 control, computed
from what the hub records, as an :class:`AuditReport` (pydantic) that ``audit/report.py`` renders.

Owns the indicator definitions and their arithmetic. Reads only: the registry (cameras, key points, jurisdiction
tree, credentials rows, availability and quality ledgers) and the event archive's action log and access log. Must
not write to any table, talk to Redis, cameras or HTTP, or decrypt credentials. An indicator the hub cannot measure
would be reported as ``not_recorded``, never as a number (none is, at present).

Definitions (targets in :class:`sharpeyes.settings.AuditSettings`):

- A camera's state at time t is its last availability record at or before t; no record: offline. Its quality at t
  is its last quality record at or before t; no record: ok.
- 在线率 of an enabled camera: online time / window, over [max(start, created_at), min(end, now)]; 完好率: time
  online and quality ok / window. A camera is in a key area when ``use_type`` is 3 or its sector contains a key point.
- A key point is covered when an enabled camera whose field-of-view sector contains it is online at ``now``.
- 调阅留痕: access records in the window (views of snapshots and event details, camera exports, audit reports, the
  access log, refused actions) whose user, unit and reason are all non-blank / access records; 越权访问: access
  records in the window with outcome ``refused`` (actions on events of a center they were not delivered to).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from itertools import pairwise
from typing import Literal, TypeVar

from pydantic import Field
from sqlalchemy import ColumnElement, and_, case, func, select
from sqlalchemy.orm import InstrumentedAttribute

from audit.geometry import in_sector
from events.archive import AccessRecord, Archive, EventAction, as_utc
from registry.models import AvailabilityRecord, Camera, CameraCredential, KeyPoint, QualityRecord
from registry.store import Registry
from sharpeyes.settings import AuditSettings, Settings
from sharpeyes.strict import StrictModel

__all__ = ["AuditReport", "AuditSettings", "CameraResult", "Indicator", "KeyPointResult", "RequirementResult",
           "build_report", "resolve_window"]

log = logging.getLogger(__name__)

Status = Literal["pass", "fail", "not_recorded", "no_data"]
RequirementKey = Literal["coverage", "sharing", "availability", "control"]
T = TypeVar("T")

_RESOLUTION = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")
_GEOMETRY_FIELDS = ("longitude", "latitude", "heading_deg", "fov_deg", "range_m")
_UPPER_TIER_LENGTHS = (6, 9)  # county, township
_REQUIREMENT_OF: dict[str, RequirementKey] = {
    "coverage": "coverage", "sharing": "sharing", "availability": "availability", "control": "control"}


# ------------------------------------------------------------------------------------------------- models
class Indicator(StrictModel):
    """One measured (or not yet recordable) indicator of a requirement."""

    key: str = Field(description="Stable identifier, e.g. 'coverage.key_points'.")
    requirement: RequirementKey = Field(description="The four-all requirement it belongs to.")
    label_zh: str = Field(description="Chinese label.")
    label_en: str = Field(description="English label.")
    value: float | None = Field(description="Measured value (a ratio 0..1, a count or days); null when not measured.")
    target: float | None = Field(description="Target the value is compared with; null when there is none.")
    comparison: Literal[">=", "<="] = Field(description="Passing means value >= target, or value <= target.")
    unit: Literal["ratio", "count", "days"] = Field(description="What the value counts.")
    status: Status = Field(description="pass, fail, not_recorded (the hub does not record it yet) or no_data "
                                       "(nothing to measure, e.g. no key points declared).")
    note: str = Field("", description="Counts behind the value, or why it is not measured.")


class RequirementResult(StrictModel):
    """One of the four requirements with its indicators."""

    key: RequirementKey = Field(description="coverage, sharing, availability or control.")
    label_zh: str = Field(description="Chinese name, e.g. 全域覆盖.")
    label_en: str = Field(description="English name, e.g. full-area coverage.")
    status: Status = Field(description="fail if an indicator fails; else pass if one passes; else no_data or "
                                       "not_recorded.")
    not_recorded: int = Field(description="How many of its indicators the hub does not record yet.")
    indicators: list[Indicator] = Field(description="Its indicators.")


class KeyPointResult(StrictModel):
    """Coverage of one key public area (重点公共区域)."""

    id: str = Field(description="Key point id (slug).")
    name: str = Field(description="Name.")
    kind: str = Field(description="crossroads, square, school, hospital, station, market, government or other.")
    jurisdiction_code: str = Field(description="Civil code of the node it lies in.")
    longitude: float = Field(description="WGS-84 longitude.")
    latitude: float = Field(description="WGS-84 latitude.")
    synthetic: bool = Field(description="True for made-up demo/test points.")
    cameras: list[str] = Field(description="Enabled cameras whose field-of-view sector contains it.")
    online_cameras: list[str] = Field(description="Those of ``cameras`` online at the report's ``now``.")
    covered: bool = Field(description="At least one of its cameras is online at ``now``.")


class CameraResult(StrictModel):
    """One camera's part in every requirement."""

    id: str = Field(description="GB/T 28181 camera id.")
    name: str = Field(description="Camera name.")
    jurisdiction_code: str = Field(description="Civil code of the node it belongs to.")
    enabled: bool = Field(description="Disabled cameras are listed but not counted in any indicator.")
    use_type: int | None = Field(description="Catalog use type: 1 public order, 2 traffic, 3 key area.")
    longitude: float | None = Field(description="WGS-84 longitude.")
    latitude: float | None = Field(description="WGS-84 latitude.")
    heading_deg: float | None = Field(description="Optical axis bearing, degrees from north.")
    fov_deg: float | None = Field(description="Horizontal field of view, degrees.")
    range_m: float | None = Field(description="Useful range, metres.")
    geometry_missing: list[str] = Field(description="Coverage fields it lacks; a camera lacking any covers nothing.")
    online_now: bool = Field(description="Its last availability record at or before ``now`` says online.")
    resolution: str | None = Field(description="Main-stream resolution WIDTHxHEIGHT, when known.")
    hd: bool | None = Field(description="Height >= hd_min_height; null when the resolution is unknown.")
    upper_tier_centers: list[str] = Field(description="County/township centers on its jurisdiction path.")
    key_points: list[str] = Field(description="Key points its sector contains.")
    key_area: bool = Field(description="use_type 3, or its sector contains a key point: the key-area target applies.")
    target: float = Field(description="在线率/完好率 target that applies to it.")
    window_start: datetime | None = Field(description="Start of its window: max(report start, created_at).")
    window_end: datetime | None = Field(description="End of its window: min(report end, now).")
    window_s: float = Field(description="Length of its window in seconds (0 when created after the end).")
    online_s: float = Field(description="Seconds online in the window.")
    intact_s: float = Field(description="Seconds online with quality ok in the window.")
    online_rate: float | None = Field(description="在线率 = online_s / window_s; null for an empty window.")
    intact_rate: float | None = Field(description="完好率 = intact_s / window_s; null for an empty window.")
    online_pass: bool | None = Field(description="在线率 >= target; null when not measured.")
    intact_pass: bool | None = Field(description="完好率 >= target; null when not measured.")
    has_credentials: bool = Field(description="Device credentials are stored in the vault.")
    default_password: bool | None = Field(description="Its stored password is a known default; null when none "
                                                      "is stored.")


class AuditReport(StrictModel):
    """The four-all audit of one time window."""

    generated_at: datetime = Field(description="When the report was built (UTC).")
    now: datetime = Field(description="Instant at which current states (online now, coverage) are taken.")
    window_start: datetime = Field(description="Start of the audited window (UTC).")
    window_end: datetime = Field(description="End of the audited window (UTC).")
    timezone: str = Field(description="The hub's timezone, for showing times.")
    settings: AuditSettings = Field(description="Targets used.")
    retention_days: float = Field(description="The hub's retention_days setting.")
    status: Status = Field(description="fail if any requirement fails, else pass if any passes, else no_data.")
    requirements: list[RequirementResult] = Field(description="The four requirements, in order.")
    cameras: list[CameraResult] = Field(description="Every registered camera, by id.")
    key_points: list[KeyPointResult] = Field(description="Every key point, by id.")
    notes: list[str] = Field(description="What the reader should know about the data behind the numbers.")

    def indicator(self, key: str) -> Indicator:
        """The indicator with ``key`` (e.g. 'availability.online_key'); KeyError if none."""
        for req in self.requirements:
            for ind in req.indicators:
                if ind.key == key:
                    return ind
        raise KeyError(key)


# ------------------------------------------------------------------------------------------------- time
def _aware(dt: datetime, tz: tzinfo) -> datetime:
    return (dt.replace(tzinfo=tz) if dt.tzinfo is None else dt).astimezone(UTC)


def resolve_window(*, days: float = 30, since: datetime | None = None, until: datetime | None = None,
                   now: datetime | None = None, tz: tzinfo = UTC) -> tuple[datetime, datetime]:
    """The audited window in UTC: ``until`` (default ``now``) back to ``since`` (default ``days`` before the end).
    Naive datetimes are read in ``tz`` (the hub's timezone). Raises ValueError when it would be empty."""
    if days <= 0:
        raise ValueError(f"days must be > 0, not {days:g}")
    end = _aware(until, tz) if until is not None else as_utc(now or datetime.now(UTC))
    start = _aware(since, tz) if since is not None else end - timedelta(days=days)
    if start >= end:
        raise ValueError(f"audit window is empty: since {start.isoformat()} is not before until {end.isoformat()}")
    return start, end


@dataclass(frozen=True)
class _Step:
    """A piecewise-constant function of time from a ledger: ``initial`` before the first change."""

    times: list[datetime]
    values: list[bool]
    initial: bool

    def at(self, t: datetime) -> bool:
        i = bisect_right(self.times, t)
        return self.values[i - 1] if i else self.initial

    def changes_in(self, start: datetime, end: datetime) -> list[datetime]:
        return [t for t in self.times if start < t < end]


def _time_true(steps: Sequence[_Step], start: datetime, end: datetime) -> float:
    """Seconds in [start, end) during which every step function is true."""
    cuts = sorted({start, end, *(t for s in steps for t in s.changes_in(start, end))})
    total = 0.0
    for a, b in pairwise(cuts):
        if all(s.at(a) for s in steps):
            total += (b - a).total_seconds()
    return total


# ------------------------------------------------------------------------------------------------- reading
def _ledger_rows(registry: Registry, model: type[AvailabilityRecord] | type[QualityRecord], since: datetime,
                 end: datetime) -> list[tuple[str, datetime, bool]]:
    """(camera id, at, value) of ``model``'s ledger: each camera's last record at or before ``since`` and every
    record after it up to ``end``, in time order per camera. The value is online? or quality ok?"""
    rank = func.row_number().over(partition_by=model.camera_id, order_by=(model.at.desc(), model.id.desc()))
    before = select(model.id, rank.label("rank")).where(model.at <= since).subquery()
    first_ids = select(before.c.id).where(before.c.rank == 1)
    value = AvailabilityRecord.state == "online" if model is AvailabilityRecord else QualityRecord.ok
    query = (select(model.camera_id, model.at, value)
             .where(model.id.in_(first_ids) | ((model.at > since) & (model.at <= end)))
             .order_by(model.camera_id, model.at, model.id))
    with registry.sessions() as s:
        return [(cid, as_utc(at), bool(v)) for cid, at, v in s.execute(query)]


def _steps(rows: list[tuple[str, datetime, bool]], initial: bool) -> dict[str, _Step]:
    times: dict[str, list[datetime]] = {}
    values: dict[str, list[bool]] = {}
    for cid, at, value in rows:
        times.setdefault(cid, []).append(at)
        values.setdefault(cid, []).append(value)
    return {cid: _Step(times[cid], values[cid], initial) for cid in times}


def _is_fernet_token(token: str) -> bool:
    """Shape of a Fernet token (version 0x80, timestamp, IV, AES blocks, HMAC), checked without the key."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    return len(raw) >= 73 and raw[0] == 0x80 and (len(raw) - 57) % 16 == 0


def _height(resolution: str | None) -> int | None:
    m = _RESOLUTION.match(resolution or "")
    return int(m.group(2)) if m else None


def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _status(value: float | None, target: float | None, comparison: str = ">=") -> Status:
    if value is None or target is None:
        return "no_data"
    ok = value >= target - 1e-12 if comparison == ">=" else value <= target + 1e-12
    return "pass" if ok else "fail"


def _combine(statuses: Iterable[Status]) -> Status:
    found = list(statuses)
    if "fail" in found:
        return "fail"
    if "pass" in found:
        return "pass"
    return "not_recorded" if found and all(s == "not_recorded" for s in found) else "no_data"


def _mean(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _indicator(key: str, label_zh: str, label_en: str, value: float | None, target: float | None, *,
               unit: Literal["ratio", "count", "days"] = "ratio", comparison: Literal[">=", "<="] = ">=",
               note: str = "", status: Status | None = None) -> Indicator:
    return Indicator(key=key, requirement=_REQUIREMENT_OF[key.split(".", 1)[0]], label_zh=label_zh,
                     label_en=label_en, value=value, target=target, comparison=comparison, unit=unit,
                     status=status or _status(value, target, comparison), note=note)


# ------------------------------------------------------------------------------------------------- the report
def build_report(registry: Registry, archive: Archive, settings: Settings, start: datetime, end: datetime,
                 now: datetime | None = None) -> AuditReport:
    """The four-all audit of [``start``, ``end``) with current states taken at ``now`` (default: the wall clock).
    Reads the registry and the archive; writes nothing."""
    cfg = settings.audit
    start, end = as_utc(start), as_utc(end)
    if start >= end:
        raise ValueError(f"audit window is empty: {start.isoformat()} .. {end.isoformat()}")
    generated = datetime.now(UTC)
    now = as_utc(now) if now is not None else generated
    cameras = registry.cameras()
    points = registry.key_points()
    with registry.sessions() as s:
        creds = {c.camera_id: c for c in s.scalars(select(CameraCredential))}
    since, until = min(start, now), max(end, now)
    online = _steps(_ledger_rows(registry, AvailabilityRecord, since, until), initial=False)  # no record: offline
    quality = _steps(_ledger_rows(registry, QualityRecord, since, until), initial=True)  # no record: ok
    notes: list[str] = []

    def online_at(cam_id: str, t: datetime) -> bool:
        step = online.get(cam_id)
        return step.at(t) if step is not None else False

    enabled = [c for c in cameras if c.enabled]
    centers_on_path: dict[str, list[str]] = {}
    for code in {c.jurisdiction_code for c in cameras}:
        centers_on_path[code] = [n.code for n in registry.jurisdiction_path(code)
                                 if n.has_center and len(n.code) in _UPPER_TIER_LENGTHS]

    # 全域覆盖 -------------------------------------------------------------------------------------------
    sees: dict[str, list[str]] = {c.id: [] for c in cameras}
    point_results: list[KeyPointResult] = []
    for p in points:
        seen_by = [c.id for c in enabled
                   if in_sector(c.longitude, c.latitude, c.heading_deg, c.fov_deg, c.range_m, p.longitude, p.latitude)]
        for cid in seen_by:
            sees[cid].append(p.id)
        up = [cid for cid in seen_by if online_at(cid, now)]
        point_results.append(_point_result(p, seen_by, up))
    covered = sum(1 for p in point_results if p.covered)

    # per camera -----------------------------------------------------------------------------------------
    results: list[CameraResult] = []
    for cam in cameras:
        results.append(_camera_result(cam, cfg, start, end, now, sees[cam.id], online, quality,
                                      centers_on_path[cam.jurisdiction_code], creds.get(cam.id)))
    counted = [r for r in results if r.enabled]
    no_geometry = [r for r in counted if r.geometry_missing]
    if no_geometry:
        notes.append(f"{len(no_geometry)} enabled camera(s) lack coverage fields and cover nothing: "
                     + ", ".join(f"{r.id} ({', '.join(r.geometry_missing)})" for r in no_geometry))
    empty = [r.id for r in counted if r.window_s <= 0]
    if empty:
        notes.append(f"{len(empty)} camera(s) registered after the window's end (or now), not in 在线率/完好率: "
                     + ", ".join(empty))
    disabled = len(results) - len(counted)
    if disabled:
        notes.append(f"{disabled} disabled camera(s) listed but not counted")
    notes.append("current states (online now, coverage) are taken at " + now.isoformat())

    known_res = [r for r in counted if r.hd is not None]
    hd = sum(1 for r in known_res if r.hd)
    coverage = [
        _indicator("coverage.key_points", "重点区域覆盖率", "key points seen by an online camera",
                   _ratio(covered, len(points)), cfg.coverage_target,
                   note=f"{covered} of {len(points)} key point(s) covered" if points else
                   "no key points declared (key_points: in camera_configs/*.yaml)"),
        _indicator("coverage.hd_share", "高清摄像机占比", f"HD cameras (height ≥ {cfg.hd_min_height})",
                   _ratio(hd, len(known_res)), cfg.hd_share_target,
                   note=f"{hd} of {len(known_res)} camera(s) of known resolution are HD; "
                        f"{len(counted) - len(known_res)} without a recorded resolution"),
    ]

    # 全网共享 -------------------------------------------------------------------------------------------
    up_now = sum(1 for r in counted if r.online_now)
    visible = sum(1 for r in counted if r.upper_tier_centers)
    sharing = [
        _indicator("sharing.networked", "联网率", "enabled cameras online through the hub now",
                   _ratio(up_now, len(counted)), cfg.sharing_target,
                   note=f"{up_now} of {len(counted)} enabled camera(s) online"),
        _indicator("sharing.upper_tier", "上级可见率", "cameras visible to a township or county center",
                   _ratio(visible, len(counted)), cfg.sharing_target,
                   note=f"{visible} of {len(counted)} enabled camera(s) under a township/county center"),
    ]

    # 全时可用 -------------------------------------------------------------------------------------------
    availability = []
    for group, label_zh, label_en, target in (
        ("key", "重点区域", "key-area cameras", cfg.availability_key_target),
        ("other", "其他区域", "other cameras", cfg.availability_other_target),
    ):
        members = [r for r in counted if r.key_area == (group == "key") and r.online_rate is not None]
        for what, zh, en in (("online", "在线率", "time-weighted online rate"),
                             ("intact", "完好率", "online with quality ok")):
            rates = [r.online_rate if what == "online" else r.intact_rate for r in members]
            passed = sum(1 for r in members if (r.online_pass if what == "online" else r.intact_pass))
            availability.append(_indicator(
                f"availability.{what}_{group}", f"{zh}（{label_zh}）", f"{en}, {label_en} (mean)", _mean(rates),
                target, note=f"{passed} of {len(members)} camera(s) meet the target" if members else
                f"no enabled {label_en} with a window"))

    # 全程可控 -------------------------------------------------------------------------------------------
    with archive.sessions() as s:
        actions = list(s.execute(select(EventAction.user, EventAction.reason)
                                 .where(EventAction.at >= start, EventAction.at < end)))
    accesses, complete, refused = _access_counts(archive, start, end)
    logged = sum(1 for user, reason in actions if (user or "").strip() and (reason or "").strip())
    stored = list(creds.values())
    encrypted = sum(1 for c in stored if _is_fernet_token(c.password_token))
    defaults = sum(1 for c in stored if c.default_password)
    no_creds = sum(1 for r in counted if not r.has_credentials)
    control = [
        _indicator("control.actions_logged", "处置留痕率", "event actions logged with user, center and reason",
                   _ratio(logged, len(actions)), cfg.control_target,
                   note=f"{logged} of {len(actions)} action(s) (ack/resolve/escalate/hold/release) in the window"
                   if actions else "no event actions in the window"),
        _indicator("control.credentials_encrypted", "密码加密存储", "stored camera passwords encrypted (Fernet)",
                   _ratio(encrypted, len(stored)), 1.0,
                   note=f"{encrypted} of {len(stored)} stored password(s) are Fernet tokens" if stored else
                   "no camera credentials stored"),
        _indicator("control.default_passwords", "默认密码", "cameras with a default password", float(defaults), 0.0,
                   unit="count", comparison="<=",
                   note=f"{defaults} of {len(stored)} stored credential(s) use a default password; "
                        f"{no_creds} enabled camera(s) have no stored credentials (not checked)"),
        _indicator("control.retention", "保存期限", "retention of events and snapshots", settings.retention_days,
                   cfg.retention_min_days, unit="days",
                   note=f"retention_days = {settings.retention_days:g}, then purged (holds exempt)"),
        _indicator("control.views_logged", "调阅留痕", "accesses (snapshots, event details, exports, audit) logged "
                   "with user, unit and reason", _ratio(complete, accesses), cfg.control_target,
                   note=f"{complete} of {accesses} access record(s) in the window carry user, unit and reason"
                   if accesses else "no access records in the window"),
        _indicator("control.scope_violations", "越权访问", "scope violations (refused access to another center's "
                   "events)", float(refused), 0.0, unit="count", comparison="<=",
                   note=f"{refused} refused access(es) of {accesses} access record(s) in the window"),
    ]

    requirements = [
        _requirement("coverage", "全域覆盖", "full-area coverage", coverage),
        _requirement("sharing", "全网共享", "network sharing", sharing),
        _requirement("availability", "全时可用", "always available", availability),
        _requirement("control", "全程可控", "fully controllable", control),
    ]
    report = AuditReport(
        generated_at=generated, now=now, window_start=start, window_end=end, timezone=settings.timezone,
        settings=cfg, retention_days=settings.retention_days, status=_combine(r.status for r in requirements),
        requirements=requirements, cameras=results, key_points=point_results, notes=notes,
    )
    log.info("audit %s .. %s: %s (%d camera(s), %d key point(s))", start.isoformat(), end.isoformat(),
             report.status, len(results), len(point_results))
    return report


def _access_counts(archive: Archive, start: datetime, end: datetime) -> tuple[int, int, int]:
    """(access records, those with non-blank user, unit and reason, refused ones) with ``start`` <= at < ``end``."""

    def filled(column: InstrumentedAttribute[str]) -> ColumnElement[bool]:
        return func.trim(func.coalesce(column, "")) != ""

    complete = case((and_(filled(AccessRecord.user), filled(AccessRecord.unit), filled(AccessRecord.reason)), 1),
                    else_=0)
    refused = case((AccessRecord.outcome == "refused", 1), else_=0)
    query = (select(func.count(), func.coalesce(func.sum(complete), 0), func.coalesce(func.sum(refused), 0))
             .where(AccessRecord.at >= start, AccessRecord.at < end))
    with archive.sessions() as s:
        total, done, bad = s.execute(query).one()
    return int(total), int(done), int(bad)


def _requirement(key: RequirementKey, zh: str, en: str, indicators: list[Indicator]) -> RequirementResult:
    return RequirementResult(key=key, label_zh=zh, label_en=en, status=_combine(i.status for i in indicators),
                             not_recorded=sum(1 for i in indicators if i.status == "not_recorded"),
                             indicators=indicators)


def _point_result(p: KeyPoint, seen_by: list[str], up: list[str]) -> KeyPointResult:
    return KeyPointResult(id=p.id, name=p.name, kind=p.kind, jurisdiction_code=p.jurisdiction_code,
                          longitude=p.longitude, latitude=p.latitude, synthetic=bool(p.synthetic), cameras=seen_by,
                          online_cameras=up, covered=bool(up))


def _camera_result(cam: Camera, cfg: AuditSettings, start: datetime, end: datetime, now: datetime,
                   key_points: list[str], online: dict[str, _Step], quality: dict[str, _Step],
                   centers: list[str], cred: CameraCredential | None) -> CameraResult:
    no_record = _Step([], [], False)
    ok_always = _Step([], [], True)
    up = online.get(cam.id, no_record)
    key_area = cam.use_type == 3 or bool(key_points)
    target = cfg.availability_key_target if key_area else cfg.availability_other_target
    height = _height(cam.resolution)
    w_start = max(start, as_utc(cam.created_at)) if cam.created_at is not None else start
    w_end = min(end, now)  # the future is not audited
    window_s = max(0.0, (w_end - w_start).total_seconds()) if cam.enabled else 0.0
    online_s = _time_true([up], w_start, w_end) if window_s > 0 else 0.0
    intact_s = _time_true([up, quality.get(cam.id, ok_always)], w_start, w_end) if window_s > 0 else 0.0
    online_rate = _ratio(online_s, window_s)
    intact_rate = _ratio(intact_s, window_s)
    return CameraResult(
        id=cam.id, name=cam.name, jurisdiction_code=cam.jurisdiction_code, enabled=cam.enabled,
        use_type=cam.use_type, longitude=cam.longitude, latitude=cam.latitude, heading_deg=cam.heading_deg,
        fov_deg=cam.fov_deg, range_m=cam.range_m,
        geometry_missing=[f for f in _GEOMETRY_FIELDS if getattr(cam, f) is None],
        online_now=up.at(now), resolution=cam.resolution,
        hd=None if height is None else height >= cfg.hd_min_height, upper_tier_centers=centers,
        key_points=key_points, key_area=key_area, target=target,
        window_start=w_start if cam.enabled and window_s > 0 else None,
        window_end=w_end if cam.enabled and window_s > 0 else None,
        window_s=window_s, online_s=online_s, intact_s=intact_s, online_rate=online_rate, intact_rate=intact_rate,
        online_pass=None if online_rate is None else online_rate >= target - 1e-12,
        intact_pass=None if intact_rate is None else intact_rate >= target - 1e-12,
        has_credentials=cred is not None, default_password=bool(cred.default_password) if cred else None,
    )
