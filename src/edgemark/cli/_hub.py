"""CLI verbs of the hub: ``hub serve | upload``, ``rollout start | status``, ``nodes ...``.

Admin verbs are thin over ``edgemark.hub.AdminClient``; the admin token comes from
EDGEMARK_ADMIN_TOKEN. FastAPI and friends are imported inside the commands (hub extra).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from edgemark.cli._output import console, handled_errors, print_json

if TYPE_CHECKING:
    from edgemark.hub import AdminClient

HubUrl = Annotated[
    str,
    typer.Option(
        "--hub", envvar="EDGEMARK_HUB_URL", help="Base URL of the hub (env EDGEMARK_HUB_URL)."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
DEFAULT_HUB = "http://127.0.0.1:8000"


def _client(hub: str) -> AdminClient:
    from edgemark._extras import require

    require("fastapi", "hub")
    from edgemark.hub import AdminClient, admin_token_from_env

    return AdminClient(hub, admin_token_from_env().reveal())


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _hub_app() -> typer.Typer:
    hub = typer.Typer(help="Run the hub and push bundles to it.", no_args_is_help=True)

    @hub.command("serve")
    def serve(
        host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one.")] = 8000,
        db: Annotated[
            str | None, typer.Option("--db", help="Database URL (env EDGEMARK_HUB_DB).")
        ] = None,
        bundles: Annotated[
            Path | None, typer.Option(help="Bundle directory (env EDGEMARK_HUB_BUNDLES).")
        ] = None,
        port_file: Annotated[
            Path | None, typer.Option(help="Write the bound port to this file.")
        ] = None,
        log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    ) -> None:
        """Serve the hub API (admin token from EDGEMARK_ADMIN_TOKEN) until Ctrl-C/SIGTERM."""
        from edgemark._extras import require

        with handled_errors():
            require("uvicorn", "hub")
            from edgemark.hub import HubSettings
            from edgemark.hub import serve as serve_hub

            overrides = {
                "EDGEMARK_HUB_DB": db,
                "EDGEMARK_HUB_BUNDLES": str(bundles) if bundles else None,
            }
            settings = HubSettings.from_env(overrides)
            serve_hub(settings, host=host, port=port, port_file=port_file, log_level=log_level)

    @hub.command("upload")
    def upload(
        bundle: Annotated[Path, typer.Argument(help="Bundle .tar.gz (from `bundle pack`).")],
        hub_url: HubUrl = DEFAULT_HUB,
        as_json: AsJson = False,
    ) -> None:
        """Upload a packed bundle to the hub's registry."""
        with handled_errors():
            with _client(hub_url) as client:
                result = client.upload_bundle(bundle.read_bytes())
            if as_json:
                print_json(result)
            else:
                console.print(f"uploaded {result['version']} sha256 {result['sha256'][:16]}…")

    return hub


def _rollout_app() -> typer.Typer:
    rollout = typer.Typer(help="Start and watch staged rollouts.", no_args_is_help=True)

    @rollout.command("start")
    def start(
        version: Annotated[str, typer.Argument(help="Bundle version to roll out.")],
        waves: Annotated[
            str, typer.Option(help="Cumulative percentages of nodes per wave, e.g. 25,50,100.")
        ] = "25,50,100",
        soak: Annotated[
            int, typer.Option(help="Healthy heartbeats per node before the next wave.")
        ] = 1,
        hub_url: HubUrl = DEFAULT_HUB,
        as_json: AsJson = False,
    ) -> None:
        """Start a canary rollout of VERSION in waves."""
        with handled_errors():
            pcts = _parse_waves(waves)
            with _client(hub_url) as client:
                result = client.create_rollout(version, pcts, soak_heartbeats=soak)
            if as_json:
                print_json(result)
            else:
                console.print(
                    f"rollout {result['id']} of {version} started: {result['events'][-1]['what']}"
                )

    @rollout.command("status")
    def status(hub_url: HubUrl = DEFAULT_HUB, as_json: AsJson = False) -> None:
        """Show every rollout, newest first, with its waves and history."""
        with handled_errors():
            with _client(hub_url) as client:
                rollouts = client.rollouts()["rollouts"]
            if as_json:
                print_json({"rollouts": rollouts})
                return
            table = Table("id", "version", "state", "wave", "waves", "last event")
            for r in rollouts:
                last = r["events"][-1]["what"] if r["events"] else "-"
                wave = f"{r['current_wave'] + 1}/{len(r['waves'])}"
                waves_txt = ",".join(f"{w:g}" for w in r["waves"])
                table.add_row(r["id"], r["version"], r["state"], wave, waves_txt, last)
            console.print(table if rollouts else "no rollouts yet")

    return rollout


def _parse_waves(text: str) -> list[float]:
    from edgemark.errors import ConfigError

    try:
        return [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ConfigError(
            f"--waves must be comma-separated numbers like 25,50,100; got {text!r}."
        ) from None


def _nodes_app() -> typer.Typer:
    nodes = typer.Typer(help="Enrol and list edge nodes.", no_args_is_help=True)

    @nodes.command("list")
    def list_nodes(hub_url: HubUrl = DEFAULT_HUB, as_json: AsJson = False) -> None:
        """List enrolled nodes with their last heartbeat figures."""
        with handled_errors():
            with _client(hub_url) as client:
                found = client.nodes()["nodes"]
            if as_json:
                print_json({"nodes": found})
                return
            table = Table(
                "name", "node id", "version", "last heartbeat", "p50 µs", "p99 µs", "error"
            )
            for n in found:
                table.add_row(
                    n["name"], n["node_id"], n["active_version"] or "-", _when(n["last_heartbeat"]),
                    _num(n["latency_p50_us"]), _num(n["latency_p99_us"]),
                    (n["last_error"] or {}).get("reason", "-")[:60],
                )  # fmt: skip
            console.print(table if found else "no nodes enrolled yet")

    @nodes.command("enrolment-token")
    def enrolment_token(
        name: Annotated[str, typer.Argument(help="Name of the node, e.g. store-1.")],
        hub_url: HubUrl = DEFAULT_HUB,
        as_json: AsJson = False,
    ) -> None:
        """Issue a one-time enrolment token for node NAME."""
        with handled_errors():
            with _client(hub_url) as client:
                token = client.create_enrolment_token(name)["enrolment_token"]
            if as_json:
                print_json({"node_name": name, "enrolment_token": token})
            else:
                typer.echo(token)

    @nodes.command("enrol")
    def enrol(
        name: Annotated[str, typer.Argument(help="Name of the node, e.g. store-1.")],
        hub_url: HubUrl = DEFAULT_HUB,
        as_json: AsJson = False,
    ) -> None:
        """Enrol node NAME (issue and spend an enrolment token); print its node token."""
        with handled_errors():
            with _client(hub_url) as client:
                enrolment = client.create_enrolment_token(name)["enrolment_token"]
                result = client.enrol(enrolment, name)
            if as_json:
                print_json(result)
            else:
                console.print(f"node {name} enrolled as {result['node_id']}; node token:")
                typer.echo(result["node_token"])

    return nodes


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:,.0f}"


def register(app: typer.Typer) -> None:
    """Add the ``hub``, ``rollout`` and ``nodes`` commands to ``app``."""
    app.add_typer(_hub_app(), name="hub")
    app.add_typer(_rollout_app(), name="rollout")
    app.add_typer(_nodes_app(), name="nodes")
