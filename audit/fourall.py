"""The four-all (四全) audit: 全域覆盖 coverage, 全网共享 sharing, 全时可用 availability, 全程可控 control, computed
from what the hub records, as an :class:`AuditReport` (``audit/models.py``) that ``audit/report.py`` renders.

Owns the indicator definitions and their arithmetic: one function per requirement (:func:`coverage`,
:func:`sharing`, :func:`availability`, :func:`control`), composed by :func:`build_report`. What it reads comes from
``audit/sources.py`` (the only module of the audit that queries); the time-weighted sums from ``audit/ledger.py``.
Must not write to any table, talk to Redis, cameras or HTTP, or decrypt credentials. An indicator the hub cannot
measure would be reported as ``not_recorded``, never as a number (none is, at present).

Definitions (targets in :class:`sharpeyes.settings.AuditSettings`):

- A camera's state at time t is its last availability record at or before t; no record: offline. Its quality at t
  is its last quality record at or before t; no record: ok.
- 在线率 of an enabled camera: online time / window, over [max(start, created_at), min(end, now)]; 完好率: time
  online and quality ok / window. A camera is in a key area when ``use_type`` is 3 or its sector contains a key point.
- A key point is covered when an enabled camera whose field-of-view sector contains it is online at ``now``.
- 调阅留痕: access records in the window (views of snapshots and event details, camera exports, audit reports, the
  access log, refused actions) whose user, unit and reason are all non-blank / access records; 越权访问: access
  records in the window with outcome ``refused`` (actions on events of a center they were not delivered to). The
  auth endpoints' records (``login``, ``login_failed``, ``logout``) are in neither: they access no content.
- Identity (全程可控; ``no_data`` when the database has no identity tables): 无弱口令账号 = enabled accounts not
  flagged ``weak_password`` / enabled accounts, target 100 %; 登录留痕 = accounts whose ``last_login_at`` falls in
  the window and that have a ``login`` access record (target = the login) within :data:`LOGIN_MATCH_S` of it /
  accounts whose ``last_login_at`` falls in the window; 认证访问 = access records in the window (``login_failed``
  left out) whose ``user`` is an account's login or ``token:<name>`` of an API token / those records; both against
  ``control_target``.
- Scope: with ``scope`` (a jurisdiction subtree) the report covers the cameras and key points whose jurisdiction is
  in it, the credentials of those cameras, event actions and access records of centers in it and the accounts
  whose jurisdiction is in it; access records without a center (an unknown login's failed attempt, records
  written before accounts existed) only count in an unscoped report. A login counts for 登录留痕 by its account,
  whatever its record's center.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, tzinfo

from audit.geometry import in_sector
from audit.ledger import Ledger, time_true
from audit.models import (
    AuditReport,
    CameraResult,
    Comparison,
    Indicator,
    KeyPointResult,
    RequirementKey,
    RequirementResult,
    Status,
    Unit,
)
from audit.sources import LOGIN_MATCH_S, AccessCounts, IdentityInputs, read_inputs, scope_roots
from events.archive import Archive, as_utc
from registry.models import Camera, CameraCredential, KeyPoint
from registry.store import Registry
from sharpeyes.settings import AuditSettings, Settings

__all__ = ["AuditReport", "AuditSettings", "CameraResult", "Indicator", "KeyPointResult", "RequirementResult",
           "availability", "build_report", "control", "coverage", "identity_indicators", "resolve_window", "sharing"]

log = logging.getLogger(__name__)

_EPSILON = 1e-12
"""Tolerance of a comparison with a target (a rate of exactly 0.98 passes 0.98)."""
_RESOLUTION = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")
_GEOMETRY_FIELDS = ("longitude", "latitude", "heading_deg", "fov_deg", "range_m")
_UPPER_TIER_LENGTHS = (6, 9)  # county, township
_REQUIREMENTS: dict[RequirementKey, tuple[str, str]] = {
    "coverage": ("全域覆盖", "full-area coverage"),
    "sharing": ("全网共享", "network sharing"),
    "availability": ("全时可用", "always available"),
    "control": ("全程可控", "fully controllable"),
}
"""Each requirement's Chinese and English name, in report order."""
_REQUIREMENT_OF: dict[str, RequirementKey] = {key: key for key in _REQUIREMENTS}


