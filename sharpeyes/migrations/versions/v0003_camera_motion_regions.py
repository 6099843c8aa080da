"""Cameras get ``motion_regions``: whether the detector looks only where a camera's frame changed (NULL: the hub's
``analytics.motion.regions``).

A nullable column with no default, so existing rows need nothing (NULL is "the hub's setting") and both engines add
it in place: ``ALTER TABLE cameras ADD COLUMN motion_regions BOOLEAN`` on SQLite and PostgreSQL alike. The
downgrade drops it (``ALTER TABLE … DROP COLUMN``: PostgreSQL, SQLite 3.35 and later; nothing indexes or constrains
it).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cameras", sa.Column("motion_regions", sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column("cameras", "motion_regions")
