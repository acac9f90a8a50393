"""``edgemark demo``: the whole loop on one machine, with progress and a report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgemark.cli._exit_codes import ExitCode
from edgemark.cli._output import console, err_console, handled_errors, print_json


def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Directory for report.html and summary.json.")
    ] = Path("demo-out"),
    nodes: Annotated[
        int, typer.Option("--nodes", help="Number of edge-node processes (>= 4).")
    ] = 4,
    days: Annotated[int, typer.Option("--days", help="Simulated days at the edge (>= 14).")] = 14,
    customers: Annotated[int, typer.Option("--customers", help="Simulated customers.")] = 12000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated world.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print summary.json to stdout.")] = False,
) -> None:
    """Run a hub, edge nodes, simulated customers and three rollouts; write a report."""
    from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from edgemark.demo import DemoSettings, build_summary, run_demo, write_outputs

    with handled_errors():
        settings = DemoSettings(out_dir=out, nodes=nodes, days=days, customers=customers, seed=seed)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console,
            transient=as_json,
        ) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            try:
                run = run_demo(settings, progress)
            except KeyboardInterrupt:
                bar.stop()
                err_console.print("Interrupted: the hub and every edge node were stopped.")
                raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        summary_path, report_path = write_outputs(run, out)
    summary = build_summary(run)
    if as_json:
        print_json(summary)
        return
    _print_summary(summary, report_path, summary_path)


def _print_summary(summary: dict[str, Any], report_path: Path, summary_path: Path) -> None:
    console.print(f"Wrote {report_path} and {summary_path}")
    for version, r in summary["rollouts"].items():
        console.print(f"  {version}: {r['final_state']}, {r['served_decisions']} decisions served")
    for offer, o in summary["offers"].items():
        console.print(
            f"  {offer}: uplift {o['uplift']:+.3f} [{o['ci_low']:+.3f}, {o['ci_high']:+.3f}]"
            f" (truth {o['true_uplift']:+.3f})"
        )
    fed = summary.get("federated") or {}
    if fed.get("auc_federated") is not None:
        console.print(
            f"  federated AUC {fed['auc_federated']:.3f} (central {fed['auc_central']:.3f}), "
            f"{len(fed['rounds'])} rounds, epsilon {fed['epsilon_spent']:.2f}"
        )
    priors = summary.get("offer_priors") or {}
    if priors.get("rates"):
        rates = ", ".join(f"{arm} {priors['rates'][arm]:.3f}" for arm in priors["arms"])
        console.print(f"  offer priors (epsilon {priors['epsilon']:.2f}): {rates}")
    lat = summary["latency_us"]
    console.print(f"  decide latency P50 {lat['p50']:.0f} µs, P99 {lat['p99']:.0f} µs")
    console.print(f"  wall time {summary['wall_time_s']:.0f} s")


def register(app: typer.Typer) -> None:
    """Add ``demo`` to ``app``."""
    app.command("demo")(demo)
