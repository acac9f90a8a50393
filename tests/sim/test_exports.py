from __future__ import annotations

import edgemark.sim


def test_public_names_are_pinned() -> None:
    assert edgemark.sim.__all__ == [
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
    assert all(hasattr(edgemark.sim, name) for name in edgemark.sim.__all__)
