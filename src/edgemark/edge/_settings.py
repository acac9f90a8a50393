"""The edge's reading of a bundle's ``manifest.policy`` and ``offers``, validated once at load.

``PolicySettings`` is what decide/observe/reports need. It is stored per experiment in the
node's meta table (as the raw policy and offers, re-parsed on start) so reports of past days
use the settings those decisions were made under. Every key added after the walking
skeleton is optional; docs/edge.md lists them with their defaults.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from edgemark.edge._guardrails import GuardrailSettings, parse_guardrails
from edgemark.errors import BundleError, EdgemarkError

log = logging.getLogger(__name__)

_REQUIRED = (
    "experiment",
    "salt",
    "holdout_share",
    "lookback_hours",
    "epsilon_per_report",
    "max_contributions_per_user",
    "revenue_cap",
    "prior_alpha",
    "prior_beta",
)
POLICY_KINDS = ("contextual", "thompson", "propensity", "uniform")
ATTRIBUTION_MODELS = ("last_touch", "position_based")
DEFAULT_EXPLORE_SHARE = 0.3


@dataclass(frozen=True, slots=True)
class OfferTerms:
    """What an offer costs when redeemed: share of the basket given away, fixed cost."""

    id: str
    discount: float
    cost: float
    margin_rate: float
    lookback_hours: float


@dataclass(frozen=True, slots=True)
class LayerSettings:
    """A further concurrent experiment: its holdout never sees ``offers``."""

    name: str
    salt: str
    holdout_share: float
    offers: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Prior:
    """Gaussian prior of one arm's logistic weights (diagonal variance)."""

    mean: tuple[float, ...]
    variance: tuple[float, ...]


