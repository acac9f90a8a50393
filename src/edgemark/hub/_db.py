"""The hub's tables (SQLAlchemy 2 declarative models) and the engine/session factory.

SQLite by default (WAL, busy timeout), PostgreSQL by URL. The schema is owned by the
Alembic migrations in ``edgemark/hub/migrations``; a test keeps these models and the
migrations identical on both databases.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool

SQLITE_BUSY_TIMEOUT_MS = 5000
# A request holds its session's connection across FastAPI's thread-pool hops (auth, then
# the endpoint), so the pool must be able to serve every thread (40 in anyio) at once, or
# threads waiting for connections block requests holding them until pool_timeout.
POOL: dict[str, Any] = {"pool_size": 10, "max_overflow": 40, "pool_timeout": 10}


class Base(DeclarativeBase):
    """Declarative base of every hub table."""


class Node(Base):
    """An enrolled edge node, its credential hash and the figures of its last heartbeat.

    The ``h_*`` columns hold the health figures the node reported for ``h_version``
    (cumulative since it started running that version); the rollout gates read them.
    """

    __tablename__ = "nodes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    enrolled_at: Mapped[float] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float, default=None)
    active_version: Mapped[str | None] = mapped_column(String(64), default=None)
    last_heartbeat: Mapped[float | None] = mapped_column(Float, default=None)
    heartbeats: Mapped[int] = mapped_column(Integer, default=0)
    decisions_by_version: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    latency_p50_us: Mapped[float | None] = mapped_column(Float, default=None)
    latency_p99_us: Mapped[float | None] = mapped_column(Float, default=None)
    last_error: Mapped[dict[str, str] | None] = mapped_column(JSON, default=None)
    h_version: Mapped[str | None] = mapped_column(String(64), default=None)
    h_decisions: Mapped[int | None] = mapped_column(Integer, default=None)
    h_errors: Mapped[int | None] = mapped_column(Integer, default=None)
    h_p99_us: Mapped[float | None] = mapped_column(Float, default=None)
    h_psi: Mapped[float | None] = mapped_column(Float, default=None)
    h_t_exposures: Mapped[int | None] = mapped_column(Integer, default=None)
    h_t_conversions: Mapped[int | None] = mapped_column(Integer, default=None)
    h_h_exposures: Mapped[int | None] = mapped_column(Integer, default=None)
    h_h_conversions: Mapped[int | None] = mapped_column(Integer, default=None)


class EnrolmentToken(Base):
    """A one-time token an admin issued for one node name (only its hash is stored)."""

    __tablename__ = "enrolment_tokens"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    node_name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[float] = mapped_column(Float)
    expires_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(40))
    used_at: Mapped[float | None] = mapped_column(Float, default=None)


class AdminToken(Base):
    """A scoped admin token (read, deploy or admin); only its sha256 is stored."""

    __tablename__ = "admin_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(16))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(40))
    revoked_at: Mapped[float | None] = mapped_column(Float, default=None)


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
    """A staged rollout of one bundle version over waves of nodes (a persisted state machine).

    ``pending`` counts members of the current waves that have not soaked yet; heartbeats
    decrement it, the controller recomputes it exactly on every tick.
    """

    __tablename__ = "rollouts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    version: Mapped[str] = mapped_column(ForeignKey("bundles.version"))
    waves: Mapped[list[float]] = mapped_column(JSON)
    wave_sizes: Mapped[list[int]] = mapped_column(JSON)
    min_nodes: Mapped[int] = mapped_column(Integer)
    current_wave: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), index=True)
    soak_heartbeats: Mapped[int] = mapped_column(Integer)
    soak_seconds: Mapped[float] = mapped_column(Float)
    gates: Mapped[dict[str, Any]] = mapped_column(JSON)
    baseline: Mapped[dict[str, Any]] = mapped_column(JSON)
    last_gates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created: Mapped[float] = mapped_column(Float)
    created_by: Mapped[str] = mapped_column(String(40))
    updated: Mapped[float] = mapped_column(Float)
    wave_started: Mapped[float] = mapped_column(Float)
    pending: Mapped[int] = mapped_column(Integer)
    previous_version: Mapped[str | None] = mapped_column(String(64), default=None)


class RolloutMember(Base):
    """A node's wave in a rollout, fixed at creation, and its healthy heartbeats since."""

    __tablename__ = "rollout_members"
    __table_args__ = (Index("ix_rollout_members_wave", "rollout_id", "wave"),)

    rollout_id: Mapped[str] = mapped_column(ForeignKey("rollouts.id"), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"), primary_key=True)
    wave: Mapped[int] = mapped_column(Integer)
    healthy_heartbeats: Mapped[int] = mapped_column(Integer, default=0)


class RolloutEvent(Base):
    """One readable line of a rollout's history ("wave 2 of 3 started (2 nodes)")."""

    __tablename__ = "rollout_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rollout_id: Mapped[str] = mapped_column(ForeignKey("rollouts.id"), index=True)
    ts: Mapped[float] = mapped_column(Float)
    what: Mapped[str] = mapped_column(Text)


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
    # Since r0002; None on rows from nodes that predate revenue intervals.
    revenue_sq: Mapped[float | None] = mapped_column(Float, default=None)
    revenue_sq_noise_scale: Mapped[float | None] = mapped_column(Float, default=None)
    max_contributions: Mapped[int | None] = mapped_column(Integer, default=None)


class FederatedRound(Base):
    """One DP-FedAvg round the hub ran: cumulative epsilon of its run, clients, AUC.

    ``nodes`` holds the names of the nodes enrolled in the run (each one's privacy is
    accounted by the run's epsilon, whether or not the sampling picked it).
    """

    __tablename__ = "federated_rounds"
    __table_args__ = (UniqueConstraint("run_id", "round"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64), index=True)
    round: Mapped[int] = mapped_column(Integer)
    epsilon_cumulative: Mapped[float] = mapped_column(Float)
    delta: Mapped[float] = mapped_column(Float)
    clients: Mapped[int] = mapped_column(Integer)
    auc: Mapped[float | None] = mapped_column(Float, default=None)
    nodes: Mapped[list[str]] = mapped_column(JSON, default=list)
    recorded_at: Mapped[float] = mapped_column(Float)


class FederatedTask(Base):
    """An open (or closed) round of the hub's federated training: the global parameters
    and the training settings the nodes use for their clipped, noised updates."""

    __tablename__ = "federated_tasks"
    __table_args__ = (UniqueConstraint("run_id", "round"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(64))
    round: Mapped[int] = mapped_column(Integer)
    params: Mapped[list[float]] = mapped_column(JSON)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON)
    opened_at: Mapped[float] = mapped_column(Float)
    closed_at: Mapped[float | None] = mapped_column(Float, default=None)


class FederatedUpdate(Base):
    """One node's clipped, noised update for one task (stored once per node and task)."""

    __tablename__ = "federated_updates"
    __table_args__ = (UniqueConstraint("task_id", "node_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("federated_tasks.id"), index=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id"))
    update: Mapped[list[float]] = mapped_column(JSON)
    received_at: Mapped[float] = mapped_column(Float)


class AuditEntry(Base):
    """One entry of the append-only audit log; ``hash`` chains it to the entry before."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    ts: Mapped[float] = mapped_column(Float)
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128))
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The single row naming the last audit entry: it serialises appends (row lock) and
    lets verification notice entries deleted from the end of the log."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; the busy timeout makes a second writer
    # wait instead of failing at once with "database is locked". synchronous=NORMAL is
    # durable across process crashes in WAL mode (only a power loss can drop the last
    # commits), which is what a control plane behind group commit needs.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def is_sqlite(url: str) -> bool:
    """Whether ``url`` names a SQLite database."""
    return url.startswith("sqlite")


def create_engine_for(url: str) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and cross-thread use."""
    if is_sqlite(url):
        # An in-memory database exists per connection: share one connection between threads.
        memory = url in ("sqlite://", "sqlite:///:memory:")
        pool: dict[str, Any] = {"poolclass": StaticPool} if memory else POOL
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **pool,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, **POOL)


def session_factory(engine: Engine) -> sessionmaker[Any]:
    """Sessions that keep loaded attributes after commit (responses read them)."""
    return sessionmaker(engine, expire_on_commit=False)
