"""Layered experiments: independent deterministic assignment of a user in every experiment.

The bundle's own experiment splits users by ``u = holdout_unit(salt, pseudonym)`` into
three layers: ``holdout`` (u < holdout_share, never shown an offer), ``explore`` (the next
explore_share: a uniformly random offer per decision, the measurement layer whose rows feed
the uplift reports) and ``policy`` (the rest: the contextual policy). Each further
experiment hashes with its own salt, so its holdout is independent of every other layer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from edgemark.edge._holdout import holdout_unit
from edgemark.edge._settings import PolicySettings

HOLDOUT, EXPLORE, POLICY = "holdout", "explore", "policy"


@dataclass(frozen=True, slots=True)
class Assignment:
    """One user's place in every experiment of a bundle.

    ``share`` is the probability of ``layer`` (what a random user lands in); ``others``
    holds (experiment, "holdout" | "treatment"); ``excluded`` the offer indices that some
    experiment's holdout forbids for this user; ``tags`` the decision reasons that follow
    from the assignment alone and ``others_json`` how ``others`` is stored (both computed
    once per user, off the per-decision path).
    """

    layer: str
    share: float
    others: tuple[tuple[str, str], ...]
    excluded: frozenset[int]
    tags: tuple[str, ...] = ()
    others_json: str = ""


def assign(settings: PolicySettings, pseudonym: str) -> Assignment:
    """Assignment of ``pseudonym`` under ``settings`` (deterministic, no state).

    >>> from edgemark.edge._settings import parse_policy
    >>> policy = {"experiment": "e", "salt": "s", "holdout_share": 1.0, "lookback_hours": 1,
    ...           "epsilon_per_report": 1, "max_contributions_per_user": 1,
    ...           "revenue_cap": 1, "prior_alpha": 1, "prior_beta": 1}
    >>> assign(parse_policy(policy, [{"id": "a"}]), "u_1").layer
    'holdout'
    """
    unit = holdout_unit(settings.salt, pseudonym)
    if unit < settings.holdout_share:
        layer, share = HOLDOUT, settings.holdout_share
    elif unit < settings.holdout_share + settings.explore_share:
        layer, share = EXPLORE, settings.explore_share
    else:
        layer, share = POLICY, settings.policy_share
    others: list[tuple[str, str]] = []
    excluded: set[int] = set()
    index = {o: i for i, o in enumerate(settings.offers)}
    for layer_settings in settings.layers:
        held = holdout_unit(layer_settings.salt, pseudonym) < layer_settings.holdout_share
        others.append((layer_settings.name, HOLDOUT if held else "treatment"))
        if held:
            excluded.update(index[o] for o in layer_settings.offers)
    tags = [f"layer:{layer}"]
    if layer == POLICY:
        tags.append(f"policy:{settings.policy}")
    tags.extend(f"experiment:{name}:holdout" for name, arm in others if arm == HOLDOUT)
    stored = json.dumps(dict(others)) if others else ""
    return Assignment(layer, share, tuple(others), frozenset(excluded), tuple(tags), stored)
