"""CLI verbs of the features plane: ``edgemark features frame`` (point-in-time training frame)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from edgemark.cli._output import console, handled_errors, print_json


def register(app: typer.Typer) -> None:
    """Add the ``features`` commands to ``app``."""
    features = typer.Typer(
        help="Feature spec and engines: build training frames.", no_args_is_help=True
    )

    @features.command("frame")
    def frame(
        log_dir: Annotated[Path, typer.Option("--log", help="Event log directory (ingested).")],
        out: Annotated[Path, typer.Option("--out", help="Output training frame (.parquet).")],
        every_days: Annotated[
            float, typer.Option("--every-days", help="Days between label times.")
        ] = 7.0,
        horizon_days: Annotated[
            float, typer.Option("--horizon-days", help="Label: a purchase within this many days.")
        ] = 7.0,
        as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    ) -> None:
        """Build a point-in-time training frame with the default feature spec."""
        from edgemark.events import EventLog
        from edgemark.features import DEFAULT_SPEC, build_training_frame, label_schedule

        with handled_errors():
            log = EventLog(log_dir)
            times = label_schedule(log, every_days, horizon_days)
            data = build_training_frame(log, DEFAULT_SPEC, times, horizon_days=horizon_days)
            out.parent.mkdir(parents=True, exist_ok=True)
            data.to_parquet(out, index=False)
            figures = {
                "rows": len(data),
                "users": int(data["user"].nunique()),
                "label_times": len(times),
                "positive_rate": float(data["label"].mean()) if len(data) else 0.0,
                "features": list(DEFAULT_SPEC.names),
                "spec_hash": DEFAULT_SPEC.spec_hash(),
                "out": str(out),
            }
            if as_json:
                print_json(figures)
                return
            console.print(
                f"Wrote {out}: {figures['rows']} rows ({figures['users']} users x "
                f"{figures['label_times']} label times), positive rate "
                f"{figures['positive_rate']:.3f}",
                highlight=False,
            )

    app.add_typer(features, name="features")
