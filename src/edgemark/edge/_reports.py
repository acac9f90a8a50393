"""DP report rows of one closed day: contribution bounding per user, then Laplace noise.

Rows carry no user identifier of any kind; the idempotency key depends only on
node, day, experiment and arm, so a re-sent row is stored once by the hub.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from edgemark.edge._settings import PolicySettings
from edgemark.privacy import laplace_count, laplace_sum

DayDecision = tuple[str, str, str, str, int, float | None]
"""(decision id, pseudonym, experiment, arm, consent_measurement, revenue or None)."""


def idempotency_key(node_id: str, day: int, experiment: str, arm: str) -> str:
    """sha256 of node|day|experiment|arm (bundle independent).

    >>> len(idempotency_key("store-1", 20460, "exp", "holdout"))
    64
    """
    return hashlib.sha256(f"{node_id}|{day}|{experiment}|{arm}".encode()).hexdigest()


def build_day_rows(
    node_id: str,
    day: int,
    decisions: Sequence[DayDecision],
    settings: Mapping[str, PolicySettings],
) -> tuple[list[dict[str, Any]], list[str]]:
    """Noised rows per (experiment, arm) and the ids of the decisions they count.

    ``decisions`` must be ordered by pseudonym then time: each user's first
    ``max_contributions_per_user`` measurable decisions of the day (per experiment) count.
    """
    exposures: dict[tuple[str, str], int] = {}
    conversions: dict[tuple[str, str], int] = {}
    revenue: dict[tuple[str, str], float] = {}
    used: dict[tuple[str, str], int] = {}
    counted: list[str] = []
    for decision_id, pseudonym, experiment, arm, consent, rev in decisions:
        policy = settings.get(experiment)
        if policy is None:
            continue
        cell = (experiment, arm)
        exposures.setdefault(cell, 0)
        if not consent or used.get((pseudonym, experiment), 0) >= policy.max_contributions_per_user:
            continue
        used[(pseudonym, experiment)] = used.get((pseudonym, experiment), 0) + 1
        counted.append(decision_id)
        exposures[cell] += 1
        if rev is not None:
            conversions[cell] = conversions.get(cell, 0) + 1
            revenue[cell] = revenue.get(cell, 0.0) + min(rev, policy.revenue_cap)
    for experiment in {e for e, _ in exposures}:
        for arm in ("holdout", *settings[experiment].offers):
            exposures.setdefault((experiment, arm), 0)
    rows = [
        _noised_row(
            node_id,
            day,
            cell,
            exposures[cell],
            conversions.get(cell, 0),
            revenue.get(cell, 0.0),
            settings[cell[0]],
        )
        for cell in sorted(exposures)
    ]
    return rows, counted


def _noised_row(
    node_id: str,
    day: int,
    cell: tuple[str, str],
    exposures: int,
    conversions: int,
    revenue: float,
    policy: PolicySettings,
) -> dict[str, Any]:
    epsilon = policy.epsilon_per_report / 3.0
    count_sens = policy.max_contributions_per_user
    revenue_sens = policy.max_contributions_per_user * policy.revenue_cap
    experiment, arm = cell
    return {
        "idempotency_key": idempotency_key(node_id, day, experiment, arm),
        "day": day,
        "experiment": experiment,
        "arm": arm,
        "exposures": laplace_count(exposures, epsilon, count_sens),
        "conversions": laplace_count(conversions, epsilon, count_sens),
        "revenue": laplace_sum(revenue, epsilon, revenue_sens) if revenue_sens > 0 else 0.0,
        "epsilon": policy.epsilon_per_report,
        "count_noise_scale": count_sens / epsilon,
        "revenue_noise_scale": revenue_sens / epsilon,
    }
