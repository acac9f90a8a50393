"""edgemark.observe: Prometheus metrics, OpenTelemetry traces and structured JSON logs.

The exposition format and the edge's conventional metrics are plain Python (the core
install is the edge install); traces need the ``observe`` extra and are off until
``configure_tracing`` is called; ``configure_logging`` makes a process log JSON lines
with request and trace ids and masks secrets.
"""

from __future__ import annotations

from edgemark.observe._edge import edge_families
from edgemark.observe._exposition import (
    CONTENT_TYPE,
    DECIDE_BUCKETS,
    LATENCY_BUCKETS,
    Exposition,
    Histogram,
)
from edgemark.observe._logging import (
    JsonFormatter,
    accept_request_id,
    add_secret,
    adopt_loggers,
    configure_logging,
    redact,
    request_id,
    setup_process,
)
from edgemark.observe._tracing import (
    TracingSettings,
    configure_tracing,
    current_ids,
    server_span,
    shutdown_tracing,
    span,
    trace_headers,
    tracing_enabled,
)

__all__ = [
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
