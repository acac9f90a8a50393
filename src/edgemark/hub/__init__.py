"""edgemark.hub: the control plane (FastAPI over SQLAlchemy; SQLite by default, PostgreSQL).

Node enrolment and scoped auth, heartbeats, the bundle registry, the rollout controller
(waves, soak, health gates, automatic rollback, pause/resume/abort), DP report ingestion
and a hash-chained audit log, behind the HTTP API; ``AdminClient`` is the admin's client,
``serve`` runs it with uvicorn, ``upgrade_database`` applies the Alembic migrations.
"""

from __future__ import annotations

from edgemark.hub._app import create_app
from edgemark.hub._audit import AuditVerdict
from edgemark.hub._audit import verify_chain as verify_audit_chain
from edgemark.hub._audit import verify_database as verify_audit_database
from edgemark.hub._client import AdminClient, enrol
from edgemark.hub._gates import GatePolicy
from edgemark.hub._ledger import privacy_ledger
from edgemark.hub._ledger_client import (
    close_federated_task,
    fetch_privacy_ledger,
    open_federated_task,
    record_federated_round,
)
from edgemark.hub._migrate import upgrade as upgrade_database
from edgemark.hub._rollouts import Assignment
from edgemark.hub._server import ServerThread, serve
from edgemark.hub._settings import HubSettings, Secret, admin_token_from_env
from edgemark.hub._waves import validate_waves, wave_sizes

__all__ = [
    "AdminClient",
    "Assignment",
    "AuditVerdict",
    "GatePolicy",
    "HubSettings",
    "Secret",
    "ServerThread",
    "admin_token_from_env",
    "close_federated_task",
    "create_app",
    "enrol",
    "fetch_privacy_ledger",
    "open_federated_task",
    "privacy_ledger",
    "record_federated_round",
    "serve",
    "upgrade_database",
    "validate_waves",
    "verify_audit_chain",
    "verify_audit_database",
    "wave_sizes",
]
