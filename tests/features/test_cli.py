from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import typer
from typer.testing import CliRunner

from edgemark.cli import _features
from edgemark.events import Event, EventLog
from edgemark.features import DEFAULT_SPEC

DAY = 86400.0
T0 = 1767571200.0
YES = {"consent_personalization": True, "consent_training": True}


def _app() -> typer.Typer:
    app = typer.Typer()
    _features.register(app)
    return app


def _log(tmp_path: Path) -> Path:
    log = EventLog(tmp_path / "log")
    events = [Event(f"v{d}", T0 + d * DAY, "u1", "view", "s", **YES) for d in range(30)]
    events += [Event(f"p{d}", T0 + d * DAY + 60, "u2", "purchase", "s", amount=3.0, **YES)
               for d in range(0, 30, 10)]  # fmt: skip
    log.append(sorted(events, key=lambda e: e.ts))
    return log.root


def test_frame_json(tmp_path: Path) -> None:
    out = tmp_path / "frames" / "frame.parquet"
    args = ["features", "frame", "--log", str(_log(tmp_path)), "--out", str(out), "--json"]

    result = CliRunner().invoke(_app(), args)

    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    frame = pd.read_parquet(out)
    assert list(frame.columns) == ["user", "label_time", *DEFAULT_SPEC.names, "label"]
    assert figures["rows"] == len(frame) == 2 * 3  # label times at days 7, 14, 21
    # u2 buys on days 0, 10, 20: labels (7, 14] and (14, 21] are positive, (21, 28] is not.
    assert list(frame["label"]) == [0, 1, 0, 1, 0, 0]
    assert figures["positive_rate"] == frame["label"].mean() == 2 / 6


def test_frame_with_outcomes_and_a_spec_file(tmp_path: Path) -> None:
    log = _log(tmp_path)
    spec_file = tmp_path / "spec.json"
    assert CliRunner().invoke(_app(), ["features", "spec", "--out", str(spec_file)]).exit_code == 0
    out = tmp_path / "f.parquet"
    args = ["features", "frame", "--log", str(log), "--out", str(out), "--spec", str(spec_file),
            "--outcome", "churn:14", "--outcome", "y=spend:7", "--json"]  # fmt: skip

    result = CliRunner().invoke(_app(), args)

    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert figures["outcomes"] == ["churn_14d", "y"]
    assert figures["spec_hash"] == DEFAULT_SPEC.spec_hash()
    frame = pd.read_parquet(out)
    assert list(frame["y"]) == [0.0, 3.0, 0.0, 3.0]  # label times at days 7 and 14 only


def test_frame_text_and_too_short_log(tmp_path: Path) -> None:
    log = _log(tmp_path)
    ok = CliRunner().invoke(
        _app(), ["features", "frame", "--log", str(log), "--out", str(tmp_path / "f.parquet")]
    )
    short = CliRunner().invoke(
        _app(),
        ["features", "frame", "--log", str(log), "--out", str(tmp_path / "g.parquet"),
         "--every-days", "20", "--horizon-days", "20"],
    )  # fmt: skip
    bad_outcome = CliRunner().invoke(
        _app(),
        ["features", "frame", "--log", str(log), "--out", str(tmp_path / "h.parquet"),
         "--outcome", "visit:3"],
    )  # fmt: skip

    assert ok.exit_code == 0 and "positive rate 0.333" in ok.output
    assert short.exit_code == 5 and "too short" in short.output
    assert bad_outcome.exit_code == 5 and "unknown kind" in bad_outcome.output


def test_spec_prints_json_with_hash() -> None:
    result = CliRunner().invoke(_app(), ["features", "spec"])

    assert result.exit_code == 0
    assert json.loads(result.output)["spec_hash"] == DEFAULT_SPEC.spec_hash()


def test_every_option_has_help() -> None:
    group = typer.main.get_command(_app())
    for name in ("frame", "spec"):
        command = group.commands["features"].commands[name]  # type: ignore[attr-defined]
        assert command.help and all(getattr(p, "help", None) for p in command.params)


def test_spec_and_frame_in_a_time_zone(tmp_path: Path) -> None:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from edgemark.features import FeatureSpec

    zoned = FeatureSpec(DEFAULT_SPEC.features, timezone="America/New_York")
    printed = CliRunner().invoke(_app(), ["features", "spec", "--timezone", "America/New_York"])
    out = tmp_path / "f.parquet"
    args = ["features", "frame", "--log", str(_log(tmp_path)), "--out", str(out),
            "--timezone", "America/New_York", "--json"]  # fmt: skip

    result = CliRunner().invoke(_app(), args)

    assert printed.exit_code == 0 and result.exit_code == 0, result.output
    spec = json.loads(printed.output)
    assert spec["timezone"] == "America/New_York" and spec["spec_hash"] == zoned.spec_hash()
    assert zoned.spec_hash() != DEFAULT_SPEC.spec_hash()
    figures = json.loads(result.output)
    assert (figures["spec_hash"], figures["timezone"]) == (zoned.spec_hash(), "America/New_York")
    frame = pd.read_parquet(out)
    walls = [datetime.fromtimestamp(t, ZoneInfo("America/New_York")) for t in frame["label_time"]]
    assert list(frame["hour_of_day"]) == [w.hour for w in walls] == [19] * len(frame)
    assert list(frame["day_of_week"]) == [w.weekday() for w in walls]
    assert frame.attrs["feature_spec_hash"] == zoned.spec_hash()  # what 'train' stamps


def test_bad_time_zones_in_the_cli(tmp_path: Path) -> None:
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps({**DEFAULT_SPEC.to_dict(), "utc_offset_hours": 2.0}))
    unknown = CliRunner().invoke(_app(), ["features", "spec", "--timezone", "Mars/Olympus"])
    both = CliRunner().invoke(
        _app(),
        ["features", "frame", "--log", str(_log(tmp_path)), "--out", str(tmp_path / "f.parquet"),
         "--spec", str(spec_file), "--timezone", "Europe/Berlin"],
    )  # fmt: skip

    assert unknown.exit_code == 5 and "unknown time zone 'Mars/Olympus'" in unknown.output
    assert both.exit_code == 5 and "not both" in both.output