# ------------------------------------------------------------------------------------------------- the window
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


# ------------------------------------------------------------------------------------------------- the report
def build_report(registry: Registry, archive: Archive, settings: Settings, start: datetime, end: datetime,
                 now: datetime | None = None, scope: frozenset[str] | None = None) -> AuditReport:
    """The four-all audit of [``start``, ``end``) with current states taken at ``now`` (default: the wall clock),
    of the jurisdiction subtree ``scope`` (a set of codes, e.g. an auditor's ``Principal.scope``; None: all).
    Reads the registry, the archive and the identity tables; writes nothing."""
    cfg = settings.audit
    start, end = as_utc(start), as_utc(end)
    if start >= end:
        raise ValueError(f"audit window is empty: {start.isoformat()} .. {end.isoformat()}")
    generated = datetime.now(UTC)
    now = as_utc(now) if now is not None else generated
    data = read_inputs(registry, archive, start, end, now, scope)
    root = None if scope is None else ", ".join(scope_roots(registry, scope)) or "(empty)"

    enabled = [c for c in data.cameras if c.enabled]
    sees: dict[str, list[str]] = {c.id: [] for c in data.cameras}
    points: list[KeyPointResult] = []
    for p in data.key_points:
        seen_by = [c.id for c in enabled
                   if in_sector(c.longitude, c.latitude, c.heading_deg, c.fov_deg, c.range_m, p.longitude, p.latitude)]
        for cid in seen_by:
            sees[cid].append(p.id)
        points.append(_point_result(p, seen_by, [cid for cid in seen_by if data.online.at(cid, now)]))
    cameras = [
        _camera_result(cam, cfg, start, end, now, sees[cam.id], data.online, data.quality,
                       [code for code in data.centers[cam.jurisdiction_code] if len(code) in _UPPER_TIER_LENGTHS],
                       data.credentials.get(cam.id))
        for cam in data.cameras]
    counted = [r for r in cameras if r.enabled]

    requirements = [
        coverage(points, counted, cfg),
        sharing(counted, cfg),
        availability(counted, cfg),
        control(data.actions, data.access, list(data.credentials.values()), counted, cfg, settings.retention_days,
                data.identity, start, end),
    ]
    report = AuditReport(
        generated_at=generated, now=now, window_start=start, window_end=end, timezone=settings.timezone,
        scope=root, settings=cfg, retention_days=settings.retention_days,
        status=_combine(r.status for r in requirements), requirements=requirements, cameras=cameras,
        key_points=points, notes=_notes(cameras, now, root),
    )
    log.info("audit %s .. %s of %s: %s (%d camera(s), %d key point(s))", start.isoformat(), end.isoformat(),
             root or "everything", report.status, len(cameras), len(points))
    return report


def _notes(cameras: list[CameraResult], now: datetime, root: str | None = None) -> list[str]:
    """What the reader should know about the data behind the numbers."""
    notes: list[str] = []
    if root is not None:
        notes.append(f"scoped to jurisdiction {root} and below: its cameras, key points and accounts, and the event "
                     "actions and access records of its centers; access records without a center (an unknown login's "
                     "failed attempt, records written before accounts existed) are only counted in an unscoped "
                     "report")
    counted = [r for r in cameras if r.enabled]
    no_geometry = [r for r in counted if r.geometry_missing]
    if no_geometry:
        notes.append(f"{len(no_geometry)} enabled camera(s) lack coverage fields and cover nothing: "
                     + ", ".join(f"{r.id} ({', '.join(r.geometry_missing)})" for r in no_geometry))
    empty = [r.id for r in counted if r.window_s <= 0]
    if empty:
        notes.append(f"{len(empty)} camera(s) registered after the window's end (or now), not in 在线率/完好率: "
                     + ", ".join(empty))
    disabled = len(cameras) - len(counted)
    if disabled:
        notes.append(f"{disabled} disabled camera(s) listed but not counted")
    notes.append("current states (online now, coverage) are taken at " + now.isoformat())
    return notes


