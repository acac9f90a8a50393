from __future__ import annotations

import edgemark.sim


def test_public_names_are_pinned() -> None:
    assert edgemark.sim.__all__ == [
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
    assert all(hasattr(edgemark.sim, name) for name in edgemark.sim.__all__)
