from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from edgemark.cli import app
from edgemark.events import EVENT_COLUMNS
from edgemark.sim import RetailWorld, SimConfig, generate


def test_generate_writes_the_history_and_its_truth(tmp_path: Path) -> None:
    config = SimConfig(customers=300, days=3, seed=4)
    result = generate(config, tmp_path / "out")
    table = pq.read_table(result.events_path)
    assert tuple(table.column_names) == EVENT_COLUMNS
    assert table.num_rows == result.events == sum(result.by_type.values())
    assert str(table.schema.field("ts").type) == "double"
    world = RetailWorld(config)
    assert table.column("event_id").to_pylist() == [e.event_id for e in world.history(3)]
    truth = json.loads(result.truth_path.read_text())
    assert truth["offers"]["pct10"]["uplift"] == pytest.approx(
        world.truth()["offers"]["pct10"]["uplift"]
    )
    assert set(truth["by_node"]) == set(config.node_names)
    assert truth["config"]["customers"] == 300


def test_cli_generate_prints_counts_as_json(tmp_path: Path) -> None:
    args = ["sim", "generate", "--customers", "50", "--days", "2", "--nodes", "2"]
    result = CliRunner().invoke(app, [*args, "--seed", "1", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["customers"] == 50 and payload["nodes"] == 2 and payload["days"] == 2
    assert (tmp_path / "events.parquet").exists()


def test_cli_rejects_a_world_without_customers(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["sim", "generate", "--customers", "0", "--out", str(tmp_path)]
    )
    assert result.exit_code == 5
    assert "customers must be" in result.output
