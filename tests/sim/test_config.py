from __future__ import annotations

from typing import Any

import pytest

from edgemark.errors import SimError
from edgemark.sim import DEFAULT_OFFERS, DEFAULT_START, OfferSpec, SimConfig


def test_defaults_follow_the_contract() -> None:
    config = SimConfig()
    assert (config.customers, config.nodes, config.days, config.seed) == (4000, 4, 28, 7)
    assert config.start == DEFAULT_START == 1767571200.0  # 2026-01-05 00:00 UTC
    assert [o.id for o in config.offers] == ["pct10", "bogo", "freeship"]
    assert config.node_names == ("store-1", "store-2", "store-3", "store-4")


def test_default_offers_help_some_segments_and_not_others() -> None:
    effects = {o.id: dict(o.effects) for o in DEFAULT_OFFERS}
    assert effects["pct10"]["bargain"] > 0.1 > effects["pct10"]["premium"]
    assert effects["freeship"]["premium"] > 0.05
    assert effects["freeship"]["loyal"] < 0
    assert DEFAULT_OFFERS[0].to_dict() == {
        "id": "pct10",
        "name": "10% off",
        "discount": 0.1,
        "cost": 0.0,
    }


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customers": 0}, "customers must be"),
        ({"nodes": 0}, "nodes must be"),
        ({"days": 0}, "days must be"),
        ({"seed": -1}, "seed must be"),
        ({"share_no_training": 1.5}, "share_no_training"),
        ({"offers": (OfferSpec("a", "A", 0, 0), OfferSpec("a", "B", 0, 0))}, "unique"),
        ({"offers": (OfferSpec("holdout", "H", 0, 0),)}, "holdout"),
    ],
)
def test_invalid_settings_raise_sim_error(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(SimError, match=message):
        SimConfig(**kwargs)
