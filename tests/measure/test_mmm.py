"""The Bayesian MMM recovers the simulator's ROAS, and its budget advice helps in truth.

One small fit (3 channels, 2 years weekly, 2 chains of 300 draws; about a minute warm,
longer when PyTensor compiles cold), driven through the CLI so the verbs are covered too.
"""

from __future__ import annotations

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgemark.cli import app
from edgemark.sim import DEFAULT_MEDIA, simulate_media
from edgemark.sim._media import logistic_saturation

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("pymc_marketing") is None,
        reason="PyMC-Marketing is not installed: pip install 'edgemark[mmm]'",
    ),
]
CHANNELS = DEFAULT_MEDIA[:3]


def test_mmm_recovers_roas_and_the_budget_plan_beats_the_current_mix(tmp_path: Path) -> None:
    data = simulate_media(104, CHANNELS, seed=0)
    path = tmp_path / "weekly.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(data.rows()[0]))
        writer.writeheader()
        writer.writerows(data.rows())
    curves = tmp_path / "curves.json"
    names = ",".join(c.name for c in CHANNELS)
    result = CliRunner().invoke(
        app,
        [
            "measure",
            "mmm",
            "--data",
            str(path),
            "--date",
            "date",
            "--target",
            "sales",
            "--channels",
            names,
            "--controls",
            "promo",
            "--draws",
            "300",
            "--tune",
            "300",
            "--chains",
            "2",
            "--seed",
            "1",
            "--save-curves",
            str(curves),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    truth = data.true_roas()
    inside = [c["roas_low"] <= truth[c["channel"]] <= c["roas_high"] for c in out["channels"]]
    assert sum(inside) >= 2, (out["channels"], truth)  # 90% intervals: most channels
    assert out["divergences"] < 10 and out["rhat_max"] < 1.1
    assert (out["rhat_max"] > 1.01) == any("R-hat" in w for w in out["warnings"])
    assert (out["divergences"] > 0) == any("divergent" in w for w in out["warnings"])

    budget = CliRunner().invoke(
        app, ["measure", "budget", "--curves", str(curves), "--total", "800", "--json"]
    )
    assert budget.exit_code == 0, budget.output
    plan = json.loads(budget.stdout)
    assert sum(plan["spend"].values()) == pytest.approx(800.0)
    assert plan["low"] <= plan["expected"] <= plan["high"]

    def true_weekly(split: dict[str, float]) -> float:  # steady state: adstock(x) = x
        return sum(
            c.beta
            * float(logistic_saturation(np.array(split[c.name] / data.spend[c.name].max()), c.lam))
            for c in CHANNELS
        )

    assert true_weekly(plan["spend"]) > true_weekly(plan["current_spend"])
