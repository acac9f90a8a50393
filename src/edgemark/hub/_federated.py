"""Federated rounds over the hub's own HTTP API: the trainer opens a task (global
parameters and settings), each node answers once with a clipped, noised update computed
on the node, and the trainer closes the task to collect the updates.

A task has a kind (in its settings, so stored tasks need no migration): ``model`` (the
default: DP-FedAvg on the propensity model) or ``offer_rates`` (each node sends its
conversion rate per arm of ``offers`` minus ``params``, a public centre with one value
per arm, clipped and noised, for the fleet's offer-policy priors). The hub stores vectors
only: an update carries no row, no user and no count.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from edgemark.errors import HubError
from edgemark.hub import _audit
from edgemark.hub._db import FederatedTask, FederatedUpdate, Node
from edgemark.hub._deps import DB, Deployer, HubDep, ThisNode
from edgemark.hub._schemas import ERROR_RESPONSES, Label, _Strict

router = APIRouter(responses=ERROR_RESPONSES)
Value = Annotated[float, Field(ge=-1e6, le=1e6, allow_inf_nan=False)]
Vector = Annotated[list[Value], Field(min_length=1, max_length=10_000)]
Index = Annotated[int, Field(ge=0, le=10_000)]
_TRAINING_KEYS = frozenset({"features", "local_epochs", "local_lr", "batch_size"})


class TaskSettingsIn(_Strict):
    """How nodes answer a task (their share of the noise included)."""

    kind: Literal["model", "offer_rates"] = "model"
    clip_norm: Annotated[float, Field(gt=0, le=1e3, allow_inf_nan=False)]
    noise_std: Annotated[float, Field(ge=0, le=1e3, allow_inf_nan=False)]
    local_epochs: Annotated[int, Field(ge=1, le=100)] = 1
    local_lr: Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)] = 0.1
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 32
    features: Annotated[list[Index], Field(min_length=1, max_length=10_000)] | None = None
    # offer_rates only: the arms ("none" and offer ids) and the experiment whose
    # randomised traffic the rates come from (absent: the node's current experiment).
    offers: Annotated[list[Label], Field(min_length=1, max_length=1_000)] | None = None
    experiment: Label | None = None

    def stored(self, n_params: int) -> dict[str, Any]:
        """The settings as stored and handed to nodes; ``HubError`` 422 if inconsistent."""
        if self.kind == "model":
            if self.offers is not None or self.experiment is not None:
                raise HubError("a model task takes no 'offers' or 'experiment'; for offer "
                               "rates set settings.kind to 'offer_rates'", 422)  # fmt: skip
            return self.model_dump(exclude={"kind", "offers", "experiment"})
        if self.offers is None:
            raise HubError("an offer_rates task needs settings.offers: its arms, e.g. "
                           '["none", "pct10"], one per value of params', 422)  # fmt: skip
        if len(self.offers) != n_params or len(set(self.offers)) != len(self.offers):
            raise HubError(f"settings.offers must name {n_params} distinct arms, one per "
                           f"value of params; got {len(self.offers)} names, "
                           f"{len(set(self.offers))} distinct", 422)  # fmt: skip
        if self.model_fields_set & _TRAINING_KEYS:
            raise HubError("an offer_rates task trains nothing: drop 'features' and the "
                           "local training settings", 422)  # fmt: skip
        keep = {"kind", "clip_norm", "noise_std", "offers", "experiment"}
        return self.model_dump(include=keep, exclude_none=True)


class TaskIn(_Strict):
    """POST /v1/federated/tasks."""

    run_id: Label
    round: Annotated[int, Field(ge=1, le=10**6)]
    params: Vector
    settings: TaskSettingsIn


class UpdateIn(_Strict):
    """POST /v1/federated/updates: one node's clipped, noised update."""

    task_id: Annotated[int, Field(ge=1, le=2**62)]
    update: Vector


@router.post("/v1/federated/tasks", status_code=201)
def open_task(body: TaskIn, hub: HubDep, session: DB, who: Deployer) -> dict[str, int]:
    settings = body.settings.stored(len(body.params))
    now = time.time()
    with hub.writing(session):
        for task in session.scalars(
            select(FederatedTask).where(FederatedTask.closed_at.is_(None))
        ):  # one open task at a time: a newer one supersedes
            task.closed_at = now
        task = FederatedTask(run_id=body.run_id, round=body.round, params=list(body.params),
                             settings=settings, opened_at=now)  # fmt: skip
        if session.scalar(select(FederatedTask.id).where(
            FederatedTask.run_id == body.run_id, FederatedTask.round == body.round
        )) is not None:  # fmt: skip
            raise HubError(f"round {body.round} of run {body.run_id} was opened already", 409)
        session.add(task)
        session.flush()
        _audit.append(session, who.actor, "federated.task", f"{body.run_id}#{body.round}", now)
    return {"task_id": task.id}


@router.get("/v1/federated/task")
def current_task(session: DB, this: ThisNode) -> dict[str, Any]:
    task = session.scalar(
        select(FederatedTask).where(FederatedTask.closed_at.is_(None)).order_by(
            FederatedTask.id.desc())
    )  # fmt: skip
    if task is None or _answered(session, task.id, this):
        return {"task": None}
    return {"task": {"task_id": task.id, "run_id": task.run_id, "round": task.round,
                     "params": task.params, "settings": task.settings}}  # fmt: skip


@router.post("/v1/federated/updates")
def post_update(body: UpdateIn, hub: HubDep, session: DB, this: ThisNode) -> dict[str, bool]:
    with hub.writing(session):
        task = session.get(FederatedTask, body.task_id)
        if task is None or task.closed_at is not None:
            raise HubError(f"federated task {body.task_id} is not open; wait for the next", 409)
        if len(body.update) != len(task.params):
            raise HubError(f"update has {len(body.update)} values, the model {len(task.params)}",
                           422)  # fmt: skip
        if _answered(session, task.id, this):
            return {"stored": False}
        session.add(FederatedUpdate(task_id=task.id, node_id=this, update=list(body.update),
                                    received_at=time.time()))  # fmt: skip
    return {"stored": True}


@router.post("/v1/federated/tasks/{task_id}/close")
def close_task(
    task_id: Annotated[int, Path(ge=1, le=2**62)], hub: HubDep, session: DB, _who: Deployer
) -> dict[str, Any]:
    with hub.writing(session):
        task = session.get(FederatedTask, task_id)
        if task is None:
            raise HubError(f"no federated task {task_id}", 404)
        task.closed_at = task.closed_at or time.time()
        rows = session.execute(
            select(FederatedUpdate.update, Node.name)
            .join(Node, Node.id == FederatedUpdate.node_id)
            .where(FederatedUpdate.task_id == task_id)
            .order_by(FederatedUpdate.id)
        ).all()
    return {"updates": [list(u) for u, _ in rows], "nodes": [n for _, n in rows]}


def _answered(session: Session, task_id: int, node_id: str) -> bool:
    found = session.scalar(select(FederatedUpdate.id).where(
        FederatedUpdate.task_id == task_id, FederatedUpdate.node_id == node_id))  # fmt: skip
    return found is not None
