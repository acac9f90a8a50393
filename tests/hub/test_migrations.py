"""Alembic migrations: the schema they build is exactly the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import inspect

from edgemark.hub import upgrade_database
from edgemark.hub._db import Base, create_engine_for
from edgemark.hub._migrate import current_revision, downgrade, head_revision


def test_upgrade_builds_the_models_schema_and_is_idempotent(database_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = create_engine_for(database_url)
    try:
        assert current_revision(engine) is None
        upgrade_database(engine)
        upgrade_database(engine)  # a restart: nothing left to do

        assert current_revision(engine) == head_revision()
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables

        downgrade(engine)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()
