"""Deployment on Flower's SuperLink and SuperNodes: the Flower App project that points at
edgemark's ServerApp and ClientApp, and the connection file the ``flwr`` CLI reads.

A store's SuperNode passes its own shard with ``--node-config "data-path='...'"``; the
ServerApp reads its settings from the app's run config (``rounds``, ``epsilon``, ...).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ScalarConfig = Mapping[str, str | int | float | bool]


def _toml_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_flower_app(app_dir: str | os.PathLike[str], config: ScalarConfig) -> Path:
    """Write the Flower App project (``pyproject.toml``) with ``config`` as its run config.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     text = write_flower_app(d, {"rounds": 3}).read_text()
    >>> 'serverapp = "edgemark.federated._flower:server_app"' in text and "rounds = 3" in text
    True
    """
    root = Path(app_dir)
    root.mkdir(parents=True, exist_ok=True)
    lines = [
        "[build-system]",
        'requires = ["hatchling"]',
        'build-backend = "hatchling.build"',
        "",
        "[project]",
        'name = "edgemark-fl"',
        'version = "1.0.0"',
        'description = "edgemark DP-FedAvg (the code is the installed edgemark package)"',
        'license = "Apache-2.0"',
        "dependencies = []",
        "",
        "[tool.hatch.build.targets.wheel]",
        'packages = ["."]',
        "",
        "[tool.flwr.app]",
        'publisher = "edgemark"',
        "",
        "[tool.flwr.app.components]",
        'serverapp = "edgemark.federated._flower:server_app"',
        'clientapp = "edgemark.federated._flower:client_app"',
        "",
        "[tool.flwr.app.config]",
        *(f"{key} = {_toml_value(value)}" for key, value in config.items()),
    ]
    path = root / "pyproject.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_flower_connection(
    flwr_home: str | os.PathLike[str], name: str, address: str, *, insecure: bool = False
) -> Path:
    """Write ``FLWR_HOME/config.toml`` with one SuperLink connection, the default."""
    home = Path(flwr_home)
    home.mkdir(parents=True, exist_ok=True)
    body = (
        f'[superlink]\ndefault = "{name}"\n\n[superlink.{name}]\n'
        f'address = "{address}"\ninsecure = {"true" if insecure else "false"}\n'
    )
    path = home / "config.toml"
    path.write_text(body)
    return path