# ------------------------------------------------------------------------------------------------- 全域覆盖
def coverage(points: list[KeyPointResult], counted: list[CameraResult], cfg: AuditSettings) -> RequirementResult:
    """全域覆盖: key points seen by an online camera now / key points; HD share of the enabled cameras of known
    resolution."""
    covered = sum(1 for p in points if p.covered)
    known_res = [r for r in counted if r.hd is not None]
    hd = sum(1 for r in known_res if r.hd)
    return _requirement("coverage", [
        _indicator("coverage.key_points", "重点区域覆盖率", "key points seen by an online camera",
                   _ratio(covered, len(points)), cfg.coverage_target,
                   note=f"{covered} of {len(points)} key point(s) covered" if points else
                   "no key points declared (key_points: in camera_configs/*.yaml)"),
        _indicator("coverage.hd_share", "高清摄像机占比", f"HD cameras (height ≥ {cfg.hd_min_height})",
                   _ratio(hd, len(known_res)), cfg.hd_share_target,
                   note=f"{hd} of {len(known_res)} camera(s) of known resolution are HD; "
                        f"{len(counted) - len(known_res)} without a recorded resolution"),
    ])


# ------------------------------------------------------------------------------------------------- 全网共享
def sharing(counted: list[CameraResult], cfg: AuditSettings) -> RequirementResult:
    """全网共享: 联网率 (enabled cameras online now); enabled cameras under a township or county center."""
    up_now = sum(1 for r in counted if r.online_now)
    visible = sum(1 for r in counted if r.upper_tier_centers)
    return _requirement("sharing", [
        _indicator("sharing.networked", "联网率", "enabled cameras online through the hub now",
                   _ratio(up_now, len(counted)), cfg.sharing_target,
                   note=f"{up_now} of {len(counted)} enabled camera(s) online"),
        _indicator("sharing.upper_tier", "上级可见率", "cameras visible to a township or county center",
                   _ratio(visible, len(counted)), cfg.sharing_target,
                   note=f"{visible} of {len(counted)} enabled camera(s) under a township/county center"),
    ])


# ------------------------------------------------------------------------------------------------- 全时可用
def availability(counted: list[CameraResult], cfg: AuditSettings) -> RequirementResult:
    """全时可用: the mean 在线率 and 完好率 of the key-area cameras, then of the others, each against its target
    (the note counts the cameras meeting it). Cameras without a window are left out."""
    indicators = []
    for group, label_zh, label_en, target in (
        ("key", "重点区域", "key-area cameras", cfg.availability_key_target),
        ("other", "其他区域", "other cameras", cfg.availability_other_target),
    ):
        members = [r for r in counted if r.key_area == (group == "key") and r.online_rate is not None]
        for what, zh, en in (("online", "在线率", "time-weighted online rate"),
                             ("intact", "完好率", "online with quality ok")):
            rates = [r.online_rate if what == "online" else r.intact_rate for r in members]
            passed = sum(1 for r in members if (r.online_pass if what == "online" else r.intact_pass))
            indicators.append(_indicator(
                f"availability.{what}_{group}", f"{zh}（{label_zh}）", f"{en}, {label_en} (mean)", _mean(rates),
                target, note=f"{passed} of {len(members)} camera(s) meet the target" if members else
                f"no enabled {label_en} with a window"))
    return _requirement("availability", indicators)


