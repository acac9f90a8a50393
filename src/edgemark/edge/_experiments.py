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


def assign(
    settings: PolicySettings,
    pseudonym: str,
    cache: dict[tuple[str, tuple[bool, ...]], Assignment] | None = None,
) -> Assignment:
    """Assignment of ``pseudonym`` under ``settings`` (deterministic, no state).

    An assignment depends only on the user's layer and holdout flags, so ``cache`` (one
    dict per ``settings``) shares one ``Assignment`` among every user with the same ones.

    >>> from edgemark.edge._settings import parse_policy
    >>> policy = {"experiment": "e", "salt": "s", "holdout_share": 1.0, "lookback_hours": 1,
    ...           "epsilon_per_report": 1, "max_contributions_per_user": 1,
    ...           "revenue_cap": 1, "prior_alpha": 1, "prior_beta": 1}
    >>> assign(parse_policy(policy, [{"id": "a"}]), "u_1").layer
    'holdout'
    """
    unit = holdout_unit(settings.salt, pseudonym)
    if unit < settings.holdout_share:
        layer = HOLDOUT
    elif unit < settings.holdout_share + settings.explore_share:
        layer = EXPLORE
    else:
        layer = POLICY
    held = tuple(
        holdout_unit(layer_settings.salt, pseudonym) < layer_settings.holdout_share
        for layer_settings in settings.layers
    )
    if cache is None:
        return _assignment(settings, layer, held)
    found = cache.get((layer, held))
    if found is None:
        found = cache[(layer, held)] = _assignment(settings, layer, held)
    return found


def _assignment(settings: PolicySettings, layer: str, held: tuple[bool, ...]) -> Assignment:
    share = {
        HOLDOUT: settings.holdout_share,
        EXPLORE: settings.explore_share,
        POLICY: settings.policy_share,
    }[layer]
    others: list[tuple[str, str]] = []
    excluded: set[int] = set()
    index = {o: i for i, o in enumerate(settings.offers)}
    for layer_settings, is_held in zip(settings.layers, held, strict=True):
        others.append((layer_settings.name, HOLDOUT if is_held else "treatment"))
        if is_held:
            excluded.update(index[o] for o in layer_settings.offers)
    tags = [f"layer:{layer}"]
    if layer == POLICY:
        tags.append(f"policy:{settings.policy}")
    tags.extend(f"experiment:{name}:holdout" for name, arm in others if arm == HOLDOUT)
    stored = json.dumps(dict(others)) if others else ""
    return Assignment(layer, share, tuple(others), frozenset(excluded), tuple(tags), stored)
