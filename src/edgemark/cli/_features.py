"""CLI verbs of the features plane: ``edgemark features frame`` (point-in-time training frame)
and ``edgemark features spec`` (the feature library as JSON, with its hash)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from edgemark.cli._output import console, handled_errors, print_json

_TIMEZONE_HELP = (
    "IANA time zone for hour_of_day and day_of_week, DST-aware (e.g. Europe/Berlin); "
    "default: the spec's own (the built-in library: UTC)."
)


def _load_spec(path: Path | None, timezone: str | None = None) -> Any:
    """The spec of ``path`` (default: the built-in library), in ``timezone`` if given."""
    from dataclasses import replace

    from edgemark.features import DEFAULT_SPEC, FeatureSpec

    spec = DEFAULT_SPEC
    if path is not None:
        import json

        from edgemark.errors import ConfigError

        try:
            spec = FeatureSpec.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read feature spec {path}: {exc}") from exc
    return spec if timezone is None else replace(spec, timezone=timezone)


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
        outcome: Annotated[
            list[str] | None,
            typer.Option(
                "--outcome",
                help="Outcome column KIND:DAYS or NAME=KIND:DAYS (purchase, churn, spend); "
                "repeat for several. Default: label = purchase within --horizon-days.",
            ),
        ] = None,
        spec_file: Annotated[
            Path | None,
            typer.Option(
                "--spec",
                help="Feature spec JSON (from 'features spec'); default: the built-in library.",
            ),
        ] = None,
        timezone: Annotated[str | None, typer.Option("--timezone", help=_TIMEZONE_HELP)] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    ) -> None:
        """Build a point-in-time training frame (users with training consent only)."""
        from edgemark.events import EventLog
        from edgemark.features import Outcome, build_training_frame, label_schedule

        with handled_errors():
            spec = _load_spec(spec_file, timezone)
            outcomes = [Outcome.parse(o) for o in outcome] if outcome else None
            longest = max([horizon_days, *(o.horizon_days for o in outcomes or [])])
            log = EventLog(log_dir)
            times = label_schedule(log, every_days, longest)
            data = build_training_frame(log, spec, times, horizon_days, outcomes=outcomes)
            # 'train' stamps the model (and bundle) with the spec the frame was built with.
            data.attrs["feature_spec_hash"] = spec.spec_hash()
            out.parent.mkdir(parents=True, exist_ok=True)
            data.to_parquet(out, index=False)
            first = (outcomes or [Outcome("label", "purchase", horizon_days)])[0].name
            figures = {
                "rows": len(data),
                "users": int(data["user"].nunique()),
                "label_times": len(times),
                "positive_rate": float(data[first].mean()) if len(data) else 0.0,
                "outcomes": [c for c in data.columns[2 + len(spec.names) :]],
                "features": list(spec.names),
                "spec_hash": spec.spec_hash(),
                "timezone": spec.timezone,
                "out": str(out),
            }
            if as_json:
                print_json(figures)
                return
            console.print(
                f"Wrote {out}: {figures['rows']} rows ({figures['users']} users x "
                f"{figures['label_times']} label times), {len(spec.names)} features, "
                f"positive rate {figures['positive_rate']:.3f}",
                highlight=False,
            )

    @features.command("spec")
    def spec_command(
        out: Annotated[
            Path | None, typer.Option("--out", help="Write the spec JSON here (default: stdout).")
        ] = None,
        timezone: Annotated[
            str | None,
            typer.Option(
                "--timezone",
                help="IANA time zone for hour_of_day and day_of_week, DST-aware (e.g. "
                "Europe/Berlin); default: UTC. One spec, one zone: a bundle per zone.",
            ),
        ] = None,
    ) -> None:
        """Print the built-in feature library as JSON (edit it and pass it to --spec)."""
        import json

        with handled_errors():
            spec = _load_spec(None, timezone)
            text = json.dumps({**spec.to_dict(), "spec_hash": spec.spec_hash()}, indent=2)
            if out is None:
                typer.echo(text)
            else:
                out.write_text(text + "\n")
                zone = f", time zone {spec.timezone}" if spec.timezone else ""
                console.print(f"Wrote {out} ({len(spec.names)} features{zone})")

    app.add_typer(features, name="features")
