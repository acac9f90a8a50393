"""HTTP routes of the privacy ledger: ``GET /v1/privacy/ledger`` (read scope) and
``POST /v1/federated/rounds`` (deploy scope; the hub's federated server records rounds)."""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import Field

from edgemark.hub import _audit, _ledger
from edgemark.hub._deps import DB, Deployer, HubDep, Reader
from edgemark.hub._schemas import ERROR_RESPONSES, Label, NodeName, _Strict

router = APIRouter(responses=ERROR_RESPONSES)
Epsilon = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]


class FederatedRoundIn(_Strict):
    """POST /v1/federated/rounds: one round of a DP-FedAvg run."""

    run_id: Label
    round: Annotated[int, Field(ge=1, le=10**6)]
    epsilon_cumulative: Epsilon
    delta: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False)]
    clients: Annotated[int, Field(ge=0, le=10**7)]
    auc: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    nodes: Annotated[list[NodeName], Field(max_length=100_000, default_factory=list)]


@router.get("/v1/privacy/ledger")
def ledger(hub: HubDep, session: DB, _who: Reader) -> dict[str, Any]:
    return _ledger.privacy_ledger(session, hub.settings.privacy_budget)


@router.post("/v1/federated/rounds", status_code=201)
def federated_round(
    body: FederatedRoundIn, hub: HubDep, session: DB, who: Deployer
) -> dict[str, bool]:
    with hub.writing(session):
        stored = _ledger.record_round(session, body.model_dump())
        if stored:
            target = f"{body.run_id}#{body.round}"
            _audit.append(session, who.actor, "federated.round", target, time.time())
    return {"stored": stored}
