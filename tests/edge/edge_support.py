"""Constants and helpers shared by the edge tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

OFFERS = [
    {"id": "pct10", "name": "10% off", "discount": 0.1, "cost": 1.0},
    {"id": "bogo", "name": "Buy one get one", "discount": 0.5, "cost": 3.0},
    {"id": "freeship", "name": "Free delivery", "discount": 0.0, "cost": 2.0},
]
POLICY: dict[str, Any] = {
    "experiment": "exp-1",
    "salt": "salt-1",
    "holdout_share": 0.2,
    "lookback_hours": 24.0,
    "epsilon_per_report": 3.0,
    "max_contributions_per_user": 2,
    "revenue_cap": 100.0,
    "prior_alpha": 1.0,
    "prior_beta": 1.0,
}
DAY = 86400.0
T0 = 20_460 * DAY  # 2026-01-05 00:00 UTC


BundleFactory = Callable[..., Path]
