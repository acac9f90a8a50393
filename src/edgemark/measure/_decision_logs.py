"""Off-policy logs from the edge's decisions: which rows to use and with what propensity.

The edge logs ``probability = share(layer) * P(action | layer, context)``, where a user's
layer (holdout, explore or policy) is fixed by a hash of their pseudonym. An action such as
"no offer" or "pct10" can come from several layers, so that number is not the chance of the
action given the context: IPS over every row would count such an action once per layer
that can produce it (in the demo, about twice its value). In the randomised layers each
action comes from exactly one layer (holdout: no offer; explore: the offers, uniformly), so
keeping only their rows and dividing ``probability`` by their share of the decisions gives
every kept row the chance of its action given that its decision was randomised: a valid,
context-free propensity for IPS, SNIPS and DR.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import MeasureError

FloatArray = npt.NDArray[np.float64]
RANDOMISED_LAYERS = ("holdout", "explore")


@dataclass(frozen=True, slots=True)
class DecisionLogs:
    """Rows for ``off_policy_value``: action names (``no_offer`` for none), rewards and
    propensities, and how many of ``total`` decisions were kept."""

    actions: tuple[str, ...]
    rewards: FloatArray
    propensities: FloatArray
    kept: int
    total: int


def decision_logs(
    decisions: Iterable[Mapping[str, Any]],
    reward: str = "bought",
    *,
    layers: Sequence[str] = RANDOMISED_LAYERS,
    no_offer: str = "holdout",
) -> DecisionLogs:
    """The rows of the randomised ``layers`` with propensities ``probability / share``.

    ``decisions`` are the edge's ``Decision.to_dict()`` rows (``offer``, ``probability``,
    ``layer``) with the outcome under ``reward``; ``share`` is the fraction of all the
    decisions given that fall in ``layers``, so pass every logged decision of the period.

    Examples
    --------
    >>> rows = [
    ...     {"offer": None, "probability": 0.2, "layer": "holdout", "bought": 0},
    ...     {"offer": "a", "probability": 0.2, "layer": "explore", "bought": 1},
    ...     {"offer": "a", "probability": 0.3, "layer": "policy", "bought": 1},
    ... ]
    >>> logs = decision_logs(rows)
    >>> logs.actions, [round(float(p), 3) for p in logs.propensities], logs.kept, logs.total
    (('holdout', 'a'), [0.3, 0.3], 2, 3)
    """
    rows = list(decisions)
    wanted = set(layers)
    kept = [(i, d) for i, d in enumerate(rows) if _layer(d, i) in wanted]
    if not kept:
        raise MeasureError(
            f"none of the {len(rows)} decisions is in the layers {sorted(wanted)}; OPE needs "
            "randomised decisions (give the bundle a holdout and an explore share)"
        )
    share = len(kept) / len(rows)
    actions = tuple(str(d["offer"]) if d.get("offer") else no_offer for _, d in kept)
    rewards = np.array([_number(d, reward, i) for i, d in kept])
    propensities = np.array([_number(d, "probability", i) for i, d in kept]) / share
    return DecisionLogs(actions, rewards, propensities, len(kept), len(rows))


def _layer(decision: Mapping[str, Any], index: int) -> str:
    if not isinstance(decision, Mapping) or "layer" not in decision:
        raise MeasureError(f"decision {index} has no 'layer' (the edge's Decision.to_dict())")
    return str(decision["layer"])


def _number(decision: Mapping[str, Any], key: str, index: int) -> float:
    value = decision.get(key)
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, int | float) or value != value:
        raise MeasureError(f"decision {index} needs a number in {key!r}, got {value!r}")
    return float(value)
