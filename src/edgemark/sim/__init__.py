"""Simulator plane: a seeded retail world with ground truth (customers, stores, offers),
plus customer journeys over channels with a known attribution structure.

Core install (numpy + stdlib); ``generate`` writes Parquet and needs the ``train`` extra.
"""

from __future__ import annotations

from edgemark.sim._config import DEFAULT_OFFERS, DEFAULT_START, OfferSpec, SimConfig
from edgemark.sim._generate import GenerateResult, generate
from edgemark.sim._journeys import JourneyWorld
from edgemark.sim._world import CATEGORIES, RetailWorld, Visit

__all__ = [
    "CATEGORIES",
    "DEFAULT_OFFERS",
    "DEFAULT_START",
    "GenerateResult",
    "JourneyWorld",
    "OfferSpec",
    "RetailWorld",
    "SimConfig",
    "Visit",
    "generate",
]
