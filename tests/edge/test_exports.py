from __future__ import annotations

import edgemark.edge


def test_all_is_pinned_and_sorted() -> None:
    expected = [
        "Decision",
        "DecisionRequest",
        "EdgeAPI",
        "NodeHubClient",
        "PolicySettings",
        "Runtime",
        "SyncAgent",
        "ThompsonPolicy",
        "idempotency_key",
        "in_holdout",
        "serve_api",
    ]
    assert edgemark.edge.__all__ == expected
    assert sorted(expected) == expected
    for name in expected:
        assert hasattr(edgemark.edge, name)
