"""The SQL schema's one migration history (Alembic): the registry's, the archive's and identity's tables live in
one database and move together.

Owns running the migrations in ``sharpeyes/migrations/`` (no ``alembic.ini``: the configuration is built here) and
reading the revision a database is at; knows no table (the revisions describe the schema themselves, and a caller
comparing models with a database passes their metadata).

- :func:`upgrade`: a fresh database gets the whole schema; a database made before migrations existed (tables, no
  ``alembic_version``) is adopted by the baseline revision (what it lacks is added, nothing dropped); a versioned
  one gets the revisions it lacks. Processes of several machines starting at once take turns (an advisory lock on
  PostgreSQL; threads of one process, a lock here). Every store's ``init()`` calls it, so the hub migrates at
  start; ``sharpeyes db upgrade`` too.
- :func:`current` / :func:`head`: where a database is, where this release is.
- :func:`schema_diff`: what autogenerate would change between models and a database (empty: they agree).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, MetaData

from sharpeyes.connections import redacted_database_url

log = logging.getLogger(__name__)
# alembic says "Context impl …" at INFO each time a revision is read (every store's init): upgrade() logs what changes
logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)

SCRIPTS = Path(__file__).resolve().with_name("migrations")
"""The Alembic script folder (env.py, versions/), shipped inside the ``sharpeyes`` package."""
LOCK = "sharpeyes:schema-migration"
"""Name of the advisory lock a migration holds (sharpeyes.connections.advisory_lock)."""


_in_process = threading.Lock()  # alembic's `context` and `op` are process-wide: one migration at a time here


class SchemaError(RuntimeError):
    """The database's schema cannot be brought to this release's (made by a newer release, or refused by a
    revision); the message says what to do."""


def alembic_config(connection: Connection | None = None, target_metadata: Sequence[MetaData] | None = None) -> Config:
    """An Alembic configuration over :data:`SCRIPTS`; ``connection`` is the one the migrations run on (env.py
    reads it from ``attributes``), ``target_metadata`` the models autogenerate compares with."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = connection
    cfg.attributes["target_metadata"] = list(target_metadata) if target_metadata is not None else None
    return cfg


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The revision this release's schema is at."""
    rev = _scripts().get_current_head()
    if rev is None:  # pragma: no cover - the baseline always exists
        raise SchemaError(f"no migrations in {SCRIPTS}")
    return rev


def current(engine: Engine) -> str | None:
    """The revision ``engine``'s database is at; None when it has none (empty, or made before migrations)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Bring ``engine``'s database to ``revision`` (default: this release's head) and return the revision it is at
    now. A database at the head costs one query. Raises :class:`SchemaError` for a database at a revision this
    release does not know (a newer release migrated it)."""
    where = redacted_database_url(engine.url)
    before = current(engine)
    target = head() if revision == "head" else revision
    if before == target:
        return before
    if before is not None:
        try:
            _scripts().get_revision(before)
        except (CommandError, RevisionError):  # an unknown revision
            raise SchemaError(f"database {where} is at schema revision {before!r}, which this release does not "
                              f"know (its newest is {head()!r}): it was migrated by a newer release; run that "
                              "release, or restore a backup made before") from None
    log.info("database %s: schema %s -> %s", where, before or "(none)", target)
    with _in_process, engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)
    return current(engine)


def schema_diff(engine: Engine, metadata: Sequence[MetaData]) -> list[Any]:
    """What autogenerate would do to make ``engine``'s database match ``metadata`` (types compared): [] when the
    models and the database agree."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, list(metadata)))  # type: ignore[arg-type]
