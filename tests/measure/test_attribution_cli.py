"""``edgemark measure attribution`` reads the common paths format and prints every model."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgemark.cli import app
from edgemark.sim import JourneyWorld


def _write(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "paths.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_json_has_every_model_and_the_truth_ordering(tmp_path: Path) -> None:
    world = JourneyWorld.random(seed=3)
    path = _write(tmp_path, world.paths_table(30_000, seed=2))
    result = CliRunner().invoke(app, ["measure", "attribution", "--paths", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["channels"] == sorted(world.channels)
    assert [m["order"] for m in out["markov"]] == [1, 2, 3]
    truth = world.true_removal_effects()
    got = out["markov"][0]["removal_effects"]
    assert sorted(got, key=got.__getitem__) == sorted(truth, key=truth.__getitem__)
    assert out["shapley"]["method"] == "exact"
    assert "within the coalition" in out["shapley"]["worth"]
    total = out["total_conversions"]
    assert sum(out["conversions"]["shapley"].values()) == pytest.approx(total)
    assert out["value"]["linear"] and out["total_value"] > 0


def test_table_and_bad_input(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        [
            {"path": "a > b", "total_conversions": 2, "total_null": 1},
            {"path": "b", "total_conversions": 1, "total_null": 3},
        ],
    )
    result = CliRunner().invoke(
        app, ["measure", "attribution", "--paths", str(path), "--order", "1"]
    )
    assert result.exit_code == 0, result.output
    assert (
        "order 1" in result.output and "0.429" in result.output
    )  # without a only b's start share 4/7 converts
    bad = _write(tmp_path, [{"path": "a > b", "conversions": 2, "total_null": 1}])
    result = CliRunner().invoke(app, ["measure", "attribution", "--paths", str(bad)])
    assert result.exit_code == 5 and "total_conversions" in result.output
