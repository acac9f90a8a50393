"""The event log: a directory of immutable Parquet part files with one fixed Arrow schema.

Parts are written under a temporary name and renamed into place, so a reader never sees a
half-written part. Each row also records ``arrival_lag_s``: how far behind its user's newest
event time it arrived (the late-event policy of the feature engines reads it). Erasure and
retention rewrite a part in place (same name, atomic replace). pyarrow is imported inside the
methods (extra ``train``).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from edgemark._extras import require
from edgemark.errors import EventError
from edgemark.events._schema import EVENT_COLUMNS, Event

_PART = re.compile(r"^part-(\d+)-[0-9a-f]{32}\.parquet$")
_STRINGS = ("event_id", "user", "type", "node", "channel", "item", "category", "offer")
_NULLABLE = frozenset({"item", "category", "amount", "offer"})
LAG_COLUMN = "arrival_lag_s"
LOG_COLUMNS: tuple[str, ...] = (*EVENT_COLUMNS, LAG_COLUMN)


def arrow_schema(with_lag: bool = False) -> Any:
    """Return the Arrow schema of events (plus ``arrival_lag_s`` when ``with_lag``)."""
    pa = require("pyarrow", "train")
    types = {name: pa.string() for name in _STRINGS}
    types.update(ts=pa.float64(), amount=pa.float64(), arrival_lag_s=pa.float64())
    names = LOG_COLUMNS if with_lag else EVENT_COLUMNS
    fields = [
        pa.field(name, types.get(name, pa.bool_()), nullable=name in _NULLABLE) for name in names
    ]
    return pa.schema(fields)


def events_table(events: list[Event], lags: list[float]) -> Any:
    """Return ``events`` with their arrival lags as one Arrow table in the log's schema."""
    pa = require("pyarrow", "train")
    columns: dict[str, list[Any]] = {
        name: [getattr(e, name) for e in events] for name in EVENT_COLUMNS
    }
    columns[LAG_COLUMN] = lags
    return pa.table(columns, schema=arrow_schema(with_lag=True))


