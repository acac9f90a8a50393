"""Paths fixtures shared by the attribution tests."""

from __future__ import annotations

import numpy as np

from edgemark.measure._paths import Paths
from edgemark.sim import JourneyWorld


def simulated_paths(
    journeys: int, seed: int = 1, world_seed: int = 3
) -> tuple[Paths, JourneyWorld]:
    world = JourneyWorld.random(seed=world_seed)
    rows = world.paths_table(journeys, seed=seed)
    paths = Paths.from_strings(
        np.array([r["path"] for r in rows]),
        [r["total_conversions"] for r in rows],
        [r["total_null"] for r in rows],
        [r["total_conversion_value"] for r in rows],
    )
    return paths, world
