"""The public API of edgemark.hub is exactly this list."""

from __future__ import annotations

import edgemark.hub


def test_all_is_pinned_and_sorted() -> None:
    assert edgemark.hub.__all__ == [
        "AdminClient",
        "Assignment",
        "AuditVerdict",
        "GatePolicy",
        "HubSettings",
        "Secret",
        "ServerThread",
        "admin_token_from_env",
        "close_federated_task",
        "create_app",
        "enrol",
        "fetch_privacy_ledger",
        "open_federated_task",
        "privacy_ledger",
        "record_federated_round",
        "serve",
        "upgrade_database",
        "validate_waves",
        "verify_audit_chain",
        "verify_audit_database",
        "wave_sizes",
    ]
    assert edgemark.hub.__all__ == sorted(edgemark.hub.__all__)
    for name in edgemark.hub.__all__:
        assert getattr(edgemark.hub, name) is not None
