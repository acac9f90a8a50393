from __future__ import annotations

import edgemark.edge


def test_all_is_pinned_and_sorted() -> None:
    expected = [
        "BayesLogistic",
        "ContextualPolicy",
        "Decision",
        "DecisionRequest",
        "Delivery",
        "EdgeAPI",
        "NodeHubClient",
        "ObserveResult",
        "Outbox",
        "PolicySettings",
        "Release",
        "Runtime",
        "SyncAgent",
        "ThompsonPolicy",
        "erase_user_state",
        "export_variant_log",
        "idempotency_key",
        "in_holdout",
        "psi",
        "run_node",
        "serve_api",
        "serve_node",
    ]
    assert edgemark.edge.__all__ == expected
    assert sorted(expected) == expected
