"""CLI verbs of the edge plane: ``edgemark edge run`` starts a node synced with a hub,
``edgemark edge serve`` a standalone node (local API only)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from edgemark.cli._features import _load_spec
from edgemark.cli._output import console, handled_errors

if TYPE_CHECKING:
    from edgemark.edge import EdgeAPI


SWITCH_INTERVAL_S = 0.0005
Timezone = Annotated[
    str | None,
    typer.Option(
        "--timezone",
        help="The store's IANA time zone for hour_of_day/day_of_week (e.g. Europe/Berlin; "
        "default UTC); bundles must be built for the same spec.",
    ),
]


def _node_process_settings() -> None:
    """Interpreter settings of a node process (set before numpy loads, if it has not yet).

    One BLAS/OpenMP thread: the policy's linear algebra is small, and on a busy 2-core
    machine a BLAS thread pool made its batch update ten times slower. A 0.5 ms GIL switch
    interval: a decision waiting for the GIL while the maintenance thread runs waits at most
    that long instead of 5 ms (measured: P99.9 of decide 4.2 ms -> 0.2 ms, docs/edge.md).
    """
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    sys.setswitchinterval(SWITCH_INTERVAL_S)


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
        timezone: Timezone = None,
    ) -> None:
        """Decide locally, sync bundles and reports with the hub, until SIGTERM/SIGINT."""
        _node_process_settings()
        from edgemark.edge import run_node

        stop = threading.Event()

        def _stop(_signum: int, _frame: Any) -> None:
            stop.set()

        def _ready(api: EdgeAPI) -> None:
            console.print(f"edge node {node_id} listening on {api.url} (state {state})")

        with handled_errors():
            from edgemark.observe import setup_process

            setup_process(f"edgemark-edge-{node_id}", secrets=(token,) if token else ())
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
                spec=_load_spec(None, timezone),
            )
            console.print(f"edge node {node_id} stopped; state flushed.")

    @edge.command("serve")
    def serve(
        state: Annotated[
            Path, typer.Option("--state", help="Node state directory (SQLite, key, bundles).")
        ],
        trust: Annotated[
            Path, typer.Option("--trust", help="Directory of trusted bundle keys (*.pub).")
        ],
        node_id: Annotated[str, typer.Option("--node-id", help="This node's name.")],
        bundle: Annotated[
            Path | None,
            typer.Option(
                "--bundle", help="Bundle directory to serve (default: the last one that served)."
            ),
        ] = None,
        port: Annotated[
            int, typer.Option("--port", help="Local API port (0 = any free port).")
        ] = 0,
        host: Annotated[
            str, typer.Option("--host", help="Interface to listen on (keep it local).")
        ] = "127.0.0.1",
        durability: Annotated[
            str,
            typer.Option(
                "--durability",
                help="'process': acknowledged writes survive a killed process; 'power': also "
                "a power cut (slower).",
            ),
        ] = "process",
        privacy_epsilon: Annotated[
            float | None,
            typer.Option(
                "--privacy-epsilon",
                help="The node's privacy budget per period (default: the bundle's, else 100).",
            ),
        ] = None,
        privacy_period_days: Annotated[
            int, typer.Option("--privacy-period-days", help="Length of a budget period in days.")
        ] = 30,
        timezone: Timezone = None,
    ) -> None:
        """Serve decisions, events, metrics and erasure on a local HTTP API, without a hub."""
        _node_process_settings()
        from edgemark.edge import serve_node
        from edgemark.privacy import PrivacyBudget

        stop = threading.Event()

        def _stop(_signum: int, _frame: Any) -> None:
            stop.set()

        def _ready(api: EdgeAPI) -> None:
            version = api.runtime.active_version or "no bundle yet"
            console.print(f"edge node {node_id} serving {version} on {api.url} (state {state})")

        with handled_errors():
            signal.signal(signal.SIGTERM, _stop)
            signal.signal(signal.SIGINT, _stop)
            budget = None
            if privacy_epsilon is not None:
                budget = PrivacyBudget(privacy_epsilon, privacy_period_days)
            serve_node(
                state_dir=state,
                trust_dir=trust,
                node_id=node_id,
                stop=stop,
                bundle_dir=bundle,
                port=port,
                host=host,
                durability=durability,
                privacy_budget=budget,
                on_ready=_ready,
                spec=_load_spec(None, timezone),
            )
            console.print(f"edge node {node_id} stopped; state flushed.")

    app.add_typer(edge, name="edge")
