"""Hub test databases: SQLite in tmp_path, or a fresh PostgreSQL database per test.

PostgreSQL runs when EDGEMARK_TEST_POSTGRES_URL names a server (``.ci/run`` starts one on
127.0.0.1); without it the PostgreSQL variants skip and say why.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text

PG_ENV = "EDGEMARK_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


@contextmanager
def database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of ``backend``, dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / f'hub-{secrets.token_hex(3)}.db'}"
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set, so there is no PostgreSQL server to test against "
                    "(.ci/run starts one)")  # fmt: skip
    name = f"edgemark_t_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
