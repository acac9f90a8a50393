"""The per-request pieces of the runtime that depend only on the serving bundle: the policy
layer's choice, a decision's stored row and pending outcome, an event's offer check and the
counters a conversion moves."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from edgemark.edge._active import Active, FloatArray, VersionHealth
from edgemark.edge._contextual import pick
from edgemark.edge._experiments import Assignment
from edgemark.edge._memory import LastDecision
from edgemark.edge._state import DecisionRow
from edgemark.edge._types import DecisionRequest
from edgemark.errors import UnknownOfferError
from edgemark.events import Event

_DAY = 86400


def serve_policy(
    active: Active,
    x: FloatArray | None,
    vector: Sequence[float] | None,
    score: float | None,
    allowed: Sequence[bool],
    draw: Callable[[], float],
) -> tuple[int, float]:
    """The policy layer: (arm shown, 0 = none; probability of it within the layer)."""
    settings = active.settings
    kind = settings.policy
    if kind == "contextual" and active.contextual is not None:
        basket = active.basket_of(vector, settings.default_basket)
        probs = active.contextual.probabilities(active.blank if x is None else x, basket, allowed)
        shown = pick(probs, draw())
        return shown, probs[shown]
    if kind == "propensity" and (score is None or score < settings.propensity_threshold):
        return 0, 1.0
    if kind == "uniform":
        weights = [1.0 if ok else 0.0 for ok in allowed]
    else:  # thompson (and propensity above its threshold): Beta-Bernoulli on conversion
        weights = [p if ok else 0.0 for p, ok in zip(active.beta.pi_list, allowed, strict=True)]
    total = sum(weights)
    if total <= 0.0:
        return 0, 1.0
    k = pick([w / total for w in weights], draw())
    if kind != "uniform":
        active.beta.record_exposure(k)
    return k + 1, weights[k] / total


def decision_row(
    active: Active,
    request: DecisionRequest,
    pseudonym: str,
    assignment: Assignment,
    arm: str,
    shown: int,
    probability: float,
    x: FloatArray | None,
    decision_id: str,
) -> tuple[DecisionRow, LastDecision]:
    """The row the decision is stored as, and the user's new latest decision."""
    settings = active.settings
    offer = settings.offers[shown - 1] if shown else None
    row: DecisionRow = (
        decision_id,
        pseudonym,
        request.ts,
        int(request.ts // _DAY),
        settings.experiment,
        arm,
        offer,
        probability,
        active.version,
        int(request.consent_measurement),
        assignment.layer,
        assignment.others_json,
        None if x is None else x.tobytes(),
        int(x is None),
    )
    last = LastDecision(
        decision_id, request.ts, settings.experiment, assignment.layer, arm, shown, x,
        settings.lookback_s(offer or arm), False, x is None,
    )  # fmt: skip
    return row, last


def check_offer(active: Active | None, event: Event) -> None:
    """Refuse an exposure or redeem of an offer the serving bundle does not know."""
    if event.type in ("exposure", "redeem") and active is not None:
        if event.offer not in active.offer_index:
            raise UnknownOfferError(
                f"Event {event.event_id!r} names offer {event.offer!r}, which bundle "
                f"{active.version} does not know (offers: {list(active.offer_index)})."
            )


def count_conversion(
    active: Active | None,
    health: VersionHealth | None,
    posteriors: dict[tuple[str, str], tuple[float, float]],
    last: LastDecision,
) -> None:
    """Health figures, and the Beta counts of a policy-layer offer, for one conversion."""
    if health is not None:
        if last.layer == "holdout":
            health.holdout_conversions += 1
        elif last.shown:
            health.treatment_conversions += 1
    if last.layer != "policy" or not last.shown:
        return
    if active is not None and active.settings.experiment == last.experiment:
        active.beta.record_conversion(last.shown - 1)
        return
    exposures, conversions = posteriors.get((last.experiment, last.arm), (0.0, 0.0))
    posteriors[(last.experiment, last.arm)] = (exposures, min(conversions + 1.0, exposures))
