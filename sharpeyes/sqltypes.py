"""SQL column types every table of the hub shares, so that SQLite and PostgreSQL give the same answers.

Owns :class:`UtcDateTime` only; knows no table.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Dialect
from sqlalchemy.types import TypeDecorator


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """``TIMESTAMP WITH TIME ZONE`` that stores UTC and always gives back an aware UTC datetime.

    Without it the engines differ: SQLite keeps no zone (it stores the wall-clock digits of whatever zone a value
    has, and gives back naive datetimes), PostgreSQL gives back datetimes in the session's zone and reads a naive
    parameter in that zone too (8 hours off on a server set to Asia/Shanghai). Here every parameter — a column
    value or a value compared with the column — is turned into UTC first (a naive one is taken as UTC, the hub's
    convention), and every result is aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, not {type(value).__name__}")
        value = _utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return _utc(value)
