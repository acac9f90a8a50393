"""Benchmark of the online feature engine on the decision hot path.

Replays a simulated 90-day history into ``OnlineFeatures(DEFAULT_SPEC)`` and times
``vector`` / ``vector_into`` for a median and the heaviest user, plus ``update``.
Prints one JSON object: {"bench": "features_vector", "figures": {...}} (microseconds).
"""

from __future__ import annotations

import json
import statistics
import timeit

import numpy as np

from edgemark.features import DEFAULT_SPEC, OnlineFeatures
from edgemark.sim import RetailWorld, SimConfig


def _per_call_us(stmt: str, env: dict[str, object], number: int = 50_000) -> float:
    runs = timeit.repeat(stmt, globals=env, number=number, repeat=5)
    return statistics.median(runs) / number * 1e6


def main() -> None:
    config = SimConfig(customers=500, days=90, seed=3)
    events = sorted(RetailWorld(config).history(config.days), key=lambda e: e.ts)
    online = OnlineFeatures(DEFAULT_SPEC)
    for e in events:
        online.update(e.user, e.type, e.ts, e.amount)
    now = events[-1].ts + 3600.0
    users = sorted({e.user for e in events})
    sizes = {u: sum(len(b) for b in online.state_of(u)["buckets"].values()) for u in users}
    ranked = sorted(users, key=lambda u: sizes[u])
    median_user, heaviest_user = ranked[len(ranked) // 2], ranked[-1]
    out = np.empty(len(DEFAULT_SPEC.names), dtype=np.float32)
    env: dict[str, object] = {"o": online, "now": now, "out": out}
    figures: dict[str, object] = {
        "users": len(users),
        "events": len(events),
        "median_user_buckets": sizes[median_user],
        "heaviest_user_buckets": sizes[heaviest_user],
    }
    for label, user in (("median", median_user), ("heaviest", heaviest_user), ("unknown", "-")):
        env["u"] = user
        figures[f"vector_{label}_us"] = round(_per_call_us("o.vector(u, now)", env), 3)
        figures[f"vector_into_{label}_us"] = round(
            _per_call_us("o.vector_into(u, now, out)", env), 3
        )
    fresh = OnlineFeatures(DEFAULT_SPEC)
    env.update(fresh=fresh, events=events)
    replay = timeit.timeit("for e in events: fresh.update(e.user, e.type, e.ts, e.amount)",
                           globals=env, number=1)  # fmt: skip
    figures["update_us"] = round(replay / len(events) * 1e6, 3)
    print(json.dumps({"bench": "features_vector", "figures": figures}))


if __name__ == "__main__":
    main()
