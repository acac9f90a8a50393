"""Edge plane: the runtime on every touchpoint (decide, observe, report, swap bundles),
its sync agent and hub client, and its local HTTP API.

Core install only: numpy, onnxruntime, cryptography, httpx and the standard library.
"""

from __future__ import annotations

from edgemark.edge._agent import SyncAgent
from edgemark.edge._api import EdgeAPI, serve_api
from edgemark.edge._holdout import in_holdout
from edgemark.edge._hub_client import NodeHubClient
from edgemark.edge._policy import ThompsonPolicy
from edgemark.edge._reports import idempotency_key
from edgemark.edge._runtime import Runtime
from edgemark.edge._settings import PolicySettings
from edgemark.edge._types import Decision, DecisionRequest

__all__ = [
    "Decision",
    "DecisionRequest",
    "EdgeAPI",
    "NodeHubClient",
    "PolicySettings",
    "Runtime",
    "SyncAgent",
    "ThompsonPolicy",
    "idempotency_key",
    "in_holdout",
    "serve_api",
]
