"""Every command and option of the CLI carries help text, and errors exit cleanly."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from edgemark.cli import app
from edgemark.cli._exit_codes import EXIT_HELP, ExitCode, exit_code_for
from edgemark.errors import BundleSignatureError, EdgemarkError, HubError


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    # Typer ships its own copy of click, so groups are recognised by shape, not by class.
    found = [(prefix or "edgemark", group)]
    if hasattr(group, "commands"):
        for name, sub in group.commands.items():
            found.extend(_commands(sub, f"{prefix} {name}".strip()))
    return found


COMMANDS = _commands(typer.main.get_command(app))


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_and_option_has_help(name: str, command: Any) -> None:
    assert (command.help or "").strip(), f"{name} has no help text"
    for param in command.params:
        if getattr(param, "param_type_name", "") == "option" and param.name != "help":
            assert (param.help or "").strip(), f"{name} {param.opts} has no help text"


def test_the_planes_are_all_registered() -> None:
    names = {n for n, _ in COMMANDS}
    for verb in ("sim generate", "ingest", "train propensity", "keys generate", "demo"):
        assert verb in names


def test_version_prints_and_exits_zero() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("edgemark ")


def test_every_exit_code_has_help_and_errors_map_to_specific_codes() -> None:
    assert set(EXIT_HELP) == set(ExitCode)
    assert exit_code_for(BundleSignatureError("x")) is ExitCode.BUNDLE_REJECTED
    assert exit_code_for(HubError("x", 401)) is ExitCode.HUB_REFUSED
    assert exit_code_for(EdgemarkError("x")) is ExitCode.ERROR
