"""The Flower entry points of edgemark's plain apps, kept at this path because users'
Flower App projects name them (``edgemark.federated._flower:server_app`` / ``:client_app``);
the code lives in ``_flower_server``, ``_flower_client``, ``_flower_offers``, ``_flower_deploy``.

Flower is the ``federated`` extra; these modules import it at import time, so the package
imports them only inside functions. The hub's ServerApp (ledger) and the edge's ClientApp
(journal) build on the same pieces: ``deployment_plan`` + ``run_deployment`` and
``make_client_app(rows, rates)``.
"""

from __future__ import annotations

from edgemark.federated._flower_client import (
    RateSource,
    Rows,
    RowSource,
    answer_name,
    answer_train,
    client_app,
    load_shard,
    make_client_app,
    train_on,
)
from edgemark.federated._flower_deploy import (
    DeploymentPlan,
    deployment_plan,
    run_deployment,
    server_app,
)
from edgemark.federated._flower_offers import OFFER_RATES_QUERY, OfferRatesPlan, run_offer_rates
from edgemark.federated._flower_server import (
    NAME_QUERY,
    TrainingPlan,
    Variant,
    ask_node_names,
    make_server_app,
    run_plan,
)

__all__ = [
    "NAME_QUERY",
    "OFFER_RATES_QUERY",
    "DeploymentPlan",
    "OfferRatesPlan",
    "RateSource",
    "RowSource",
    "Rows",
    "TrainingPlan",
    "Variant",
    "answer_name",
    "answer_train",
    "ask_node_names",
    "client_app",
    "deployment_plan",
    "load_shard",
    "make_client_app",
    "make_server_app",
    "run_deployment",
    "run_offer_rates",
    "run_plan",
    "server_app",
    "train_on",
]
