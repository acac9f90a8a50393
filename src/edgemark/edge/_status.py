"""The node's status figures: what ``Runtime.stats()`` returns to heartbeats, /v1/status and
/metrics. ``health`` has exactly the shape of the hub's heartbeat ``health`` object
(cumulative figures of the serving version since this process started running it).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from edgemark.edge._active import Active
    from edgemark.edge._runtime import Runtime


def node_stats(
    runtime: Runtime,
    active: Active | None,
    latencies: npt.NDArray[np.float64],
    data: dict[str, Any],
) -> dict[str, Any]:
    """Assemble the status dict (no raw or pseudonymous user id anywhere in it)."""
    p50, p99 = np.percentile(latencies, [50, 99]).tolist() if latencies.size else (None, None)
    drift: dict[str, float] = data["drift"]
    health = None
    if active is not None and data["health"] is not None:
        health = {
            "version": active.version,
            **asdict(data["health"]),
            "decide_p99_us": p99,
            "drift_psi": max(drift.values()) if drift else None,
        }
    ledger = runtime.ledger
    periods = sorted({e.period for e in ledger.entries()})
    outbox = runtime.outbox.stats()
    return {
        "node_id": runtime.node_id,
        "active_version": None if active is None else active.version,
        "decisions_by_version": data["by_version"],
        "decisions_by_offer": _nested(data["by_offer"]),
        "latency_p50_us": p50,
        "latency_p99_us": p99,
        "latency_histogram": data["latency_histogram"],
        "unsent_reports": outbox["unsent"],
        "health": health,
        "drift_psi": drift,
        "outbox": outbox,
        "privacy": {
            "budget_epsilon": ledger.budget.epsilon,
            "period_days": ledger.budget.period_days,
            "spent_by_period": {str(p): ledger.spent(p) for p in periods},
            "refused_releases": len(runtime.store.refusals()),
        },
        "guardrails_blocked": data["blocked"],
        "attribution": {
            offer: {"conversions": c, "revenue": r} for offer, (c, r) in data["attributed"].items()
        },
        "events": data["events"],
        "duplicate_events": data["duplicates"],
        "experiment": None if active is None else _experiment(active),
    }


def _experiment(active: Active) -> dict[str, Any]:
    settings = active.settings
    return {
        "name": settings.experiment,
        "policy": settings.policy,
        "holdout_share": settings.holdout_share,
        "explore_share": settings.explore_share,
        "policy_share": settings.policy_share,
        "experiments": [layer.name for layer in settings.layers],
    }


def _nested(counts: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    """{(offer, layer): n} as {offer: {layer: n}}, the shape /metrics labels by."""
    out: dict[str, dict[str, int]] = {}
    for (offer, layer), n in counts.items():
        out.setdefault(offer, {})[layer] = n
    return out
