"""``edgemark measure uplift-reports --metric revenue``: JSON and table, strata, bad input."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from edgemark.cli import app

ROWS = [
    {"node_id": "n1", "arm": "holdout", "exposures": 1000, "conversions": 90,
     "revenue": 5000.0, "revenue_sq": 2.5e6, "revenue_noise_scale": 400.0,
     "count_noise_scale": 4.0, "revenue_sq_noise_scale": 4e5, "max_contributions": 1},
    {"node_id": "n1", "arm": "pct10", "exposures": 1000, "conversions": 120,
     "revenue": 6000.0, "revenue_sq": 3.6e6, "revenue_noise_scale": 400.0,
     "count_noise_scale": 4.0, "revenue_sq_noise_scale": 4e5, "max_contributions": 1},
]  # fmt: skip


def _run(tmp_path: Path, rows: object, *args: str) -> tuple[int, str]:
    path = tmp_path / "reports.json"
    path.write_text(json.dumps(rows))
    result = CliRunner().invoke(app, ["measure", "uplift-reports", "--reports", str(path), *args])
    return result.exit_code, result.output


def test_revenue_json_has_the_noise_in_the_interval(tmp_path: Path) -> None:
    code, out = _run(tmp_path, {"reports": ROWS}, "--metric", "revenue", "--json")
    assert code == 0, out
    (est,) = json.loads(out)
    assert est["arm"] == "pct10" and abs(est["uplift"] - 1.0) < 1e-12
    # sampling 2.457^2 (see the library's doctest) plus noise 2 * 400^2 / 1000^2 * 2 arms
    # plus the exposure noise R^2 * 2 * 4^2 / 1000^2 per arm
    noise = 2 * 2 * 400.0**2 / 1e6 + 2 * 16 * (25 + 36) / 1e6
    assert abs(est["std_error"] ** 2 - (6.039 + noise)) < 1e-3
    assert abs(est["noise_share"] - noise / (6.039 + noise)) < 1e-3


def test_revenue_table_and_strata(tmp_path: Path) -> None:
    code, out = _run(tmp_path, ROWS, "--metric", "revenue", "--strata", "node_id")
    assert code == 0, out
    assert "revenue per exposure" in out and "+1.00" in out and "pct10" in out


def test_bad_metric_or_old_rows_exit_with_bad_input(tmp_path: Path) -> None:
    code, out = _run(tmp_path, ROWS, "--metric", "profit")
    assert code == 5 and "conversion or revenue" in out
    old = [{k: v for k, v in r.items() if k != "revenue_sq"} for r in ROWS]
    code, out = _run(tmp_path, old, "--metric", "revenue")
    assert code == 5 and "older than revenue intervals" in out
