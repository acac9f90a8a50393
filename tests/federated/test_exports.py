"""The public API of edgemark.federated is exactly this list."""

from __future__ import annotations

import edgemark.federated


def test_all_is_pinned_and_sorted() -> None:
    assert edgemark.federated.__all__ == [
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
    for name in edgemark.federated.__all__:
        assert getattr(edgemark.federated, name) is not None
