from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from edgemark.cli import app

ROWS = [
    {"arm": "holdout", "exposures": 1000, "conversions": 100, "count_noise_scale": 2.0},
    {"arm": "pct10", "exposures": 1000, "conversions": 150, "count_noise_scale": 2.0},
]


def test_uplift_reports_prints_estimates_as_json(tmp_path: Path) -> None:
    path = tmp_path / "reports.json"
    path.write_text(json.dumps({"reports": ROWS}))  # the hub's GET /v1/reports shape
    result = CliRunner().invoke(
        app, ["measure", "uplift-reports", "--reports", str(path), "--json"]
    )
    assert result.exit_code == 0, result.output
    (estimate,) = json.loads(result.output)
    assert estimate["arm"] == "pct10"
    assert abs(estimate["uplift"] - 0.05) < 1e-12
    assert estimate["ci_low"] < 0.05 < estimate["ci_high"]


def test_uplift_reports_prints_a_table(tmp_path: Path) -> None:
    path = tmp_path / "reports.json"
    path.write_text(json.dumps(ROWS))
    result = CliRunner().invoke(app, ["measure", "uplift-reports", "--reports", str(path)])
    assert result.exit_code == 0, result.output
    assert "pct10" in result.output and "+0.0500" in result.output


def test_unmeasurable_or_unreadable_reports_exit_with_bad_input(tmp_path: Path) -> None:
    path = tmp_path / "reports.json"
    path.write_text(json.dumps(ROWS[1:]))
    result = CliRunner().invoke(app, ["measure", "uplift-reports", "--reports", str(path)])
    assert result.exit_code == 5
    assert "control arm 'holdout'" in result.output
    path.write_text("{not json")
    result = CliRunner().invoke(app, ["measure", "uplift-reports", "--reports", str(path)])
    assert result.exit_code == 5 and "not JSON" in result.output
