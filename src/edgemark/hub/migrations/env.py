"""Alembic environment: migrate the connection ``edgemark.hub._migrate`` hands over.

Run only inside an Alembic command; importing it elsewhere (doctest collection) is inert.
"""

from __future__ import annotations

from alembic import context

from edgemark.hub._db import Base


def run_migrations() -> None:
    """Run the pending revisions on the connection in ``config.attributes``."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if hasattr(context, "config"):
    run_migrations()
