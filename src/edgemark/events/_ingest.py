"""Ingestion of CSV, JSONL and Parquet files into the event log, with a quarantine.

User ids are pseudonymised before anything is written; every row read is either accepted
into one new log part or written to the quarantine with its reason (read == accepted + quar.).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from edgemark._extras import require
from edgemark.errors import EventError
from edgemark.events._log import EventLog
from edgemark.events._pseudonym import Pseudonymizer
from edgemark.events._schema import Event, is_missing, validate_event

SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
REDACTED = "<redacted>"
# "user": "value" or "user": value, to redact the user id of a line that is not valid JSON.
_USER_IN_TEXT = re.compile(r'("user"\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,}\s]+)')


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What ``ingest_file`` did: rows read, accepted and quarantined, and the quarantine file."""

    read: int
    accepted: int
    quarantined: int
    quarantine_path: Path | None

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-safe dict."""
        path = None if self.quarantine_path is None else str(self.quarantine_path)
        return {
            "read": self.read,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "quarantine_path": path,
        }


@dataclass(slots=True)
class _Bad:
    """A line that could not be parsed into a row: its (redacted) text and the reason."""

    text: str
    reason: str


class _Quarantine:
    """Lazily created quarantine JSONL file for one ingested input."""

    def __init__(self, directory: Path, stem: str) -> None:
        self.directory = directory
        self.stem = stem
        self.path: Path | None = None
        self.count = 0
        self._handle: TextIO | None = None

    def write(self, row: object, reason: str, line: int) -> None:
        if self._handle is None:
            self._handle = self._open()
        record = {"row": row, "reason": reason, "line": line}
        self._handle.write(json.dumps(record, default=str) + "\n")
        self.count += 1

    def _open(self) -> TextIO:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        for attempt in range(1000):
            suffix = "" if attempt == 0 else f"-{attempt}"
            path = self.directory / f"{self.stem}-{stamp}{suffix}.jsonl"
            try:
                handle = path.open("x", encoding="utf-8")
            except FileExistsError:
                continue
            self.path = path
            return handle
        raise EventError(f"cannot create a quarantine file in {self.directory}")

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


class _Users:
    """Pseudonymise the user field of raw rows (cached: ids repeat a lot within a file)."""

    def __init__(self, pseudonymizer: Pseudonymizer) -> None:
        self._p = pseudonymizer
        self._cache: dict[str, str] = {}

    def pseudonym(self, raw: str) -> str:
        cached = self._cache.get(raw)
        if cached is None:
            cached = self._cache[raw] = self._p.pseudonym(raw)
        return cached

    def apply(self, row: dict[str, Any]) -> str | None:
        """Replace ``row['user']`` by its pseudonym in place; return a reason if impossible."""
        value = row.get("user")
        if is_missing(value):
            return None  # validation reports the missing field
        if isinstance(value, str | int) and not isinstance(value, bool):
            row["user"] = self.pseudonym(_repair(str(value)).strip())
            return None
        row["user"] = REDACTED
        return f"field 'user' must be a string, got {type(value).__name__}"

    def redact_text(self, text: str) -> str:
        def swap(match: re.Match[str]) -> str:
            raw = match.group(2)
            if raw.startswith('"'):
                raw = raw[1:-1] if raw.endswith('"') and len(raw) > 1 else raw[1:]
            return f'{match.group(1)}"{self.pseudonym(raw)}"'

        return _USER_IN_TEXT.sub(swap, text)


def _repair(text: str) -> str:
    """Turn surrogate-escaped (undecodable) bytes into U+FFFD so the text is writable."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _has_bad_bytes(row: dict[str, Any]) -> bool:
    return any(isinstance(v, str) and _repair(v) != v for v in row.values())


