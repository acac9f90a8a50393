"""DP report rows of one closed day: which decisions count, contribution bounding, Laplace noise.

Measurement validity: for the bundle's own experiment only the ``holdout`` and ``explore``
layers (users assigned at random, offers drawn uniformly at random) feed the arm rows, so
each offer's row against the holdout row is a randomised comparison however the contextual
policy allocates its own traffic. With ``report_policy_arm`` the policy layer adds one more
row, arm ``policy`` (the policy as a whole against the holdout). A further experiment gets
rows ``holdout`` and ``treatment`` over every decision. Rows carry no user identifier; the
idempotency key depends only on node, day, experiment and arm.

Privacy of one release (one experiment's rows for one day): each user's first ``k =
max_contributions_per_user`` measurable decisions count, each decision's revenue clipped to
``revenue_cap``. A user then moves the vector of per-arm exposures, and of conversions, by at
most ``k`` in L1, of revenue sums by ``k cap``, and of per-arm sums of squared per-user
revenue by ``(k cap)^2`` (the squares of a user's per-arm revenues sum to at most the square
of their total). Each of these four statistics gets Laplace noise (OpenDP) of scale
sensitivity / (epsilon / 4), so each is epsilon/4-DP and by sequential composition the
release is ``epsilon_per_report``-DP: the amount the node's ledger charges (the rows'
``epsilon``). The squared sums let the hub put sampling variance into revenue intervals.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from edgemark.edge._settings import PolicySettings
from edgemark.edge._state import DayDecision
from edgemark.privacy import laplace_count, laplace_sum

_MEASURED_LAYERS = frozenset({"holdout", "explore", "legacy"})
_STATISTICS = 4  # exposures, conversions, revenue, squared per-user revenue share epsilon


def idempotency_key(node_id: str, day: int, experiment: str, arm: str) -> str:
    """sha256 of node|day|experiment|arm (bundle independent).

    >>> len(idempotency_key("store-1", 20460, "exp", "holdout"))
    64
    """
    return hashlib.sha256(f"{node_id}|{day}|{experiment}|{arm}".encode()).hexdigest()


def _arms(policy: PolicySettings) -> dict[str, tuple[str, ...]]:
    primary = ("holdout", *policy.offers, *(("policy",) if policy.report_policy_arm else ()))
    out = {policy.experiment: primary}
    for layer in policy.layers:
        out[layer.name] = ("holdout", "treatment")
    return out


def _cells(decision: DayDecision, policy: PolicySettings) -> list[tuple[str, str]]:
    _id, _user, experiment, layer, arm, _consent, _rev, assignments = decision
    cells: list[tuple[str, str]] = []
    if layer in _MEASURED_LAYERS:
        cells.append((experiment, arm))
    elif layer == "policy" and policy.report_policy_arm:
        cells.append((experiment, "policy"))
    if assignments:
        cells.extend((str(e), str(a)) for e, a in json.loads(assignments).items())
    return cells


def build_day_rows(
    node_id: str,
    day: int,
    decisions: Sequence[DayDecision],
    settings: Mapping[str, PolicySettings],
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Noised rows per experiment and the ids of the decisions they count.

    ``decisions`` must be ordered by pseudonym then time: each user's first
    ``max_contributions_per_user`` measurable decisions of the day count, per experiment.
    """
    exposures: dict[tuple[str, str], int] = {}
    conversions: dict[tuple[str, str], int] = {}
    revenue: dict[tuple[str, str], float] = {}
    user_revenue: dict[tuple[str, str, str], float] = {}  # (user, experiment, arm)
    used: dict[tuple[str, str], int] = {}
    owner: dict[str, PolicySettings] = {}
    counted: list[str] = []
    for decision in decisions:
        policy = settings.get(decision[2])
        if policy is None:
            continue
        arms = _arms(policy)
        for experiment in arms:
            owner[experiment] = policy
        counts = False
        for cell in _cells(decision, policy):
            experiment = cell[0]
            if experiment not in arms or cell[1] not in arms[experiment]:
                continue
            user_key = (decision[1], experiment)
            if not decision[5] or used.get(user_key, 0) >= policy.max_contributions_per_user:
                continue
            used[user_key] = used.get(user_key, 0) + 1
            counts = True
            exposures[cell] = exposures.get(cell, 0) + 1
            if decision[6] is not None:
                conversions[cell] = conversions.get(cell, 0) + 1
                clipped = min(decision[6], policy.revenue_cap)
                revenue[cell] = revenue.get(cell, 0.0) + clipped
                key = (decision[1], *cell)
                user_revenue[key] = user_revenue.get(key, 0.0) + clipped
        if counts:
            counted.append(decision[0])
    squares: dict[tuple[str, str], float] = {}
    for (_user, experiment, arm), value in user_revenue.items():
        squares[(experiment, arm)] = squares.get((experiment, arm), 0.0) + value * value
    rows: dict[str, list[dict[str, Any]]] = {}
    for experiment in sorted(owner):
        policy = owner[experiment]
        rows[experiment] = [
            _noised_row(
                node_id,
                day,
                (experiment, arm),
                exposures.get((experiment, arm), 0),
                conversions.get((experiment, arm), 0),
                (revenue.get((experiment, arm), 0.0), squares.get((experiment, arm), 0.0)),
                policy,
            )
            for arm in sorted(_arms(policy)[experiment])
        ]
    return rows, counted


def _noised_row(
    node_id: str,
    day: int,
    cell: tuple[str, str],
    exposures: int,
    conversions: int,
    revenue: tuple[float, float],
    policy: PolicySettings,
) -> dict[str, Any]:
    epsilon = policy.epsilon_per_report / _STATISTICS
    k = policy.max_contributions_per_user
    revenue_sens = k * policy.revenue_cap
    square_sens = revenue_sens * revenue_sens
    experiment, arm = cell
    total, squares = revenue
    noised = revenue_sens > 0
    return {
        "idempotency_key": idempotency_key(node_id, day, experiment, arm),
        "day": day,
        "experiment": experiment,
        "arm": arm,
        "exposures": laplace_count(exposures, epsilon, k),
        "conversions": laplace_count(conversions, epsilon, k),
        "revenue": laplace_sum(total, epsilon, revenue_sens) if noised else 0.0,
        "epsilon": policy.epsilon_per_report,
        "count_noise_scale": k / epsilon,
        "revenue_noise_scale": revenue_sens / epsilon,
        "revenue_sq": laplace_sum(squares, epsilon, square_sens) if noised else 0.0,
        "revenue_sq_noise_scale": square_sens / epsilon,
        "max_contributions": k,
    }
