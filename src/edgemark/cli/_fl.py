"""CLI verbs of the federated plane: ``edgemark fl simulate`` (DP-FedAvg on Flower's
simulation engine over simulated non-IID stores, against the central baseline), ``fl app``
(the Flower App project of a deployment run: model training or an offer-rates release) and
``fl record`` (a deployment run's rounds into the hub's privacy ledger)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgemark.cli._output import DEFAULT_HUB, HubUrl, console, handled_errors, print_json


def _print_rounds(result: Any) -> None:
    from rich.table import Table

    table = Table(title="DP-FedAvg rounds (held-out AUC, epsilon at delta 1e-6)")
    table.add_column("round", justify="right")
    table.add_column("model")
    table.add_column("clients", justify="right")
    table.add_column("AUC", justify="right")
    table.add_column("epsilon", justify="right")
    for row in result.rounds:
        eps = "no DP" if row["epsilon"] is None else f"{row['epsilon']:.3f}"
        table.add_row(str(row["round"]), row["variant"], str(row["clients"]),
                      f"{row['auc']:.4f}", eps)  # fmt: skip
    console.print(table)
    console.print(f"Central baseline (pooled data) AUC: {result.auc_central:.4f}")
    for name, info in result.variants.items():
        ratio = info["auc_final"] / result.auc_central if info["auc_final"] else float("nan")
        console.print(
            f"{name}: AUC {info['auc_final']:.4f} after {info['rounds_run']} rounds "
            f"({ratio:.1%} of central), noise multiplier {info['noise_multiplier']:.3f}",
            highlight=False,
        )
    for name, why in result.stopped.items():
        console.print(f"[yellow]{name} stopped early:[/yellow] {why}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``fl`` commands to ``app``."""
    fl = typer.Typer(help="Federated learning with differential privacy (Flower).",
                     no_args_is_help=True)  # fmt: skip

    @fl.command("simulate")
    def simulate(
        nodes: Annotated[
            int, typer.Option("--nodes", help="Simulated stores (Flower nodes).")
        ] = 100,
        rounds: Annotated[int, typer.Option("--rounds", help="Federated rounds.")] = 30,
        epsilon: Annotated[
            list[float] | None,
            typer.Option("--epsilon", help="Privacy budget at delta 1e-6 (repeatable)."),
        ] = None,
        no_dp: Annotated[
            bool, typer.Option("--no-dp", help="Also train a model without DP, to compare.")
        ] = False,
        customers: Annotated[
            int, typer.Option("--customers", help="Simulated customers in the fleet.")
        ] = 20000,
        days: Annotated[int, typer.Option("--days", help="Days of simulated history.")] = 35,
        clip_norm: Annotated[
            float, typer.Option("--clip-norm", help="L2 bound of each node's update.")
        ] = 0.5,
        sample_rate: Annotated[
            float, typer.Option("--sample-rate", help="Share of nodes sampled per round.")
        ] = 1.0,
        seed: Annotated[int, typer.Option("--seed", help="Seed of the simulated world.")] = 7,
        as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    ) -> None:
        """Run DP-FedAvg over simulated non-IID stores; print AUC and epsilon per round."""
        from edgemark.federated import DPFedAvgConfig, simulate_federated, simulate_shards

        with handled_errors():
            cfg = DPFedAvgConfig(clip_norm=clip_norm, sample_rate=sample_rate)
            targets: list[float | None] = list(epsilon or ([] if no_dp else [8.0]))
            if no_dp:
                targets.append(None)
            with console.status("Simulating the stores' history"):
                data = simulate_shards(nodes=nodes, customers=customers, days=days, seed=seed)
            with console.status(f"Running {rounds} rounds on {nodes} Flower nodes"):
                result = simulate_federated(data, rounds=rounds, epsilons=targets, base=cfg)
            if as_json:
                figures = result.to_dict()
                figures.pop("params")
                print_json(figures)
                return
            _print_rounds(result)

    _deployment_commands(fl)
    app.add_typer(fl, name="fl")


