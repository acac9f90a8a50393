"""CLI verbs of the simulator plane: ``edgemark sim generate``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgemark.cli._output import console, handled_errors, print_json

sim_app = typer.Typer(
    help="Simulate a retail world with ground truth (customers, stores, offers).",
    no_args_is_help=True,
)


@sim_app.command("generate")
def generate_command(
    out: Annotated[
        Path, typer.Option("--out", help="Directory for events.parquet and truth.json.")
    ],
    customers: Annotated[
        int, typer.Option("--customers", help="Number of customers (>= 1).")
    ] = 4000,
    days: Annotated[int, typer.Option("--days", help="Days of history to simulate (>= 1).")] = 28,
    nodes: Annotated[
        int, typer.Option("--nodes", help="Number of stores / edge nodes (>= 1).")
    ] = 4,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed; the same seed gives the same world.")
    ] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Write a simulated shop export (events.parquet, raw ids) and its truth.json."""
    with handled_errors():
        from edgemark.sim import SimConfig, generate

        config = SimConfig(customers=customers, nodes=nodes, days=days, seed=seed)
        result = generate(config, out)
    if as_json:
        print_json(result.to_dict())
        return
    console.print(
        f"Simulated {result.customers} customers, {result.nodes} stores, {result.days} days: "
        f"{result.visits} visits, {result.events} events"
    )
    for kind, count in result.by_type.items():
        console.print(f"  {kind:<12} {count:>9}")
    console.print(f"Wrote {result.events_path} and {result.truth_path}")


def register(app: typer.Typer) -> None:
    """Add the ``sim`` verbs to ``app``."""
    app.add_typer(sim_app, name="sim")
