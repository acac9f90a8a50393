"""The local HTTP API on a free loopback port: decide/observe/reports/status and its 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from edgemark.bundle import TrustStore
from edgemark.edge import EdgeAPI, Runtime, serve_api
from tests.edge.edge_support import DAY, T0, BundleFactory


@pytest.fixture()
def api(tmp_path: Path, trust: TrustStore) -> Iterator[EdgeAPI]:
    runtime = Runtime(tmp_path / "node", "store-1", trust=trust)
    server = serve_api(runtime, port=0)
    yield server
    server.stop()
    runtime.close()


def test_port_file_and_no_bundle(api: EdgeAPI) -> None:
    port_file = api.runtime.state_dir / "api.port"
    assert int(port_file.read_text()) == api.port
    r = httpx.post(f"{api.url}/v1/decide", json={"requests": [{"user": "a", "ts": T0}]})
    assert r.status_code == 503 and "bundle" in r.json()["detail"]
    assert httpx.get(f"{api.url}/v1/status").json()["active_version"] is None


def test_decide_observe_reports_round_trip(api: EdgeAPI, make_bundle: BundleFactory) -> None:
    api.runtime.load(make_bundle("v1"))
    requests = [
        {"user": f"c{i}", "ts": T0 + i, "consent_measurement": i % 2 == 0} for i in range(10)
    ]
    r = httpx.post(f"{api.url}/v1/decide", json={"requests": requests})
    assert r.status_code == 200
    decisions = r.json()["decisions"]
    assert len(decisions) == 10 and all(d["bundle_version"] == "v1" for d in decisions)
    events = [
        {
            "event_id": "e1",
            "ts": T0 + 60,
            "user": "c0",
            "type": "purchase",
            "node": "store-1",
            "amount": 12.0,
        },
        {"event_id": "e2", "ts": T0 + 60, "user": "c1", "type": "purchase", "node": "store-1"},
        {
            "event_id": "e3",
            "ts": T0 + 60,
            "user": "c2",
            "type": "redeem",
            "node": "store-1",
            "offer": "nope",
        },
        "not an event",
    ]
    r = httpx.post(f"{api.url}/v1/observe", json={"events": events})
    body = r.json()
    assert body["accepted"] == 1
    assert [x["index"] for x in body["rejected"]] == [1, 2, 3]
    assert "nope" in body["rejected"][1]["reason"]
    r = httpx.post(f"{api.url}/v1/reports", json={"until_day": int(T0 // DAY) + 1})
    assert r.json() == {"queued": 4, "days": [int(T0 // DAY)], "refused": []}
    status = httpx.get(f"{api.url}/v1/status").json()
    assert status["decisions_by_version"] == {"v1": 10} and status["unsent_reports"] == 4


@pytest.mark.parametrize(
    ("path", "content", "status", "detail"),
    [
        ("/v1/decide", b"{not json", 400, "not valid JSON"),
        ("/v1/decide", b'{"requests": 3}', 400, "requests"),
        ("/v1/decide", b'{"requests": [{"ts": 1}]}', 400, "'user'"),
        ("/v1/observe", b"[]", 400, "events"),
        ("/v1/reports", b'{"until_day": "x"}', 400, "until_day"),
        ("/v1/sync", b"{}", 409, "without a hub"),
        ("/v1/nothing", b"{}", 404, "No route"),
    ],
)
def test_bad_requests_get_a_detail_and_no_traceback(
    api: EdgeAPI, path: str, content: bytes, status: int, detail: str
) -> None:
    r = httpx.post(f"{api.url}{path}", content=content)
    assert r.status_code == status
    assert detail in r.json()["detail"] and "Traceback" not in r.text


def test_oversized_body_is_refused(api: EdgeAPI) -> None:
    r = httpx.post(f"{api.url}/v1/observe", content=b" " * (8 * 1024 * 1024 + 1))
    assert r.status_code == 413


def test_single_and_batch_events_single_decide_health_and_metrics(
    api: EdgeAPI, make_bundle: BundleFactory
) -> None:
    health = httpx.get(f"{api.url}/healthz").json()
    assert health == {"status": "ok", "ready": False, "active_version": None}
    api.runtime.load(make_bundle("v1"))
    one = httpx.post(f"{api.url}/v1/decide", json={"user": "c1", "ts": T0})
    assert one.status_code == 200 and one.json()["decision"]["bundle_version"] == "v1"
    event = {"event_id": "e1", "ts": T0 + 5, "user": "c1", "type": "view", "node": "store-1"}
    assert httpx.post(f"{api.url}/v1/events", json=event).json() == {
        "accepted": 1, "duplicates": 0, "rejected": []}  # fmt: skip
    batch = [event, {**event, "event_id": "e2"}, {**event, "event_id": "e3", "type": "?"}]
    body = httpx.post(f"{api.url}/v1/events", json={"events": batch}).json()
    assert body["accepted"] == 1 and body["duplicates"] == 1
    assert (
        body["rejected"][0]["index"] == 2 and "unknown event type" in body["rejected"][0]["reason"]
    )
    metrics = httpx.get(f"{api.url}/metrics")
    assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _parse_exposition(metrics.text)
    assert samples['edgemark_edge_decisions_total{version="v1"}'] == 1
    # The conventional counter is labelled by the offer shown and the experiment layer.
    per_offer = {k: v for k, v in samples.items() if k.startswith("edgemark_decisions_total{")}
    assert sum(per_offer.values()) == 1 and not any('offer="any"' in k for k in per_offer)
    assert any(
        f'arm="{layer}"' in k for k in per_offer for layer in ("holdout", "explore", "policy")
    )
    assert samples["edgemark_decide_duration_seconds_count"] == 1
    assert samples['edgemark_decide_duration_seconds_bucket{le="+Inf"}'] == 1
    assert samples['edgemark_edge_events_total{type="view"}'] == 2
    assert samples["edgemark_edge_duplicate_events_total"] == 1
    assert samples['edgemark_edge_http_requests_total{route="/v1/events",status="200"}'] == 2
    assert httpx.get(f"{api.url}/healthz").json()["ready"] is True


def _parse_exposition(text: str) -> dict[str, float]:
    """Every sample line of the Prometheus text format; HELP/TYPE come before their samples."""
    samples: dict[str, float] = {}
    declared: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind in {"counter", "gauge", "histogram"} and name not in declared
            declared.add(name)
            if kind == "histogram":
                declared |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            assert key.split("{")[0] in declared
            samples[key] = float(value)
    return samples


def test_get_on_a_post_route_is_405(api: EdgeAPI) -> None:
    r = httpx.get(f"{api.url}/v1/decide")
    assert r.status_code == 405 and "not allowed" in r.json()["detail"]