def _deployment_commands(fl: typer.Typer) -> None:
    @fl.command("app")
    def flower_app(
        app_dir: Annotated[Path, typer.Argument(help="Directory of the Flower App project.")],
        kind: Annotated[
            str,
            typer.Option("--kind", help="'model' (DP-FedAvg) or 'offer-rates' (offer priors)."),
        ] = "model",
        rounds: Annotated[
            int | None, typer.Option("--rounds", help="Federated rounds (model; default 30).")
        ] = None,
        epsilon: Annotated[
            float | None,
            typer.Option(
                "--epsilon",
                help="Privacy budget at delta 1e-6, sets the noise (model: default 8; "
                "offer-rates: required).",
            ),
        ] = None,
        clip_norm: Annotated[
            float | None,
            typer.Option("--clip-norm", help="L2 bound of each node's update (default 0.5)."),
        ] = None,
        sample_rate: Annotated[
            float | None,
            typer.Option("--sample-rate", help="Share of nodes sampled per round (model)."),
        ] = None,
        min_nodes: Annotated[
            int, typer.Option("--min-nodes", help="Nodes to wait for before round 1.")
        ] = 3,
        n_features: Annotated[
            int | None,
            typer.Option("--n-features", help="Model inputs (29: the default feature spec)."),
        ] = None,
        offers: Annotated[
            str | None,
            typer.Option("--offers", help="Offer-rates arms, comma-separated, 'none' first."),
        ] = None,
        center: Annotated[
            str | None,
            typer.Option("--center", help="Public rate per arm, comma-separated (offer-rates)."),
        ] = None,
        experiment: Annotated[
            str | None,
            typer.Option("--experiment", help="Experiment of the rates (default: the node's)."),
        ] = None,
        strength: Annotated[
            float | None,
            typer.Option("--strength", help="Cap of the priors' pseudo-counts (default 20)."),
        ] = None,
        base_variance: Annotated[
            float | None,
            typer.Option("--base-variance", help="Edge prior variance of an offer's bias (0.5)."),
        ] = None,
        hub_url: Annotated[
            str | None,
            typer.Option("--hub-url", help="Record every round in this hub's privacy ledger."),
        ] = None,
        out: Annotated[
            str | None,
            typer.Option("--out", help="Result file the ServerApp writes (on the SuperLink)."),
        ] = None,
        npz: Annotated[
            bool,
            typer.Option("--npz", help="Nodes read an .npz (node-config data-path)."),
        ] = False,
    ) -> None:
        """Write the Flower App project of a deployment run (noise calibrated to --epsilon)."""
        from edgemark.federated import (
            EDGE_CLIENT_APP,
            HUB_SERVER_APP,
            deployment_run_config,
            write_flower_app,
        )

        with handled_errors():
            config = deployment_run_config(
                kind, rounds=rounds, epsilon=epsilon, clip_norm=clip_norm,
                sample_rate=sample_rate, min_nodes=min_nodes, n_features=n_features,
                offers=offers, center=center, experiment=experiment, strength=strength,
                base_variance=base_variance, hub_url=hub_url, out=out,
            )  # fmt: skip
            entries = {
                **({"serverapp": HUB_SERVER_APP} if hub_url else {}),
                **({} if npz else {"clientapp": EDGE_CLIENT_APP}),
            }
            path = write_flower_app(app_dir, config, **entries)
            noise = (
                f"noise multiplier {config['noise-multiplier']:.3f}"
                if "noise-multiplier" in config
                else f"one offer-rates release at epsilon {config['epsilon']:g}"
            )
            console.print(f"wrote {path} ({noise})", highlight=False)

    @fl.command("record")
    def record(
        result: Annotated[
            Path, typer.Argument(help="Result file of a deployment run (its run config's out).")
        ],
        hub: HubUrl = DEFAULT_HUB,
        as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
    ) -> None:
        """Post a deployment run's rounds into the hub's privacy ledger (idempotent)."""
        from edgemark._extras import require
        from edgemark.federated import deployment_rounds

        with handled_errors():
            require("fastapi", "hub")
            from edgemark.hub import admin_token_from_env, record_federated_round

            rows = deployment_rounds(result)
            token = admin_token_from_env().reveal()
            new = sum(bool(record_federated_round(hub, token, row)["stored"]) for row in rows)
            last = rows[-1]
            figures = {"run_id": last["run_id"], "rounds": len(rows), "new": new,
                       "epsilon": last["epsilon_cumulative"], "nodes": last["nodes"]}  # fmt: skip
            if as_json:
                print_json(figures)
                return
            console.print(
                f"{figures['run_id']}: {len(rows)} rounds in the ledger ({new} new), epsilon "
                f"{last['epsilon_cumulative']:.3f} charged to {len(last['nodes'])} nodes",
                highlight=False,
            )
