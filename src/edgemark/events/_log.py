"""The event log: a directory of immutable Parquet part files with one fixed Arrow schema.

Parts are written under a temporary name and renamed into place, so a reader never sees a
half-written part. pyarrow is imported inside the methods (extra ``train``).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from edgemark._extras import require
from edgemark.errors import EventError
from edgemark.events._schema import EVENT_COLUMNS, Event

_PART = re.compile(r"^part-(\d+)-[0-9a-f]{32}\.parquet$")
_STRINGS = ("event_id", "user", "type", "node", "channel", "item", "category", "offer")
_NULLABLE = frozenset({"item", "category", "amount", "offer"})


def arrow_schema() -> Any:
    """Return the log's Arrow schema (strings, float64 ts and amount, bool consents)."""
    pa = require("pyarrow", "train")
    types = {name: pa.string() for name in _STRINGS}
    types.update(ts=pa.float64(), amount=pa.float64())
    fields = [
        pa.field(name, types.get(name, pa.bool_()), nullable=name in _NULLABLE)
        for name in EVENT_COLUMNS
    ]
    return pa.schema(fields)


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

    def append(self, events: Iterable[Event]) -> int:
        """Write ``events`` as one new part file; return how many were written."""
        rows = list(events)
        if not rows:
            return 0
        if not all(isinstance(e, Event) for e in rows):
            raise EventError("EventLog.append takes Event objects; validate raw rows first")
        pa = require("pyarrow", "train")
        pq = require("pyarrow.parquet", "train")
        columns = {name: [getattr(e, name) for e in rows] for name in EVENT_COLUMNS}
        table = pa.table(columns, schema=arrow_schema())
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"part-{self._next_seq():06d}-{uuid.uuid4().hex}.parquet"
        tmp = self.root / f".{name}.tmp"
        try:
            pq.write_table(table, tmp)
            os.replace(tmp, self.root / name)  # atomic: readers see all of the part or none
        finally:
            tmp.unlink(missing_ok=True)
        return len(rows)

    def _next_seq(self) -> int:
        parts = self.parts()
        if not parts:
            return 0
        match = _PART.match(parts[-1].name)
        return int(match.group(1)) + 1 if match else 0

    def count(self) -> int:
        """Return the number of events in the log (from Parquet metadata, no data read)."""
        pq = require("pyarrow.parquet", "train")
        return sum(int(pq.read_metadata(p).num_rows) for p in self.parts())

    def to_arrow(self, columns: list[str] | None = None) -> Any:
        """Return the whole log as one ``pyarrow.Table`` (empty, with the schema, if no parts)."""
        pa = require("pyarrow", "train")
        pq = require("pyarrow.parquet", "train")
        schema = arrow_schema()
        if columns is not None:
            schema = pa.schema([schema.field(c) for c in columns])
        tables = [pq.read_table(p, columns=columns, schema=schema) for p in self.parts()]
        if not tables:
            return schema.empty_table()
        return pa.concat_tables(tables)

    def event_ids(self) -> set[str]:
        """Return the set of event ids already in the log."""
        return {str(v) for v in self.to_arrow(["event_id"]).column("event_id").to_pylist()}

    def events(self) -> Iterator[Event]:
        """Yield the log's events as ``Event`` objects, part by part."""
        for row in self.to_arrow().to_pylist():
            yield Event(**row)