# ------------------------------------------------------------------------------------------------- 全程可控
def control(actions: list[tuple[str | None, str | None]], access: AccessCounts, stored: list[CameraCredential],
            counted: list[CameraResult], cfg: AuditSettings, retention_days: float,
            identity: IdentityInputs | None = None, start: datetime | None = None,
            end: datetime | None = None) -> RequirementResult:
    """全程可控: event actions (``actions``: user, reason) logged with user and reason; stored passwords that are
    Fernet tokens; default passwords; retention; access records with user, unit and reason; refused accesses;
    then the identity indicators (:func:`identity_indicators`; ``no_data`` without ``identity``)."""
    logged = sum(1 for user, reason in actions if (user or "").strip() and (reason or "").strip())
    encrypted = sum(1 for c in stored if _is_fernet_token(c.password_token))
    defaults = sum(1 for c in stored if c.default_password)
    no_creds = sum(1 for r in counted if not r.has_credentials)
    return _requirement("control", [
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
        _indicator("control.retention", "保存期限", "retention of events and snapshots", retention_days,
                   cfg.retention_min_days, unit="days",
                   note=f"retention_days = {retention_days:g}, then purged (holds exempt)"),
        _indicator("control.views_logged", "调阅留痕", "accesses (snapshots, event details, exports, audit) logged "
                   "with user, unit and reason", _ratio(access.complete, access.total), cfg.control_target,
                   note=f"{access.complete} of {access.total} access record(s) in the window carry user, unit and "
                        "reason" if access.total else "no access records in the window"),
        _indicator("control.scope_violations", "越权访问", "scope violations (refused access to another center's "
                   "events)", float(access.refused), 0.0, unit="count", comparison="<=",
                   note=f"{access.refused} refused access(es) of {access.total} access record(s) in the window"),
        *identity_indicators(identity, start, end, cfg),
    ])


def identity_indicators(identity: IdentityInputs | None, start: datetime | None, end: datetime | None,
                        cfg: AuditSettings) -> list[Indicator]:
    """全程可控's identity indicators: enabled accounts without a weak password (target 100 %), logins logged and
    access records by an authenticated identity (target ``control_target``). Every one is ``no_data`` when the
    database has no identity tables (``identity`` None) or nothing to measure."""
    missing = "no identity tables in the database (no accounts set up)"
    enabled = [a for a in identity.accounts if a.enabled] if identity else []
    strong = sum(1 for a in enabled if not a.weak_password)
    logged_in = ([a for a in identity.accounts if a.last_login_at is not None and start is not None
                  and end is not None and start <= a.last_login_at < end] if identity else [])
    recorded = sum(1 for a in logged_in if identity and _login_logged(identity, a.login, a.last_login_at))
    accesses = sum(identity.access_users.values()) if identity else 0
    known = sum(n for user, n in identity.access_users.items() if user in identity.known_users) if identity else 0
    return [
        _indicator("control.strong_passwords", "无弱口令账号", "enabled accounts without a default or weak password",
                   _ratio(strong, len(enabled)), 1.0,
                   note=missing if identity is None else
                   f"{strong} of {len(enabled)} enabled account(s) have no weak password; "
                   f"{len(enabled) - strong} must change theirs" if enabled else "no enabled accounts"),
        _indicator("control.logins_logged", "登录留痕", "logins in the window recorded in the access log",
                   _ratio(recorded, len(logged_in)), cfg.control_target,
                   note=missing if identity is None else
                   f"{recorded} of {len(logged_in)} account(s) whose last login falls in the window have a login "
                   f"record within {LOGIN_MATCH_S:g} s of it" if logged_in else "no account logged in during the "
                   "window"),
        _indicator("control.authenticated_access", "认证访问", "access records by an authenticated identity "
                   "(an account or an API token)", _ratio(known, accesses), cfg.control_target,
                   note=missing if identity is None else
                   f"{known} of {accesses} access record(s) in the window (failed logins left out) name an account "
                   "or an API token" if accesses else "no access records in the window"),
    ]


def _login_logged(identity: IdentityInputs, login: str, at: datetime | None) -> bool:
    """A ``login`` record of ``login`` within :data:`LOGIN_MATCH_S` of ``at``."""
    times = identity.logins.get(login, [])
    return at is not None and any(abs((t - at).total_seconds()) <= LOGIN_MATCH_S for t in times)


