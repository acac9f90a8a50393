"""CLI verb of the events plane: ``edgemark ingest FILE`` into a pseudonymised event log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgemark.cli._output import console, handled_errors, print_json


def register(app: typer.Typer) -> None:
    """Add the ``ingest`` command to ``app``."""

    @app.command("ingest")
    def ingest(
        file: Annotated[
            Path, typer.Argument(help="Events to ingest: .csv, .jsonl/.ndjson or .parquet.")
        ],
        log_dir: Annotated[
            Path, typer.Option("--log", help="Event log directory (Parquet parts are added).")
        ],
        key: Annotated[
            Path,
            typer.Option("--key", help="Pseudonymisation key file (32 bytes; keep it private)."),
        ],
        mapping: Annotated[
            Path | None,
            typer.Option(
                "--mapping",
                help="JSON or TOML file mapping the export's columns and types onto the event "
                "schema (see docs/features.md).",
            ),
        ] = None,
        quarantine: Annotated[
            Path | None,
            typer.Option(
                "--quarantine", help="Directory for rejected rows (default: LOG/quarantine)."
            ),
        ] = None,
        max_future_skew: Annotated[
            float,
            typer.Option(
                "--max-future-skew",
                help="Seconds a timestamp may lie in the future before its row is quarantined.",
            ),
        ] = 300.0,
        create_key: Annotated[
            bool,
            typer.Option("--create-key", help="Create the key file if it does not exist yet."),
        ] = False,
        as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    ) -> None:
        """Validate, pseudonymise and append events; bad rows go to a quarantine file."""
        from rich.table import Table

        from edgemark.events import EventLog, EventMapping, Pseudonymizer, ingest_file

        with handled_errors():
            if create_key and not key.exists():
                pseudonymizer = Pseudonymizer.create_key_file(key)
            else:
                pseudonymizer = Pseudonymizer.from_key_file(key)
            spec = None if mapping is None else EventMapping.from_file(mapping)
            log = EventLog(log_dir)
            result = ingest_file(
                file,
                log,
                pseudonymizer,
                quarantine or log_dir / "quarantine",
                mapping=spec,
                max_future_skew_s=max_future_skew,
            )
            if as_json:
                print_json(result.to_dict())
                return
            table = Table(title=f"Ingested {file.name}")
            for column in ("read", "accepted", "quarantined", "out of order"):
                table.add_column(column, justify="right")
            table.add_row(
                str(result.read),
                str(result.accepted),
                str(result.quarantined),
                str(result.out_of_order),
            )
            console.print(table)
            for code, count in sorted(result.reasons.items()):
                console.print(f"  {code}: {count}", highlight=False)
            where = result.quarantine_path or "none (every row was accepted)"
            console.print(f"Quarantine: {where}", highlight=False)
