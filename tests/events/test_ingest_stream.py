"""Streaming ingestion: chunks, future timestamps, arrival lags, reconciliation at scale."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from edgemark.errors import EventError
from edgemark.events import Event, EventLog, Pseudonymizer, arrival_lags, ingest_file

KEY = Pseudonymizer(b"s" * 32)
T0 = 1767571200.0
COLUMNS = ["event_id", "ts", "user", "type", "node", "amount", "consent_personalization"]


def _write_csv(path: Path, rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


def _messy_rows(n: int, seed: int) -> tuple[list[list[object]], int]:
    """n rows, about 1% of them bad in different ways; returns rows and the bad count."""
    rng = random.Random(seed)
    rows: list[list[object]] = []
    bad = 0
    for i in range(n):
        row: list[object] = [f"e{i}", T0 + i, f"cust-{i % 97}", "view", "s1", "", "true"]
        kind = rng.randrange(500) if rng.random() < 0.01 else -1
        if kind >= 0:
            bad += 1
            choice = kind % 5
            if choice == 0:
                row[3] = "like"
            elif choice == 1:
                row[1] = "yesterday"
            elif choice == 2:
                row[3], row[5] = "purchase", "-5"
            elif choice == 3:
                row[0] = f"e{max(i - 1, 0)}" if i else "dup"
                bad -= 0 if i else 1
            else:
                row[1] = T0 + 10 * 365 * 86400.0
        rows.append(row)
    return rows, bad


def test_chunked_ingest_equals_one_chunk_and_reconciles(tmp_path: Path) -> None:
    rows, _ = _messy_rows(3000, seed=1)
    src = _write_csv(tmp_path / "in.csv", rows)
    small, large = EventLog(tmp_path / "small"), EventLog(tmp_path / "large")

    a = ingest_file(src, small, KEY, tmp_path / "qa", now=T0 + 4000, chunk_rows=7)
    b = ingest_file(src, large, KEY, tmp_path / "qb", now=T0 + 4000)

    assert a.read == a.accepted + a.quarantined == 3000
    assert (a.accepted, a.reasons) == (b.accepted, b.reasons)
    assert list(small.events()) == list(large.events())
    assert len(small.parts()) == 1 and pq.ParquetFile(small.parts()[0]).num_row_groups > 100
    assert set(a.reasons) <= {
        "unknown_type",
        "bad_timestamp",
        "negative_amount",
        "duplicate_id",
        "future_timestamp",
    }
    assert a.quarantined == sum(a.reasons.values()) > 0


def test_future_skew_is_configurable(tmp_path: Path) -> None:
    src = _write_csv(
        tmp_path / "in.csv",
        [["a", T0 + 100, "c", "view", "s", "", ""], ["b", T0 + 1000, "c", "view", "s", "", ""]],
    )

    strict = ingest_file(
        src, EventLog(tmp_path / "l1"), KEY, tmp_path / "q", now=T0, max_future_skew_s=300
    )
    loose = ingest_file(
        src, EventLog(tmp_path / "l2"), KEY, tmp_path / "q", now=T0, max_future_skew_s=3600
    )

    assert (strict.accepted, strict.reasons) == (1, {"future_timestamp": 1})
    assert loose.accepted == 2
    with pytest.raises(EventError, match="max_future_skew_s"):
        ingest_file(src, EventLog(tmp_path / "l3"), KEY, tmp_path / "q", max_future_skew_s=-1)


def test_arrival_lags_are_recorded_against_the_log(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log")
    log.append([Event("a", T0 + 100, KEY.pseudonym("c1"), "view", "s")])
    src = _write_csv(
        tmp_path / "in.csv",
        [
            ["b", T0 + 40, "c1", "view", "s", "", ""],  # 60 s behind what the log knows
            ["c", T0 + 200, "c1", "view", "s", "", ""],
            ["d", T0 + 150, "c1", "view", "s", "", ""],  # 50 s behind c
            ["e", T0 + 10, "c2", "view", "s", "", ""],
        ],
    )

    result = ingest_file(src, log, KEY, tmp_path / "q", now=T0 + 1000)

    lags = log.to_arrow(["event_id", "arrival_lag_s"]).to_pydict()
    assert dict(zip(lags["event_id"], lags["arrival_lag_s"], strict=True)) == {
        "a": 0.0,
        "b": 60.0,
        "c": 0.0,
        "d": 50.0,
        "e": 0.0,
    }
    assert (result.out_of_order, result.max_lag_s) == (2, 60.0)


def test_arrival_lags_helper_matches_append(tmp_path: Path) -> None:
    events = [
        Event(f"e{i}", T0 + ts, f"u{i % 2}", "view", "s")
        for i, ts in enumerate([5.0, 3.0, 9.0, 1.0, 9.0, 2.0])
    ]

    log = EventLog(tmp_path / "log")
    log.append([Event("x", T0 + 4.0, "u1", "view", "s")])
    log.append(events)

    assert arrival_lags(events, {"u1": 4.0 + T0}) == [0.0, 1.0, 0.0, 3.0, 0.0, 2.0]
    assert log.to_arrow(["arrival_lag_s"]).column(0).to_pylist()[1:] == [
        0.0,
        1.0,
        0.0,
        3.0,
        0.0,
        2.0,
    ]


def test_jsonl_invalid_utf8_and_mapped_user_redaction(tmp_path: Path) -> None:
    from edgemark.events import EventMapping

    mapping = EventMapping.from_dict({"fields": {"user": "customer", "node": {"value": "s"}}})
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        b'{"event_id": "a", "ts": 1767571200, "customer": "cust-1", "type": "view"}\n'
        b'{"event_id": "b", "ts": 1767571200, "customer": "cust-2", "type": "vi\xffew"}\n'
        b'{"event_id": "c", "customer": "cust-3", "ts": \n'
    )

    result = ingest_file(
        src, EventLog(tmp_path / "log"), KEY, tmp_path / "q", mapping=mapping, now=T0
    )

    assert (result.accepted, result.reasons) == (1, {"invalid_utf8": 1, "not_parseable": 1})
    assert result.quarantine_path is not None
    text = result.quarantine_path.read_text()
    assert "cust-" not in text and KEY.pseudonym("cust-3") in text
    assert all(json.loads(line)["code"] for line in text.splitlines())


def test_a_failed_ingest_leaves_no_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = _write_csv(
        tmp_path / "in.csv", [[f"e{i}", T0, "c", "view", "s", "", ""] for i in range(50)]
    )
    log = EventLog(tmp_path / "log")
    import edgemark.events._ingest as module

    real = module.validate_event
    calls = {"n": 0}

    def flaky(row: object) -> Event:
        calls["n"] += 1
        if calls["n"] == 40:
            raise RuntimeError("disk on fire")
        return real(row)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "validate_event", flaky)
    with pytest.raises(RuntimeError):
        ingest_file(src, log, KEY, tmp_path / "q", chunk_rows=10, now=T0)

    assert log.parts() == [] and not list((tmp_path / "log").glob(".*tmp"))
    monkeypatch.setattr(module, "validate_event", real)
    assert ingest_file(src, log, KEY, tmp_path / "q", now=T0).accepted == 50


def test_raw_ids_embedded_in_other_fields_are_pseudonymised_too(tmp_path: Path) -> None:
    src = _write_csv(tmp_path / "in.csv", [
        ["cust-000777-1", T0, "cust-000777", "view", "s", "", ""],
        ["cust-000777-2", T0, "cust-000777", "like", "s", "", ""],  # quarantined
        ["x-cust-000777", T0, "cust-000777", "view", "s", "", ""],
        ["u1-a", T0, "u1", "view", "s", "", ""],  # ids shorter than 4 are not searched for
    ])  # fmt: skip
    log = EventLog(tmp_path / "log")

    result = ingest_file(src, log, KEY, tmp_path / "q", now=T0)
    again = ingest_file(src, log, KEY, tmp_path / "q", now=T0)

    pseudonym = KEY.pseudonym("cust-000777")
    assert log.event_ids() == {f"{pseudonym}-1", "u1-a", f"x-{pseudonym}"}
    assert result.quarantine_path is not None
    assert f"{pseudonym}-2" in result.quarantine_path.read_text()
    stored = result.quarantine_path.read_bytes() + b"".join(p.read_bytes() for p in log.parts())
    assert b"cust-000777" not in stored
    assert again.accepted == 0  # the replaced ids still deduplicate
