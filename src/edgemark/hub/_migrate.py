"""Schema migrations: upgrade a hub database to the newest Alembic revision (on every start).

On PostgreSQL the upgrade holds a transaction-scoped advisory lock, so several replicas
starting together migrate once, one after the other, instead of racing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from edgemark._extras import require

MIGRATIONS = Path(__file__).with_name("migrations")
_ADVISORY_LOCK = 0x6564676D  # "edgm": one fixed key for the hub's schema upgrades


def _config(connection: Connection) -> Any:
    config_mod = require("alembic.config", "hub")
    config = config_mod.Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply every migration up to ``revision`` (idempotent: nothing to do is fine)."""
    command = require("alembic.command", "hub")
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
        command.upgrade(_config(connection), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Undo migrations down to ``revision`` (``base``: an empty database)."""
    command = require("alembic.command", "hub")
    with engine.begin() as connection:
        command.downgrade(_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for a database never migrated)."""
    migration = require("alembic.runtime.migration", "hub")
    with engine.connect() as connection:
        rev: str | None = migration.MigrationContext.configure(connection).get_current_revision()
        return rev


def head_revision() -> str:
    """The newest revision shipped with this package."""
    script_mod = require("alembic.script", "hub")
    config_mod = require("alembic.config", "hub")
    config = config_mod.Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head: str = script_mod.ScriptDirectory.from_config(config).get_current_head()
    return head
