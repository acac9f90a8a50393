"""The hub's privacy ledger: epsilon spent per node and fleet-wide, from DP reports and
from federated rounds, and the recording of federated rounds.

Reports: a day costs a node the largest epsilon of that day's rows (a user is in one arm
per day: parallel composition), and days add up (sequential composition). Federated: a
run costs each node enrolled in it the run's final cumulative epsilon (node-level DP, so
it holds for every node whether or not sampling picked it); runs add up. Fleet-wide: nodes
hold disjoint users (per-node pseudonyms), so the fleet spends the largest node's total.
"""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgemark.hub._db import FederatedRound, Node, Report

DEFAULT_DELTA = 1e-6


def privacy_ledger(session: Session, budget: float | None = None) -> dict[str, Any]:
    """The ledger in agreement A's shape (``delta``, ``fleet``, ``nodes``, ``rounds``)."""
    names = {n.id: n.name for n in session.scalars(select(Node))}
    by_name = {name: node_id for node_id, name in names.items()}
    reports = _report_epsilon(session)
    rounds = list(session.scalars(select(FederatedRound).order_by(FederatedRound.id)))
    federated = _federated_epsilon(rounds, by_name)
    nodes: list[dict[str, Any]] = []
    for node_id in sorted(set(names) | set(reports) | set(federated)):
        eps_r, eps_f = reports.get(node_id, 0.0), federated.get(node_id, 0.0)
        nodes.append(
            {
                "node_id": node_id,
                "epsilon_reports": eps_r,
                "epsilon_federated": eps_f,
                "epsilon_spent": eps_r + eps_f,
                "budget": budget,
            }
        )
    delta = max([r.delta for r in rounds], default=DEFAULT_DELTA)
    fleet = max((float(n["epsilon_spent"]) for n in nodes), default=0.0)
    return {
        "delta": delta,
        "fleet": {"epsilon_spent": fleet, "budget": budget},
        "nodes": nodes,
        "rounds": [
            {
                "run_id": r.run_id,
                "round": r.round,
                "epsilon_cumulative": r.epsilon_cumulative,
                "clients": r.clients,
                "auc": r.auc,
            }
            for r in rounds
        ],
    }


def _report_epsilon(session: Session) -> dict[str, float]:
    per_day: dict[tuple[str, int, str], float] = defaultdict(float)
    rows = session.execute(select(Report.node_id, Report.day, Report.experiment, Report.epsilon))
    for node_id, day, experiment, epsilon in rows:
        key = (node_id, int(day), experiment)
        per_day[key] = max(per_day[key], float(epsilon))
    out: dict[str, float] = defaultdict(float)
    for (node_id, _day, _experiment), epsilon in per_day.items():
        out[node_id] += epsilon
    return dict(out)


def _federated_epsilon(rounds: list[FederatedRound], by_name: dict[str, str]) -> dict[str, float]:
    final: dict[str, FederatedRound] = {}
    for r in rounds:
        if r.run_id not in final or r.round > final[r.run_id].round:
            final[r.run_id] = r
    out: dict[str, float] = defaultdict(float)
    for last in final.values():
        for name in last.nodes:
            out[by_name.get(name, name)] += last.epsilon_cumulative
    return dict(out)


def record_round(session: Session, body: dict[str, Any]) -> bool:
    """Store one round (idempotent per run and round); False when it was stored already."""
    exists = session.scalar(
        select(FederatedRound.id).where(
            FederatedRound.run_id == body["run_id"], FederatedRound.round == body["round"]
        )
    )
    if exists is not None:
        return False
    session.add(
        FederatedRound(
            run_id=body["run_id"],
            round=body["round"],
            epsilon_cumulative=body["epsilon_cumulative"],
            delta=body["delta"],
            clients=body["clients"],
            auc=body.get("auc"),
            nodes=list(body.get("nodes", [])),
            recorded_at=time.time(),
        )
    )
    return True
