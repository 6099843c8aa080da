"""Cameras get ``node_label``: the worker-node label a camera is pinned to (NULL: any node).

A nullable column with no default, so existing rows need nothing (NULL is "not pinned") and both engines add it in
place: ``ALTER TABLE cameras ADD COLUMN node_label VARCHAR(64)`` on SQLite and PostgreSQL alike. The downgrade
drops it (``ALTER TABLE … DROP COLUMN``: PostgreSQL, SQLite 3.35 and later; nothing indexes or constrains it).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cameras", sa.Column("node_label", sa.String(64), nullable=True))


def downgrade() -> None:
    op.drop_column("cameras", "node_label")