def _read_csv(path: Path) -> Iterator[tuple[int, dict[str, Any] | _Bad]]:
    text = _read_bytes(path).decode("utf-8", "surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [_repair(h).strip() for h in next(reader)]
    except StopIteration:
        return
    except csv.Error as exc:
        raise EventError(f"cannot read CSV file {path}: {exc}") from exc
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, _Bad("", f"not valid CSV: {exc}")
            continue
        if not fields:
            continue  # a blank line is not a row
        row = dict(zip(header, fields, strict=False))
        if len(fields) != len(header):
            yield reader.line_num, _row_error(row, len(fields), len(header))
            continue
        yield reader.line_num, row


def _row_error(row: dict[str, Any], n_fields: int, n_header: int) -> dict[str, Any]:
    row["__error__"] = f"row has {n_fields} fields, the header has {n_header}"
    return row


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any] | _Bad]]:
    for number, raw in enumerate(_read_bytes(path).split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = raw.decode("utf-8", "replace").strip()
            yield number, _Bad(text, f"invalid UTF-8 at byte {exc.start}")
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, _Bad(line.strip(), f"not valid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(value, dict):
            yield number, _Bad(line.strip(), "a JSONL line must be an object")
            continue
        yield number, value


def _read_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any] | _Bad]]:
    pq = require("pyarrow.parquet", "train")
    try:
        batches = pq.ParquetFile(path).iter_batches(batch_size=65536)
        number = 0
        for batch in batches:
            for row in batch.to_pylist():
                number += 1
                yield number, row
    except OSError as exc:
        raise EventError(f"cannot read Parquet file {path}: {exc}") from exc
    except Exception as exc:  # pyarrow raises ArrowInvalid etc. for files that are not Parquet
        if type(exc).__module__.startswith("pyarrow"):
            raise EventError(f"cannot read Parquet file {path}: {exc}") from exc
        raise


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise EventError(f"cannot read input file {path}: {exc.strerror or exc}") from exc


_READERS = {
    ".csv": _read_csv,
    ".jsonl": _read_jsonl,
    ".ndjson": _read_jsonl,
    ".parquet": _read_parquet,
}


def ingest_file(
    path: str | os.PathLike[str],
    log: EventLog,
    pseudonymizer: Pseudonymizer,
    quarantine_dir: str | os.PathLike[str],
) -> IngestResult:
    """Validate, pseudonymise and append the events of a CSV, JSONL or Parquet file.

    Invalid rows (and duplicate event ids, within the file or already in the log) go to
    ``quarantine_dir/<input-stem>-<timestamp>.jsonl`` as ``{"row", "reason", "line"}``.
    Raises ``EventError`` for an unknown suffix or a file that cannot be read at all.
    """
    source = Path(path)
    reader = _READERS.get(source.suffix.lower())
    if reader is None:
        raise EventError(
            f"cannot ingest {source}: unknown file type {source.suffix!r}; "
            f"use one of {', '.join(SUFFIXES)}"
        )
    if not source.is_file():
        raise EventError(f"cannot read input file {source}: no such file")
    users = _Users(pseudonymizer)
    quarantine = _Quarantine(Path(quarantine_dir), source.stem)
    seen = log.event_ids()
    accepted: list[Event] = []
    read = 0
    try:
        for line, item in reader(source):
            read += 1
            event, reason, row = _check(item, users, seen)
            if event is None:
                quarantine.write(row, reason, line)
            else:
                seen.add(event.event_id)
                accepted.append(event)
    finally:
        quarantine.close()
    log.append(accepted)
    return IngestResult(read, len(accepted), quarantine.count, quarantine.path)


def _check(
    item: dict[str, Any] | _Bad, users: _Users, seen: set[str]
) -> tuple[Event | None, str, object]:
    """Return (event, "", row) for a good row, else (None, reason, pseudonymised row)."""
    if isinstance(item, _Bad):
        return None, item.reason, users.redact_text(_repair(item.text))
    row = dict(item)
    structural = row.pop("__error__", None)
    user_problem = users.apply(row)  # first: the raw id must reach no output
    if _has_bad_bytes(row):
        return None, "invalid UTF-8 in row", {k: _repair(str(v)) for k, v in row.items()}
    if structural is not None or user_problem is not None:
        return None, str(structural or user_problem), row
    try:
        event = validate_event(row)
    except EventError as exc:
        return None, str(exc), row
    if event.event_id in seen:
        return None, f"duplicate event_id {event.event_id!r}", row
    return event, "", row
