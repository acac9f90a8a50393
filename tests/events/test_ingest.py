from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgemark.errors import EventError
from edgemark.events import EventLog, Pseudonymizer, ingest_file

KEY = Pseudonymizer(b"k" * 32)
GOOD = {"event_id": "e1", "ts": "2026-01-05T10:00:00Z", "user": "cust-000001", "type": "view",
        "node": "store-1"}  # fmt: skip


def _write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _quarantined(path: Path | None) -> list[dict[str, Any]]:
    assert path is not None
    return [json.loads(line) for line in path.read_text().split("\n") if line]


def test_jsonl_good_and_bad_rows(tmp_path: Path) -> None:
    rows: list[object] = [
        GOOD,
        {**GOOD, "event_id": "e2", "type": "purchase", "amount": -3},
        {**GOOD, "event_id": "e3", "type": "like", "user": "cust-000002"},
        {**GOOD, "event_id": "e1"},  # duplicate id
        [1, 2],
    ]
    src = _write_jsonl(tmp_path / "shop.jsonl", rows)
    log = EventLog(tmp_path / "log")

    result = ingest_file(src, log, KEY, tmp_path / "q")

    assert (result.read, result.accepted, result.quarantined) == (5, 1, 4)
    assert result.quarantine_path is not None
    assert result.quarantine_path.name.startswith("shop-")
    bad = _quarantined(result.quarantine_path)
    assert [b["line"] for b in bad] == [2, 3, 4, 5]
    assert "amount negative" in bad[0]["reason"]
    assert "unknown event type 'like'" in bad[1]["reason"]
    assert "duplicate event_id 'e1'" in bad[2]["reason"]
    assert bad[1]["row"]["user"] == KEY.pseudonym("cust-000002")
    assert [e.user for e in log.events()] == [KEY.pseudonym("cust-000001")]


def test_raw_ids_are_stored_nowhere(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_bytes(
        json.dumps(GOOD).encode() + b"\n"
        + b'{"event_id": "x", "user": "cust-000777", "ts": \n'
        + b'{"user": "cust-000888", "node": "\xff\xfe"}\n'
        + json.dumps({**GOOD, "event_id": "e9", "user": "cust-000999", "ts": "x"}).encode()
        + b"\n"
    )  # fmt: skip
    log = EventLog(tmp_path / "log")

    result = ingest_file(src, log, KEY, tmp_path / "q")

    assert (result.read, result.accepted, result.quarantined) == (4, 1, 3)
    assert result.quarantine_path is not None
    stored = result.quarantine_path.read_bytes() + b"".join(p.read_bytes() for p in log.parts())
    for raw in (b"cust-000001", b"cust-000777", b"cust-000888", b"cust-000999"):
        assert raw not in stored
    reasons = [b["reason"] for b in _quarantined(result.quarantine_path)]
    assert reasons[0].startswith("not valid JSON")
    assert reasons[1].startswith("invalid UTF-8")
    assert KEY.pseudonym("cust-000777").encode() in stored


def test_csv_with_string_consents_and_bad_rows(tmp_path: Path) -> None:
    src = tmp_path / "export.csv"
    with src.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["event_id", "ts", "user", "type", "node", "amount", "offer",
                         "consent_training"])  # fmt: skip
        writer.writerow(["e1", "1767571200", "c1", "purchase", "s1", "9.5", "", "false"])
        writer.writerow(["e2", "1767571200", "c1", "redeem", "s1", "", "", "true"])
        writer.writerow(["e3", "1767571200", "c1", "view", "s1", "", "", "perhaps"])
        writer.writerow(["e4", "1767571200", "c1", "view"])
        writer.writerow(["e5", "2026-01-05", "c2", "exposure", "s1", "", "pct10", "1"])
    log = EventLog(tmp_path / "log")

    result = ingest_file(src, log, KEY, tmp_path / "q")

    assert (result.read, result.accepted, result.quarantined) == (5, 2, 3)
    events = list(log.events())
    assert events[0].amount == 9.5 and events[0].consent_training is False
    assert events[1].offer == "pct10" and events[1].ts == 1767571200.0
    bad = _quarantined(result.quarantine_path)
    assert [b["line"] for b in bad] == [3, 4, 5]
    assert "offer missing for redeem" in bad[0]["reason"]
    assert "consent flag 'consent_training'" in bad[1]["reason"]
    assert bad[2]["reason"] == "row has 4 fields, the header has 8"
    assert bad[2]["row"]["user"] == KEY.pseudonym("c1")


def test_parquet_with_timestamp_column(tmp_path: Path) -> None:
    import datetime as dt

    src = tmp_path / "events.parquet"
    ts = [dt.datetime(2026, 1, 5, tzinfo=dt.UTC), dt.datetime(2026, 1, 6, tzinfo=dt.UTC)]
    table = pa.table({"event_id": ["a", "b"], "ts": ts, "user": ["c1", None],
                      "type": ["view", "view"], "node": ["s1", "s1"]})  # fmt: skip
    pq.write_table(table, src)
    log = EventLog(tmp_path / "log")

    result = ingest_file(src, log, KEY, tmp_path / "q")

    assert (result.read, result.accepted, result.quarantined) == (2, 1, 1)
    assert next(log.events()).ts == 1767571200.0
    assert _quarantined(result.quarantine_path)[0]["reason"] == "missing required field 'user'"


