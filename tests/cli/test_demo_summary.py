"""What `edgemark demo` prints at the end: rollouts, uplift, federated AUC, offer priors."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgemark.cli._demo import _print_summary

SUMMARY = {
    "rollouts": {"v1": {"final_state": "completed", "served_decisions": 10}},
    "offers": {"pct10": {"uplift": 0.07, "ci_low": 0.05, "ci_high": 0.09, "true_uplift": 0.07}},
    "federated": {"auc_federated": 0.644, "auc_central": 0.673, "rounds": [{}] * 5,
                  "epsilon_spent": 7.99},
    "offer_priors": {"arms": ["none", "pct10"], "rates": {"none": 0.187, "pct10": 0.275},
                     "epsilon": 2.99},
    "latency_us": {"p50": 40.0, "p99": 171.0},
    "wall_time_s": 52.0,
}  # fmt: skip


def test_the_summary_names_the_federated_model_and_the_offer_priors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _print_summary(SUMMARY, Path("report.html"), Path("summary.json"))
    out = " ".join(capsys.readouterr().out.split())
    assert "federated AUC 0.644 (central 0.673), 5 rounds, epsilon 7.99" in out
    assert "offer priors (epsilon 2.99): none 0.187, pct10 0.275" in out


def test_a_summary_without_federated_parts_still_prints(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bare = {k: v for k, v in SUMMARY.items() if k not in ("federated", "offer_priors")}
    _print_summary(bare, Path("report.html"), Path("summary.json"))
    out = capsys.readouterr().out
    assert "federated" not in out and "wall time 52 s" in out
