"""``edgemark measure ope`` on CSV logs with a target-policy CSV or ``uniform``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from edgemark.cli import app
from edgemark.measure import off_policy_value

ARGS = ["--action", "offer", "--reward", "bought", "--propensity", "p"]


def _write(tmp_path: Path) -> tuple[Path, Path, dict[str, np.ndarray]]:
    rng = np.random.default_rng(5)
    n = 400
    offer = rng.choice(["bogo", "none", "pct10"], size=n, p=[0.2, 0.5, 0.3])
    p = np.select([offer == "bogo", offer == "none"], [0.2, 0.5], 0.3)
    bought = rng.binomial(1, 0.2, size=n)
    target = rng.dirichlet(np.ones(3), size=n)
    logs, tgt = tmp_path / "logs.csv", tmp_path / "target.csv"
    logs.write_text(
        "offer,bought,p\n"
        + "".join(f"{o},{b},{q}\n" for o, b, q in zip(offer, bought, p, strict=True))
    )
    # columns in a different order from the sorted action names
    tgt.write_text("pct10,bogo,none\n" + "".join(f"{t[2]},{t[0]},{t[1]}\n" for t in target))
    return logs, tgt, {"offer": offer, "bought": bought, "p": p, "target": target}


def test_cli_ope_matches_the_library_with_a_target_file(tmp_path: Path) -> None:
    logs, tgt, d = _write(tmp_path)
    result = CliRunner().invoke(
        app, ["measure", "ope", "--logs", str(logs), *ARGS, "--target", str(tgt), "--json"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    expected = off_policy_value(
        d["offer"], d["bought"], d["p"], d["target"], target_actions=["bogo", "none", "pct10"]
    ).by_name()
    got = {e["estimator"]: e["value"] for e in out["estimates"]}
    assert got == pytest.approx({k: v.value for k, v in expected.items()}, rel=1e-9)
    assert out["n"] == 400 and out["actions"] == ["pct10", "bogo", "none"]


def test_cli_ope_uniform_prints_a_table(tmp_path: Path) -> None:
    logs, _, _ = _write(tmp_path)
    result = CliRunner().invoke(
        app, ["measure", "ope", "--logs", str(logs), *ARGS, "--target", "uniform"]
    )
    assert result.exit_code == 0, result.output
    assert "snips" in result.output and "logged" in result.output


def test_cli_ope_refuses_a_target_without_every_logged_action(tmp_path: Path) -> None:
    logs, tgt, _ = _write(tmp_path)
    tgt.write_text("pct10,none\n" + "0.5,0.5\n" * 400)
    result = CliRunner().invoke(
        app, ["measure", "ope", "--logs", str(logs), *ARGS, "--target", str(tgt)]
    )
    assert result.exit_code == 5 and "'bogo'" in result.output


def test_edge_decisions_are_valid_logs(tmp_path: Path) -> None:
    from edgemark.edge import Decision

    rng = np.random.default_rng(2)
    arms, probs = ["holdout", "pct10", "bogo"], [0.2, 0.5, 0.3]
    rows = []
    for i in range(300):
        arm = arms[int(rng.choice(3, p=probs))]
        decision = Decision(
            f"d{i}",
            None if arm == "holdout" else arm,
            probs[arms.index(arm)],
            "exp",
            arm,
            (),
            "v1",
            12.0,
            None,
        )
        rows.append({**decision.to_dict(), "bought": int(rng.random() < 0.2)})
    logs = tmp_path / "decisions.csv"
    columns = ["decision_id", "arm", "probability", "bought"]
    logs.write_text(
        ",".join(columns)
        + "\n"
        + "".join(",".join(str(r[c]) for c in columns) + "\n" for r in rows)
    )
    result = CliRunner().invoke(
        app,
        [
            "measure",
            "ope",
            "--logs",
            str(logs),
            "--action",
            "arm",
            "--reward",
            "bought",
            "--propensity",
            "probability",
            "--target",
            "uniform",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["actions"] == ["bogo", "holdout", "pct10"] and out["n"] == 300
    # uniform over 3 arms: weights (1/3) / p, so IPS = mean(w r)
    w = np.array([(1 / 3) / r["probability"] for r in rows])
    r = np.array([r["bought"] for r in rows], dtype=float)
    assert out["estimates"][0]["value"] == pytest.approx(float((w * r).mean()))
