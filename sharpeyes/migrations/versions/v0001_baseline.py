"""Baseline schema (registry, event archive, identity); adopts a database made before migrations.

The schema of the release that introduced migrations.
On an empty database it creates every table. On a database made by an earlier release (the hub's tables, no
``alembic_version``) it creates the tables that are missing and adds the columns an existing table lacks: one with
a default gets it in every existing row (then ``NOT NULL`` where the engine can alter a column: PostgreSQL; SQLite
keeps it nullable), and missing indexes are created. Nothing is dropped or changed; a missing column that only a
person could fill stops the upgrade with a message.

The tables are written out here, not imported from the models: a revision is a fixed picture of the schema, and
``tests/sharpeyes/test_migrations.py`` checks that the models still agree with the head.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

log = logging.getLogger("sharpeyes.migrations")

_NO_FILL = object()


def _now() -> datetime:
    return datetime.now(UTC)


def _col(name: str, type_: Any, *args: Any, fill: Any = _NO_FILL, **kw: Any) -> sa.Column[Any]:
    """A column; ``fill``: the value (or a function making it) an existing row gets when adoption adds it."""
    return sa.Column(name, type_, *args, info={"fill": fill}, **kw)


def _ts(name: str, *, fill: Any = _NO_FILL, **kw: Any) -> sa.Column[Any]:
    return _col(name, sa.DateTime(timezone=True), fill=fill, **kw)


def schema() -> sa.MetaData:
    """Every table of the baseline."""
    m = sa.MetaData()
    # registry
    sa.Table(
        "jurisdictions", m,
        _col("code", sa.String(20), primary_key=True),
        _col("name", sa.String(100), nullable=False),
        _col("level", sa.String(20), nullable=False),
        _col("parent_code", sa.String(20), sa.ForeignKey("jurisdictions.code"), nullable=True, index=True),
        _col("has_center", sa.Boolean(), nullable=False, fill=False),
        _col("synthetic", sa.Boolean(), nullable=False, fill=False),
        _col("source", sa.String(200), nullable=False, fill=""),
    )
    sa.Table(
        "cameras", m,
        _col("id", sa.String(20), primary_key=True),
        _col("name", sa.String(200), nullable=False),
        _col("jurisdiction_code", sa.String(20), sa.ForeignKey("jurisdictions.code"), nullable=False, index=True),
        _col("stream_url", sa.Text(), nullable=False),
        *(_col(c, sa.Float(), nullable=True) for c in ("longitude", "latitude", "heading_deg", "fov_deg", "range_m")),
        _col("sample_mode", sa.String(20), nullable=False, fill="auto"),
        _col("sample_fps", sa.Float(), nullable=False, fill=1.0),
        _col("rules", sa.JSON(), nullable=False, fill=list),
        _col("privacy_masks", sa.JSON(), nullable=False, fill=list),
        _col("detector_model", sa.String(64), nullable=True),
        _col("enabled", sa.Boolean(), nullable=False, fill=True),
        _col("manufacturer", sa.String(100), nullable=True),
        _col("model", sa.String(100), nullable=True),
        _col("firmware", sa.String(100), nullable=True),
        _col("serial_number", sa.String(100), nullable=True),
        _col("owner", sa.String(200), nullable=True),
        _col("address", sa.String(300), nullable=True),
        *(_col(c, sa.Integer(), nullable=True)
          for c in ("ptz_type", "position_type", "room_type", "use_type", "direction")),
        _col("resolution", sa.String(20), nullable=True),
        _col("onvif_host", sa.String(253), nullable=True),
        _col("onvif_port", sa.Integer(), nullable=True),
        _col("onvif_profile", sa.String(100), nullable=True),
        _col("snapshot_url", sa.Text(), nullable=True),
        _col("source_file", sa.String(500), nullable=True),
        _ts("created_at", nullable=False, fill=_now),
        _ts("updated_at", nullable=False, fill=_now),
    )
    sa.Table(
        "key_points", m,
        _col("id", sa.String(64), primary_key=True),
        _col("name", sa.String(200), nullable=False),
        _col("kind", sa.String(20), nullable=False),
        _col("jurisdiction_code", sa.String(20), sa.ForeignKey("jurisdictions.code"), nullable=False, index=True),
        _col("longitude", sa.Float(), nullable=False),
        _col("latitude", sa.Float(), nullable=False),
        _col("synthetic", sa.Boolean(), nullable=False, fill=False),
        _col("source_file", sa.String(500), nullable=True),
    )
    sa.Table(
        "camera_availability", m,
        _col("id", sa.Integer(), primary_key=True, autoincrement=True),
        _col("camera_id", sa.String(20), sa.ForeignKey("cameras.id", ondelete="CASCADE"), nullable=False,
             index=True),
        _col("state", sa.String(10), nullable=False),
        _ts("at", nullable=False, index=True),
        _col("reason", sa.Text(), nullable=False, fill=""),
    )
    sa.Table(
        "camera_credentials", m,
        _col("camera_id", sa.String(20), sa.ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True),
        _col("username", sa.String(128), nullable=False),
        _col("password_token", sa.Text(), nullable=False),
        _col("default_password", sa.Boolean(), nullable=False, fill=False),
        _ts("updated_at", nullable=False, fill=_now),
    )
    sa.Table(
        "camera_quality", m,
        _col("id", sa.Integer(), primary_key=True, autoincrement=True),
        _col("camera_id", sa.String(20), sa.ForeignKey("cameras.id", ondelete="CASCADE"), nullable=False,
             index=True),
        _col("ok", sa.Boolean(), nullable=False),
        _col("faults", sa.String(300), nullable=False, fill=""),
        _ts("at", nullable=False, index=True),
    )
    # event archive
    sa.Table(
        "events", m,
        _col("id", sa.String(26), primary_key=True),
        _col("type", sa.String(40), nullable=False, index=True),
        _col("severity", sa.String(10), nullable=False, index=True),
        _col("camera_id", sa.String(20), nullable=False, index=True),
        _col("civil_codes", sa.String(100), nullable=False),
        _col("centers", sa.String(400), nullable=False, fill=""),
        _ts("occurred_at", nullable=False, index=True),
        _col("status", sa.String(20), nullable=False, index=True, fill="new"),
        _col("escalated_to", sa.String(20), nullable=True),
        _col("hold", sa.Boolean(), nullable=False, fill=False),
        _col("snapshot_ref", sa.String(300), nullable=True, index=True),
        _col("body", sa.Text(), nullable=False),
        _ts("archived_at", nullable=False, fill=_now),
        _ts("updated_at", nullable=False, fill=_now),
    )
    sa.Table(
        "event_actions", m,
        _col("id", sa.Integer(), primary_key=True, autoincrement=True),
        _col("event_id", sa.String(26), sa.ForeignKey("events.id", ondelete="CASCADE"), nullable=False,
             index=True),
        _col("action", sa.String(20), nullable=False),
        _col("center", sa.String(20), nullable=False),
        _col("user", sa.String(100), nullable=False),
        _col("reason", sa.Text(), nullable=False),
        _ts("at", nullable=False, index=True),
    )
    sa.Table(
        "access_log", m,
        _col("id", sa.Integer(), primary_key=True, autoincrement=True),
        _ts("at", nullable=False, index=True),
        _col("user", sa.String(100), nullable=False),
        _col("unit", sa.String(200), nullable=False, fill=""),
        _col("reason", sa.Text(), nullable=False),
        _col("action", sa.String(40), nullable=False, index=True),
        _col("target", sa.Text(), nullable=False),
        _col("center", sa.String(20), nullable=True),
        _col("outcome", sa.String(10), nullable=False, index=True),
        _col("detail", sa.String(500), nullable=False, fill=""),
    )
    # identity
    sa.Table(
        "users", m,
        _col("login", sa.String(64), primary_key=True),
        _col("display_name", sa.String(100), nullable=False, fill=""),
        _col("unit", sa.String(100), nullable=False, fill=""),
        _col("role", sa.String(20), nullable=False),
        _col("jurisdiction", sa.String(20), nullable=False, index=True),
        _col("enabled", sa.Boolean(), nullable=False, fill=True),
        _col("password_hash", sa.String(200), nullable=False),
        _col("weak_password", sa.Boolean(), nullable=False, fill=False),
        _ts("created_at", nullable=False, fill=_now),
        _ts("last_login_at", nullable=True),
    )
    sa.Table(
        "user_sessions", m,
        _col("token_sha256", sa.String(64), primary_key=True),
        _col("login", sa.String(64), sa.ForeignKey("users.login", ondelete="CASCADE"), nullable=False, index=True),
        _col("csrf_sha256", sa.String(64), nullable=False, fill=""),
        _ts("created_at", nullable=False, fill=_now),
        _ts("expires_at", nullable=False),
    )
    sa.Table(
        "api_tokens", m,
        _col("id", sa.Integer(), primary_key=True, autoincrement=True),
        _col("name", sa.String(64), nullable=False, unique=True),
        _col("token_sha256", sa.String(64), nullable=False, unique=True),
        _col("unit", sa.String(100), nullable=False, fill=""),
        _col("role", sa.String(20), nullable=False),
        _col("jurisdiction", sa.String(20), nullable=False),
        _col("created_by", sa.String(64), nullable=False, fill=""),
        _ts("created_at", nullable=False, fill=_now),
        _ts("revoked_at", nullable=True),
    )
    return m


def upgrade() -> None:
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    present = set(inspector.get_table_names())
    meta = schema()
    adopted = [t for t in meta.sorted_tables if t.name in present]
    if adopted:
        log.info("database made before migrations: adopting its tables %s", ", ".join(t.name for t in adopted))
    meta.create_all(bind, tables=[t for t in meta.sorted_tables if t.name not in present])
    for table in adopted:
        _complete(bind, inspector, table)


def _complete(bind: sa.Connection, inspector: sa.Inspector, table: sa.Table) -> None:
    """Add to the existing ``table`` the columns and indexes it lacks."""
    have = {c["name"] for c in inspector.get_columns(table.name)}
    missing = [c for c in table.columns if c.name not in have]
    unfillable = [c.name for c in missing if not c.nullable and c.info["fill"] is _NO_FILL]
    if unfillable:
        raise RuntimeError(f"table {table.name} lacks column(s) {', '.join(unfillable)}, which only a person could "
                           "fill: export its records with the release that made the database, or move the database "
                           "away and register again")
    for col in missing:
        log.info("adding column %s.%s", table.name, col.name)
        op.add_column(table.name, sa.Column(col.name, col.type, nullable=True))
        fill = col.info["fill"]
        if fill is _NO_FILL:
            continue
        value = fill() if isinstance(fill, Callable) else fill  # type: ignore[arg-type]
        bind.execute(table.update().where(table.c[col.name].is_(None)).values({col.name: value}))
        if bind.dialect.name != "sqlite":  # SQLite cannot alter a column without copying its table
            op.alter_column(table.name, col.name, existing_type=col.type, nullable=False)
    indexes = {i["name"] for i in inspector.get_indexes(table.name)}
    for index in table.indexes:
        if index.name not in indexes:
            log.info("creating index %s", index.name)
            index.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    schema().drop_all(bind)
