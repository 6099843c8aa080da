"""Alembic environment of the hub's schema: runs on the connection ``sharpeyes.migrate`` puts in the config's
``attributes`` (never from an alembic.ini URL), inside one transaction holding the migration lock, so that hub
processes starting together on several machines migrate one after the other (the later ones find it done)."""

from __future__ import annotations

from alembic import context

from sharpeyes.connections import advisory_lock
from sharpeyes.migrate import LOCK

config = context.config
connection = config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise RuntimeError("the hub's migrations run on a live connection: use `sharpeyes db upgrade` "
                       "(sharpeyes.migrate.upgrade), not the alembic command or --sql")

context.configure(connection=connection, target_metadata=config.attributes.get("target_metadata"),
                  compare_type=True)
with context.begin_transaction():
    advisory_lock(connection, LOCK)
    context.run_migrations()
