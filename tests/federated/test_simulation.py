"""One Flower simulation (Ray starts once): 100 simulated stores, epsilon 1, 3, 8 and no DP,
run through ``edgemark fl simulate --json`` and checked against the central baseline and
the accountant."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from edgemark.cli._app import app
from edgemark.federated import epsilon_spent

pytest.importorskip("flwr")
pytest.importorskip("ray")
pytestmark = pytest.mark.slow
ROUNDS = 12


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    args = ["fl", "simulate", "--nodes", "100", "--customers", "8000", "--rounds", str(ROUNDS),
            "--epsilon", "1", "--epsilon", "3", "--epsilon", "8", "--no-dp", "--json"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def test_epsilon_after_every_round_is_the_accountants_and_within_budget(
    figures: dict[str, Any],
) -> None:
    for name, target in [("eps1", 1.0), ("eps3", 3.0), ("eps8", 8.0)]:
        info = figures["variants"][name]
        rows = [r for r in figures["rounds"] if r["variant"] == name]
        assert [r["round"] for r in rows] == list(range(1, ROUNDS + 1))
        for row in rows:
            expected = epsilon_spent(row["round"], info["noise_multiplier"], 1.0, 1e-6)
            assert row["epsilon"] == pytest.approx(expected, rel=1e-9)
        assert target * 0.97 <= rows[-1]["epsilon"] <= target
        assert all(r["clients"] == 100 for r in rows)
    assert all(r["epsilon"] is None for r in figures["rounds"] if r["variant"] == "nodp")
    z = [figures["variants"][n]["noise_multiplier"] for n in ("eps1", "eps3", "eps8")]
    assert z == sorted(z, reverse=True) and figures["variants"]["nodp"]["noise_multiplier"] == 0


def test_federated_auc_approaches_the_central_model_as_epsilon_grows(
    figures: dict[str, Any],
) -> None:
    central = figures["auc_central"]
    assert 0.75 < central < 0.95  # the simulator's purchases are predictable, not trivially
    final = {name: info["auc_final"] for name, info in figures["variants"].items()}
    assert final["nodp"] >= 0.98 * central
    assert final["eps8"] >= 0.97 * central  # the target, here within 12 rounds
    assert final["eps1"] < final["eps8"] + 0.01  # more noise never helps beyond chance
    assert figures["bytes_per_node_round"] == 2 * 30 * 8  # 30 float64 down and up
