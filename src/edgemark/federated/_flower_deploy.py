"""A deployment run on Flower's SuperLink: the plan its run config asks for (DP-FedAvg
rounds, or one offer-rates release), run with the result file (``out``) kept current, and
the plain ServerApp entry point (``edgemark.federated._flower:server_app``, no ledger).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flwr.app import Context
from flwr.serverapp import Grid, ServerApp

from edgemark.federated._deploy import deployment_run_id, write_result
from edgemark.federated._fedavg import DPFedAvgConfig
from edgemark.federated._flower_client import load_shard
from edgemark.federated._flower_offers import OfferRatesPlan, run_offer_rates
from edgemark.federated._flower_server import RoundHook, TrainingPlan, Variant, run_plan
from edgemark.federated._runconfig import (
    DEFAULT_N_FEATURES,
    OFFER_RATES,
    integer,
    number,
    offer_rates_settings,
    reply_timeout,
    run_kind,
)

DeploymentPlan = TrainingPlan | OfferRatesPlan


def deployment_plan(context: Context) -> DeploymentPlan:
    """The plan of a deployment run from its run config: ``kind`` (``model``, the default,
    or ``offer-rates``) and that kind's settings (model: ``rounds``, ``epsilon``,
    ``noise-multiplier``, ``clip-norm``, ``sample-rate``, ``min-nodes``, ``n-features``,
    ``test-path``; offer-rates: see ``offer_rates_settings``; both: ``reply-timeout``);
    ConfigError for a value that does not fit, before anything is sent."""
    cfg = context.run_config
    if run_kind(cfg) == OFFER_RATES:
        return OfferRatesPlan(offer_rates_settings(cfg), reply_timeout_s=reply_timeout(cfg))
    dp = DPFedAvgConfig(
        clip_norm=number(cfg, "clip-norm", 0.5),
        noise_multiplier=number(cfg, "noise-multiplier", 1.0),
        sample_rate=number(cfg, "sample-rate", 1.0),
    )
    budget = number(cfg, "epsilon", 0.0) if "epsilon" in cfg else None
    plan = TrainingPlan(
        variants=[Variant("fl", dp, budget)],
        rounds=integer(cfg, "rounds", 3),
        n_features=integer(cfg, "n-features", DEFAULT_N_FEATURES),
        min_nodes=integer(cfg, "min-nodes", 1),
        reply_timeout_s=reply_timeout(cfg),
        ask_names=True,
    )
    if "test-path" in cfg:
        plan.x_test, plan.y_test = load_shard(str(cfg["test-path"]))
    return plan


def _result_fields(plan: DeploymentPlan) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
    """(stopped, params, extra fields) of the result file of ``plan``."""
    if isinstance(plan, OfferRatesPlan):
        return {}, {}, plan.result()
    params = {k: v.tolist() for k, v in plan.params.items()}
    return plan.stopped, params, {"kind": "model"}


def run_deployment(
    grid: Grid, context: Context, plan: DeploymentPlan, hook: RoundHook | None = None
) -> None:
    """Run ``plan`` for a deployment run; ``hook`` sees every round after it is written to
    the run config's ``out`` (if set), so the file holds every round run, even when the
    hook or the run fails."""
    run_id = deployment_run_id(context.run_id)
    out = context.run_config.get("out")
    path = Path(str(out)) if out else None

    def save(error: str | None = None) -> None:
        if path is not None:
            stopped, params, extra = _result_fields(plan)
            write_result(path, run_id, plan.history, stopped, params, error, extra=extra)

    def each_round(row: dict[str, Any]) -> None:
        try:
            save()
        finally:
            if hook is not None:
                hook(row)

    save()  # a path that cannot be written fails before anything is sent
    error: str | None = None
    try:
        if isinstance(plan, OfferRatesPlan):
            run_offer_rates(grid, plan, each_round)
        else:
            run_plan(grid, plan, each_round)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        save(error)


def _deployment_main(grid: Grid, context: Context) -> None:
    """Deployment entry: settings from the run config, results written to ``out``."""
    run_deployment(grid, context, deployment_plan(context))


server_app = ServerApp()
server_app.main()(_deployment_main)