@dataclass(frozen=True)
class PolicySettings:
    """Validated policy of one experiment (see docs/edge.md, "Bundle policy")."""

    experiment: str
    salt: str
    holdout_share: float
    lookback_hours: float
    epsilon_per_report: float
    max_contributions_per_user: int
    revenue_cap: float
    prior_alpha: float
    prior_beta: float
    offers: tuple[str, ...]
    explore_share: float = DEFAULT_EXPLORE_SHARE
    policy: str = "contextual"
    terms: tuple[OfferTerms, ...] = ()
    margin_rate: float = 0.3
    default_basket: float = 40.0
    posterior_samples: int = 32
    min_propensity: float = 0.01
    prior_variance: float = 1.0
    priors: Mapping[str, Prior] = field(default_factory=dict)
    propensity_threshold: float = 0.5
    attribution: str = "last_touch"
    guardrails: GuardrailSettings = field(default_factory=GuardrailSettings)
    layers: tuple[LayerSettings, ...] = ()
    privacy_epsilon: float | None = None
    privacy_period_days: int = 30
    report_policy_arm: bool = False
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    raw_offers: tuple[Mapping[str, Any], ...] = field(default=(), compare=False, repr=False)

    @property
    def policy_share(self) -> float:
        """Share of users the policy serves (neither holdout nor exploration)."""
        return max(0.0, 1.0 - self.holdout_share - self.explore_share)

    def lookback_s(self, arm: str) -> float:
        """Lookback window in seconds of a decision on ``arm`` (offer or holdout/none)."""
        for terms in self.terms:
            if terms.id == arm:
                return terms.lookback_hours * 3600.0
        return self.lookback_hours * 3600.0

    def to_json(self) -> str:
        """JSON for the meta table: the raw policy and offers, re-parsed by ``from_json``."""
        return json.dumps({"policy": self.raw, "offers": list(self.raw_offers)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PolicySettings:
        """Inverse of ``to_json``; also reads the skeleton's flat format."""
        raw = json.loads(text)
        if "policy" in raw:
            return parse_policy(raw["policy"], raw["offers"])
        offers = [{"id": o, "name": o, "discount": 0.0, "cost": 0.0} for o in raw["offers"]]
        policy = {k: v for k, v in raw.items() if k != "offers"}
        return parse_policy(policy, offers)


def stored_settings(items: Iterable[tuple[str, str]]) -> dict[str, PolicySettings]:
    """Settings per experiment from the meta rows ``("policy:<experiment>", json)``.

    A stored policy that no longer parses is skipped with a warning (its days cannot be
    reported, which the log says).
    """
    out: dict[str, PolicySettings] = {}
    for key, value in items:
        try:
            out[key.removeprefix("policy:")] = PolicySettings.from_json(value)
        except (EdgemarkError, KeyError, TypeError, ValueError) as exc:
            log.warning("stored policy %s no longer parses: %s", key, exc)
    return out


def _number(policy: Mapping[str, Any], key: str, *, low: float, high: float = math.inf) -> float:
    value = policy[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BundleError(f"Bundle policy {key!r} must be a finite number, got {value!r}.")
    if not low <= float(value) <= high:
        raise BundleError(f"Bundle policy {key!r}={value} is outside [{low}, {high}].")
    return float(value)


def _optional(
    policy: Mapping[str, Any], key: str, default: float, *, low: float, high: float = math.inf
) -> float:
    return default if key not in policy else _number(policy, key, low=low, high=high)


def _integer(policy: Mapping[str, Any], key: str, default: int, *, low: int) -> int:
    value = _optional(policy, key, float(default), low=low)
    if value != int(value):
        raise BundleError(f"Bundle policy {key!r} must be an integer, got {value!r}.")
    return int(value)


def _choice(policy: Mapping[str, Any], key: str, options: Sequence[str]) -> str:
    value = policy.get(key, options[0])
    if value not in options:
        raise BundleError(f"Bundle policy {key!r}={value!r}; choose one of {list(options)}.")
    return str(value)


def parse_policy(policy: Mapping[str, Any], offers: Sequence[Mapping[str, Any]]) -> PolicySettings:
    """Validate a manifest's policy and offers; raise ``BundleError`` naming what is wrong."""
    missing = [k for k in _REQUIRED if k not in policy]
    if missing:
        raise BundleError(f"Bundle policy lacks {missing}; rebuild the bundle with them.")
    for key in ("experiment", "salt"):
        if not isinstance(policy[key], str) or not policy[key]:
            raise BundleError(f"Bundle policy {key!r} must be a non-empty string.")
    ids = tuple(str(o.get("id", "")) for o in offers)
    if not ids or {"", "holdout", "none", "policy"} & set(ids) or len(set(ids)) != len(ids):
        raise BundleError(
            f"Bundle offers {list(ids)} must be non-empty, unique ids other than "
            "'holdout', 'none' and 'policy'."
        )
    max_contrib = _number(policy, "max_contributions_per_user", low=1)
    if max_contrib != int(max_contrib):
        raise BundleError("Bundle policy 'max_contributions_per_user' must be an integer.")
    epsilon = _number(policy, "epsilon_per_report", low=0)
    if epsilon <= 0:
        raise BundleError("Bundle policy 'epsilon_per_report' must be > 0.")
    alpha = _number(policy, "prior_alpha", low=0)
    beta = _number(policy, "prior_beta", low=0)
    if alpha <= 0 or beta <= 0:
        raise BundleError("Bundle policy 'prior_alpha' and 'prior_beta' must be > 0.")
    holdout = _number(policy, "holdout_share", low=0, high=1)
    explore = _optional(policy, "explore_share", DEFAULT_EXPLORE_SHARE, low=0, high=1)
    if "explore_share" not in policy:
        explore = min(explore, 1.0 - holdout)
    if holdout + explore > 1.0 + 1e-12:
        raise BundleError(
            f"Bundle policy holdout_share + explore_share = {holdout + explore:g} exceeds 1."
        )
    lookback = _number(policy, "lookback_hours", low=0)
    margin = _optional(policy, "margin_rate", 0.3, low=0, high=1)
    budget = policy.get("privacy_budget")
    privacy_epsilon, period = _privacy_budget(budget)
    return PolicySettings(
        experiment=policy["experiment"],
        salt=policy["salt"],
        holdout_share=holdout,
        lookback_hours=lookback,
        epsilon_per_report=epsilon,
        max_contributions_per_user=int(max_contrib),
        revenue_cap=_number(policy, "revenue_cap", low=0),
        prior_alpha=alpha,
        prior_beta=beta,
        offers=ids,
        explore_share=explore,
        policy=_choice(policy, "policy", POLICY_KINDS),
        terms=_terms(policy, offers, lookback, margin),
        margin_rate=margin,
        default_basket=_optional(policy, "default_basket", 40.0, low=0),
        posterior_samples=_integer(policy, "posterior_samples", 32, low=2),
        min_propensity=_optional(policy, "min_propensity", 0.01, low=0, high=0.5),
        prior_variance=_optional(policy, "prior_variance", 1.0, low=1e-6),
        priors=_priors(policy.get("priors", {}), ids),
        propensity_threshold=_optional(policy, "propensity_threshold", 0.5, low=0, high=1),
        attribution=_choice(policy, "attribution", ATTRIBUTION_MODELS),
        guardrails=parse_guardrails(policy.get("guardrails", {}), ids),
        layers=_layers(policy.get("experiments", []), policy["experiment"], ids),
        privacy_epsilon=privacy_epsilon,
        privacy_period_days=period,
        report_policy_arm=_flag(policy, "report_policy_arm"),
        raw=dict(policy),
        raw_offers=tuple(dict(o) for o in offers),
    )


def _flag(policy: Mapping[str, Any], key: str) -> bool:
    value = policy.get(key, False)
    if not isinstance(value, bool):
        raise BundleError(f"Bundle policy {key!r} must be true or false, got {value!r}.")
    return value


def _terms(
    policy: Mapping[str, Any], offers: Sequence[Mapping[str, Any]], lookback: float, margin: float
) -> tuple[OfferTerms, ...]:
    by_offer = policy.get("lookback_hours_by_offer", {})
    if not isinstance(by_offer, Mapping) or not set(by_offer) <= {str(o["id"]) for o in offers}:
        raise BundleError(
            "Bundle policy 'lookback_hours_by_offer' must map offer ids of the bundle to hours."
        )
    out = []
    for offer in offers:
        oid = str(offer["id"])
        row = {
            "discount": offer.get("discount", 0.0),
            "cost": offer.get("cost", 0.0),
            "margin_rate": offer.get("margin_rate", margin),
            "lookback": by_offer.get(oid, lookback),
        }
        out.append(
            OfferTerms(
                oid,
                _number(row, "discount", low=0, high=1),
                _number(row, "cost", low=0),
                _number(row, "margin_rate", low=0, high=1),
                _number(row, "lookback", low=0),
            )
        )
    return tuple(out)


def _privacy_budget(budget: Any) -> tuple[float | None, int]:
    if budget is None:
        return None, 30
    if not isinstance(budget, Mapping) or "epsilon" not in budget:
        raise BundleError(
            'Bundle policy \'privacy_budget\' must be {"epsilon": > 0, "period_days": >= 1}.'
        )
    epsilon = _number(budget, "epsilon", low=0)
    if epsilon <= 0:
        raise BundleError("Bundle policy 'privacy_budget.epsilon' must be > 0.")
    return epsilon, _integer(budget, "period_days", 30, low=1)


def _priors(raw: Any, offers: tuple[str, ...]) -> dict[str, Prior]:
    if not isinstance(raw, Mapping):
        raise BundleError("Bundle policy 'priors' must map arms ('none' or offer ids) to priors.")
    out: dict[str, Prior] = {}
    for arm, prior in raw.items():
        if arm not in (*offers, "none"):
            raise BundleError(f"Bundle policy 'priors' names unknown arm {arm!r}.")
        if not isinstance(prior, Mapping) or not isinstance(prior.get("mean"), list):
            raise BundleError(f"Bundle policy 'priors.{arm}' needs a 'mean' list of numbers.")
        mean = [float(_number({"v": v}, "v", low=-math.inf)) for v in prior["mean"]]
        variance = prior.get("variance", [1.0] * len(mean))
        if not isinstance(variance, list) or len(variance) != len(mean):
            raise BundleError(f"Bundle policy 'priors.{arm}.variance' must match 'mean'.")
        var = [_number({"v": v}, "v", low=1e-9) for v in variance]
        out[str(arm)] = Prior(tuple(mean), tuple(var))
    return out


def _layers(raw: Any, primary: str, offers: tuple[str, ...]) -> tuple[LayerSettings, ...]:
    if not isinstance(raw, list):
        raise BundleError("Bundle policy 'experiments' must be a list of experiment objects.")
    out: list[LayerSettings] = []
    names = {primary}
    for i, item in enumerate(raw):
        what = f"Bundle policy 'experiments[{i}]'"
        if not isinstance(item, Mapping):
            raise BundleError(f"{what} must be an object.")
        name, salt, scope = item.get("name"), item.get("salt"), item.get("offers")
        if not isinstance(name, str) or not name or name in names:
            raise BundleError(f"{what}.name must be a new non-empty name, got {name!r}.")
        if not isinstance(salt, str) or not salt:
            raise BundleError(f"{what}.salt must be a non-empty string.")
        if not isinstance(scope, list) or not scope or not set(scope) <= set(offers):
            raise BundleError(f"{what}.offers must be a non-empty list of the bundle's offers.")
        share = _number(item, "holdout_share", low=0, high=1)
        names.add(name)
        out.append(LayerSettings(name, salt, share, tuple(str(o) for o in scope)))
    return tuple(out)
