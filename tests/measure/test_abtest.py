"""``ab_test`` and ``edgemark measure uplift``: small exact cases and clear errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgemark.cli import app
from edgemark.errors import MeasureError
from edgemark.measure import ab_test, ab_test_csv


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(text)
    return path


def test_three_arms_each_against_the_control() -> None:
    arm = ["holdout"] * 4 + ["a"] * 4 + ["b"] * 4
    y = [0, 1, 0, 1, 1, 1, 0, 1, 1, 1, 1, 1]
    res = ab_test(arm, y)
    assert res.control == "holdout" and res.arms == {"a": 4, "b": 4, "holdout": 4}
    a, b = res.effects
    assert (a.arm, a.effect, b.arm, b.effect) == ("a", 0.25, "b", 0.5)
    # b has no variance: the error is the control's alone
    assert b.std_error == pytest.approx(math.sqrt(1 / 3 / 4))
    assert b.relative == pytest.approx(1.0)


def test_zero_control_mean_gives_no_relative_effect() -> None:
    (e,) = ab_test(["0", "0", "1", "1"], [0, 0, 1, 0]).effects
    assert e.effect == 0.5 and math.isnan(e.relative)
    assert e.to_dict()["relative"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"treatment": ["x", "y"], "outcome": [1, 2]}, "cannot tell which arm is the control"),
        ({"treatment": ["c", "t"], "outcome": [1, 2], "control": "z"}, "does not occur"),
        ({"treatment": ["c", "t"], "outcome": [1, 2], "control": "c"}, "fewer than 2"),
        ({"treatment": ["c", "t"], "outcome": [1], "control": "c"}, "rows but outcome"),
        (
            {"treatment": ["c"] * 2 + ["t"] * 2, "outcome": [1, 2, 3, math.nan], "control": "c"},
            "NaN",
        ),
        (
            {
                "treatment": ["c"] * 2 + ["t"] * 2,
                "outcome": [1, 2, 3, 4],
                "control": "c",
                "covariate": [1, 1, 1, 1],
            },
            "constant",
        ),
        (
            {
                "treatment": ["c"] * 2 + ["t"] * 2,
                "outcome": [1, 2, 3, 4],
                "control": "c",
                "level": 95,
            },
            "level",
        ),
    ],
)
def test_unmeasurable_input_raises(kwargs: dict, message: str) -> None:
    with pytest.raises(MeasureError, match=message):
        ab_test(**kwargs)


def test_csv_errors_name_the_column_and_row(tmp_path: Path) -> None:
    path = _csv(tmp_path, "arm,y\ncontrol,1\ncontrol,x\nt,2\nt,3\n")
    with pytest.raises(MeasureError, match=r"column 'y'.*data row 2 holds 'x'"):
        ab_test_csv(path, "arm", "y")
    with pytest.raises(MeasureError, match=r"no column.*'spend'.*columns are: arm, y"):
        ab_test_csv(path, "arm", "spend")
    with pytest.raises(MeasureError, match="does not exist"):
        ab_test_csv(tmp_path / "nope.csv", "arm", "y")


def test_cli_uplift_prints_json_and_a_table(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "arm,y,pre\n"
        + "".join(
            f"{a},{y},{p}\n"
            for a, y, p in [
                ("ctl", 1, 1),
                ("ctl", 2, 2),
                ("ctl", 3, 2),
                ("t", 3, 1),
                ("t", 5, 3),
                ("t", 4, 2),
            ]
        ),
    )
    args = [
        "measure",
        "uplift",
        "--data",
        str(path),
        "--treatment",
        "arm",
        "--outcome",
        "y",
        "--control",
        "ctl",
    ]
    result = CliRunner().invoke(app, [*args, "--covariate", "pre", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["control"] == "ctl" and out["covariate"] == "pre"
    (effect,) = out["effects"]
    assert effect["arm"] == "t" and effect["ci_low"] < effect["effect"] < effect["ci_high"]
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0 and "+2" in table.output
    bad = CliRunner().invoke(app, [*args[:-1], "nope"])
    assert bad.exit_code == 5 and "does not occur" in bad.output
