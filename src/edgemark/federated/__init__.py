"""Federated plane: DP-FedAvg on Flower over numpy models; raw data stays on the nodes.

Core (numpy): the logistic propensity model (``local_sgd``, ``export_logistic_onnx``) and
fleet-wide offer-policy priors (``federated_offer_priors``),
clipping, the node update and the server step (``client_update``, ``DPFedAvgServer``).
``epsilon_spent``/``calibrate_noise`` need dp-accounting, the simulation Flower: both are
the ``federated`` extra, imported when used. Shards come from ``edgemark.sim``. Deployment
runs (``deployment_run_config``) train the model or release the offer priors over Flower.
"""

from __future__ import annotations

from edgemark.federated._bundle import bundle_federated_model
from edgemark.federated._data import FederatedData, NodeShard, simulate_shards
from edgemark.federated._deploy import (
    EDGE_CLIENT_APP,
    HUB_SERVER_APP,
    deployment_rounds,
    write_flower_app,
    write_flower_connection,
)
from edgemark.federated._dp import (
    DEFAULT_DELTA,
    RoundAccountant,
    calibrate_noise,
    clip_update,
    epsilon_spent,
)
from edgemark.federated._fedavg import DPFedAvgConfig, DPFedAvgServer, client_update
from edgemark.federated._model import (
    auc,
    export_logistic_onnx,
    init_params,
    local_sgd,
    predict,
    train_central,
)
from edgemark.federated._priors import (
    OfferPriors,
    federated_offer_priors,
    node_rates,
    noised_rates,
    rates_noise_std,
)
from edgemark.federated._runconfig import (
    OfferRatesSettings,
    deployment_run_config,
    offer_rates_run_config,
    offer_rates_settings,
)
from edgemark.federated._simulate import SimulationResult, simulate_federated, variant_name

__all__ = [
    "DEFAULT_DELTA",
    "EDGE_CLIENT_APP",
    "HUB_SERVER_APP",
    "DPFedAvgConfig",
    "DPFedAvgServer",
    "FederatedData",
    "NodeShard",
    "OfferPriors",
    "OfferRatesSettings",
    "RoundAccountant",
    "SimulationResult",
    "auc",
    "bundle_federated_model",
    "calibrate_noise",
    "client_update",
    "clip_update",
    "deployment_rounds",
    "deployment_run_config",
    "epsilon_spent",
    "export_logistic_onnx",
    "federated_offer_priors",
    "init_params",
    "local_sgd",
    "node_rates",
    "noised_rates",
    "offer_rates_run_config",
    "offer_rates_settings",
    "predict",
    "rates_noise_std",
    "simulate_federated",
    "simulate_shards",
    "train_central",
    "variant_name",
    "write_flower_app",
    "write_flower_connection",
]
