"""The console's Experiments page: uplift per offer from the hub's DP reports, with intervals.

Estimates come from ``edgemark.measure.uplift_from_reports`` stratified by node (nodes
serve different customers), over report cells summed in SQL with their noise variances
kept exact. What the hub cannot measure (attribution, a budget across channels) is said
on the page rather than guessed.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.orm import Session

from edgemark.errors import MeasureError
from edgemark.hub import _console_data as data
from edgemark.hub._console_html import cards, chart, esc, fmt, notice, plot_layout, table

MIN_EXPOSURES = 200  # per arm: below it an interval says little, as the rollout gates judge


def experiments(session: Session) -> str:
    """Uplift per offer with 95% intervals, holdout sizes and what the data allow."""
    now = time.time()
    key = data.reports_key(session)
    found, at = data.memo(session, "experiments", key, _measure, now,
                          stale_ok=True)  # fmt: skip
    if not found:
        return notice("No DP reports have reached the hub yet, so there is nothing to "
                      "measure. Nodes send them after each closed day.", "warn")  # fmt: skip
    out = [_as_of(at, now, key[0])]
    for name, rows, result in found:
        if isinstance(result, str):
            out.append(f"<h2>{esc(name)}</h2>" + notice(result, "warn"))
        else:
            out.append(_experiment(name, rows, result))
    return "".join(out) + _not_at_hub()


def _measure(session: Session) -> list[tuple[str, list[dict[str, Any]], Any]]:
    from edgemark.measure import uplift_from_reports

    cells = data.report_cells(session)
    found: list[tuple[str, list[dict[str, Any]], Any]] = []
    for experiment in sorted({c["experiment"] for c in cells}):
        rows = [c for c in cells if c["experiment"] == experiment]
        try:
            result: Any = uplift_from_reports(rows, experiment=experiment, strata_key="node_id")
        except MeasureError as exc:
            result = data.measure_error(exc)
        found.append((experiment, rows, result))
    return found


def _as_of(at: float, now: float, rows: int) -> str:
    age = "just now" if now - at < 1 else f"{now - at:.0f} s ago"
    return (f'<p class="muted">From {rows:,} DP report rows, computed {age} (with many '
            "reports, at most once a minute).</p>")  # fmt: skip


def _experiment(name: str, rows: list[dict[str, Any]], estimates: list[Any]) -> str:
    holdout = sum(r["exposures"] for r in rows if r["arm"] == "holdout")
    nodes = len({r["node_id"] for r in rows})
    head = cards(
        [
            ("Holdout exposures", f"{holdout:,}", "" if holdout >= MIN_EXPOSURES else "warn"),
            ("Arms", str(len(estimates)), ""),
            ("Nodes reporting", str(nodes), ""),
        ]
    )
    table_rows, shown = [], []
    for e in estimates:
        enough = e.exposures >= MIN_EXPOSURES and e.control_exposures >= MIN_EXPOSURES
        table_rows.append([
            esc(e.arm), f"{e.exposures:,}", fmt(e.rate * 100, 2), fmt(e.uplift * 100, 2),
            f"{fmt(e.ci_low * 100, 2)} to {fmt(e.ci_high * 100, 2)}", esc(_advice(e, enough)),
        ])  # fmt: skip
        if enough:
            shown.append(e)
    body = f"<h2>Experiment {esc(name)}</h2>{head}" + table(
        ["Offer", "Exposures", "Conversion %", "Uplift (points)", "95% interval (points)",
         "Suggestion"], table_rows,
        "Uplift over the holdout from DP-noised reports (noise included in the interval)",
        numeric=frozenset({1, 2, 3}),
    )  # fmt: skip
    if not shown:
        return body + notice(f"Not enough data for a chart yet: every arm and the holdout need "
                             f"at least {MIN_EXPOSURES} exposures.", "warn")  # fmt: skip
    return body + chart(f"uplift-{_slug(name)}", _uplift_figure(shown),
                        f"Uplift per offer with 95% intervals, experiment {name}")  # fmt: skip


def _advice(e: Any, enough: bool) -> str:
    if not enough:
        return f"not enough data (needs {MIN_EXPOSURES} exposures per arm)"
    if e.ci_low > 0:
        return "works: give it more of the budget"
    if e.ci_high < 0:
        return "hurts: stop it"
    return "unclear: keep testing"


def _uplift_figure(estimates: list[Any]) -> dict[str, Any]:
    return {
        "data": [{"type": "scatter", "mode": "markers", "x": [e.arm for e in estimates],
                  "y": [e.uplift * 100 for e in estimates], "marker": {"size": 10},
                  "error_y": {"type": "data", "symmetric": False,
                              "array": [(e.ci_high - e.uplift) * 100 for e in estimates],
                              "arrayminus": [(e.uplift - e.ci_low) * 100 for e in estimates]}}],
        "layout": {**plot_layout("offer", "uplift (points)"),
                   "shapes": [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": 0,
                               "y1": 0, "line": {"dash": "dot", "color": "#6b7280"}}]},
    }  # fmt: skip


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name)[:40]


def _not_at_hub() -> str:
    return (
        "<h2>Attribution and budget</h2>"
        + notice("Attribution is computed on each node from its customers' journeys, which "
                 "never leave the node; the hub receives only DP-noised counts per arm, so "
                 "it shows no attribution. A budget split across channels needs a fitted "
                 "marketing-mix model over weekly spend, which the hub does not hold: run "
                 "`edgemark measure mmm` and `edgemark measure budget` on the spend data. "
                 "The suggestions above come from the offers' intervals alone.", "info")
    )  # fmt: skip
