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
        "idempotency_key",
        "in_holdout",
        "psi",
        "serve_api",
    ]
    assert edgemark.edge.__all__ == expected
    assert sorted(expected) == expected
