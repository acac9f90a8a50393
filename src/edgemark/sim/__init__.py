"""Simulator plane: a seeded retail world with ground truth (customers, stores, offers),
plus customer journeys over channels with a known attribution structure and weekly media
spend with known adstock, saturation and ROAS.

Core install (numpy + stdlib); ``generate`` writes Parquet and needs the ``train`` extra.
``generate_catalog``, ``write_docs`` and ``labelled_queries`` make a product catalog, FAQ
pages and labelled questions for content packs and their evals.
"""

from __future__ import annotations

from edgemark.sim._catalog import CatalogItem, generate_catalog, write_catalog
from edgemark.sim._config import DEFAULT_OFFERS, DEFAULT_START, OfferSpec, SimConfig
from edgemark.sim._faq import (
    BANNED_CLAIMS,
    LabelledQuery,
    labelled_queries,
    reference_copy,
    write_docs,
)
from edgemark.sim._generate import GenerateResult, generate
from edgemark.sim._journeys import JourneyWorld
from edgemark.sim._media import DEFAULT_MEDIA, MediaChannel, MediaData, simulate_media
from edgemark.sim._world import CATEGORIES, RetailWorld, Visit

__all__ = [
    "BANNED_CLAIMS",
    "CATEGORIES",
    "DEFAULT_MEDIA",
    "DEFAULT_OFFERS",
    "DEFAULT_START",
    "CatalogItem",
    "GenerateResult",
    "JourneyWorld",
    "LabelledQuery",
    "MediaChannel",
    "MediaData",
    "OfferSpec",
    "RetailWorld",
    "SimConfig",
    "Visit",
    "generate",
    "generate_catalog",
    "labelled_queries",
    "reference_copy",
    "simulate_media",
    "write_catalog",
    "write_docs",
]
