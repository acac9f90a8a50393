"""Writing a simulated shop's export: ``events.parquet`` (history, raw ids) and ``truth.json``.

Parquet needs pyarrow (extra ``train``), imported only when ``generate`` runs.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgemark._extras import require
from edgemark.events import EVENT_COLUMNS, Event
from edgemark.sim._config import SimConfig
from edgemark.sim._world import RetailWorld

_STRING_COLUMNS = ("event_id", "user", "type", "node", "channel", "item", "category", "offer")


@dataclass(frozen=True, slots=True)
class GenerateResult:
    """What ``generate`` wrote and how much of it."""

    events_path: Path
    truth_path: Path
    customers: int
    nodes: int
    days: int
    visits: int
    events: int
    by_type: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (paths as strings)."""
        return {
            "events_path": str(self.events_path),
            "truth_path": str(self.truth_path),
            "customers": self.customers,
            "nodes": self.nodes,
            "days": self.days,
            "visits": self.visits,
            "events": self.events,
            "by_type": dict(self.by_type),
        }


def write_events_parquet(events: list[Event], path: Path) -> None:
    """Write events with the ``EVENT_COLUMNS`` in order; ``ts`` is float64 epoch seconds UTC."""
    pa = require("pyarrow", "train")
    pq = require("pyarrow.parquet", "train")
    types = {name: pa.string() for name in _STRING_COLUMNS}
    types.update({"ts": pa.float64(), "amount": pa.float64()})
    types.update({name: pa.bool_() for name in EVENT_COLUMNS if name.startswith("consent_")})
    columns = {
        name: pa.array([getattr(e, name) for e in events], type=types[name])
        for name in EVENT_COLUMNS
    }
    pq.write_table(pa.table(columns), path)


def generate(config: SimConfig, out_dir: Path) -> GenerateResult:
    """Simulate ``config.days`` days of history and write ``events.parquet`` and ``truth.json``.

    The events carry raw customer ids (``cust-000123``): this is the shop's own export,
    to be pseudonymised by ingestion. ``truth.json`` holds ``RetailWorld.truth()`` plus the
    per-node truth and the config.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    world = RetailWorld(config)
    events = world.history(config.days)
    visits = sum(len(world.visits(day)) for day in range(config.days))
    events_path, truth_path = out_dir / "events.parquet", out_dir / "truth.json"
    write_events_parquet(events, events_path)
    truth = world.truth()
    truth["by_node"] = {node: world.truth_for_node(node) for node in world.nodes}
    truth["config"] = config.to_dict()
    truth_path.write_text(json.dumps(truth, indent=2, sort_keys=True) + "\n")
    by_type = Counter(e.type for e in events)
    return GenerateResult(
        events_path=events_path,
        truth_path=truth_path,
        customers=config.customers,
        nodes=config.nodes,
        days=config.days,
        visits=visits,
        events=len(events),
        by_type=dict(sorted(by_type.items())),
    )
