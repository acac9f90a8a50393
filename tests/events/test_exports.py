from __future__ import annotations

import edgemark.events


def test_public_names_are_pinned() -> None:
    assert edgemark.events.__all__ == [
        "EVENT_COLUMNS",
        "EVENT_TYPES",
        "LOG_COLUMNS",
        "REASON_CODES",
        "Event",
        "EventLog",
        "EventMapping",
        "IngestResult",
        "Pseudonymizer",
        "arrival_lags",
        "ingest_file",
        "validate_event",
    ]
    assert all(hasattr(edgemark.events, name) for name in edgemark.events.__all__)
