"""Edge plane: the runtime on every touchpoint (decide, observe, report, swap bundles, erase),
its contextual policy, guardrails, experiments, attribution, outbox, sync agent and hub
client, and its local HTTP API.

Core install only: numpy, onnxruntime, cryptography, httpx, opendp and the standard library.
"""

from __future__ import annotations

from edgemark.edge._agent import SyncAgent
from edgemark.edge._api import EdgeAPI, serve_api
from edgemark.edge._contextual import BayesLogistic, ContextualPolicy
from edgemark.edge._drift import psi
from edgemark.edge._erase import erase_user_state
from edgemark.edge._holdout import in_holdout
from edgemark.edge._hub_client import NodeHubClient
from edgemark.edge._node import run_node, serve_node
from edgemark.edge._outbox import Delivery, Outbox
from edgemark.edge._policy import ThompsonPolicy
from edgemark.edge._release import Release
from edgemark.edge._reports import idempotency_key
from edgemark.edge._runtime import Runtime
from edgemark.edge._settings import PolicySettings
from edgemark.edge._types import Decision, DecisionRequest, ObserveResult
from edgemark.edge._variants import export_variant_log

__all__ = [
    "BayesLogistic",
    "ContextualPolicy",
    "Decision",
    "DecisionRequest",
    "Delivery",
    "EdgeAPI",
    "NodeHubClient",
    "ObserveResult",
    "Outbox",
    "PolicySettings",
    "Release",
    "Runtime",
    "SyncAgent",
    "ThompsonPolicy",
    "erase_user_state",
    "export_variant_log",
    "idempotency_key",
    "in_holdout",
    "psi",
    "run_node",
    "serve_api",
    "serve_node",
]
