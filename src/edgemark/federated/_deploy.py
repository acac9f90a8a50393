"""Deployment on Flower's SuperLink and SuperNodes: the Flower App project that points at
edgemark's ServerApp and ClientApp, the connection file the ``flwr`` CLI reads, and the
result file a deployment run writes (its rounds, in the shape of the hub's privacy ledger;
an offer-rates release is one such round).

A store's SuperNode passes its own data with ``--node-config`` (``state-dir`` for the
node's journal, ``node-name`` for its hub enrolment name); the ServerApp reads its settings
from the app's run config (``rounds``, ``epsilon``, ``hub-url``, ...).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgemark.errors import ConfigError, PrivacyError
from edgemark.federated._runconfig import KINDS, MODEL, OFFER_RATES

ScalarConfig = Mapping[str, str | int | float | bool]
# The entry points of the two sides: the plain ServerApp/ClientApp of this package (the
# ClientApp reads an .npz shard), the hub's ServerApp that records every round in the
# privacy ledger, and the edge's ClientApp that trains on the node's own journal.
SERVER_APP = "edgemark.federated._flower:server_app"
CLIENT_APP = "edgemark.federated._flower:client_app"
HUB_SERVER_APP = "edgemark.hub._flower_app:server_app"
EDGE_CLIENT_APP = "edgemark.edge._flower_client:client_app"
# The hub's node enrolment names (hub/_schemas.NAME_PATTERN): what a node answers when the
# ServerApp asks its name, and what the ledger charges.
NODE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _toml_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_flower_app(
    app_dir: str | os.PathLike[str],
    config: ScalarConfig,
    *,
    serverapp: str = SERVER_APP,
    clientapp: str = CLIENT_APP,
) -> Path:
    """Write the Flower App project (``pyproject.toml``) with ``config`` as its run config.

    ``serverapp``/``clientapp`` are the entry points: e.g. ``HUB_SERVER_APP`` to record
    the rounds in the hub's privacy ledger, ``EDGE_CLIENT_APP`` to train on node journals.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     text = write_flower_app(d, {"rounds": 3}).read_text()
    >>> 'serverapp = "edgemark.federated._flower:server_app"' in text and "rounds = 3" in text
    True
    """
    for ref in (serverapp, clientapp):
        if not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", ref):
            raise ConfigError(f"entry point {ref!r} is not of the form 'package.module:name'")
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
        f"serverapp = {_toml_value(serverapp)}",
        f"clientapp = {_toml_value(clientapp)}",
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


# -- the result file of a deployment run ---------------------------------------------------


def deployment_run_id(flower_run_id: int) -> str:
    """The ledger's run id of Flower run ``flower_run_id`` (at most 27 characters).

    >>> deployment_run_id(42)
    'flower-42'
    """
    return f"flower-{int(flower_run_id)}"


def write_result(
    path: Path,
    run_id: str,
    history: list[dict[str, Any]],
    stopped: Mapping[str, str],
    params: Mapping[str, list[float]],
    error: str | None = None,
    *,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Write a deployment run's result file (atomically: a reader never sees half of it):
    ``run_id``, ``history`` (per round: epsilon, delta, clients, AUC, the run's nodes),
    ``stopped`` (why a model stopped early), ``params`` (final), ``error`` (why the run
    failed, or null) and ``extra`` fields (``kind``; an offer-rates run's ``offer_priors``)."""
    result = {"run_id": run_id, "history": history, "stopped": dict(stopped),
              "params": dict(params), "error": error, **(extra or {})}  # fmt: skip
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, path)


def ledger_row(run_id: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """One round of a deployment run (a result file's ``history`` row) as the hub's ledger
    records it (``POST /v1/federated/rounds``)."""
    return {
        "run_id": run_id,
        "round": row["round"],
        "epsilon_cumulative": row["epsilon"],
        "delta": row["delta"],
        "clients": row["clients"],
        "auc": row["auc"],
        "nodes": list(row["nodes"]),
    }


def deployment_rounds(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rounds of a deployment run's result file (the run config's ``out``) in the
    shape the hub's ledger records; ConfigError for a file that is not one."""
    where = Path(path)
    try:
        result = json.loads(where.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read the result file {where}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, ValueError):
        raise ConfigError(f"{where} is not JSON; is it a deployment run's `out`?") from None
    return ledger_rows(result, str(where))


def ledger_rows(result: Any, source: str = "the result file") -> list[dict[str, Any]]:
    """The rounds of a deployment run's result file in the ledger's shape, checked.

    ConfigError names what is wrong with a malformed file; PrivacyError refuses a run
    trained without DP (it has no finite epsilon to record).
    """
    if not isinstance(result, Mapping):
        raise ConfigError(f"{source} is not a JSON object; is it a deployment run's `out`?")
    run_id = result.get("run_id")
    if not (isinstance(run_id, str) and 0 < len(run_id) <= 64):
        raise ConfigError(
            f"{source} has no run_id (1-64 characters); only the result files of "
            "edgemark's Flower ServerApps carry one"
        )
    history = result.get("history")
    if not isinstance(history, list) or not history:
        raise ConfigError(f"{source} holds no rounds ('history' is missing or empty)")
    kind = result.get("kind", MODEL)
    if kind not in KINDS or (kind == OFFER_RATES and len(history) != 1):
        raise ConfigError(
            f"{source} is of kind {kind!r} with {len(history)} rounds; a result file is of "
            f"kind {' or '.join(KINDS)}, and an offer-rates release is exactly one round"
        )
    return [_checked_row(run_id, row, k, source) for k, row in enumerate(history)]


def _checked_row(run_id: str, row: Any, k: int, source: str) -> dict[str, Any]:
    where = f"{source}, history[{k}]"
    if not isinstance(row, Mapping):
        raise ConfigError(f"{where} is not an object")
    if row.get("epsilon", 0) is None:
        raise PrivacyError(
            f"{where}: run {run_id} trained without DP (noise multiplier 0), so its epsilon "
            "is infinite and the privacy ledger cannot record it"
        )
    checks = {
        "round": _is_int(row.get("round"), 1),
        "clients": _is_int(row.get("clients"), 0),
        "epsilon": _is_number(row.get("epsilon")) and row["epsilon"] >= 0,
        "delta": _is_number(row.get("delta")) and 0 < row["delta"] < 1,
        "auc": row.get("auc") is None or (_is_number(row["auc"]) and 0 <= row["auc"] <= 1),
        "nodes": isinstance(row.get("nodes"), list)
        and all(isinstance(n, str) and NODE_NAME.match(n) for n in row["nodes"]),
    }
    bad = [key for key, fine in checks.items() if not fine]
    if bad:
        raise ConfigError(
            f"{where} has a missing or invalid {', '.join(bad)} (round and clients are "
            "integers, epsilon >= 0, 0 < delta < 1, auc in [0, 1] or null, nodes a list of "
            "node names)"
        )
    return ledger_row(run_id, row)


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value: Any) -> bool:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return ok and math.isfinite(value)
