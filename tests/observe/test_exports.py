"""The public API of edgemark.observe is exactly this list."""

from __future__ import annotations

import edgemark.observe


def test_public_names_are_pinned() -> None:
    assert edgemark.observe.__all__ == [
        "CONTENT_TYPE",
        "DECIDE_BUCKETS",
        "LATENCY_BUCKETS",
        "Exposition",
        "Histogram",
        "JsonFormatter",
        "TracingSettings",
        "accept_request_id",
        "add_secret",
        "adopt_loggers",
        "configure_logging",
        "configure_tracing",
        "current_ids",
        "edge_families",
        "redact",
        "request_id",
        "server_span",
        "setup_process",
        "shutdown_tracing",
        "span",
        "trace_headers",
        "tracing_enabled",
    ]
    for name in edgemark.observe.__all__:
        assert getattr(edgemark.observe, name) is not None
