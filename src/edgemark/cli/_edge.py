"""CLI verbs of the edge plane: ``edgemark edge run`` starts one node."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from edgemark.cli._output import console, handled_errors

if TYPE_CHECKING:
    from edgemark.edge import EdgeAPI


def register(app: typer.Typer) -> None:
    """Add the ``edge`` commands to ``app``."""
    edge = typer.Typer(help="Run an edge node on this touchpoint.", no_args_is_help=True)

    @edge.command("run")
    def run(
        hub: Annotated[str, typer.Option("--hub", help="Base URL of the hub.")],
        state: Annotated[
            Path, typer.Option("--state", help="Node state directory (SQLite, key, bundles).")
        ],
        trust: Annotated[
            Path, typer.Option("--trust", help="Directory of trusted bundle keys (*.pub).")
        ],
        node_id: Annotated[str, typer.Option("--node-id", help="This node's name.")],
        token: Annotated[
            str,
            typer.Option(
                "--token",
                envvar="EDGEMARK_NODE_TOKEN",
                help="Node token from enrolment.",
                show_default=False,
            ),
        ] = "",
        listen_port: Annotated[
            int, typer.Option("--listen-port", help="Local API port on 127.0.0.1 (0 = any).")
        ] = 0,
        poll_seconds: Annotated[
            float, typer.Option("--poll-seconds", help="Seconds between syncs with the hub.")
        ] = 5.0,
    ) -> None:
        """Decide locally, sync bundles and reports with the hub, until SIGTERM/SIGINT."""
        from edgemark.edge._node import run_node

        stop = threading.Event()

        def _stop(_signum: int, _frame: Any) -> None:
            stop.set()

        def _ready(api: EdgeAPI) -> None:
            console.print(f"edge node {node_id} listening on {api.url} (state {state})")

        with handled_errors():
            signal.signal(signal.SIGTERM, _stop)
            signal.signal(signal.SIGINT, _stop)
            run_node(
                hub_url=hub,
                node_token=token,
                state_dir=state,
                trust_dir=trust,
                node_id=node_id,
                stop=stop,
                listen_port=listen_port,
                poll_seconds=poll_seconds,
                on_ready=_ready,
            )
            console.print(f"edge node {node_id} stopped; state flushed.")

    app.add_typer(edge, name="edge")
