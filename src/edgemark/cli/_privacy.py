"""CLI verbs of the privacy plane: ``edgemark privacy erase`` (one user, everywhere),
``edgemark privacy retain`` (purge events older than a maximum age) and ``edgemark privacy
ledger`` (epsilon spent per node and fleet-wide, from the hub)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgemark.cli._output import DEFAULT_HUB, HubUrl, console, handled_errors, print_json


def _erase_edges(user: str, state_dirs: list[Path]) -> dict[str, int]:
    """Erase ``user`` from each node state directory (agreement 2); counts per dir/table."""
    from edgemark.errors import PrivacyError

    if not state_dirs:
        return {}
    import edgemark.edge

    erase = getattr(edgemark.edge, "erase_user_state", None)
    if erase is None:
        raise PrivacyError(
            "edge erasure is unavailable in this version (edgemark.edge.erase_user_state is "
            "missing); nothing was erased. Erase on each running node with POST /v1/erase, "
            "or upgrade edgemark"
        )
    counts: dict[str, int] = {}
    for state_dir in state_dirs:
        if not state_dir.is_dir():
            raise PrivacyError(f"edge state directory {state_dir} does not exist; nothing erased")
    for state_dir in state_dirs:
        for table, n in erase(state_dir, user).items():
            counts[f"edge:{state_dir.name}:{table}"] = int(n)
    return counts


def _print_counts(title: str, figures: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("target")
    table.add_column("removed", justify="right")
    for name, count in sorted(figures["counts"].items()):
        table.add_row(name, str(count))
    console.print(table)
    console.print(f"Audit trail: {figures['audit_path']}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``privacy`` commands to ``app``."""
    privacy = typer.Typer(
        help="Erasure, retention, and the hub's privacy ledger (epsilon spent).",
        no_args_is_help=True,
    )

    @privacy.command("erase")
    def erase(
        user: Annotated[str, typer.Option("--user", help="The customer's raw id to erase.")],
        log_dir: Annotated[Path, typer.Option("--log", help="Event log directory.")],
        key: Annotated[Path, typer.Option("--key", help="The log's pseudonymisation key file.")],
        edge_state: Annotated[
            list[Path] | None,
            typer.Option(
                "--edge-state", help="A stopped edge node's state directory (repeatable)."
            ),
        ] = None,
        frame: Annotated[
            list[Path] | None,
            typer.Option("--frame", help="Training frame .parquet file or folder (repeatable)."),
        ] = None,
        feature_store: Annotated[
            list[Path] | None,
            typer.Option("--feature-store", help="Online feature store file (repeatable)."),
        ] = None,
        audit: Annotated[
            Path | None,
            typer.Option("--audit", help="Audit trail file (default: LOG/audit/...)."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
    ) -> None:
        """Remove one user from the log, quarantine, frames, feature stores and edge state."""
        from edgemark.events import EventLog, Pseudonymizer
        from edgemark.privacy import erase_user

        with handled_errors():
            pseudonymizer = Pseudonymizer.from_key_file(key)
            edge_counts = _erase_edges(user, edge_state or [])
            report = erase_user(
                user,
                EventLog(log_dir),
                pseudonymizer,
                frames=frame or [],
                feature_stores=feature_store or [],
                extra_counts=edge_counts,
                audit_path=audit,
            )
            figures = report.to_dict()
            if as_json:
                print_json(figures)
                return
            _print_counts(f"Erased one user ({report.total} rows)", figures)

    @privacy.command("retain")
    def retain(
        log_dir: Annotated[Path, typer.Option("--log", help="Event log directory.")],
        max_age_days: Annotated[
            float, typer.Option("--max-age-days", help="Purge events older than this many days.")
        ],
        now: Annotated[
            float | None,
            typer.Option("--now", help="Reference time in epoch seconds (default: now)."),
        ] = None,
        audit: Annotated[
            Path | None,
            typer.Option("--audit", help="Audit trail file (default: LOG/audit/...)."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
    ) -> None:
        """Purge events older than --max-age-days from the log (and old quarantine files)."""
        from edgemark.events import EventLog
        from edgemark.privacy import apply_retention

        with handled_errors():
            report = apply_retention(EventLog(log_dir), max_age_days, now=now, audit_path=audit)
            figures = report.to_dict()
            if as_json:
                print_json(figures)
                return
            counts = {"log_events": report.log_events, "quarantine_files": report.quarantine_files}
            _print_counts("Retention", {**figures, "counts": counts})

    @privacy.command("ledger")
    def ledger(
        hub: HubUrl = DEFAULT_HUB,
        as_json: Annotated[bool, typer.Option("--json", help="Print the ledger as JSON.")] = False,
    ) -> None:
        """Epsilon spent per node and fleet-wide, from DP reports and federated rounds."""
        from edgemark._extras import require

        with handled_errors():
            require("fastapi", "hub")
            from edgemark.hub import admin_token_from_env, fetch_privacy_ledger

            figures = fetch_privacy_ledger(hub, admin_token_from_env().reveal())
            if as_json:
                print_json(figures)
                return
            _print_ledger(figures)

    app.add_typer(privacy, name="privacy")


def _print_ledger(figures: dict[str, Any]) -> None:
    from rich.table import Table

    def eps(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    table = Table(title=f"Privacy ledger (delta {figures['delta']:g})")
    for name in ("node", "reports", "federated", "spent", "budget"):
        table.add_column(name, justify="left" if name == "node" else "right")
    for node in figures["nodes"]:
        table.add_row(node["node_id"], eps(node["epsilon_reports"]),
                      eps(node["epsilon_federated"]), eps(node["epsilon_spent"]),
                      eps(node["budget"]))  # fmt: skip
    console.print(table)
    fleet = figures["fleet"]
    runs: dict[str, list[dict[str, Any]]] = {}
    for row in figures["rounds"]:
        runs.setdefault(str(row.get("run_id", "?")), []).append(row)
    described = "; ".join(
        f"{run}: {len(rows)} rounds, epsilon {eps(rows[-1]['epsilon_cumulative'])}"
        for run, rows in runs.items()
    )
    console.print(
        f"Fleet-wide epsilon spent: {eps(fleet['epsilon_spent'])} (budget {eps(fleet['budget'])}); "
        f"{len(figures['rounds'])} federated rounds recorded"
        + (f" ({described})." if described else "."),
        highlight=False,
    )
