"""The edge's reading of a bundle's ``manifest.policy`` and ``offers``, validated once at load.

``PolicySettings`` is what decide/observe/reports need; stored per experiment in the node's
meta table so reports of past days use the settings those decisions were made under.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from edgemark.errors import BundleError

_REQUIRED = (
    "experiment",
    "salt",
    "holdout_share",
    "lookback_hours",
    "epsilon_per_report",
    "max_contributions_per_user",
    "revenue_cap",
    "prior_alpha",
    "prior_beta",
)


@dataclass(frozen=True, slots=True)
class PolicySettings:
    """Validated policy of one experiment (see CONTRACTS.md, "Bundle")."""

    experiment: str
    salt: str
    holdout_share: float
    lookback_hours: float
    epsilon_per_report: float
    max_contributions_per_user: int
    revenue_cap: float
    prior_alpha: float
    prior_beta: float
    offers: tuple[str, ...]

    def to_json(self) -> str:
        """Canonical JSON for the meta table."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PolicySettings:
        """Inverse of ``to_json``."""
        raw = json.loads(text)
        raw["offers"] = tuple(raw["offers"])
        return cls(**raw)


def _number(policy: Mapping[str, Any], key: str, *, low: float, high: float = math.inf) -> float:
    value = policy[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BundleError(f"Bundle policy {key!r} must be a finite number, got {value!r}.")
    if not low <= float(value) <= high:
        raise BundleError(f"Bundle policy {key!r}={value} is outside [{low}, {high}].")
    return float(value)


def parse_policy(policy: Mapping[str, Any], offers: Sequence[Mapping[str, Any]]) -> PolicySettings:
    """Validate a manifest's policy and offers; raise ``BundleError`` naming what is wrong."""
    missing = [k for k in _REQUIRED if k not in policy]
    if missing:
        raise BundleError(f"Bundle policy lacks {missing}; rebuild the bundle with them.")
    for key in ("experiment", "salt"):
        if not isinstance(policy[key], str) or not policy[key]:
            raise BundleError(f"Bundle policy {key!r} must be a non-empty string.")
    ids = tuple(str(o.get("id", "")) for o in offers)
    if not ids or "" in ids or "holdout" in ids or len(set(ids)) != len(ids):
        raise BundleError(
            f"Bundle offers {list(ids)} must be non-empty, unique ids other than 'holdout'."
        )
    max_contrib = _number(policy, "max_contributions_per_user", low=1)
    if max_contrib != int(max_contrib):
        raise BundleError("Bundle policy 'max_contributions_per_user' must be an integer.")
    epsilon = _number(policy, "epsilon_per_report", low=0)
    if epsilon <= 0:
        raise BundleError("Bundle policy 'epsilon_per_report' must be > 0.")
    alpha = _number(policy, "prior_alpha", low=0)
    beta = _number(policy, "prior_beta", low=0)
    if alpha <= 0 or beta <= 0:
        raise BundleError("Bundle policy 'prior_alpha' and 'prior_beta' must be > 0.")
    return PolicySettings(
        experiment=policy["experiment"],
        salt=policy["salt"],
        holdout_share=_number(policy, "holdout_share", low=0, high=1),
        lookback_hours=_number(policy, "lookback_hours", low=0),
        epsilon_per_report=epsilon,
        max_contributions_per_user=int(max_contrib),
        revenue_cap=_number(policy, "revenue_cap", low=0),
        prior_alpha=alpha,
        prior_beta=beta,
        offers=ids,
    )
