"""The simulated retail world: customers, their visits to stores, and what they do there.

Every random draw comes from a numpy ``Generator`` seeded from (seed, purpose, day), so a
day's visits or history do not depend on which other days were simulated, or in what order.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import SimError
from edgemark.events import Event
from edgemark.sim._config import SEGMENTS, OfferSpec, SimConfig
from edgemark.sim._truth import expected_clipped_lognormal, truth_summary

CATEGORIES: tuple[str, ...] = ("grocery", "home", "beauty", "fashion", "electronics")
_OPEN_S, _CLOSE_S = 8 * 3600.0, 21 * 3600.0  # stores open 08:00-21:00 UTC
_AWAY_SHARE = 0.1  # share of visits made to a store other than the home store
_NODE_CONCENTRATION = 8.0  # Dirichlet concentration of a store's segment mix
_HISTORY_OFFER_SHARE = 0.5  # share of history visits that were shown a (random) offer
_GROSS_SIGMA = 0.5  # a purchase's gross value: basket x lognormal(-sigma^2/2, sigma), mean 1

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Visit:
    """One customer's visit to a store on one day (``day`` counts from ``config.start``).

    ``seq`` is the visit's position in that day's visits (sorted by time); it names the
    visit's events without revealing who the customer is.
    """

    customer_index: int
    customer_id: str
    node: str
    ts: float
    day: int
    seq: int


def _rng(seed: int, purpose: str, day: int = 0) -> np.random.Generator:
    """A generator that depends only on (seed, purpose, day); days may be negative."""
    zigzag = 2 * day if day >= 0 else -2 * day - 1
    return np.random.default_rng([seed, zlib.crc32(purpose.encode()), zigzag])


def _beta(rng: np.random.Generator, mean: FloatArray, concentration: float) -> FloatArray:
    return rng.beta(mean * concentration, (1.0 - mean) * concentration)


class RetailWorld:
    """A seeded retail world with ground truth; the same config gives the same world.

    Examples
    --------
    >>> world = RetailWorld(SimConfig(customers=50, nodes=2, seed=1))
    >>> world.segments
    ('bargain', 'loyal', 'premium', 'lapsing')
    >>> [v.customer_id for v in world.visits(0)] == [v.customer_id for v in world.visits(0)]
    True
    """

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.nodes: tuple[str, ...] = config.node_names
        self.offers: tuple[OfferSpec, ...] = tuple(config.offers)
        self.segments: tuple[str, ...] = tuple(s.name for s in SEGMENTS)
        n = config.customers
        self.customer_ids: tuple[str, ...] = tuple(f"cust-{i:06d}" for i in range(n))
        self._offer_column = {o.id: k + 1 for k, o in enumerate(self.offers)}
        self._build_customers(n)

    def _build_customers(self, n: int) -> None:
        seed, k = self.config.seed, len(self.nodes)
        shares = np.array([s.share for s in SEGMENTS])
        self.node_mixes: FloatArray = _rng(seed, "node-mix").dirichlet(
            _NODE_CONCENTRATION * shares, size=k
        )
        self._home: IntArray = _rng(seed, "home").integers(0, k, size=n)
        cum = np.cumsum(self.node_mixes[self._home], axis=1)
        u = _rng(seed, "segment").random(n)
        self._segment: IntArray = np.minimum((u[:, None] > cum).sum(axis=1), len(SEGMENTS) - 1)
        visit_mean = np.array([s.visit_probability for s in SEGMENTS])[self._segment]
        buy_mean = np.array([s.purchase_probability for s in SEGMENTS])[self._segment]
        basket_mean = np.array([s.basket for s in SEGMENTS])[self._segment]
        self._visit_p: FloatArray = _beta(_rng(seed, "visit-p"), visit_mean, 20.0)
        base = _beta(_rng(seed, "buy-p"), buy_mean, 25.0)
        self._basket: FloatArray = basket_mean * _rng(seed, "basket").lognormal(0.0, 0.3, n)
        self._favourite: IntArray = _rng(seed, "category").integers(0, len(CATEGORIES), n)
        c = _rng(seed, "consent").random((n, 3))
        cfg = self.config
        no = [cfg.share_no_personalization, cfg.share_no_measurement, cfg.share_no_training]
        self._consent = c >= np.array(no)
        effects = np.array(
            [[o.effect(s.name) for s in SEGMENTS] for o in self.offers], dtype=np.float64
        ).reshape(len(self.offers), len(SEGMENTS))
        lifts = effects.T[self._segment]  # (n, offers)
        self._probs: FloatArray = np.clip(np.column_stack([base, base[:, None] + lifts]), 0, 1)

    # -- customers -------------------------------------------------------------------------

    def segment_of(self, customer_index: int) -> str:
        """The (hidden) segment of a customer."""
        return self.segments[int(self._segment[customer_index])]

    def home_node_of(self, customer_index: int) -> str:
        """The store a customer visits most (``1 - 0.1`` of visits when there are 2+ stores)."""
        return self.nodes[int(self._home[customer_index])]

    def visit_probability(self, customer_index: int) -> float:
        """The probability that a customer visits some store on a given day."""
        return float(self._visit_p[customer_index])

    def consents(self, customer_index: int) -> tuple[bool, bool, bool]:
        """Consent flags (personalization, measurement, training) of a customer."""
        p, m, t = self._consent[customer_index]
        return bool(p), bool(m), bool(t)

    def purchase_probability(self, customer_index: int, offer_id: str | None) -> float:
        """The true probability that a visit by this customer ends in a purchase."""
        return float(self._probs[customer_index, self._column(offer_id)])

    def _column(self, offer_id: str | None) -> int:
        if offer_id is None:
            return 0
        try:
            return self._offer_column[offer_id]
        except KeyError:
            known = ", ".join(self._offer_column)
            raise SimError(f"unknown offer {offer_id!r}; this world knows: {known}") from None

    # -- days ------------------------------------------------------------------------------

    def visits(self, day: int) -> list[Visit]:
        """The visits of ``day`` (days since ``config.start``), sorted by time.

        Deterministic in (seed, day); each customer visits at most once a day.
        """
        n, k = self.config.customers, len(self.nodes)
        rng = _rng(self.config.seed, "visits", day)
        visiting = rng.random(n) < self._visit_p
        away = rng.random(n) < _AWAY_SHARE if k > 1 else np.zeros(n, dtype=bool)
        other = (self._home + 1 + rng.integers(0, max(k - 1, 1), n)) % k
        node = np.where(away, other, self._home)
        ts = self.config.start + day * 86400.0 + rng.uniform(_OPEN_S, _CLOSE_S, n)
        idx = np.flatnonzero(visiting)
        idx = idx[np.argsort(ts[idx], kind="stable")]
        return [
            Visit(int(i), self.customer_ids[i], self.nodes[int(node[i])], float(ts[i]), day, seq)
            for seq, i in enumerate(idx.tolist())
        ]

    def shop(self, visit: Visit, offer_id: str | None, rng: np.random.Generator) -> list[Event]:
        """The events of a visit after the decision ``offer_id`` (None: no offer shown).

        Views, maybe an add-to-cart, maybe a purchase (with probability
        ``purchase_probability``) and a redeem when an offer was used. The purchase is
        decided by the first draw from ``rng``, so identically seeded generators give
        coupled outcomes across offers (common random numbers). ``user`` is the raw id.
        """
        i = visit.customer_index
        buys = bool(rng.random() < self.purchase_probability(i, offer_id))
        n_views = 1 + int(rng.poisson(1.6 if buys else 0.8))
        fav = int(self._favourite[i])
        cats = [
            CATEGORIES[fav if rng.random() < 0.7 else int(rng.integers(len(CATEGORIES)))]
            for _ in range(n_views)
        ]
        items = [f"sku-{c}-{int(rng.integers(50)):03d}" for c in cats]
        carted = buys or bool(rng.random() < 0.2)
        gross = float(self._basket[i] * rng.lognormal(-(_GROSS_SIGMA**2) / 2, _GROSS_SIGMA))
        out: list[tuple[str, str | None, str | None, float | None, str | None]] = [
            ("view", item, cat, None, None) for item, cat in zip(items, cats, strict=True)
        ]
        if carted:
            out.append(("add_to_cart", items[-1], cats[-1], None, None))
        if buys:
            discount = self._offer(offer_id).discount if offer_id is not None else 0.0
            out.append(("purchase", items[-1], cats[-1], round(gross * (1 - discount), 2), None))
            if offer_id is not None:
                out.append(("redeem", items[-1], cats[-1], None, offer_id))
        prefix = f"{visit.node}-d{visit.day}-v{visit.seq}"
        return [
            Event(
                event_id=f"{prefix}-{j}",
                ts=visit.ts + 30.0 * j,
                type=kind,
                item=item,
                category=cat,
                amount=amount,
                offer=offer,
                **self._event_fields(visit),
            )
            for j, (kind, item, cat, amount, offer) in enumerate(out)
        ]

    def exposure(self, visit: Visit, offer_id: str) -> Event:
        """The exposure event of showing ``offer_id`` at the start of ``visit``."""
        self._column(offer_id)
        prefix = f"{visit.node}-d{visit.day}-v{visit.seq}"
        return Event(
            event_id=f"{prefix}-x",
            ts=visit.ts,
            type="exposure",
            offer=offer_id,
            **self._event_fields(visit),
        )

    def _event_fields(self, visit: Visit) -> dict[str, Any]:
        p, m, t = self.consents(visit.customer_index)
        return {
            "user": visit.customer_id,
            "node": visit.node,
            "channel": "store",
            "consent_personalization": p,
            "consent_measurement": m,
            "consent_training": t,
        }

    def _offer(self, offer_id: str) -> OfferSpec:
        return self.offers[self._column(offer_id) - 1]

    def history(self, days: int) -> list[Event]:
        """A randomised past over days ``0 .. days-1``: half the visits see a random offer.

        Each shown offer gets an exposure event before the visit's events. Deterministic in
        (seed, day) and independent of ``visits``' own draws.
        """
        if days < 0:
            raise SimError(f"days must be >= 0, got {days}")
        events: list[Event] = []
        for day in range(days):
            rng = _rng(self.config.seed, "history", day)
            for visit in self.visits(day):
                offer_id: str | None = None
                if self.offers and rng.random() < _HISTORY_OFFER_SHARE:
                    offer_id = self.offers[int(rng.integers(len(self.offers)))].id
                    events.append(self.exposure(visit, offer_id))
                events.extend(self.shop(visit, offer_id, rng))
        return events

    # -- truth -----------------------------------------------------------------------------

    def truth(self) -> dict[str, Any]:
        """Ground truth over all customers: per offer the visit-weighted uplift in purchase
        probability (overall and by segment), segment shares and each store's segment mix."""
        out = truth_summary(self._probs, self._visit_p, self._segment, self.segments, self.offers)
        out["node_mixes"] = {node: self.node_mix(node) for node in self.nodes}
        return out

    def basket_value(self, customer_index: int) -> float:
        """The mean gross value of this customer's purchases before any discount."""
        return float(self._basket[customer_index])

    def revenue_truth(self, cap: float | None = None, node: str | None = None) -> dict[str, Any]:
        """Ground truth of revenue per visit (each purchase clipped at ``cap`` if given, as
        DP reports clip it): the control's and each offer's visit-weighted expectation and
        the offers' uplift over the control, over all visits or those to ``node``."""
        weights = self._visit_p if node is None else self._node_weights(node)
        discounts = [0.0, *(o.discount for o in self.offers)]
        value = np.column_stack(
            [
                self._probs[:, k]
                * expected_clipped_lognormal(self._basket * (1.0 - d), _GROSS_SIGMA, cap)
                for k, d in enumerate(discounts)
            ]
        )
        means = (value * weights[:, None]).sum(axis=0) / weights.sum()
        return {
            "control_revenue": float(means[0]),
            "offers": {
                o.id: {"revenue": float(means[k]), "uplift": float(means[k] - means[0])}
                for k, o in enumerate(self.offers, start=1)
            },
        }

    def _node_weights(self, node: str) -> FloatArray:
        if node not in self.nodes:
            raise SimError(f"unknown node {node!r}; this world has {', '.join(self.nodes)}")
        k, at = len(self.nodes), self.nodes.index(node)
        away = _AWAY_SHARE / (k - 1) if k > 1 else 0.0
        home_share = 1.0 - _AWAY_SHARE if k > 1 else 1.0
        weights: FloatArray = self._visit_p * np.where(self._home == at, home_share, away)
        return weights

    def truth_for_node(self, node: str) -> dict[str, Any]:
        """Ground truth for the visits made to one store (weights: visit probability times
        the chance that a visit goes to ``node``)."""
        if node not in self.nodes:
            raise SimError(f"unknown node {node!r}; this world has {', '.join(self.nodes)}")
        k, at = len(self.nodes), self.nodes.index(node)
        away = _AWAY_SHARE / (k - 1) if k > 1 else 0.0
        home_share = 1.0 - _AWAY_SHARE if k > 1 else 1.0
        where = np.where(self._home == at, home_share, away)
        return truth_summary(
            self._probs, self._visit_p * where, self._segment, self.segments, self.offers
        )

    def node_mix(self, node: str) -> dict[str, float]:
        """Share of each segment among the customers whose home store is ``node``."""
        at = self.nodes.index(node)
        seg = self._segment[self._home == at]
        total = max(len(seg), 1)
        return {s: float((seg == j).sum() / total) for j, s in enumerate(self.segments)}
