"""``edgemark measure uplift-reports``: uplift in conversion or revenue per exposure from the
hub's DP report rows, with the Laplace noise in the interval."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from edgemark.cli._measure import measure_app
from edgemark.cli._output import console, handled_errors, print_json
from edgemark.errors import MeasureError

_METRICS = ("conversion", "revenue")


def _read_rows(path: Path) -> list[Any]:
    """Report rows from a JSON list, or from the hub's ``{"reports": [...]}`` answer."""
    try:
        payload = json.loads(path.read_text())
    except OSError as exc:
        raise MeasureError(f"cannot read reports file {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise MeasureError(
            f"reports file {path} is not JSON ({exc.msg}, line {exc.lineno})"
        ) from None
    if isinstance(payload, dict) and isinstance(payload.get("reports"), list):
        payload = payload["reports"]
    if not isinstance(payload, list):
        raise MeasureError(f"reports file {path} must hold a JSON list of report rows")
    return payload


@measure_app.command("uplift-reports")
def uplift_reports_command(
    reports: Annotated[
        Path,
        typer.Option(
            "--reports", help='JSON file: a list of report rows (or the hub\'s {"reports": [...]}).'
        ),
    ],
    control: Annotated[
        str, typer.Option("--control", help="Arm that serves as control.")
    ] = "holdout",
    experiment: Annotated[
        str | None, typer.Option("--experiment", help="Only rows of this experiment.")
    ] = None,
    metric: Annotated[
        str,
        typer.Option("--metric", help="conversion (rate) or revenue (per exposure)."),
    ] = "conversion",
    strata: Annotated[
        str | None,
        typer.Option(
            "--strata", help="Row field to post-stratify by, e.g. node_id (per-node allocation)."
        ),
    ] = None,
    level: Annotated[
        float, typer.Option("--level", help="Confidence level of the interval.")
    ] = 0.95,
    as_json: Annotated[bool, typer.Option("--json", help="Print the estimates as JSON.")] = False,
) -> None:
    """Uplift of each arm over the control from DP-noised report rows."""
    with handled_errors():
        from edgemark.measure import revenue_uplift_from_reports, uplift_from_reports

        if metric not in _METRICS:
            raise MeasureError(f"--metric must be conversion or revenue, got {metric!r}")
        rows = _read_rows(reports)
        if metric == "revenue":
            revenue = revenue_uplift_from_reports(
                rows, control, level, experiment=experiment, strata_key=strata
            )
            estimates: list[Any] = revenue
        else:
            estimates = uplift_from_reports(
                rows, control, level, experiment=experiment, strata_key=strata
            )
    if as_json:
        print_json([e.to_dict() for e in estimates])
        return
    _print(estimates, control, level, metric)


def _print(estimates: list[Any], control: str, level: float, metric: str) -> None:
    revenue = metric == "revenue"
    what = "revenue per exposure" if revenue else "conversion rate"
    table = Table(title=f"Uplift in {what} over {control!r} ({level:.0%} interval)")
    columns = ["arm", "exposures", "mean" if revenue else "rate", "uplift", f"{level:.0%} CI"]
    if revenue:
        columns.append("noise share")
    for column in columns:
        table.add_column(column, justify="left" if column == "arm" else "right")
    spec = ".2f" if revenue else ".4f"
    first = estimates[0]
    base = first.control_mean if revenue else first.control_rate
    table.add_row(control, str(first.control_exposures), format(base, spec), "", "")
    for e in estimates:
        cells = [
            e.arm,
            str(e.exposures),
            format(e.mean if revenue else e.rate, spec),
            format(e.uplift, "+" + spec),
            f"[{e.ci_low:+{spec}}, {e.ci_high:+{spec}}]",
        ]
        if revenue:
            cells.append(f"{e.noise_share:.0%}")
        table.add_row(*cells)
    console.print(table)
