"""Ingestion of CSV, JSONL and Parquet files into the event log, with a quarantine.

Rows stream through in chunks (one new log part per input, written as row groups), so a
file of millions of rows needs memory for one chunk only. User ids are pseudonymised before
anything is written; every row read is either accepted or quarantined with its reason
(read == accepted + quarantined), and ids already in the log are duplicates, so ingesting
the same file twice adds nothing.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgemark.errors import EventError
from edgemark.events._log import EventLog
from edgemark.events._mapping import EventMapping
from edgemark.events._pseudonym import Pseudonymizer
from edgemark.events._quarantine import Quarantine, Redactor, reason_code
from edgemark.events._readers import ERROR_KEY, SUFFIXES, Bad, read_rows, repair
from edgemark.events._schema import Event, validate_event

__all__ = ["SUFFIXES", "IngestResult", "ingest_file"]

DEFAULT_FUTURE_SKEW_S = 300.0


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What ``ingest_file`` did: rows read, accepted and quarantined (with counts by reason
    code), the quarantine file, and how many accepted rows arrived out of time order."""

    read: int
    accepted: int
    quarantined: int
    quarantine_path: Path | None
    reasons: dict[str, int] = field(default_factory=dict)
    out_of_order: int = 0
    max_lag_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-safe dict."""
        path = None if self.quarantine_path is None else str(self.quarantine_path)
        return {
            "read": self.read,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "quarantine_path": path,
            "reasons": dict(sorted(self.reasons.items())),
            "out_of_order": self.out_of_order,
            "max_lag_s": self.max_lag_s,
        }


@dataclass(slots=True)
class _Checker:
    """Turns one raw row into an accepted ``Event`` or a quarantine record."""

    redactor: Redactor
    mapping: EventMapping | None
    seen: set[str]
    latest_allowed: float
    skew_s: float

    def check(self, item: dict[str, Any] | Bad) -> tuple[Event | None, str, str, object]:
        """Return (event, "", "", None) for a good row, else (None, code, reason, row)."""
        if isinstance(item, Bad):
            return None, item.code, item.reason, self.redactor.text(repair(item.text))
        row = dict(item)
        structural = row.pop(ERROR_KEY, None)
        if _has_bad_bytes(row):
            repaired = {k: repair(str(v)) for k, v in self._shown(row).items()}
            return None, "invalid_utf8", "invalid UTF-8 in row", repaired
        if structural is not None:
            return None, "field_count", str(structural), self._shown(row)
        try:
            event = self._event(row)
        except EventError as exc:
            return None, reason_code(str(exc)), str(exc), self._shown(row)
        if event.ts > self.latest_allowed:
            reason = (
                f"ts {event.ts:.0f} is in the future (more than {self.skew_s:g} s after the "
                "ingestion time); fix the clock or the time zone of the export"
            )
            return None, "future_timestamp", reason, self._shown(row)
        if event.event_id in self.seen:
            reason = f"duplicate event_id {event.event_id!r}"
            return None, "duplicate_id", reason, self._shown(row)
        return event, "", "", None

    def _shown(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row as the quarantine shows it: the raw id replaced by its pseudonym."""
        return self.redactor.row(row, self._normalised_user(row))

    def _normalised_user(self, row: dict[str, Any]) -> object:
        if self.mapping is None:
            return None
        try:
            return self.mapping.user_id(row)
        except EventError:
            return None

    def _event(self, row: dict[str, Any]) -> Event:
        fields = row if self.mapping is None else self.mapping.apply(row, self.redactor.pseudonym)
        raw = fields.get("user")
        pseudonym, problem = self.redactor.user_value(raw)
        if problem is not None:
            raise EventError(problem)
        if pseudonym is not None:
            fields = Redactor.embedded(fields, repair(str(raw)).strip(), pseudonym, skip="user")
            fields = {**fields, "user": pseudonym}
        return validate_event(fields)


def ingest_file(
    path: str | os.PathLike[str],
    log: EventLog,
    pseudonymizer: Pseudonymizer,
    quarantine_dir: str | os.PathLike[str],
    *,
    mapping: EventMapping | None = None,
    max_future_skew_s: float = DEFAULT_FUTURE_SKEW_S,
    now: float | None = None,
    chunk_rows: int = 50_000,
) -> IngestResult:
    """Validate, pseudonymise and append the events of a CSV, JSONL or Parquet file.

    Parameters
    ----------
    path, log, pseudonymizer
        The input, the event log to append to, and the keyed pseudonymiser.
    quarantine_dir
        Rejected rows go to ``quarantine_dir/<input-stem>-<timestamp>.jsonl`` as
        ``{"row", "reason", "code", "line"}`` (see ``REASON_CODES``).
    mapping
        How to read a foreign export (``EventMapping.from_file``); default: the columns
        already carry the event field names.
    max_future_skew_s
        Rows whose ts lies more than this after ``now`` (default: the wall clock) are
        quarantined as ``future_timestamp``.
    chunk_rows
        Accepted rows buffered before they are written as one row group.

    Raises ``EventError`` for an unknown suffix or a file that cannot be read at all; the
    new log part is then discarded (ingest the file again: ids make it idempotent).
    """
    if not (isinstance(max_future_skew_s, int | float) and max_future_skew_s >= 0):
        raise EventError(f"max_future_skew_s must be >= 0 seconds, got {max_future_skew_s!r}")
    if chunk_rows < 1:
        raise EventError(f"chunk_rows must be >= 1, got {chunk_rows!r}")
    source = Path(path)
    delimiter = "," if mapping is None else mapping.delimiter
    encoding = "utf-8" if mapping is None else mapping.encoding
    rows = read_rows(source, delimiter, encoding)
    redactor = Redactor(pseudonymizer, "user" if mapping is None else mapping.user_column)
    clock = time.time() if now is None else float(now)
    checker = _Checker(
        redactor, mapping, log.event_ids(), clock + max_future_skew_s, max_future_skew_s
    )
    quarantine = Quarantine(Path(quarantine_dir), source.stem)
    newest = log.watermarks()
    counts = _Counts()
    try:
        with log.writer() as writer:
            events: list[Event] = []
            lags: list[float] = []
            for line, item in rows:
                counts.read += 1
                event, code, reason, shown = checker.check(item)
                if event is None:
                    quarantine.write(shown, reason, code, line)
                    continue
                checker.seen.add(event.event_id)
                events.append(event)
                lags.append(counts.lag(newest, event))
                if len(events) >= chunk_rows:
                    writer.write(events, lags)
                    events, lags = [], []
            writer.write(events, lags)
    finally:
        quarantine.close()
    accepted = counts.read - quarantine.count
    return IngestResult(
        counts.read,
        accepted,
        quarantine.count,
        quarantine.path,
        dict(quarantine.by_code),
        counts.out_of_order,
        counts.max_lag,
    )


def _has_bad_bytes(row: dict[str, Any]) -> bool:
    """True when a value holds undecodable bytes (kept as surrogate escapes by the reader)."""
    return any(type(v) is str and not v.isascii() and repair(v) != v for v in row.values())


@dataclass(slots=True)
class _Counts:
    read: int = 0
    out_of_order: int = 0
    max_lag: float = 0.0

    def lag(self, newest: dict[str, float], event: Event) -> float:
        """Arrival lag of ``event`` against its user's newest earlier ts (and advance it)."""
        seen = newest.get(event.user)
        if seen is None or event.ts >= seen:
            newest[event.user] = event.ts
            return 0.0
        lag = seen - event.ts
        self.out_of_order += 1
        self.max_lag = max(self.max_lag, lag)
        return lag
