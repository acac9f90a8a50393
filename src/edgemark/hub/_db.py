"""The hub's tables (SQLAlchemy 2 declarative models) and the engine/session factory.

SQLite by default (WAL, busy timeout), PostgreSQL by URL. Tables are created with
``Base.metadata.create_all`` at start; Alembic migrations come in a later issue.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Engine,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 5000


class Base(DeclarativeBase):
    """Declarative base of every hub table."""


class Node(Base):
    """An enrolled edge node and the figures of its last heartbeat."""

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    enrolled_at: Mapped[float] = mapped_column(Float)
    active_version: Mapped[str | None] = mapped_column(String(64), default=None)
    last_heartbeat: Mapped[float | None] = mapped_column(Float, default=None)
    heartbeats: Mapped[int] = mapped_column(Integer, default=0)
    decisions_by_version: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    latency_p50_us: Mapped[float | None] = mapped_column(Float, default=None)
    latency_p99_us: Mapped[float | None] = mapped_column(Float, default=None)
    last_error: Mapped[dict[str, str] | None] = mapped_column(JSON, default=None)


class EnrolmentToken(Base):
    """A one-time token an admin issued for one node name (only its hash is stored)."""

    __tablename__ = "enrolment_tokens"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    node_name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    used_at: Mapped[float | None] = mapped_column(Float, default=None)


class Bundle(Base):
    """A bundle in the registry; its tar.gz bytes live in the bundle directory."""

    __tablename__ = "bundles"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(128))
    created: Mapped[float] = mapped_column(Float)
    size: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(Text)


class Rollout(Base):
    """A staged rollout of one bundle version over waves of nodes."""

    __tablename__ = "rollouts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    version: Mapped[str] = mapped_column(ForeignKey("bundles.version"))
    waves: Mapped[list[float]] = mapped_column(JSON)
    current_wave: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), index=True)
    soak_heartbeats: Mapped[int] = mapped_column(Integer)
    created: Mapped[float] = mapped_column(Float)
    previous_version: Mapped[str | None] = mapped_column(String(64), default=None)


class RolloutEvent(Base):
    """One readable line of a rollout's history ("wave 2 of 3 started (2 nodes)")."""

    __tablename__ = "rollout_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rollout_id: Mapped[str] = mapped_column(ForeignKey("rollouts.id"), index=True)
    ts: Mapped[float] = mapped_column(Float)
    what: Mapped[str] = mapped_column(Text)


class RolloutProgress(Base):
    """Healthy heartbeats (running the target version) per node since a rollout started."""

    __tablename__ = "rollout_progress"

    rollout_id: Mapped[str] = mapped_column(ForeignKey("rollouts.id"), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    healthy_heartbeats: Mapped[int] = mapped_column(Integer, default=0)


class Report(Base):
    """One DP-noised report row from a node, stored once per idempotency key."""

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("idempotency_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(128))
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), index=True)
    day: Mapped[int] = mapped_column(Integer)
    experiment: Mapped[str] = mapped_column(String(128))
    arm: Mapped[str] = mapped_column(String(128))
    exposures: Mapped[int] = mapped_column(Integer)
    conversions: Mapped[int] = mapped_column(Integer)
    revenue: Mapped[float] = mapped_column(Float)
    epsilon: Mapped[float] = mapped_column(Float)
    count_noise_scale: Mapped[float] = mapped_column(Float)
    revenue_noise_scale: Mapped[float] = mapped_column(Float)
    received_at: Mapped[float] = mapped_column(Float)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; the busy timeout makes a second writer
    # wait instead of failing at once with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def create_engine_for(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and cross-thread use."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def create_schema(engine: Engine) -> None:
    """Create missing tables (until Alembic migrations land)."""
    Base.metadata.create_all(engine)


def session_factory(engine: Engine) -> sessionmaker[Any]:
    """Sessions that keep loaded attributes after commit (responses read them)."""
    return sessionmaker(engine, expire_on_commit=False)
