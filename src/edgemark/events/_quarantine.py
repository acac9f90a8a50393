"""The quarantine of rejected rows, their reason codes, and redaction of raw user ids.

Every rejected row is written as one ASCII JSON line ``{"row", "reason", "code", "line"}``
with its user id already pseudonymised; ``reason_code`` turns a validation message into a
short code so results can be counted by reason.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from edgemark.errors import EventError
from edgemark.events._pseudonym import Pseudonymizer
from edgemark.events._readers import repair
from edgemark.events._schema import is_missing

REDACTED = "<redacted>"
MIN_EMBEDDED_ID = 4  # shorter raw ids are not searched for inside other values

REASON_CODES: tuple[str, ...] = (
    "bad_timestamp",
    "duplicate_id",
    "field_count",
    "future_timestamp",
    "invalid",
    "invalid_utf8",
    "missing_field",
    "negative_amount",
    "not_parseable",
    "unknown_type",
    "unmapped_value",
    "wrong_type",
)
_RULES: tuple[tuple[str, str], ...] = (
    (r"^missing required field|^amount missing|^offer missing", "missing_field"),
    (r"^unknown event type", "unknown_type"),
    (r"^amount negative", "negative_amount"),
    (r"^ts\b", "bad_timestamp"),
    (r"not in the mapping's value map", "unmapped_value"),
    (r"must be a string|not a number|not boolean|not a whole number|is not finite", "wrong_type"),
    (r"must be a mapping|is empty", "wrong_type"),
)


def reason_code(reason: str) -> str:
    """Return the short code of a validation message (``invalid`` when none fits).

    Examples
    --------
    >>> reason_code("amount negative (-3.0) for purchase; amounts must be >= 0")
    'negative_amount'
    """
    for pattern, code in _RULES:
        if re.search(pattern, reason):
            return code
    return "invalid"


class Quarantine:
    """Lazily created quarantine JSONL file for one ingested input."""

    def __init__(self, directory: Path, stem: str) -> None:
        self.directory = directory
        self.stem = stem
        self.path: Path | None = None
        self.count = 0
        self.by_code: dict[str, int] = {}
        self._handle: TextIO | None = None

    def write(self, row: object, reason: str, code: str, line: int) -> None:
        """Append one rejected row (already pseudonymised) with its reason."""
        if self._handle is None:
            self._handle = self._open()
        record = {"row": row, "reason": reason, "code": code, "line": line}
        self._handle.write(json.dumps(record, default=str) + "\n")
        self.count += 1
        self.by_code[code] = self.by_code.get(code, 0) + 1

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
        """Close the file (if one was opened)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class Redactor:
    """Pseudonymise user ids (cached: ids repeat a lot within a file) wherever they appear."""

    def __init__(self, pseudonymizer: Pseudonymizer, user_column: str = "user") -> None:
        self._p = pseudonymizer
        self._cache: dict[str, str] = {}
        self.user_column = user_column
        key = re.escape(json.dumps(user_column))
        # "user": "value" or "user": value, to redact the id of a line that is not valid JSON.
        self._in_text = re.compile(rf'({key}\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,}}\s]+)')

    def pseudonym(self, raw: str) -> str:
        """The pseudonym of a raw id."""
        cached = self._cache.get(raw)
        if cached is None:
            cached = self._cache[raw] = self._p.pseudonym(raw)
        return cached

    def user_value(self, value: object) -> tuple[str | None, str | None]:
        """(pseudonym, problem) for a raw user value; (None, None) when it is missing."""
        if is_missing(value):
            return None, None
        if isinstance(value, str | int) and not isinstance(value, bool):
            return self.pseudonym(repair(str(value)).strip()), None
        return None, f"field 'user' must be a string, got {type(value).__name__}"

    def row(self, row: dict[str, Any], normalised: object = None) -> dict[str, Any]:
        """A copy of ``row`` whose user column holds the pseudonym (or ``<redacted>``), and
        whose other values have the raw id replaced wherever it is embedded."""
        shown = dict(row)
        if self.user_column in shown:
            value = shown[self.user_column] if normalised is None else normalised
            pseudonym, _ = self.user_value(value)
            if pseudonym is not None or not is_missing(value):
                shown[self.user_column] = pseudonym or REDACTED
            if pseudonym is not None:
                for raw in {
                    repair(str(shown_raw)).strip() for shown_raw in (row[self.user_column], value)
                }:
                    shown = self.embedded(shown, raw, pseudonym, skip=self.user_column)
        return shown

    @staticmethod
    def embedded(fields: dict[str, Any], raw: str, pseudonym: str, skip: str) -> dict[str, Any]:
        """``fields`` with the raw id replaced by its pseudonym inside every other text value
        (an export's event id like ``17850-536365`` must not carry the id into the log)."""
        if len(raw) < MIN_EMBEDDED_ID:
            return fields
        hits = [k for k, v in fields.items() if k != skip and isinstance(v, str) and raw in v]
        if not hits:
            return fields
        return {**fields, **{k: fields[k].replace(raw, pseudonym) for k in hits}}

    def text(self, text: str) -> str:
        """Replace the user id inside an unparseable JSON line by its pseudonym."""

        def swap(match: re.Match[str]) -> str:
            raw = match.group(2)
            if raw.startswith('"'):
                raw = raw[1:-1] if raw.endswith('"') and len(raw) > 1 else raw[1:]
            return f'{match.group(1)}"{self.pseudonym(raw)}"'

        return self._in_text.sub(swap, text)
