"""Wave arithmetic of rollouts: valid wave lists, cumulative wave sizes, the node order."""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence

from edgemark.errors import RolloutError


def validate_waves(waves: Sequence[float]) -> list[float]:
    """Check waves are non-empty, strictly increasing percentages in (0, 100] ending at 100."""
    if not waves:
        raise RolloutError("waves must not be empty; e.g. [25, 50, 100].", 422)
    if any(not (0 < w <= 100) for w in waves):
        raise RolloutError(f"every wave must be a percentage in (0, 100]; got {list(waves)}.", 422)
    if any(b <= a for a, b in itertools.pairwise(waves)):
        raise RolloutError(f"waves must be strictly increasing; got {list(waves)}.", 422)
    if waves[-1] != 100:
        raise RolloutError(f"the last wave must be 100 (every node); got {list(waves)}.", 422)
    return [float(w) for w in waves]


def wave_sizes(waves: Sequence[float], n_nodes: int, min_nodes: int = 1) -> list[int]:
    """How many nodes waves 0..k cover: min(n, max(ceil(pct/100 * n), min_nodes)), cumulative.

    >>> wave_sizes([25, 50, 100], 4)
    [1, 2, 4]
    >>> wave_sizes([1, 10, 100], 1000, min_nodes=50)
    [50, 100, 1000]
    """
    # round() first so 0.1-style float error in pct/100*n cannot add a node
    return [min(n_nodes, max(math.ceil(round(w / 100 * n_nodes, 9)), min_nodes)) for w in waves]


def ordered_nodes(rollout_id: str, node_ids: Sequence[str]) -> list[str]:
    """Node ids in the rollout's order: sorted by sha256(rollout_id + node_id)."""
    return sorted(node_ids, key=lambda n: hashlib.sha256((rollout_id + n).encode()).hexdigest())
