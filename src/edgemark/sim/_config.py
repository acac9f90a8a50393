"""Settings of the simulated retail world: ``SimConfig``, ``OfferSpec`` and the default offers.

Also owns the segment profiles (the hidden behaviour of each customer segment), which are
fixed on purpose: they are the ground truth the rest of edgemark is measured against.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgemark.errors import SimError

DEFAULT_START = 1767571200.0
"""2026-01-05 00:00 UTC, a Monday: day 0 of the simulation."""


@dataclass(frozen=True, slots=True)
class SegmentProfile:
    """Hidden behaviour of one customer segment (means; customers scatter around them)."""

    name: str
    share: float  # share of customers across the whole fleet
    visit_probability: float  # mean probability of visiting a store on a given day
    purchase_probability: float  # mean probability of buying during a visit, no offer
    basket: float  # mean basket value of a purchase


SEGMENTS: tuple[SegmentProfile, ...] = (
    SegmentProfile("bargain", 0.30, 0.35, 0.08, 25.0),
    SegmentProfile("loyal", 0.25, 0.45, 0.25, 45.0),
    SegmentProfile("premium", 0.20, 0.25, 0.18, 90.0),
    SegmentProfile("lapsing", 0.25, 0.12, 0.05, 35.0),
)


@dataclass(frozen=True, slots=True)
class OfferSpec:
    """An offer the shop can show, with its true effect on purchase probability.

    ``discount`` is the share of the basket value given away when the offer is redeemed,
    ``cost`` a fixed cost per redemption (e.g. delivery). ``effects`` is the additive change
    of a visit's purchase probability per segment (missing segments: no effect); it is the
    simulator's hidden truth and not part of ``to_dict()``, which is what a bundle carries.

    Examples
    --------
    >>> OfferSpec("pct5", "5% off", 0.05, 0.0, effects=(("bargain", 0.03),)).effect("bargain")
    0.03
    """

    id: str
    name: str
    discount: float
    cost: float
    effects: tuple[tuple[str, float], ...] = ()

    def effect(self, segment: str) -> float:
        """The additive effect of this offer on a visit's purchase probability in ``segment``."""
        return dict(self.effects).get(segment, 0.0)

    def to_dict(self) -> dict[str, Any]:
        """The public description of the offer (id, name, discount, cost), JSON-safe."""
        return {"id": self.id, "name": self.name, "discount": self.discount, "cost": self.cost}


DEFAULT_OFFERS: tuple[OfferSpec, ...] = (
    # A price cut moves bargain hunters and lapsing customers; loyal and premium buy anyway.
    OfferSpec(
        "pct10",
        "10% off",
        0.10,
        0.0,
        (("bargain", 0.15), ("loyal", 0.01), ("premium", 0.0), ("lapsing", 0.07)),
    ),
    # Buy-one-get-one gives away about a quarter of the basket; a moderate nudge for most.
    OfferSpec(
        "bogo",
        "Buy one, get one free",
        0.25,
        0.0,
        (("bargain", 0.04), ("loyal", 0.03), ("premium", 0.02), ("lapsing", 0.03)),
    ),
    # Free delivery matters to premium customers with big baskets; loyal ones find it noise.
    OfferSpec(
        "freeship",
        "Free delivery",
        0.0,
        4.90,
        (("bargain", 0.0), ("loyal", -0.01), ("premium", 0.10), ("lapsing", 0.02)),
    ),
)


def _share(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and 0.0 <= value <= 1.0):
        raise SimError(f"{name} must be a share between 0 and 1, got {value!r}")


def _positive(name: str, value: int, flag: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SimError(f"{name} must be a whole number >= 1, got {value!r}; set {flag}")


@dataclass(frozen=True, slots=True)
class SimConfig:
    """Settings of a simulated retail world; validated on construction (``SimError``).

    Nodes are named ``store-1`` .. ``store-K``. ``days`` is the length of the history that
    ``generate`` writes (days ``0 .. days-1`` from ``start``).

    Examples
    --------
    >>> SimConfig(customers=100, nodes=2).node_names
    ('store-1', 'store-2')
    """

    customers: int = 4000
    nodes: int = 4
    days: int = 28
    seed: int = 7
    start: float = DEFAULT_START
    offers: tuple[OfferSpec, ...] = field(default=DEFAULT_OFFERS)
    share_no_personalization: float = 0.15
    share_no_measurement: float = 0.1
    share_no_training: float = 0.2

    def __post_init__(self) -> None:
        _positive("customers", self.customers, "--customers / SimConfig.customers")
        _positive("nodes", self.nodes, "--nodes / SimConfig.nodes")
        _positive("days", self.days, "--days / SimConfig.days")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SimError(f"seed must be a whole number >= 0, got {self.seed!r}")
        if not math.isfinite(self.start):
            raise SimError(f"start must be finite epoch seconds, got {self.start!r}")
        _share("share_no_personalization", self.share_no_personalization)
        _share("share_no_measurement", self.share_no_measurement)
        _share("share_no_training", self.share_no_training)
        ids = [offer.id for offer in self.offers]
        if len(set(ids)) != len(ids) or "holdout" in ids or "" in ids:
            raise SimError(
                f"offer ids must be unique, non-empty and not 'holdout', got {ids}; rename them"
            )

    @property
    def node_names(self) -> tuple[str, ...]:
        """Names of the stores (edge nodes): ``store-1`` .. ``store-K``."""
        return tuple(f"store-{k}" for k in range(1, self.nodes + 1))

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe settings (offers as their public description)."""
        return {
            "customers": self.customers,
            "nodes": self.nodes,
            "days": self.days,
            "seed": self.seed,
            "start": self.start,
            "offers": [offer.to_dict() for offer in self.offers],
            "share_no_personalization": self.share_no_personalization,
            "share_no_measurement": self.share_no_measurement,
            "share_no_training": self.share_no_training,
        }


def segment_effects(offers: tuple[OfferSpec, ...]) -> Mapping[str, tuple[float, ...]]:
    """Per offer id, its effect on each segment of ``SEGMENTS`` (in that order)."""
    return {o.id: tuple(o.effect(s.name) for s in SEGMENTS) for o in offers}
