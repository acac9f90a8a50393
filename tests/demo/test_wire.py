"""The wire allow-list: heartbeats, DP-noised report rows and federated answers of an
allowed length (a model update or K offer rates) pass; anything else is named."""

from __future__ import annotations

from typing import Any

import pytest

from edgemark.demo._wire import wire_violations

MODEL, ARMS = 30, 4
ROW = {"idempotency_key": "k", "day": 1, "experiment": "e", "arm": "holdout", "exposures": 3,
       "conversions": 1, "revenue": 9.5, "epsilon": 1.0, "count_noise_scale": 4.0,
       "revenue_noise_scale": 1.0, "revenue_sq": 1.0, "revenue_sq_noise_scale": 1.0,
       "max_contributions": 1}  # fmt: skip


def post(path: str, body: Any) -> dict[str, Any]:
    return {"method": "POST", "path": path, "json": body}


ALLOWED = [
    post("/v1/heartbeats", {"active_version": "v1", "decisions_by_version": {"v1": 3},
                            "latency_p50_us": 40.0, "latency_p99_us": 90.0,
                            "bundle_error": None}),
    post("/v1/reports", {"reports": [ROW]}),
    post("/v1/federated/updates", {"task_id": 1, "update": [0.01] * MODEL}),
    post("/v1/federated/updates", {"task_id": 2, "update": [0.13, 0.2, -0.04, 0.31]}),
    {"method": "GET", "path": "/v1/federated/task", "json": None},
    {"method": "GET", "path": "/v1/bundles/v2?x=1", "json": None},
]  # fmt: skip


def test_what_a_node_may_send_passes() -> None:
    assert wire_violations(ALLOWED, {MODEL, ARMS}) == []


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        (post("/v1/federated/updates", {"task_id": 2, "update": [0.1] * 5}), "5 values"),
        (post("/v1/federated/updates", {"task_id": 2, "update": [0.1, 0.2, 1, 0.3]}), "floats"),
        (post("/v1/federated/updates", {"task_id": 2, "update": [0.1] * 4, "n": 9.0}),
         "exactly"),
        (post("/v1/federated/updates", {"task_id": 2, "update": {"none": 0.1}}), "floats"),
        (post("/v1/federated/updates", {"task_id": 2, "update": ["u_12ab", 0.1, 0.1, 0.1]}),
         "floats"),
        (post("/v1/reports", {"reports": [{**ROW, "user": "u_1"}]}), "report keys"),
        (post("/v1/reports", {"reports": [{**ROW, "count_noise_scale": 0.0}]}), "unnoised"),
        (post("/v1/reports", None), "unnoised"),
        (post("/v1/heartbeats", {"active_version": "v1", "pseudonym": "u_1"}), "heartbeat"),
        (post("/v1/events", {"events": []}), "not an allowed request"),
        ({"method": "GET", "path": "/v1/federated/task", "json": {"a": 1}}, "GET with a body"),
        ({"method": "POST", "path": "/v1/reports", "raw": "AAEC"}, "not JSON"),
    ],
)  # fmt: skip
def test_anything_else_is_named(entry: dict[str, Any], why: str) -> None:
    problems = wire_violations([*ALLOWED, entry], {MODEL, ARMS})
    assert len(problems) == 1 and why in problems[0], problems
