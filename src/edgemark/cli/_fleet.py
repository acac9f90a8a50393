"""CLI verbs of fleet operations: ``rollout start|status|pause|resume|abort`` and
``nodes list|revoke|enrol|enrolment-token``, thin over ``edgemark.hub.AdminClient``.

Registered by ``cli/_hub.py`` (the hub's verbs); the admin token comes from
EDGEMARK_ADMIN_TOKEN.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from edgemark.cli._output import DEFAULT_HUB, HubUrl, console, handled_errors, print_json

if TYPE_CHECKING:
    from edgemark.hub import AdminClient

AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Reason = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")]
RolloutId = Annotated[str, typer.Argument(help="Rollout id (see `edgemark rollout status`).")]


def admin_client(hub: str) -> AdminClient:
    """An AdminClient for ``hub`` with the token from EDGEMARK_ADMIN_TOKEN."""
    from edgemark._extras import require

    require("fastapi", "hub")
    from edgemark.hub import AdminClient, admin_token_from_env

    return AdminClient(hub, admin_token_from_env().reveal())


def when(ts: float | None) -> str:
    """A UTC timestamp for tables ('-' for none)."""
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")


def rollout_app() -> typer.Typer:
    """The ``rollout`` verbs."""
    rollout = typer.Typer(help="Start, watch and steer staged rollouts.", no_args_is_help=True)

    @rollout.command("start")
    def start(
        version: Annotated[str, typer.Argument(help="Bundle version to roll out.")],
        waves: Annotated[
            str, typer.Option(help="Cumulative percentages of nodes per wave, e.g. 25,50,100.")
        ] = "25,50,100",
        min_nodes: Annotated[int, typer.Option(help="At least this many nodes per wave.")] = 1,
        soak: Annotated[
            int, typer.Option(help="Healthy heartbeats per node before the next wave.")
        ] = 1,
        soak_seconds: Annotated[
            float, typer.Option(help="Minimum seconds each wave runs before the next.")
        ] = 0.0,
        no_gates: Annotated[
            bool, typer.Option("--no-gates", help="Advance on soak alone (no health gates).")
        ] = False,
        hub_url: HubUrl = DEFAULT_HUB,
        as_json: AsJson = False,
    ) -> None:
        """Start a staged rollout of VERSION in waves, gated on fleet health."""
        with handled_errors():
            pcts = parse_waves(waves)
            gates = {"enabled": False} if no_gates else None
            with admin_client(hub_url) as client:
                result = client.create_rollout(
                    version, pcts, soak_heartbeats=soak, min_nodes=min_nodes,
                    soak_seconds=soak_seconds, gates=gates,
                )  # fmt: skip
            if as_json:
                print_json(result)
            else:
                console.print(
                    f"rollout {result['id']} of {version} started: {result['events'][-1]['what']}"
                )

    @rollout.command("status")
    def status(
        rollout_id: Annotated[
            str | None, typer.Argument(help="Show one rollout in detail (default: all).")
        ] = None,
        hub_url: HubUrl = DEFAULT_HUB,
        as_json: AsJson = False,
    ) -> None:
        """Show rollouts (newest first), or one with its gates and history."""
        with handled_errors():
            with admin_client(hub_url) as client:
                found = (
                    [client.rollout(rollout_id)] if rollout_id else client.rollouts()["rollouts"]
                )
            if as_json:
                print_json(found[0] if rollout_id else {"rollouts": found})
            elif rollout_id:
                _print_detail(found[0])
            else:
                _print_rollouts(found)

    for verb, helptext in (
        ("pause", "Pause ROLLOUT_ID: no further waves (failing gates still roll back)."),
        ("resume", "Resume a paused ROLLOUT_ID."),
        ("abort", "Abort ROLLOUT_ID: every node goes back to the previous version."),
    ):
        rollout.command(verb, help=helptext)(_control(verb))
    return rollout


def _control(verb: str) -> Any:
    def control(
        rollout_id: RolloutId, reason: Reason = "", hub_url: HubUrl = DEFAULT_HUB,
        as_json: AsJson = False,
    ) -> None:  # fmt: skip
        with handled_errors():
            with admin_client(hub_url) as client:
                result = client.control_rollout(rollout_id, verb, reason)
            if as_json:
                print_json(result)
            else:
                console.print(f"rollout {rollout_id}: {result['state']}")

    return control


def _print_rollouts(rollouts: list[dict[str, Any]]) -> None:
    table = Table("version", "state", "wave", "waves % (nodes)", "pending", "last event")
    table.columns[1].no_wrap = True
    for r in rollouts:
        last = r["events"][-1]["what"] if r["events"] else "-"
        wave = f"{r['current_wave'] + 1}/{len(r['waves'])}"
        sizes = r.get("wave_sizes") or [None] * len(r["waves"])
        waves_txt = ",".join(f"{w:g}({n})" for w, n in zip(r["waves"], sizes, strict=True))
        table.add_row(r["version"], r["state"], wave, waves_txt, str(r.get("pending", "-")),
                      f"{r['id']}: {last}")  # fmt: skip
    console.print(table if rollouts else "no rollouts yet")


def _print_detail(r: dict[str, Any]) -> None:
    console.print(
        f"rollout {r['id']}: {r['version']} (from {r['previous_version'] or 'nothing'}), "
        f"{r['state']}, wave {r['current_wave'] + 1} of {len(r['waves'])}, "
        f"{r['pending']} node(s) still soaking"
    )
    gates = Table("gate", "status", "wave", "rest", "detail", title="gates")
    for g in r.get("last_gates", []):
        gates.add_row(g["gate"], g["status"], _num(g["wave"], 4), _num(g["rest"], 4), g["detail"])
    console.print(gates if r.get("last_gates") else "gates: not evaluated yet")
    history = Table("time (UTC)", "event", title="history")
    for e in r["events"]:
        history.add_row(when(e["ts"]), e["what"])
    console.print(history)


def parse_waves(text: str) -> list[float]:
    """``"25,50,100"`` → ``[25.0, 50.0, 100.0]`` (ConfigError naming --waves otherwise)."""
    from edgemark.errors import ConfigError

    try:
        return [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise ConfigError(
            f"--waves must be comma-separated numbers like 25,50,100; got {text!r}."
        ) from None


def nodes_app() -> typer.Typer:
    """The ``nodes`` verbs."""
    nodes = typer.Typer(help="Enrol, list and revoke edge nodes.", no_args_is_help=True)

    @nodes.command("list")
    def list_nodes(hub_url: HubUrl = DEFAULT_HUB, as_json: AsJson = False) -> None:
        """List enrolled nodes with their last heartbeat figures."""
        with handled_errors():
            with admin_client(hub_url) as client:
                found = client.nodes()["nodes"]
            if as_json:
                print_json({"nodes": found})
                return
            table = Table("name", "node id", "status", "version", "last heartbeat", "p50 µs",
                          "p99 µs", "error")  # fmt: skip
            for n in found:
                table.add_row(
                    n["name"], n["node_id"], "revoked" if n.get("revoked_at") else "active",
                    n["active_version"] or "-", when(n["last_heartbeat"]),
                    _num(n["latency_p50_us"]), _num(n["latency_p99_us"]),
                    (n["last_error"] or {}).get("reason", "-")[:60],
                )  # fmt: skip
            console.print(table if found else "no nodes enrolled yet")

    @nodes.command("revoke")
    def revoke(
        node: Annotated[str, typer.Argument(help="Node name or id.")],
        reason: Reason = "",
        hub_url: HubUrl = DEFAULT_HUB,
        as_json: AsJson = False,
    ) -> None:
        """Revoke NODE's credential: the hub refuses its next request."""
        with handled_errors():
            with admin_client(hub_url) as client:
                result = client.revoke_node(node, reason)
            if as_json:
                print_json(result)
            else:
                console.print(f"node {result['name']} ({result['node_id']}) revoked")

    @nodes.command("enrolment-token")
    def enrolment_token(
        name: Annotated[str, typer.Argument(help="Name of the node, e.g. store-1.")],
        hub_url: HubUrl = DEFAULT_HUB,
        as_json: AsJson = False,
    ) -> None:
        """Issue a one-time enrolment token for node NAME."""
        with handled_errors():
            with admin_client(hub_url) as client:
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
            with admin_client(hub_url) as client:
                enrolment = client.create_enrolment_token(name)["enrolment_token"]
                result = client.enrol(enrolment, name)
            if as_json:
                print_json(result)
            else:
                console.print(f"node {name} enrolled as {result['node_id']}; node token:")
                typer.echo(result["node_token"])

    return nodes


def _num(value: Any, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"
