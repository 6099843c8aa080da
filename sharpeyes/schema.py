"""The event contract (docs/domain.md §Events): one JSON object per event, identical on every stream and in the archive.

Producers build :class:`Event`; consumers parse it with :meth:`Event.from_json`, which rejects unknown fields and
other schema versions. Consumers must be idempotent by ``id`` (delivery is at least once).
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import ConfigDict, Field, field_validator
from ulid import ULID

from sharpeyes.strict import StrictModel

SCHEMA_VERSION = 1

_id_lock = threading.Lock()
_last_id = 0


def new_event_id() -> str:
    """A ULID, strictly increasing within this process (same millisecond: random part + 1), so ids sort in
    creation order — the archive pages and lists by id."""
    global _last_id
    with _id_lock:
        candidate = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
        if candidate <= _last_id:
            candidate = _last_id + 1
        _last_id = candidate
    return str(ULID.from_int(candidate))


class EventType(StrEnum):
    ZONE_INTRUSION = "zone_intrusion"
    CROWD_GATHERING = "crowd_gathering"
    LINE_CROSSING = "line_crossing"
    LOITERING = "loitering"
    FALL = "fall"
    ILLEGAL_PARKING = "illegal_parking"
    LEFT_OBJECT = "left_object"
    CAMERA_OFFLINE = "camera_offline"
    CAMERA_ONLINE = "camera_online"
    QUALITY_FAULT = "quality_fault"  # detail: fault (signal_loss, freeze, blur, ...) and the measures


class Severity(StrEnum):
    INFO = "info"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"


Box = Annotated[list[float], Field(min_length=4, max_length=4, description="x1, y1, x2, y2 in pixels")]


class EventObject(StrictModel):
    model_config = ConfigDict(frozen=True)

    cls: str = Field(description="Canonical class name, e.g. 'person'.")
    confidence: float = Field(ge=0.0, le=1.0, description="Detector confidence.")
    box: Box
    track_id: int | None = Field(None, description="Tracker id, stable across frames of one camera.")


class SnapshotRef(StrictModel):
    model_config = ConfigDict(frozen=True)

    ref: str = Field(description="Path of the JPEG relative to the snapshot root; served at /snapshots/<ref>.")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the JPEG bytes.")
    width: int = Field(gt=0)
    height: int = Field(gt=0)


class Event(StrictModel):
    """One incident or camera-state change."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: new_event_id(), description="ULID: unique and time-sortable.")
    schema_version: int = Field(SCHEMA_VERSION, description="Version of this contract.")
    type: EventType
    severity: Severity
    camera_id: str = Field(pattern=r"^\d{20}$", description="GB/T 28181 20-digit device ID.")
    camera_name: str = Field("", description="Human-readable camera name at the time of the event.")
    civil_codes: list[str] = Field(
        description="Civil codes of the camera's jurisdiction path, county first (county, township, village/grid)."
    )
    occurred_at: datetime = Field(description="UTC time of the frame that triggered the event (ms precision).")
    objects: list[EventObject] = Field(default_factory=list)
    zone: str | None = Field(None, description="Name of the rule zone involved, if any.")
    rule: str | None = Field(None, description="Name of the rule that fired, if any.")
    snapshot: SnapshotRef | None = None
    detail: dict[str, float | int | str] = Field(default_factory=dict, description="Rule-specific figures.")
    escalated_from: str | None = Field(
        None, description="Set on a copy delivered one tier up: the center code it was escalated from."
    )
    updated_at: datetime | None = Field(
        None, description="Set on a later state of the same incident (same id): UTC time of that update."
    )
    ended_at: datetime | None = Field(None, description="UTC time the incident ended; unset while it goes on.")

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v != SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {v} (this hub speaks {SCHEMA_VERSION})")
        return v

    @field_validator("occurred_at", "updated_at", "ended_at")
    @classmethod
    def _utc_ms(cls, v: datetime | None) -> datetime | None:
        if v is None:
            return None
        if v.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware (UTC)")
        v = v.astimezone(UTC)
        return v.replace(microsecond=(v.microsecond // 1000) * 1000)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> Event:
        return cls.model_validate_json(data)


def utcnow() -> datetime:
    return datetime.now(UTC)


def json_schema_text() -> str:
    """The JSON Schema of :class:`Event`, as published in ``docs/event.schema.json``."""
    import json

    return json.dumps(Event.model_json_schema(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":  # python -m sharpeyes.schema > docs/event.schema.json
    print(json_schema_text(), end="")
