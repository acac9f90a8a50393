from __future__ import annotations

import edgemark.privacy


def test_public_names_are_pinned() -> None:
    assert edgemark.privacy.__all__ == [
        "ErasureReport",
        "LedgerEntry",
        "PrivacyBudget",
        "PrivacyLedger",
        "RetentionReport",
        "apply_retention",
        "count_mechanism",
        "erase_user",
        "laplace_count",
        "laplace_sum",
        "noise_scale",
        "sum_mechanism",
    ]
    assert all(hasattr(edgemark.privacy, name) for name in edgemark.privacy.__all__)