class PartWriter:
    """Streams row groups into one new part; the part appears (atomically) on ``close``.

    Use as a context manager: an exception discards the half-written part.
    """

    def __init__(self, log: EventLog) -> None:
        self._log = log
        self._writer: Any = None
        self._tmp: Path | None = None
        self._name = ""
        self.rows = 0

    def write(self, events: list[Event], lags: list[float]) -> None:
        """Append a row group of ``events`` (with their arrival lags)."""
        if not events:
            return
        pq = require("pyarrow.parquet", "train")
        if self._writer is None:
            self._log.root.mkdir(parents=True, exist_ok=True)
            self._name = f"part-{self._log.next_seq():06d}-{uuid.uuid4().hex}.parquet"
            self._tmp = self._log.root / f".{self._name}.tmp"
            self._writer = pq.ParquetWriter(self._tmp, arrow_schema(with_lag=True))
        self._writer.write_table(events_table(events, lags))
        self.rows += len(events)

    def close(self) -> Path | None:
        """Finish the part and rename it into the log; return its path (None if empty)."""
        if self._writer is None or self._tmp is None:
            return None
        self._writer.close()
        self._writer = None
        final = self._log.root / self._name
        os.replace(self._tmp, final)  # atomic: readers see all of the part or none
        return final

    def discard(self) -> None:
        """Drop the half-written part."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> PartWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.discard()


class EventLog:
    """A directory of Parquet part files ``part-<seq>-<uuid>.parquet`` holding events.

    Examples
    --------
    >>> import tempfile
    >>> log = EventLog(Path(tempfile.mkdtemp()) / "log")
    >>> log.append([Event("e1", 0.0, "u_1", "view", "store-1")])
    1
    >>> log.count()
    1
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise EventError(f"event log path {self.root} exists and is not a directory")

    def __repr__(self) -> str:
        return f"EventLog({str(self.root)!r})"

    def parts(self) -> list[Path]:
        """Return the part files in write order."""
        if not self.root.is_dir():
            return []
        found = [(m, p) for p in self.root.iterdir() if (m := _PART.match(p.name))]
        return [p for m, p in sorted(found, key=lambda mp: (int(mp[0].group(1)), mp[1].name))]

    def parquet_glob(self) -> str:
        """Return a glob over the part files, for DuckDB ``read_parquet``."""
        return str(self.root / "part-*.parquet")

    def writer(self) -> PartWriter:
        """Return a ``PartWriter`` that streams one new part into the log."""
        return PartWriter(self)

    def append(self, events: Iterable[Event], lags: Iterable[float] | None = None) -> int:
        """Write ``events`` as one new part file; return how many were written.

        ``lags`` are the arrival lags; by default they are computed against the log's
        newest event time per user, in the order given (as ingestion does).
        """
        rows = list(events)
        if not rows:
            return 0
        if not all(isinstance(e, Event) for e in rows):
            raise EventError("EventLog.append takes Event objects; validate raw rows first")
        lag_list = arrival_lags(rows, self.watermarks()) if lags is None else list(lags)
        if len(lag_list) != len(rows):
            raise EventError(f"{len(rows)} events but {len(lag_list)} arrival lags")
        with self.writer() as writer:
            writer.write(rows, lag_list)
        return len(rows)

    def next_seq(self) -> int:
        """Return the sequence number the next part gets."""
        parts = self.parts()
        if not parts:
            return 0
        match = _PART.match(parts[-1].name)
        return int(match.group(1)) + 1 if match else 0

    def count(self) -> int:
        """Return the number of events in the log (from Parquet metadata, no data read)."""
        pq = require("pyarrow.parquet", "train")
        return sum(int(pq.read_metadata(p).num_rows) for p in self.parts())

    def read_part(self, part: Path, columns: list[str] | None = None) -> Any:
        """Return one part as an Arrow table in the log schema (old parts get lag 0)."""
        pa = require("pyarrow", "train")
        pq = require("pyarrow.parquet", "train")
        schema = arrow_schema(with_lag=True)
        wanted = list(LOG_COLUMNS) if columns is None else columns
        present = set(pq.read_schema(part).names)
        table = pq.read_table(part, columns=[c for c in wanted if c in present])
        arrays = []
        for name in wanted:
            if name in present:
                arrays.append(table.column(name).cast(schema.field(name).type))
            elif name == LAG_COLUMN:  # parts written before the lag column existed
                arrays.append(pa.array([0.0] * table.num_rows, pa.float64()))
            else:
                raise EventError(f"event log part {part} lacks the column {name!r}")
        return pa.table(arrays, schema=pa.schema([schema.field(n) for n in wanted]))

    def to_arrow(self, columns: list[str] | None = None) -> Any:
        """Return the whole log as one ``pyarrow.Table`` (empty, with the schema, if no parts).

        Default columns: ``EVENT_COLUMNS``; ask for ``arrival_lag_s`` explicitly.
        """
        pa = require("pyarrow", "train")
        wanted = list(EVENT_COLUMNS) if columns is None else columns
        tables = [self.read_part(p, wanted) for p in self.parts()]
        if not tables:
            full = arrow_schema(with_lag=True)
            return pa.schema([full.field(c) for c in wanted]).empty_table()
        return pa.concat_tables(tables)

    def event_ids(self) -> set[str]:
        """Return the set of event ids already in the log."""
        return {str(v) for v in self.to_arrow(["event_id"]).column("event_id").to_pylist()}

    def watermarks(self) -> dict[str, float]:
        """Return the newest event time per user (the reference for arrival lags)."""
        table = self.to_arrow(["user", "ts"])
        if table.num_rows == 0:
            return {}
        grouped = table.group_by("user").aggregate([("ts", "max")])
        return dict(
            zip(
                grouped.column("user").to_pylist(),
                grouped.column("ts_max").to_pylist(),
                strict=True,
            )
        )

    def events(self) -> Iterator[Event]:
        """Yield the log's events as ``Event`` objects, part by part."""
        for part in self.parts():
            for row in self.read_part(part, list(EVENT_COLUMNS)).to_pylist():
                yield Event(**row)

    def remove_rows(self, mask_of: Callable[[Any], Any]) -> int:
        """Rewrite every part without the rows where ``mask_of(table)`` is true; return count.

        A part is replaced atomically under its own name (or deleted when nothing is left),
        so readers see the part before or after, never half of it.
        """
        pc = require("pyarrow.compute", "train")
        pq = require("pyarrow.parquet", "train")
        removed = 0
        for part in self.parts():
            table = self.read_part(part)
            mask = pc.fill_null(mask_of(table), False)
            hits = int(pc.sum(mask).as_py() or 0)
            if hits == 0:
                continue
            kept = table.filter(pc.invert(mask))
            if kept.num_rows == 0:
                part.unlink()
            else:
                tmp = part.with_name(f".{part.name}.tmp")
                try:
                    pq.write_table(kept, tmp)
                    os.replace(tmp, part)
                finally:
                    tmp.unlink(missing_ok=True)
            removed += hits
        return removed


def arrival_lags(events: Iterable[Event], watermarks: Mapping[str, float]) -> list[float]:
    """Arrival lag of each event, ``max(0, newest earlier ts of its user - ts)``, in order.

    ``watermarks`` holds the newest event time per user before the first event; it is not
    changed (a copy is advanced).
    """
    newest = dict(watermarks)
    lags: list[float] = []
    for event in events:
        seen = newest.get(event.user)
        if seen is None or event.ts >= seen:
            newest[event.user] = event.ts
            lags.append(0.0)
        else:
            lags.append(seen - event.ts)
    return lags