def _is_fernet_token(token: str) -> bool:
    """Shape of a Fernet token (version 0x80, timestamp, IV, AES blocks, HMAC), checked without the key."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return False
    return len(raw) >= 73 and raw[0] == 0x80 and (len(raw) - 57) % 16 == 0


# ---------------------------------------------------------------------------------------- per camera, key point
def _point_result(p: KeyPoint, seen_by: list[str], up: list[str]) -> KeyPointResult:
    return KeyPointResult(id=p.id, name=p.name, kind=p.kind, jurisdiction_code=p.jurisdiction_code,
                          longitude=p.longitude, latitude=p.latitude, synthetic=bool(p.synthetic), cameras=seen_by,
                          online_cameras=up, covered=bool(up))


def _camera_result(cam: Camera, cfg: AuditSettings, start: datetime, end: datetime, now: datetime,
                   key_points: list[str], online: Ledger, quality: Ledger, centers: list[str],
                   cred: CameraCredential | None) -> CameraResult:
    up = online.of(cam.id)
    key_area = cam.use_type == 3 or bool(key_points)
    target = cfg.availability_key_target if key_area else cfg.availability_other_target
    height = _height(cam.resolution)
    w_start = max(start, as_utc(cam.created_at)) if cam.created_at is not None else start
    w_end = min(end, now)  # the future is not audited
    window_s = max(0.0, (w_end - w_start).total_seconds()) if cam.enabled else 0.0
    online_s = time_true([up], w_start, w_end) if window_s > 0 else 0.0
    intact_s = time_true([up, quality.of(cam.id)], w_start, w_end) if window_s > 0 else 0.0
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
        online_pass=None if online_rate is None else _meets(online_rate, target),
        intact_pass=None if intact_rate is None else _meets(intact_rate, target),
        has_credentials=cred is not None, default_password=bool(cred.default_password) if cred else None,
    )


def _height(resolution: str | None) -> int | None:
    m = _RESOLUTION.match(resolution or "")
    return int(m.group(2)) if m else None


# ------------------------------------------------------------------------------------------------- statuses
def _ratio(num: float, den: float) -> float | None:
    return num / den if den else None


def _mean(values: Iterable[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def _meets(value: float, target: float, comparison: Comparison = ">=") -> bool:
    return value >= target - _EPSILON if comparison == ">=" else value <= target + _EPSILON


def _status(value: float | None, target: float | None, comparison: Comparison = ">=") -> Status:
    if value is None or target is None:
        return "no_data"
    return "pass" if _meets(value, target, comparison) else "fail"


def _combine(statuses: Iterable[Status]) -> Status:
    """fail if any fails; else pass if any passes; else not_recorded if all are; else no_data."""
    found = list(statuses)
    if "fail" in found:
        return "fail"
    if "pass" in found:
        return "pass"
    return "not_recorded" if found and all(s == "not_recorded" for s in found) else "no_data"


def _indicator(key: str, label_zh: str, label_en: str, value: float | None, target: float | None, *,
               unit: Unit = "ratio", comparison: Comparison = ">=", note: str = "",
               status: Status | None = None) -> Indicator:
    requirement = _REQUIREMENT_OF.get(key.split(".", 1)[0])
    if requirement is None:
        raise ValueError(f"indicator {key!r} names no requirement")
    return Indicator(key=key, requirement=requirement, label_zh=label_zh, label_en=label_en, value=value,
                     target=target, comparison=comparison, unit=unit,
                     status=status or _status(value, target, comparison), note=note)


def _requirement(key: RequirementKey, indicators: list[Indicator]) -> RequirementResult:
    label_zh, label_en = _REQUIREMENTS[key]
    return RequirementResult(key=key, label_zh=label_zh, label_en=label_en,
                             status=_combine(i.status for i in indicators),
                             not_recorded=sum(1 for i in indicators if i.status == "not_recorded"),
                             indicators=indicators)
