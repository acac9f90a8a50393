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


def _app() -> typer.Typer:
    app = typer.Typer()
    _features.register(app)
    return app


def _log(tmp_path: Path) -> Path:
    log = EventLog(tmp_path / "log")
    events = [Event(f"v{d}", T0 + d * DAY, "u1", "view", "s") for d in range(30)]
    events += [Event(f"p{d}", T0 + d * DAY + 60, "u2", "purchase", "s", amount=3.0)
               for d in range(0, 30, 10)]  # fmt: skip
    log.append(events)
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


def test_frame_text_and_too_short_log(tmp_path: Path) -> None:
    log = _log(tmp_path)
    ok = CliRunner().invoke(
        _app(), ["features", "frame", "--log", str(log), "--out", str(tmp_path / "f.parquet")]
    )
    short = CliRunner().invoke(
        _app(),
        [
            "features",
            "frame",
            "--log",
            str(log),
            "--out",
            str(tmp_path / "g.parquet"),
            "--every-days",
            "20",
            "--horizon-days",
            "20",
        ],
    )

    assert ok.exit_code == 0 and "positive rate 0.333" in ok.output
    assert short.exit_code == 5 and "too short" in short.output


def test_every_option_has_help() -> None:
    group = typer.main.get_command(_app())
    frame = group.commands["features"].commands["frame"]  # type: ignore[attr-defined]

    assert frame.help and all(getattr(p, "help", None) for p in frame.params)
