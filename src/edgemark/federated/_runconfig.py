"""The run config of a deployment run, read and checked before any message is sent: its
``kind`` (``model``: DP-FedAvg rounds, the default; ``offer-rates``: one DP release of the
nodes' per-arm conversion rates for the offer-policy priors) and each kind's settings.

No Flower here: ``edgemark fl app`` builds and checks run configs with the same readers
the ServerApps use, without the ``federated`` extra's Flower at import time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from edgemark.errors import ConfigError
from edgemark.federated._dp import DEFAULT_DELTA, calibrate_noise

MODEL, OFFER_RATES = "model", "offer-rates"
KINDS = (MODEL, OFFER_RATES)
DEFAULT_N_FEATURES = 29  # the default feature spec's inputs (edgemark.features.DEFAULT_SPEC)
# Keys that belong to one kind only: a run of the other kind refuses them, rather than
# silently ignoring a setting the operator meant to take effect.
MODEL_KEYS = ("rounds", "noise-multiplier", "sample-rate", "test-path")
OFFER_KEYS = ("offers", "center", "experiment", "strength", "base-variance")
_RESERVED_ARMS = ("holdout", "policy")  # the edge refuses them as offer ids
RunConfig = dict[str, str | int | float | bool]


def number(cfg: Mapping[str, Any], key: str, default: float) -> float:
    """``cfg[key]`` (default ``default``) as a finite float; ConfigError otherwise."""
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"run config {key} must be a finite number, got {value!r}")
    return float(value)


def reply_timeout(cfg: Mapping[str, Any]) -> float:
    """``reply-timeout``: seconds the server waits for the nodes' replies to one message
    (default 600); a node that has not answered by then counts as absent for that round
    (its share of the noise is topped up), so one silent store cannot stall the run."""
    value = number(cfg, "reply-timeout", 600.0)
    if not value > 0:
        raise ConfigError(f"run config reply-timeout must be > 0 seconds, got {value!r}")
    return value


def integer(cfg: Mapping[str, Any], key: str, default: int, minimum: int = 1) -> int:
    """``cfg[key]`` (default ``default``) as an integer >= ``minimum``; ConfigError otherwise."""
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"run config {key} must be an integer >= {minimum}, got {value!r}")
    return value


def run_kind(cfg: Mapping[str, Any]) -> str:
    """The run's kind (``model`` when absent), with no key of the other kind.

    >>> run_kind({"rounds": 3}), run_kind({"kind": "offer-rates", "offers": "none,pct10"})
    ('model', 'offer-rates')
    """
    kind = cfg.get("kind", MODEL)
    if kind not in KINDS:
        raise ConfigError(f"run config kind must be one of {list(KINDS)}, got {kind!r}")
    foreign = [k for k in (OFFER_KEYS if kind == MODEL else MODEL_KEYS) if k in cfg]
    if foreign and kind == MODEL:
        raise ConfigError(
            f"run config {', '.join(foreign)} belong to an offer-rates release; set "
            f"kind = '{OFFER_RATES}' for one, or drop them for a model run"
        )
    if foreign:
        raise ConfigError(
            f"run config {', '.join(foreign)} belong to model training; an offer-rates run "
            "is one release whose noise is calibrated to epsilon, answered by every node: "
            "drop them"
        )
    return str(kind)


@dataclass(frozen=True)
class OfferRatesSettings:
    """A checked offer-rates release: the arms (``"none"`` first), an optional public
    centre (one rate per arm), the clip norm, the budget and the noise multiplier that
    one release may use within it, and how the priors are built from the fleet rates."""

    arms: tuple[str, ...]
    epsilon: float
    noise_multiplier: float
    clip_norm: float = 0.5
    center: tuple[float, ...] | None = None
    experiment: str | None = None
    strength: float = 20.0
    n_features: int = DEFAULT_N_FEATURES
    base_variance: float = 0.5
    min_nodes: int = 1
    delta: float = DEFAULT_DELTA


def offer_rates_settings(cfg: Mapping[str, Any]) -> OfferRatesSettings:
    """The settings of an offer-rates run from its run config; ConfigError names the first
    value that does not fit (nothing is sent before this passes)."""
    run_kind(cfg)
    arms = _arms(cfg.get("offers"))
    epsilon = number(cfg, "epsilon", math.nan) if "epsilon" in cfg else None
    if epsilon is None or not epsilon > 0:
        raise ConfigError(
            f"run config epsilon must be > 0 for an offer-rates release (got {epsilon!r}): "
            "the budget of the one release, from which its noise is calibrated"
        )
    clip_norm, strength = number(cfg, "clip-norm", 0.5), number(cfg, "strength", 20.0)
    base_variance = number(cfg, "base-variance", 0.5)
    for key, value in (("clip-norm", clip_norm), ("strength", strength),
                       ("base-variance", base_variance)):  # fmt: skip
        if not value > 0:
            raise ConfigError(f"run config {key} must be > 0, got {value!r}")
    return OfferRatesSettings(
        arms=arms,
        epsilon=epsilon,
        noise_multiplier=calibrate_noise(epsilon, 1, 1.0),
        clip_norm=clip_norm,
        center=_center(cfg.get("center"), len(arms)),
        experiment=_experiment(cfg.get("experiment")),
        strength=strength,
        n_features=integer(cfg, "n-features", DEFAULT_N_FEATURES, minimum=0),
        base_variance=base_variance,
        min_nodes=integer(cfg, "min-nodes", 1),
    )


def _arms(raw: Any) -> tuple[str, ...]:
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(
            "an offer-rates run needs offers: its arms as comma-separated names, 'none' (the "
            'holdout) first, e.g. offers = "none,pct10,bogo" (the bundle\'s offer ids)'
        )
    arms = tuple(a.strip() for a in raw.split(","))
    bad = [a for a in arms if not a or len(a) > 128 or any(c.isspace() for c in a)]
    if bad or arms[0] != "none" or len(arms) < 2 or len(set(arms)) != len(arms):
        raise ConfigError(
            f"run config offers {raw!r} must name 'none' (the holdout) first, then at least "
            "one offer id, all distinct, non-empty, at most 128 characters, no spaces"
        )
    reserved = [a for a in arms if a in _RESERVED_ARMS]
    if reserved:
        raise ConfigError(f"run config offers: {reserved} cannot be offer ids (the edge "
                          "reserves them); the holdout arm is called 'none'")  # fmt: skip
    return arms


def _center(raw: Any, k: int) -> tuple[float, ...] | None:
    if raw is None:
        return None
    try:
        values = tuple(float(v) for v in str(raw).split(","))
    except ValueError:
        values = ()
    if len(values) != k or not all(0.0 <= v <= 1.0 for v in values):
        raise ConfigError(
            f"run config center {raw!r} must hold {k} comma-separated rates in [0, 1], one "
            "per arm of offers (e.g. the fleet rates of the hub's DP reports)"
        )
    return values


def _experiment(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not 0 < len(raw) <= 128:
        raise ConfigError(f"run config experiment must be a name of 1-128 characters, got {raw!r}")
    return raw


def model_run_config(
    *,
    rounds: int = 30,
    epsilon: float = 8.0,
    clip_norm: float = 0.5,
    sample_rate: float = 1.0,
    min_nodes: int = 3,
    n_features: int = DEFAULT_N_FEATURES,
) -> RunConfig:
    """The run config of DP-FedAvg training, its noise calibrated to ``epsilon`` over
    ``rounds`` rounds at ``sample_rate``."""
    z = calibrate_noise(epsilon, rounds, sample_rate)
    return {"kind": MODEL, "rounds": rounds, "epsilon": epsilon, "noise-multiplier": z,
            "clip-norm": clip_norm, "sample-rate": sample_rate, "min-nodes": min_nodes,
            "n-features": n_features}  # fmt: skip


def offer_rates_run_config(
    offers: str | Sequence[str],
    *,
    epsilon: float,
    center: str | Sequence[float] | None = None,
    clip_norm: float = 0.5,
    strength: float = 20.0,
    experiment: str | None = None,
    n_features: int = DEFAULT_N_FEATURES,
    base_variance: float = 0.5,
    min_nodes: int = 3,
) -> RunConfig:
    """The run config of an offer-rates release, checked as the ServerApp checks it.

    >>> cfg = offer_rates_run_config(["none", "pct10"], epsilon=3, center=[0.2, 0.25])
    >>> cfg["offers"], cfg["center"]
    ('none,pct10', '0.2,0.25')
    """
    cfg: RunConfig = {"kind": OFFER_RATES, "offers": _joined(offers), "epsilon": epsilon,
                      "clip-norm": clip_norm, "strength": strength, "n-features": n_features,
                      "base-variance": base_variance, "min-nodes": min_nodes}  # fmt: skip
    if center is not None:
        cfg["center"] = _joined(center)
    if experiment is not None:
        cfg["experiment"] = experiment
    offer_rates_settings(cfg)
    return cfg


def _joined(values: str | Sequence[Any]) -> str:
    return values if isinstance(values, str) else ",".join(str(v) for v in values)


def deployment_run_config(kind: str = MODEL, **given: Any) -> RunConfig:
    """The run config of a deployment run of ``kind`` from the options ``given`` (None:
    not given; ``hub_url`` and ``out`` for both kinds), checked as the ServerApp checks it.

    >>> deployment_run_config("offer-rates", offers="none,pct10", epsilon=3, rounds=5)
    Traceback (most recent call last):
    ...
    edgemark.errors.ConfigError: rounds do not apply to an offer-rates run (one release)
    """
    given = {k: v for k, v in given.items() if v is not None}
    where = {k.replace("_", "-"): given.pop(k) for k in ("hub_url", "out") if k in given}
    if kind not in KINDS:
        raise ConfigError(f"kind must be one of {list(KINDS)}, got {kind!r}")
    if kind == MODEL:
        wrong = sorted({"offers", "center", "experiment", "strength", "base_variance"} & set(given))
        what = "a model run (they belong to --kind offer-rates)"
    else:
        wrong = sorted({"rounds", "sample_rate"} & set(given))
        what = "an offer-rates run (one release)"
    if wrong:
        raise ConfigError(f"{', '.join(w.replace('_', '-') for w in wrong)} do not apply to {what}")
    if kind == MODEL:
        return {**model_run_config(**given), **where}
    if "offers" not in given or "epsilon" not in given:
        raise ConfigError("an offer-rates release needs its arms (offers, 'none' first) and "
                          "its budget (epsilon)")  # fmt: skip
    return {**offer_rates_run_config(given.pop("offers"), **given), **where}
