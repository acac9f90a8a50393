"""edgemark.hub: the control plane (FastAPI over SQLAlchemy; SQLite by default).

Node enrolment and auth, heartbeats, the bundle registry, the rollout controller (canary
waves, soak, automatic rollback) and DP report ingestion, behind the HTTP API of the
contract; ``AdminClient`` is the admin's client, ``serve`` runs it with uvicorn.
"""

from __future__ import annotations

from edgemark.hub._app import create_app
from edgemark.hub._client import AdminClient, enrol
from edgemark.hub._rollouts import Assignment, validate_waves, wave_sizes
from edgemark.hub._server import ServerThread, serve
from edgemark.hub._settings import HubSettings, Secret, admin_token_from_env

__all__ = [
    "AdminClient",
    "Assignment",
    "HubSettings",
    "Secret",
    "ServerThread",
    "admin_token_from_env",
    "create_app",
    "enrol",
    "serve",
    "validate_waves",
    "wave_sizes",
]
