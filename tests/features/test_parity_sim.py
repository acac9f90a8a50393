"""Parity on a simulated retail history (edgemark.sim), replayed in arrival order."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edgemark.events import EVENT_COLUMNS, Event
from edgemark.features import DEFAULT_SPEC, OnlineFeatures, build_training_frame

sim = pytest.importorskip("edgemark.sim")

DAY = 86400.0


def test_online_replay_matches_the_training_frame() -> None:
    config = sim.SimConfig(customers=300, days=35, seed=3)
    events = sorted(sim.RetailWorld(config).history(config.days), key=lambda e: e.ts)
    label_times = [config.start + d * DAY for d in (7, 14.5, 21, 28)]
    frame = build_training_frame(
        _table(events), DEFAULT_SPEC, label_times, horizon_days=7
    ).set_index(["label_time", "user"])
    online = OnlineFeatures(DEFAULT_SPEC)
    position = 0
    worst = 0.0
    checked = 0
    nonzero = np.zeros(len(DEFAULT_SPEC.names), dtype=bool)

    for t in label_times:
        while position < len(events) and events[position].ts <= t:
            online.update_event(events[position])
            position += 1
        rows = frame.loc[t]
        for user, row in rows.iterrows():
            want = row[list(DEFAULT_SPEC.names)].to_numpy(float)
            worst = max(worst, float(np.abs(online.vector(str(user), t) - want).max()))
            nonzero |= want != 0
            checked += 1

    assert checked > 300
    assert worst <= 1e-9
    missing = [n for n, seen in zip(DEFAULT_SPEC.names, nonzero, strict=True) if not seen]
    assert set(missing) <= {"day_of_week"}  # every label time here falls on a Monday


def _table(events: list[Event]) -> Any:
    import pyarrow as pa

    return pa.Table.from_pylist([e.to_dict() for e in events]).select(list(EVENT_COLUMNS))
