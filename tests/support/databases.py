"""Databases as earlier releases left them, for the upgrade tests: a database the current release made, turned
into one made before migrations (no ``alembic_version``) and before some tables or columns existed.

Owns only the database it is given (by URL); works on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import inspect, text

from sharpeyes.connections import make_engine

AFTER_BASELINE: Mapping[str, tuple[str, ...]] = {"cameras": ("node_label", "motion_regions")}
"""Columns that revisions after the baseline add (table → columns): no release before migrations had them, so
:func:`as_previous_release` always drops them (the baseline adopts the database, the later revisions add them)."""


def as_previous_release(url: str, *, drop_tables: Iterable[str] = (),
                        drop_columns: Mapping[str, Iterable[str]] | None = None) -> None:
    """Make the database at ``url`` look like one made by a release without migrations (its ``alembic_version``
    table dropped, and the columns of :data:`AFTER_BASELINE`), without the tables ``drop_tables`` and without the
    columns ``drop_columns`` (table → columns; indexes on them dropped first, as SQLite requires)."""
    dropped = set(drop_tables)
    columns_of: dict[str, set[str]] = {t: set(c) for t, c in AFTER_BASELINE.items() if t not in dropped}
    for table, extra in (drop_columns or {}).items():
        columns_of.setdefault(table, set()).update(extra)
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE alembic_version"))
            for table in drop_tables:
                conn.execute(text(f'DROP TABLE "{table}"'))
            for table, cols in columns_of.items():
                for index in inspect(conn).get_indexes(table):
                    if cols & set(index["column_names"]):
                        conn.execute(text(f'DROP INDEX "{index["name"]}"'))
                for col in sorted(cols):
                    conn.execute(text(f'ALTER TABLE "{table}" DROP COLUMN "{col}"'))
    finally:
        engine.dispose()
