"""SQL tables of the registry: the jurisdiction tree, cameras, their availability and quality ledgers, and the key
points (重点公共区域) the four-all audit checks coverage of (SQLAlchemy 2)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from sharpeyes.schema import utcnow
from sharpeyes.sqltypes import UtcDateTime


class Base(DeclarativeBase):
    pass


class Jurisdiction(Base):
    """A node of the tree: county (6 digits) → township (9) → village/community or grid (12)."""

    __tablename__ = "jurisdictions"

    code: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(20))  # province/city/county/township/village/grid
    parent_code: Mapped[str | None] = mapped_column(ForeignKey("jurisdictions.code"), nullable=True, index=True)
    has_center: Mapped[bool] = mapped_column(Boolean, default=False)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(200), default="")

    cameras: Mapped[list[Camera]] = relationship(back_populates="jurisdiction")

    @property
    def center_name(self) -> str:
        return f"{self.name}综治中心"


class Camera(Base):
    """One camera (一机一档 record)."""

    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)  # GB/T 28181
    name: Mapped[str] = mapped_column(String(200))
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    stream_url: Mapped[str] = mapped_column(Text)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    heading_deg: Mapped[float | None] = mapped_column(Float, nullable=True)
    fov_deg: Mapped[float | None] = mapped_column(Float, nullable=True)
    range_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    sample_mode: Mapped[str] = mapped_column(String(20), default="auto")
    sample_fps: Mapped[float] = mapped_column(Float, default=1.0)
    rules: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    privacy_masks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{name, polygon}]
    detector_model: Mapped[str | None] = mapped_column(String(64), nullable=True)  # imported model name
    node_label: Mapped[str | None] = mapped_column(String(64), nullable=True)  # pinned to nodes with this label
    motion_regions: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # None: analytics.motion.regions
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # GB/T 28181 catalog (一机一档); codes as in registry/catalog.py
    manufacturer: Mapped[str | None] = mapped_column(String(100), nullable=True)
    model: Mapped[str | None] = mapped_column(String(100), nullable=True)
    firmware: Mapped[str | None] = mapped_column(String(100), nullable=True)
    serial_number: Mapped[str | None] = mapped_column(String(100), nullable=True)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    address: Mapped[str | None] = mapped_column(String(300), nullable=True)
    ptz_type: Mapped[int | None] = mapped_column(Integer, nullable=True)
    position_type: Mapped[int | None] = mapped_column(Integer, nullable=True)
    room_type: Mapped[int | None] = mapped_column(Integer, nullable=True)
    use_type: Mapped[int | None] = mapped_column(Integer, nullable=True)
    direction: Mapped[int | None] = mapped_column(Integer, nullable=True)
    resolution: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # ONVIF endpoint the camera was probed at (host, port, profile token); the password lives in the vault
    onvif_host: Mapped[str | None] = mapped_column(String(253), nullable=True)
    onvif_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    onvif_profile: Mapped[str | None] = mapped_column(String(100), nullable=True)
    snapshot_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    source_file: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    jurisdiction: Mapped[Jurisdiction] = relationship(back_populates="cameras")
    credential: Mapped[CameraCredential | None] = relationship(
        back_populates="camera", cascade="all, delete-orphan", passive_deletes=True, uselist=False
    )


class CameraCredential(Base):
    """A camera's device credentials: user name in clear, password as a Fernet token (registry/vault.py)."""

    __tablename__ = "camera_credentials"

    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True)
    username: Mapped[str] = mapped_column(String(128))
    password_token: Mapped[str] = mapped_column(Text)
    default_password: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    camera: Mapped[Camera] = relationship(back_populates="credential")

    def __repr__(self) -> str:
        return f"CameraCredential(camera_id={self.camera_id!r}, username={self.username!r}, password=***)"


class AvailabilityRecord(Base):
    """Availability ledger: one row per online/offline transition of a camera's stream."""

    __tablename__ = "camera_availability"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(10))  # online / offline
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)
    reason: Mapped[str] = mapped_column(Text, default="")


class QualityRecord(Base):
    """Quality ledger: one row per change of a camera's video-quality diagnosis (ok, or the active faults)."""

    __tablename__ = "camera_quality"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    ok: Mapped[bool] = mapped_column(Boolean)
    faults: Mapped[str] = mapped_column(String(300), default="")  # comma-separated fault names, "" when ok
    at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, index=True)


KEY_POINT_KINDS = ("crossroads", "square", "school", "hospital", "station", "market", "government", "other")
"""Kinds of key public area (重点公共区域) a key point may be."""


class KeyPoint(Base):
    """A key public area (重点公共区域: crossroads, square, school gate, hospital...) that ≥1 online camera should
    see (全域覆盖)."""

    __tablename__ = "key_points"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # slug, e.g. "fz-school-gate"
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # one of KEY_POINT_KINDS
    jurisdiction_code: Mapped[str] = mapped_column(ForeignKey("jurisdictions.code"), index=True)
    longitude: Mapped[float] = mapped_column(Float)  # WGS-84
    latitude: Mapped[float] = mapped_column(Float)
    synthetic: Mapped[bool] = mapped_column(Boolean, default=False)
    source_file: Mapped[str | None] = mapped_column(String(500), nullable=True)
