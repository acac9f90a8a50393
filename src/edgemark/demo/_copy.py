"""The demo's composed copy: an offer blurb for the best-measured offer and a headline,
asked of a node that serves v2's content pack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from edgemark.demo._node_client import LocalNodeClient
from edgemark.errors import EdgeError
from edgemark.measure import uplift_from_reports
from edgemark.sim import RetailWorld


def compose_copy(
    world: RetailWorld,
    clients: Sequence[LocalNodeClient],
    reports: list[dict[str, Any]],
    decisions: Sequence[Mapping[str, Any]],
    catalog: Sequence[Mapping[str, Any]],
    seed: int,
) -> dict[str, Any]:
    """The blurb and headline from the first node serving a pack; empty when no pack was
    built (no content extra or MiniLM package)."""
    estimates = uplift_from_reports(reports, strata_key="node_id")
    items = [i for i in catalog if i.get("in_stock", True)]
    if not estimates or not items:
        return {}
    best = max(estimates, key=lambda e: e.uplift)
    offer = next(o for o in world.offers if o.id == best.arm)
    sku = str(items[0]["sku"])
    base = {"sku": sku, "surface": "screen", "seed": seed}
    for client in clients:
        # The blurb goes with the node's last decision for that offer, so the node's variant
        # bandit logs its choice and propensity against a decision it can attribute.
        linked = [
            d["decision_id"]
            for d in decisions
            if d["node"] == client.name and d["offer"] == offer.id
        ]
        blurb_request = {
            **base,
            "copy_type": "offer_blurb",
            "offer_id": offer.id,
            "offer_name": offer.name,
            **({"decision_id": linked[-1]} if linked else {}),
        }
        try:
            blurb = client.compose(blurb_request)
            headline = client.compose({**base, "copy_type": "headline"})
        except EdgeError:  # this node does not serve a bundle with a pack
            continue
        return {
            "node": client.name,
            "sku": sku,
            "offer": offer.id,
            "offer_blurb": blurb,
            "headline": headline,
        }
    return {}
