"""Small dialect-aware SQL helpers shared by the hub modules (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import DeclarativeBase, Session


def table_of(model: type[DeclarativeBase]) -> Table:
    """The Core ``Table`` of a declarative model (for executemany statements)."""
    return cast(Table, model.__table__)


def insert_ignore(session: Session, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` for the session's dialect."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()
