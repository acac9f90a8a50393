"""``edgemark edge run``: registered with help text; refuses a missing token cleanly."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from edgemark.cli._edge import register


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """Test root."""

    return app


def test_edge_run_has_help_for_every_option() -> None:
    result = CliRunner().invoke(_app(), ["edge", "run", "--help"])
    assert result.exit_code == 0
    for option in (
        "--hub",
        "--token",
        "--state",
        "--trust",
        "--node-id",
        "--listen-port",
        "--poll-seconds",
    ):
        assert option in result.output


def test_edge_run_without_token_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "trust").mkdir()
    args = [
        "edge",
        "run",
        "--hub",
        "http://127.0.0.1:9",
        "--state",
        str(tmp_path / "s"),
        "--trust",
        str(tmp_path / "trust"),
        "--node-id",
        "n1",
    ]
    result = CliRunner().invoke(_app(), args, env={"EDGEMARK_NODE_TOKEN": ""})
    assert result.exit_code == 3
    assert "EDGEMARK_NODE_TOKEN" in result.output


def test_edge_serve_has_help_for_every_option() -> None:
    result = CliRunner().invoke(_app(), ["edge", "serve", "--help"])
    assert result.exit_code == 0
    for option in ("--state", "--trust", "--node-id", "--bundle", "--port", "--host",
                   "--durability", "--privacy-epsilon", "--privacy-period-days"):  # fmt: skip
        assert option in result.output


def test_edge_serve_without_trust_dir_is_a_config_error(tmp_path: Path) -> None:
    args = ["edge", "serve", "--state", str(tmp_path / "s"), "--trust", str(tmp_path / "none"),
            "--node-id", "n1"]  # fmt: skip
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 3 and "Trust directory" in result.output


def test_edge_serve_with_an_unknown_time_zone_says_so(tmp_path: Path) -> None:
    (tmp_path / "trust").mkdir()
    args = ["edge", "serve", "--state", str(tmp_path / "s"), "--trust", str(tmp_path / "trust"),
            "--node-id", "n1", "--timezone", "Mars/Olympus_Mons"]  # fmt: skip
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code != 0 and "Mars/Olympus_Mons" in result.output
    assert "Traceback" not in result.output
