"""OPE from edge-style layered logs: with ``decision_logs`` (randomised layers, probability
divided by their share) IPS, SNIPS and DR recover the simulator's true value of "always
show X"; the raw logged probabilities over every layer would roughly double it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from edgemark.cli import app
from edgemark.errors import MeasureError
from edgemark.measure import decision_logs, off_policy_value
from edgemark.sim import RetailWorld, SimConfig

SHARES = {"holdout": 0.2, "explore": 0.3, "policy": 0.5}


def _edge_logs(world: RetailWorld, days: int) -> list[dict[str, Any]]:
    """Decisions as the edge logs them: a layer per user (hash-like, fixed), the action
    drawn within it, ``probability = share(layer) * P(action | layer, context)``."""
    rng = np.random.default_rng(4)
    n = world.config.customers
    layer_of = rng.choice(list(SHARES), size=n, p=list(SHARES.values()))
    offers = [o.id for o in world.offers]
    rows = []
    for day in range(days):
        for visit in world.visits(day):
            i = visit.customer_index
            layer = str(layer_of[i])
            if layer == "holdout":
                offer, p = None, 1.0
            elif layer == "explore":
                offer, p = offers[int(rng.integers(len(offers)))], 1 / len(offers)
            else:  # a contextual policy: big baskets mostly get pct10, others anything
                choices: list[str | None] = [None, *offers]
                probs = [0.1, 0.7, 0.1, 0.1] if world.basket_value(i) > 60 else [0.25] * 4
                k = int(rng.choice(4, p=probs))
                offer, p = choices[k], probs[k]
            bought = int(rng.random() < world.purchase_probability(i, offer))
            rows.append(
                {"offer": offer, "probability": SHARES[layer] * p, "layer": layer, "bought": bought}
            )
    return rows


@pytest.fixture(scope="module")
def logged() -> tuple[RetailWorld, list[dict[str, Any]]]:
    world = RetailWorld(SimConfig(customers=4000, nodes=2, seed=21))
    return world, _edge_logs(world, 21)


def _always(actions: tuple[str, ...] | list[str], name: str) -> tuple[np.ndarray, list[str]]:
    names = sorted(set(actions))
    target = np.zeros((len(actions), len(names)))
    target[:, names.index(name)] = 1.0
    return target, names


def test_randomised_layers_recover_the_true_value(logged: Any) -> None:
    world, rows = logged
    truth = world.truth()
    logs = decision_logs(rows)
    assert logs.total == len(rows) and 0.4 < logs.kept / logs.total < 0.6
    for name in ("holdout", *truth["offers"]):
        true = truth["control_rate"] if name == "holdout" else truth["offers"][name]["rate"]
        target, names = _always(logs.actions, name)
        res = off_policy_value(
            logs.actions, logs.rewards, logs.propensities, target, target_actions=names
        )
        for est in res.estimates:
            assert abs(est.value - true) < 4 * est.std_error, (name, est, true)


def test_raw_probabilities_over_every_layer_count_actions_twice(logged: Any) -> None:
    world, rows = logged
    actions = [r["offer"] or "holdout" for r in rows]
    target, names = _always(actions, "pct10")
    raw = off_policy_value(
        actions, [r["bought"] for r in rows], [r["probability"] for r in rows], target,
        target_actions=names,
    )  # fmt: skip
    ips = raw.estimates[0]
    assert ips.estimator == "ips"
    assert ips.value > 1.6 * world.truth()["offers"]["pct10"]["rate"]


def test_logs_without_randomised_rows_or_layers_are_refused() -> None:
    with pytest.raises(MeasureError, match="randomised decisions"):
        decision_logs([{"offer": "a", "probability": 0.5, "layer": "policy", "bought": 1}])
    with pytest.raises(MeasureError, match="no 'layer'"):
        decision_logs([{"offer": "a", "probability": 0.5, "bought": 1}])
    with pytest.raises(MeasureError, match="'bought'"):
        decision_logs([{"offer": "a", "probability": 0.5, "layer": "explore"}])


def test_ope_cli_with_layer_column_matches_the_library(logged: Any, tmp_path: Path) -> None:
    world, rows = logged
    path = tmp_path / "decisions.csv"
    with path.open("w") as handle:
        handle.write("offer,probability,layer,bought\n")
        for r in rows:
            handle.write(
                f"{r['offer'] or 'holdout'},{r['probability']},{r['layer']},{r['bought']}\n"
            )
    args = ["--action", "offer", "--reward", "bought", "--propensity", "probability"]
    result = CliRunner().invoke(
        app,
        ["measure", "ope", "--logs", str(path), *args, "--target", "uniform", "--layer", "layer"],
    )
    assert result.exit_code == 0, result.output
    logs = decision_logs(rows)
    expected = off_policy_value(logs.actions, logs.rewards, logs.propensities, "uniform")
    result = CliRunner().invoke(
        app,
        ["measure", "ope", "--logs", str(path), *args, "--target", "uniform", "--layer", "layer",
         "--json"],
    )  # fmt: skip
    out = json.loads(result.stdout)
    assert out["n"] == logs.kept
    for got, want in zip(out["estimates"], expected.estimates, strict=True):
        assert got["value"] == pytest.approx(want.value, rel=1e-9)
    truth = world.truth()
    uniform = np.mean([truth["control_rate"], *(o["rate"] for o in truth["offers"].values())])
    dr = expected.estimates[2]
    assert abs(dr.value - uniform) < 4 * dr.std_error
