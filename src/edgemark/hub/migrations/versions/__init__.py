"""Alembic revisions of the hub's schema, oldest first (``r0001_initial`` ...)."""
