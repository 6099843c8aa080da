"""The four-all (四全) audit's report, as pydantic models: what :func:`audit.fourall.build_report` fills in and
``audit/report.py`` renders (JSON, CSV, HTML), and what ``GET /api/audit`` returns.

Owns the shape of the report and the vocabulary of statuses. Holds data only: no indicator arithmetic (that is
``audit/fourall.py``), no reading of the registry or the archive, no rendering.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

from pydantic import Field

from sharpeyes.settings import AuditSettings
from sharpeyes.strict import StrictModel

__all__ = ["AuditReport", "CameraResult", "Comparison", "Indicator", "KeyPointResult", "RequirementKey",
           "RequirementResult", "Status", "Unit"]

log = logging.getLogger(__name__)

Status = Literal["pass", "fail", "not_recorded", "no_data"]
"""pass, fail, not_recorded (the hub does not record it yet) or no_data (nothing to measure)."""
RequirementKey = Literal["coverage", "sharing", "availability", "control"]
"""The four requirements: 全域覆盖, 全网共享, 全时可用, 全程可控."""
Unit = Literal["ratio", "count", "days"]
"""What an indicator's value counts."""
Comparison = Literal[">=", "<="]
"""How an indicator's value is compared with its target."""


class Indicator(StrictModel):
    """One measured (or not yet recordable) indicator of a requirement."""

    key: str = Field(description="Stable identifier, e.g. 'coverage.key_points'.")
    requirement: RequirementKey = Field(description="The four-all requirement it belongs to.")
    label_zh: str = Field(description="Chinese label.")
    label_en: str = Field(description="English label.")
    value: float | None = Field(description="Measured value (a ratio 0..1, a count or days); null when not measured.")
    target: float | None = Field(description="Target the value is compared with; null when there is none.")
    comparison: Comparison = Field(description="Passing means value >= target, or value <= target.")
    unit: Unit = Field(description="What the value counts.")
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
    scope: str | None = Field(None, description="Root code of the jurisdiction subtree the report covers (its "
                                                "cameras, key points, accounts and the records of its centers; "
                                                "comma-separated if several); null: everything (an admin's report).")
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