def test_clean_file_creates_no_quarantine_and_reingest_is_idempotent(tmp_path: Path) -> None:
    src = _write_jsonl(tmp_path / "a.jsonl", [GOOD])
    log = EventLog(tmp_path / "log")

    first = ingest_file(src, log, KEY, tmp_path / "q")
    second = ingest_file(src, log, KEY, tmp_path / "q")

    assert first.quarantine_path is None and first.accepted == 1
    assert (second.accepted, second.quarantined) == (0, 1)
    assert log.count() == 1


@pytest.mark.parametrize("name", ["events.xlsx", "events"])
def test_unknown_suffix_is_an_event_error(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("x")

    with pytest.raises(EventError, match="unknown file type"):
        ingest_file(tmp_path / name, EventLog(tmp_path / "log"), KEY, tmp_path / "q")


def test_missing_and_corrupt_files_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")

    with pytest.raises(EventError, match=r"nope\.csv"):
        ingest_file(tmp_path / "nope.csv", EventLog(tmp_path / "log"), KEY, tmp_path / "q")
    with pytest.raises(EventError, match=r"broken\.parquet"):
        ingest_file(broken, EventLog(tmp_path / "log"), KEY, tmp_path / "q")


_values = st.one_of(
    st.none(), st.text(max_size=6), st.integers(-5, 5), st.floats(allow_nan=True), st.booleans()
)
_overrides = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.sampled_from(["e1", "e2", "e3"]),
        "type": st.sampled_from(["view", "purchase", "redeem", "bogus"]),
        "amount": _values,
        "ts": _values,
        "user": _values,
        "consent_measurement": _values,
        "offer": _values,
    },
)
_rows = st.one_of(
    _overrides.map(lambda changes: {**GOOD, **changes}),
    st.dictionaries(st.sampled_from([*GOOD, "amount"]), _values, max_size=6),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=st.lists(_rows, max_size=15), garbage=st.lists(st.binary(max_size=20), max_size=3))
def test_read_equals_accepted_plus_quarantined(
    tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]], garbage: list[bytes]
) -> None:
    base = tmp_path_factory.mktemp("ingest")
    lines = [json.dumps(r).encode() for r in rows] + [g.replace(b"\n", b" ") for g in garbage]
    (base / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    log = EventLog(base / "log")

    result = ingest_file(base / "in.jsonl", log, KEY, base / "q")

    assert result.read == result.accepted + result.quarantined
    assert result.read == sum(1 for line in lines if line.strip())
    assert log.count() == result.accepted
    assert len(_quarantined(result.quarantine_path) if result.quarantined else []) == (
        result.quarantined
    )


_cells = st.one_of(st.text(max_size=5), st.sampled_from(["view", "purchase", "1767571200", "-1"]))


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(st.lists(_cells, min_size=3, max_size=7), max_size=12),
    garbage=st.lists(st.binary(min_size=1, max_size=12), max_size=3),
)
def test_csv_read_equals_accepted_plus_quarantined(
    tmp_path_factory: pytest.TempPathFactory, rows: list[list[str]], garbage: list[bytes]
) -> None:
    base = tmp_path_factory.mktemp("csv")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["event_id", "ts", "user", "type", "node", "amount"])
    writer.writerows(rows)
    data = buffer.getvalue().encode() + b"".join(g.replace(b"\n", b"") + b"\n" for g in garbage)
    (base / "in.csv").write_bytes(data)
    log = EventLog(base / "log")

    result = ingest_file(base / "in.csv", log, KEY, base / "q")

    assert result.read == result.accepted + result.quarantined
    assert log.count() == result.accepted
    if result.quarantine_path is not None:
        assert len(_quarantined(result.quarantine_path)) == result.quarantined


def test_csv_invalid_utf8_row_is_quarantined_with_a_pseudonym(tmp_path: Path) -> None:
    src = tmp_path / "latin.csv"
    src.write_bytes(
        b"event_id,ts,user,type,node,item\n"
        b"e1,1767571200,cust-1,view,s1,caf\xe9\n"
        b"e2,1767571200,cust-2,view,s1,cafe\n"
    )
    log = EventLog(tmp_path / "log")

    result = ingest_file(src, log, KEY, tmp_path / "q")

    assert (result.read, result.accepted, result.quarantined) == (2, 1, 1)
    bad = _quarantined(result.quarantine_path)[0]
    assert bad["reason"] == "invalid UTF-8 in row" and bad["line"] == 2
    assert bad["row"]["user"] == KEY.pseudonym("cust-1") and bad["row"]["item"] == "caf\ufffd"
