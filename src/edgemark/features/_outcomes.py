"""Outcomes (labels) of training frames: what happens in ``(t, t + horizon]`` after a label time.

``purchase`` is 1 when the user buys in the horizon, ``churn`` is 1 when they do not,
``spend`` is the amount they spend. Outcomes read every purchase in the log (consent to
training is checked per row of the frame, not per purchase).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgemark.errors import FeatureError
from edgemark.features._spec import DAY_SECONDS

OUTCOME_KINDS: tuple[str, ...] = ("purchase", "churn", "spend")


@dataclass(frozen=True, slots=True)
class Outcome:
    """One outcome column: ``kind`` over ``horizon_days`` after the label time.

    Examples
    --------
    >>> Outcome("churn_30d", "churn", 30).horizon_days
    30
    """

    name: str
    kind: str
    horizon_days: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise FeatureError(f"outcome name {self.name!r} must be a Python-style identifier")
        if self.kind not in OUTCOME_KINDS:
            raise FeatureError(
                f"outcome {self.name!r}: unknown kind {self.kind!r}; use {', '.join(OUTCOME_KINDS)}"
            )
        h = self.horizon_days
        if isinstance(h, bool) or not isinstance(h, int | float) or not 0 < h < math.inf:
            raise FeatureError(f"outcome {self.name!r}: horizon_days must be > 0, got {h!r}")

    @classmethod
    def parse(cls, text: str) -> Outcome:
        """Parse ``kind:days`` or ``name=kind:days`` (as the CLI takes them)."""
        name, _, rest = text.rpartition("=")
        kind, _, days = rest.partition(":")
        try:
            horizon = float(days)
        except ValueError:
            raise FeatureError(
                f"outcome {text!r} is not kind:days (e.g. purchase:7, churn:30, spend:30)"
            ) from None
        shown = int(horizon) if horizon.is_integer() else horizon
        return cls(name or f"{kind.strip()}_{shown}d", kind.strip(), horizon)


def outcome_query(outcomes: list[Outcome]) -> str:
    """SELECT idx and one column per outcome for the pairs in ``pairs`` (idx, u, t)."""
    horizons = sorted({float(o.horizon_days) * DAY_SECONDS for o in outcomes})
    longest = horizons[-1]
    cols = []
    for o in outcomes:
        h = float(o.horizon_days) * DAY_SECONDS
        inside = f"b.ts > p.t AND b.ts <= p.t + CAST({h!r} AS DOUBLE)"
        if o.kind == "spend":
            cols.append(
                f'coalesce(sum(coalesce(b.amount, 0.0)) FILTER (WHERE {inside}), 0.0) AS "{o.name}"'
            )
        else:
            bought = f"count(b.ts) FILTER (WHERE {inside}) > 0"
            flag = bought if o.kind == "purchase" else f"NOT ({bought})"
            cols.append(f'CAST({flag} AS BIGINT) AS "{o.name}"')
    return (
        f"SELECT p.idx, {', '.join(cols)} FROM pairs p LEFT JOIN (SELECT u, ts, amount FROM ev "
        f"WHERE type = 'purchase') b ON b.u = p.u AND b.ts > p.t AND b.ts <= p.t + "
        f"CAST({longest!r} AS DOUBLE) GROUP BY p.idx"
    )
