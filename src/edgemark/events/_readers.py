"""Streaming readers of CSV, JSONL and Parquet inputs: one ``(line, row)`` at a time.

A row is a dict of raw values, or ``Bad`` (text and reason) when the line cannot be parsed
at all. Bytes that are not valid UTF-8 are kept as surrogate escapes, so ingestion can
quarantine exactly the rows that hold them. Nothing reads a whole file into memory.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgemark._extras import require
from edgemark.errors import EventError

SUFFIXES = (".csv", ".jsonl", ".ndjson", ".parquet")
ERROR_KEY = "__error__"
Item = tuple[int, "dict[str, Any] | Bad"]


@dataclass(slots=True)
class Bad:
    """A line that could not be parsed into a row: its text and the reason."""

    text: str
    reason: str
    code: str


def repair(text: str) -> str:
    """Turn surrogate-escaped (undecodable) bytes into U+FFFD so the text is writable."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def read_rows(path: Path, delimiter: str = ",", encoding: str = "utf-8") -> Iterator[Item]:
    """Yield ``(line number, row)`` for a CSV, JSONL or Parquet file (by its suffix)."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise EventError(
            f"cannot ingest {path}: unknown file type {path.suffix!r}; use one of "
            f"{', '.join(SUFFIXES)}"
        )
    if not path.is_file():
        raise EventError(f"cannot read input file {path}: no such file")
    if suffix == ".csv":
        return _read_csv(path, delimiter, encoding)
    if suffix == ".parquet":
        return _read_parquet(path)
    return _read_jsonl(path)


def _open_text(path: Path, encoding: str) -> Any:
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        return path.open("r", encoding=codec, errors="surrogateescape", newline="")
    except LookupError:
        raise EventError(f"unknown text encoding {encoding!r} for {path}") from None
    except OSError as exc:
        raise EventError(f"cannot read input file {path}: {exc.strerror or exc}") from exc


def _read_csv(path: Path, delimiter: str, encoding: str) -> Iterator[Item]:
    with _open_text(path, encoding) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = [repair(h).strip() for h in next(reader)]
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
                yield reader.line_num, Bad("", f"not valid CSV: {exc}", "not_parseable")
                continue
            if not fields:
                continue  # a blank line is not a row
            row: dict[str, Any] = dict(zip(header, fields, strict=False))
            if len(fields) != len(header):
                row[ERROR_KEY] = f"row has {len(fields)} fields, the header has {len(header)}"
            yield reader.line_num, row


def _read_jsonl(path: Path) -> Iterator[Item]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise EventError(f"cannot read input file {path}: {exc.strerror or exc}") from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            yield number, _parse_json_line(raw)


def _parse_json_line(raw: bytes) -> dict[str, Any] | Bad:
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = raw.decode("utf-8", "replace").strip()
        return Bad(text, f"invalid UTF-8 at byte {exc.start}", "invalid_utf8")
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        reason = f"not valid JSON: {exc.msg} at column {exc.colno}"
        return Bad(line.strip(), reason, "not_parseable")
    if not isinstance(value, dict):
        return Bad(line.strip(), "a JSONL line must be an object", "not_parseable")
    return value


def _read_parquet(path: Path) -> Iterator[Item]:
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
