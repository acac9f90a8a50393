"""On-device attribution: credit for a purchase over the offers the user was shown before it.

A touch counts if the purchase falls inside its offer's lookback window. ``last_touch``
gives all credit to the latest touch; ``position_based`` gives 40% to the first, 40% to
the last and spreads 20% over the touches between (two touches: 50/50). Credits of one
purchase sum to 1, and the runtime credits each purchase event once (by its event id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Touch:
    """An offer shown by a decision: id, time, offer and that offer's lookback (seconds)."""

    decision_id: str
    ts: float
    offer: str
    lookback_s: float


def credits(touches: Sequence[Touch], ts: float, model: str) -> list[tuple[Touch, float]]:
    """The touches credited for a purchase at ``ts`` and their shares (sum 1, or empty).

    >>> t = [Touch("a", 0.0, "x", 100.0), Touch("b", 10.0, "y", 100.0), Touch("c", 20.0, "x", 5.0)]
    >>> [(c.decision_id, w) for c, w in credits(t, 30.0, "last_touch")]
    [('b', 1.0)]
    >>> [(c.decision_id, w) for c, w in credits(t, 22.0, "position_based")]
    [('a', 0.4), ('b', 0.2), ('c', 0.4)]
    """
    live = sorted((t for t in touches if t.ts <= ts <= t.ts + t.lookback_s), key=lambda t: t.ts)
    if not live:
        return []
    if model == "last_touch" or len(live) == 1:
        return [(live[-1], 1.0)]
    if len(live) == 2:
        return [(live[0], 0.5), (live[1], 0.5)]
    middle = 0.2 / (len(live) - 2)
    return [(live[0], 0.4), *((t, middle) for t in live[1:-1]), (live[-1], 0.4)]
