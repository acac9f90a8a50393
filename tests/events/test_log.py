from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from edgemark.errors import EventError
from edgemark.events import EVENT_COLUMNS, Event, EventLog


def _events(n: int, start: int = 0) -> list[Event]:
    return [
        Event(f"e{i}", float(i), f"u_{i % 3}", "purchase", "store-1", amount=1.5 * i)
        for i in range(start, start + n)
    ]


def test_empty_log_has_schema_and_no_rows(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log")

    table = log.to_arrow()

    assert log.count() == 0 and table.num_rows == 0
    assert table.column_names == list(EVENT_COLUMNS)
    assert log.append([]) == 0 and log.parts() == []


def test_append_writes_one_part_per_call_and_reads_back(tmp_path: Path) -> None:
    log = EventLog(tmp_path / "log")

    assert log.append(_events(3)) == 3
    assert log.append(_events(2, start=3)) == 2

    parts = log.parts()
    assert [p.name.split("-")[1] for p in parts] == ["000000", "000001"]
    assert log.count() == 5
    assert list(log.events()) == _events(5)
    assert log.event_ids() == {f"e{i}" for i in range(5)}


def test_schema_types_are_fixed(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    log.append(_events(1))

    schema = pq.read_schema(log.parts()[0])

    assert schema.field("ts").type == pa.float64()
    assert schema.field("amount").type == pa.float64()
    assert schema.field("user").type == pa.string()
    assert schema.field("consent_training").type == pa.bool_()
    assert not schema.field("ts").nullable and schema.field("item").nullable


def test_glob_is_readable_by_duckdb(tmp_path: Path) -> None:
    import duckdb

    log = EventLog(tmp_path)
    log.append(_events(4))
    log.append(_events(2, start=4))

    sql = f"SELECT sum(amount) FROM read_parquet('{log.parquet_glob()}')"
    total = duckdb.connect().execute(sql).fetchall()

    assert total == [(pytest.approx(1.5 * sum(range(6))),)]


def test_no_temp_files_are_left_and_stray_files_are_ignored(tmp_path: Path) -> None:
    log = EventLog(tmp_path)
    (tmp_path / ".part-000009-x.parquet.tmp").write_bytes(b"half")
    (tmp_path / "notes.txt").write_text("hi")

    log.append(_events(1))

    assert [p.name.startswith("part-000000-") for p in log.parts()] == [True]
    assert sorted(os.listdir(tmp_path))[-1] == "part-" + log.parts()[0].name[5:]


def test_root_that_is_a_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("x")

    with pytest.raises(EventError, match="not a directory"):
        EventLog(path)


def test_append_refuses_raw_dicts(tmp_path: Path) -> None:
    with pytest.raises(EventError, match="Event objects"):
        EventLog(tmp_path).append([{"event_id": "e"}])  # type: ignore[list-item]


def test_remove_rows_rewrites_parts_in_place(tmp_path: Path) -> None:
    import pyarrow.compute as pc

    log = EventLog(tmp_path)
    log.append(_events(4))  # users u_0, u_1, u_2, u_0
    log.append([Event("x", 9.0, "u_1", "view", "s")])
    names = [p.name for p in log.parts()]

    removed = log.remove_rows(lambda table: pc.equal(table.column("user"), "u_1"))

    assert removed == 2
    assert [p.name for p in log.parts()] == names[:1]  # the all-u_1 part is gone
    assert sorted(e.event_id for e in log.events()) == ["e0", "e2", "e3"]
    assert log.remove_rows(lambda table: pc.equal(table.column("user"), "nobody")) == 0


def test_parts_without_a_lag_column_read_as_on_time(tmp_path: Path) -> None:
    from edgemark.events._log import arrow_schema

    table = pa.Table.from_pylist([e.to_dict() for e in _events(2)], schema=arrow_schema())
    pq.write_table(table, tmp_path / f"part-000000-{'0' * 32}.parquet")
    log = EventLog(tmp_path)
    log.append([Event("late", 0.5, "u_1", "view", "s")])

    lags = log.to_arrow(["event_id", "arrival_lag_s"]).to_pydict()

    assert lags == {"event_id": ["e0", "e1", "late"], "arrival_lag_s": [0.0, 0.0, 0.5]}
    assert log.watermarks() == {"u_0": 0.0, "u_1": 1.0}
