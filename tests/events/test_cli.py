from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from edgemark.cli import _ingest

GOOD = {"event_id": "e1", "ts": 1767571200.0, "user": "cust-1", "type": "view", "node": "s1"}


def _app() -> typer.Typer:
    app = typer.Typer()
    _ingest.register(app)

    @app.command("noop", hidden=True)
    def noop() -> None:
        """Keep ``ingest`` a named sub-command."""

    return app


def _input(tmp_path: Path) -> Path:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(GOOD) + "\n" + json.dumps({**GOOD, "type": "??"}) + "\n")
    return src


def test_ingest_json_output_and_key_creation(tmp_path: Path) -> None:
    args = ["ingest", str(_input(tmp_path)), "--log", str(tmp_path / "log"),
            "--key", str(tmp_path / "k.key"), "--create-key", "--json"]  # fmt: skip

    result = CliRunner().invoke(_app(), args)

    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert (figures["read"], figures["accepted"], figures["quarantined"]) == (2, 1, 1)
    assert Path(figures["quarantine_path"]).parent == tmp_path / "log" / "quarantine"
    assert (tmp_path / "k.key").stat().st_size == 32


def test_ingest_table_output(tmp_path: Path) -> None:
    (tmp_path / "k.key").write_bytes(b"x" * 32)
    args = ["ingest", str(_input(tmp_path)), "--log", str(tmp_path / "log"),
            "--key", str(tmp_path / "k.key"), "--quarantine", str(tmp_path / "q")]  # fmt: skip

    result = CliRunner().invoke(_app(), args)

    assert result.exit_code == 0, result.output
    assert "accepted" in result.output and "Quarantine:" in result.output
    assert str(tmp_path / "q") in result.output.replace("\n", "")


def test_missing_key_is_a_config_error_exit(tmp_path: Path) -> None:
    args = ["ingest", str(_input(tmp_path)), "--log", str(tmp_path / "log"),
            "--key", str(tmp_path / "nope.key")]  # fmt: skip

    result = CliRunner().invoke(_app(), args)

    assert result.exit_code == 3
    assert "--create-key" in result.output


def test_every_option_has_help() -> None:
    command = typer.main.get_command(_app())
    ingest = command.commands["ingest"]  # type: ignore[attr-defined]

    assert ingest.help
    assert all(getattr(p, "help", None) for p in ingest.params)


def test_ingest_with_a_mapping_file(tmp_path: Path) -> None:
    (tmp_path / "m.toml").write_text(
        '[fields]\nuser = { column = "CustomerID", type = "id" }\n'
        'type = { value = "view" }\nnode = { value = "web" }\nevent_id = "id"\n'
    )
    (tmp_path / "in.csv").write_text("id,ts,CustomerID\na,1767571200,17.0\nb,soon,18\n")
    args = [
        "ingest",
        str(tmp_path / "in.csv"),
        "--log",
        str(tmp_path / "log"),
        "--key",
        str(tmp_path / "k.key"),
        "--create-key",
        "--mapping",
        str(tmp_path / "m.toml"),
        "--json",
    ]

    result = CliRunner().invoke(_app(), args)

    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert (figures["accepted"], figures["reasons"]) == (1, {"bad_timestamp": 1})


def test_bad_mapping_is_a_config_error_exit(tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text('{"fields": {"price": "p"}}')
    args = [
        "ingest",
        str(_input(tmp_path)),
        "--log",
        str(tmp_path / "log"),
        "--key",
        str(tmp_path / "k.key"),
        "--create-key",
        "--mapping",
        str(tmp_path / "m.json"),
    ]

    result = CliRunner().invoke(_app(), args)

    assert result.exit_code == 3 and "not an event field" in result.output
