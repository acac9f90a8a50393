"""OpenTelemetry traces, off by default: ``span(name)`` costs one global read when off.

``configure_tracing`` installs an SDK tracer provider with a batching OTLP/HTTP exporter
(or any exporter, for tests) and needs the ``observe`` extra; until it is called,
``span`` hands back one shared no-op context manager. Nothing here is ever called inside
``Runtime.decide``: callers trace around it (the hub's middleware, the agent's sync loop).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

from edgemark._extras import require
from edgemark.errors import ConfigError

ENV_ENDPOINT = "EDGEMARK_OTLP_ENDPOINT"
ENV_SAMPLE = "EDGEMARK_TRACE_SAMPLE"
_NULL: AbstractContextManager[None] = nullcontext()
_state: dict[str, Any] = {"tracer": None, "provider": None}


@dataclass(frozen=True)
class TracingSettings:
    """Where traces go: an OTLP/HTTP endpoint (None: tracing off) and the sampled share.

    >>> TracingSettings.from_env({}).enabled
    False
    """

    endpoint: str | None = None
    service_name: str = "edgemark"
    sample_ratio: float = 1.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.sample_ratio <= 1.0:
            raise ConfigError(f"{ENV_SAMPLE} must be within [0, 1]; got {self.sample_ratio}.")

    @property
    def enabled(self) -> bool:
        """Whether traces are exported."""
        return bool(self.endpoint)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, service_name: str = "edgemark"
    ) -> TracingSettings:
        """Read EDGEMARK_OTLP_ENDPOINT (e.g. ``http://collector:4318/v1/traces``) and
        EDGEMARK_TRACE_SAMPLE (share of traces kept, default 1)."""
        env = os.environ if environ is None else environ
        raw = env.get(ENV_SAMPLE, "1")
        try:
            ratio = float(raw)
        except ValueError:
            raise ConfigError(f"{ENV_SAMPLE} must be a number in [0, 1]; got {raw!r}.") from None
        return cls(env.get(ENV_ENDPOINT) or None, service_name, ratio)


def configure_tracing(settings: TracingSettings, exporter: Any = None) -> bool:
    """Start exporting spans; ``exporter`` overrides OTLP (tests). Returns whether on.

    Off (no endpoint and no exporter) leaves ``span`` a no-op.
    """
    if not settings.enabled and exporter is None:
        return False
    require("opentelemetry.sdk", "observe")
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBasedTraceIdRatio

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=settings.endpoint)
    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name}),
        sampler=ParentBasedTraceIdRatio(settings.sample_ratio),
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    shutdown_tracing()
    _state["provider"] = provider
    _state["tracer"] = provider.get_tracer("edgemark")
    return True


def shutdown_tracing() -> None:
    """Flush and stop exporting; ``span`` is a no-op again."""
    provider = _state["provider"]
    _state["tracer"] = _state["provider"] = None
    if provider is not None:
        provider.shutdown()


def tracing_enabled() -> bool:
    """Whether spans are recorded."""
    return _state["tracer"] is not None


def span(name: str, attributes: Mapping[str, Any] | None = None) -> AbstractContextManager[Any]:
    """A span named ``name`` around a block, or a shared no-op when tracing is off."""
    tracer = _state["tracer"]
    if tracer is None:
        return _NULL
    started: AbstractContextManager[Any] = tracer.start_as_current_span(
        name, attributes=dict(attributes or {})
    )
    return started


def current_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` in hex of the current span, for log lines (None if none)."""
    if _state["tracer"] is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


@contextmanager
def server_span(
    name: str, headers: Mapping[str, str], attributes: Mapping[str, Any]
) -> Iterator[Any]:
    """A server span that continues the caller's trace (W3C ``traceparent``) when on."""
    tracer = _state["tracer"]
    if tracer is None:
        yield None
        return
    from opentelemetry.propagate import extract
    from opentelemetry.trace import SpanKind

    context = extract(dict(headers))
    with tracer.start_as_current_span(
        name, context=context, kind=SpanKind.SERVER, attributes=dict(attributes)
    ) as current:
        yield current


def trace_headers() -> dict[str, str]:
    """W3C ``traceparent`` (and ``tracestate``) of the current span, for an outgoing request;
    empty when tracing is off or no span is current, so callers can always merge it."""
    if _state["tracer"] is None:
        return {}
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier
