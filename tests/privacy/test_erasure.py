"""Erasure of one user from log, quarantine, frames, feature store and edge state; retention."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from edgemark.cli import _privacy
from edgemark.errors import PrivacyError
from edgemark.events import Event, EventLog, Pseudonymizer
from edgemark.features import DEFAULT_SPEC, FeatureStore, OnlineFeatures
from edgemark.privacy import apply_retention, erase_user
from tests.privacy.platform import CUSTOMERS, DAY, T0, Platform, build_platform

GONE, KEPT = CUSTOMERS[1], CUSTOMERS[0]


def _app() -> typer.Typer:
    app = typer.Typer()
    _privacy.register(app)
    return app


@pytest.fixture()
def platform(tmp_path: Path) -> Platform:
    return build_platform(tmp_path / "shop")


def _erase(platform: Platform, user: str, *extra: str) -> dict[str, object]:
    args = ["privacy", "erase", "--user", user, "--log", str(platform.log.root),
            "--key", str(platform.key_file), "--edge-state", str(platform.node),
            "--frame", str(platform.frame.parent), "--feature-store", str(platform.store),
            "--json", *extra]  # fmt: skip
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    figures: dict[str, object] = json.loads(result.output)
    return figures


def _holding(platform: Platform, needle: str) -> list[Path]:
    return [p for p in platform.written_files() if needle.encode() in p.read_bytes()]


def test_erase_removes_the_user_everywhere(platform: Platform) -> None:
    gone, kept = platform.pseudonym(GONE), platform.pseudonym(KEPT)
    node_gone = platform.node_pseudonym(GONE)
    assert _holding(platform, gone) and _holding(platform, node_gone)  # it was there
    events_before = platform.log.count()

    figures = _erase(platform, GONE)

    counts = figures["counts"]
    assert isinstance(counts, dict)
    assert counts["log_events"] == events_before - platform.log.count() > 10
    assert counts["quarantine_rows"] == 2 and counts["frame_rows"] == 2
    assert counts["feature_states"] == 1
    assert sum(v for k, v in counts.items() if k.startswith("edge:")) >= 3
    assert _holding(platform, gone) == [] and _holding(platform, node_gone) == []
    assert _holding(platform, kept)  # the others stay
    assert set(pd.read_parquet(platform.frame)["user"]) == {kept, platform.pseudonym(CUSTOMERS[2])}
    with FeatureStore(platform.store, DEFAULT_SPEC) as store:
        assert gone not in store.users() and kept in store.users()


def test_the_audit_trail_records_the_erasure_without_the_id(platform: Platform) -> None:
    first = _erase(platform, GONE)
    second = _erase(platform, GONE)

    audit = Path(str(first["audit_path"])).read_text()
    records = [json.loads(line) for line in audit.splitlines()]
    assert [r["action"] for r in records] == ["erase", "erase"]
    assert records[0]["counts"]["log_events"] > 0 and second["total"] == 0
    assert GONE not in audit and platform.pseudonym(GONE) not in audit
    assert platform.node_pseudonym(GONE) not in audit


def test_erase_refuses_a_missing_edge_dir_before_erasing_anything(platform: Platform) -> None:
    before = platform.log.count()
    args = ["privacy", "erase", "--user", GONE, "--log", str(platform.log.root), "--key",
            str(platform.key_file), "--edge-state", str(platform.root / "nope")]  # fmt: skip

    result = CliRunner().invoke(_app(), args)

    assert result.exit_code == 8 and "does not exist" in result.output
    assert platform.log.count() == before


def test_erase_says_when_edge_erasure_is_unavailable(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edgemark.edge

    monkeypatch.delattr(edgemark.edge, "erase_user_state")
    args = ["privacy", "erase", "--user", GONE, "--log", str(platform.log.root), "--key",
            str(platform.key_file), "--edge-state", str(platform.node)]  # fmt: skip

    result = CliRunner().invoke(_app(), args)

    assert result.exit_code == 8 and "edge erasure is unavailable" in result.output


def test_erase_needs_an_id_and_a_key(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log")
    with pytest.raises(PrivacyError, match="raw id"):
        erase_user(" ", log, Pseudonymizer(b"k" * 32))
    args = ["privacy", "erase", "--user", "x", "--log", str(log.root), "--key", str(tmp_path)]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 3


def test_erased_online_state_is_gone_after_a_restart(platform: Platform) -> None:
    _erase(platform, GONE)
    online = OnlineFeatures(DEFAULT_SPEC)

    with FeatureStore(platform.store, DEFAULT_SPEC) as store:
        store.load_into(online)

    assert platform.pseudonym(GONE) not in online and len(online) == 2


def test_retention_purges_old_events_and_quarantine_files(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log")
    log.append([Event(f"e{d}", T0 + d * DAY, "u_1", "view", "s") for d in range(10)])
    quarantine = tmp_path / "log" / "quarantine"
    quarantine.mkdir()
    old, new = quarantine / "old.jsonl", quarantine / "new.jsonl"
    old.write_text("{}\n")
    new.write_text("{}\n")
    os.utime(old, (T0, T0))
    os.utime(new, (T0 + 9 * DAY, T0 + 9 * DAY))

    report = apply_retention(log, 5, now=T0 + 9.5 * DAY)

    assert report.log_events == 5 and report.quarantine_files == 1
    assert sorted(e.event_id for e in log.events()) == ["e5", "e6", "e7", "e8", "e9"]
    assert not old.exists() and new.exists()
    record = json.loads(report.audit_path.read_text().splitlines()[-1])
    assert record["action"] == "retain" and record["counts"]["log_events"] == 5
    with pytest.raises(PrivacyError, match="max_age_days"):
        apply_retention(log, 0)


def test_retain_cli(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log")
    log.append([Event(f"e{d}", T0 + d * DAY, "u_1", "view", "s") for d in range(4)])
    args = ["privacy", "retain", "--log", str(log.root), "--max-age-days", "2", "--now",
            str(T0 + 3 * DAY)]  # fmt: skip

    text = CliRunner().invoke(_app(), args)
    again = CliRunner().invoke(_app(), [*args, "--json"])

    assert text.exit_code == 0 and "log_events" in text.output
    assert json.loads(again.output)["log_events"] == 0
    assert log.count() == 3  # e1 at exactly the cutoff stays


def test_every_option_has_help() -> None:
    group = typer.main.get_command(_app())
    for name in ("erase", "retain"):
        command = group.commands["privacy"].commands[name]  # type: ignore[attr-defined]
        assert command.help and all(getattr(p, "help", None) for p in command.params)
