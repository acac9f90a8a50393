"""Traces: off by default (a shared no-op), hub requests and the agent's sync loop as spans
when configured, W3C trace context continued from the caller."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgemark.bundle import BundleStore
from edgemark.edge import NodeHubClient, Runtime, SyncAgent, serve_api
from edgemark.hub import HubSettings, Secret, ServerThread
from edgemark.observe import (
    TracingSettings,
    configure_tracing,
    current_ids,
    shutdown_tracing,
    span,
    tracing_enabled,
)
from tests.hub._support import ADMIN, ADMIN_TOKEN, enrol_node

pytest.importorskip("opentelemetry.sdk")
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    memory = InMemorySpanExporter()
    assert configure_tracing(TracingSettings(service_name="test"), exporter=memory)
    yield memory
    shutdown_tracing()


def test_tracing_is_off_by_default_and_costs_a_shared_no_op() -> None:
    assert not tracing_enabled()
    assert span("a") is span("b")  # one shared null context, nothing allocated per call
    assert current_ids() is None
    assert not configure_tracing(TracingSettings.from_env({}))


def test_settings_come_from_the_environment() -> None:
    s = TracingSettings.from_env({"EDGEMARK_OTLP_ENDPOINT": "http://c:4318/v1/traces",
                                  "EDGEMARK_TRACE_SAMPLE": "0.25"}, service_name="hub")  # fmt: skip
    assert s.enabled and s.sample_ratio == 0.25 and s.service_name == "hub"
    with pytest.raises(Exception, match="EDGEMARK_TRACE_SAMPLE"):
        TracingSettings.from_env({"EDGEMARK_TRACE_SAMPLE": "2"})


def test_hub_requests_are_server_spans_that_continue_the_callers_trace(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    settings = HubSettings(Secret(ADMIN_TOKEN), database_url=f"sqlite:///{tmp_path / 'h.db'}",
                           bundle_dir=tmp_path / "b")  # fmt: skip
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = f"00-{trace_id}-00f067aa0ba902b7-01"
    with ServerThread(settings) as hub:
        r = httpx.get(f"{hub.url}/v1/nodes", headers={**ADMIN, "traceparent": parent,
                                                      "X-Request-ID": "req-42"})  # fmt: skip
        assert r.status_code == 200 and r.headers["x-request-id"] == "req-42"
        assert httpx.get(f"{hub.url}/v1/rollouts/rollout-9-abc", headers=ADMIN).status_code == 404
    shutdown_tracing()  # flushes the batch processor
    spans = {s.name: s for s in exporter.get_finished_spans()}
    nodes = spans["GET /v1/nodes"]
    assert f"{nodes.context.trace_id:032x}" == trace_id  # continued, not a new trace
    assert nodes.attributes["http.response.status_code"] == 200
    assert spans["GET /v1/rollouts/{rollout_id}"].attributes["http.response.status_code"] == 404


def test_the_agents_sync_round_is_a_span_with_its_steps(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    parents: dict[str, str] = {}

    def handle(request: httpx.Request) -> httpx.Response:
        parents[request.url.path] = request.headers.get("traceparent", "")
        if request.url.path == "/v1/heartbeats":
            return httpx.Response(200, json={"ok": True, "assignment": {"version": None}})
        return httpx.Response(200, json={"stored": 0, "duplicates": 0})

    runtime = Runtime(tmp_path / "node", "store-1", trust=None)
    client = NodeHubClient("http://hub.test", "emn_x", transport=httpx.MockTransport(handle))
    agent = SyncAgent(runtime, client, BundleStore(tmp_path / "node" / "bundles"))
    try:
        assert agent.sync_once()["heartbeat"] is True
    finally:
        runtime.close()
    shutdown_tracing()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    sync = spans["edge.sync"]
    assert sync.attributes["edgemark.node_id"] == "store-1"
    assert spans["edge.heartbeat"].parent.span_id == sync.context.span_id
    assert spans["edge.reports"].parent.span_id == sync.context.span_id
    # Each request to the hub carries the trace on: W3C traceparent of the step's span.
    beat = spans["edge.heartbeat"].context
    _version, trace_id, span_id, _flags = parents["/v1/heartbeats"].split("-")
    assert (trace_id, span_id) == (f"{beat.trace_id:032x}", f"{beat.span_id:016x}")


def test_a_nodes_sync_and_the_hubs_handling_are_one_trace(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    settings = HubSettings(Secret(ADMIN_TOKEN), database_url=f"sqlite:///{tmp_path / 'h.db'}",
                           bundle_dir=tmp_path / "b")  # fmt: skip
    with ServerThread(settings) as hub:
        with httpx.Client(base_url=hub.url) as http:
            _, token = enrol_node(http, "store-1")
        runtime = Runtime(tmp_path / "node", "store-1", trust=None)
        client = NodeHubClient(hub.url, token)
        agent = SyncAgent(runtime, client, BundleStore(tmp_path / "node" / "bundles"))
        try:
            assert agent.sync_once()["heartbeat"] is True
        finally:
            client.close()
            runtime.close()
    shutdown_tracing()
    spans = exporter.get_finished_spans()
    sync = next(s for s in spans if s.name == "edge.sync")
    served = [s for s in spans if s.name == "POST /v1/heartbeats"]
    assert served and all(s.context.trace_id == sync.context.trace_id for s in served)


def test_the_edge_api_answers_with_request_ids_and_serves_spans(
    tmp_path: Path, exporter: InMemorySpanExporter
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = f"00-{trace_id}-00f067aa0ba902b7-01"
    runtime = Runtime(tmp_path / "node", "store-1", trust=None)
    api = serve_api(runtime, port=0)
    try:
        r = httpx.post(f"{api.url}/v1/decide", json={"user": "c1", "ts": 1.7e9},
                       headers={"traceparent": parent, "X-Request-ID": "pos-7"})  # fmt: skip
        assert r.status_code == 503 and r.headers["x-request-id"] == "pos-7"  # no bundle yet
        odd = httpx.get(f"{api.url}/no/such/path", headers={"X-Request-ID": "a b\tc"})
        assert odd.status_code == 404 and len(odd.headers["x-request-id"]) == 16  # replaced
        plain = httpx.get(f"{api.url}/healthz")  # no id sent: none echoed (one header less)
        assert plain.status_code == 200 and "x-request-id" not in plain.headers
    finally:
        api.stop()
        runtime.close()
    shutdown_tracing()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    decide = spans["POST /v1/decide"]
    assert f"{decide.context.trace_id:032x}" == trace_id
    assert decide.attributes["http.response.status_code"] == 503
    assert spans["GET other"].attributes["http.response.status_code"] == 404  # bounded names


def test_log_lines_inside_a_span_carry_its_ids(exporter: InMemorySpanExporter) -> None:
    import logging

    from edgemark.observe import JsonFormatter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "inside", None, None)
    with span("work"):
        line: dict[str, Any] = json.loads(JsonFormatter().format(record))
        ids = current_ids()
    assert ids is not None and (line["trace_id"], line["span_id"]) == ids


def test_spans_reach_an_otlp_http_collector_on_loopback() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    received: list[tuple[str, str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
        assert configure_tracing(TracingSettings(endpoint, service_name="edgemark-hub"))
        with span("edge.sync", {"edgemark.node_id": "store-1"}):
            pass
        shutdown_tracing()  # flushes the batch to the collector
    finally:
        server.shutdown()
        server.server_close()
    assert len(received) == 1
    path, kind, body = received[0]
    assert path == "/v1/traces" and kind == "application/x-protobuf"
    request = ExportTraceServiceRequest.FromString(body)
    resource = request.resource_spans[0]
    service = {a.key: a.value.string_value for a in resource.resource.attributes}
    assert service["service.name"] == "edgemark-hub"
    assert [s.name for s in resource.scope_spans[0].spans] == ["edge.sync"]
