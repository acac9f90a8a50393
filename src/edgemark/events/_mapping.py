"""Mapping of a foreign export (its column names and types) onto the event schema.

A mapping file (JSON or TOML) names, for each event field, where its value comes from: a
column (with a type, a strptime format, a time zone, a value map), a constant, the product
of columns, or a deterministic hash of columns (for event ids). ``Mapping.apply`` turns one
raw row into an event-shaped dict or raises ``EventError`` with the reason.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from edgemark.errors import ConfigError, EventError
from edgemark.events._schema import EVENT_COLUMNS, is_missing

_TYPES = ("string", "id", "int", "float", "bool", "datetime")
_SPEC_KEYS = frozenset(
    {"column", "type", "format", "timezone", "map", "default", "value", "multiply", "hash"}
)
_FLOAT_ID = re.compile(r"^(-?\d+)\.0+$")
_Getter = Callable[[Mapping[str, Any]], object]


def _number(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise EventError(f"field {name!r}: {value!r} is not a number")
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        raise EventError(f"field {name!r}: {value!r} is not a number") from None


def _zone(name: str | None, field_name: str) -> tzinfo:
    if name is None:
        return UTC
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception as exc:  # ZoneInfoNotFoundError, ValueError for malformed keys
        raise ConfigError(
            f"mapping for {field_name!r}: unknown time zone {name!r} ({exc}); use an IANA "
            "name such as 'Europe/London', or leave it out for UTC"
        ) from None


@dataclass(frozen=True)
class _Column:
    """One column, converted to the declared type."""

    field_name: str
    column: str
    kind: str = "string"
    fmt: str | None = None
    zone: tzinfo = UTC
    values: Mapping[str, Any] = field(default_factory=dict)
    default: object = None

    def __call__(self, row: Mapping[str, Any]) -> object:
        value = row.get(self.column)
        if is_missing(value):
            return self.default
        if self.values:
            key = str(value).strip()
            if key not in self.values:
                known = ", ".join(sorted(self.values))
                raise EventError(
                    f"field {self.field_name!r}: value {key!r} of column {self.column!r} is "
                    f"not in the mapping's value map ({known})"
                )
            return self.values[key]
        return self._convert(value)

    def _convert(self, value: object) -> object:
        name = self.field_name
        if self.kind == "string":
            return value if isinstance(value, str) else str(value)
        if self.kind == "id":
            text = str(value).strip()
            match = _FLOAT_ID.match(text)
            return match.group(1) if match else text  # "17850.0" from a float column
        if self.kind == "float":
            return _number(name, value)
        if self.kind == "int":
            number = _number(name, value)
            if not number.is_integer():
                raise EventError(f"field {name!r}: {value!r} is not a whole number")
            return int(number)
        if self.kind == "bool":
            return value
        return self._datetime(value)

    def _datetime(self, value: object) -> object:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=self.zone)
        if self.fmt is None:
            return value  # ISO-8601 text or epoch seconds: validate_event parses it
        try:
            parsed = datetime.strptime(str(value).strip(), self.fmt)
        except ValueError:
            raise EventError(
                f"ts {value!r} does not match the mapping's format {self.fmt!r}"
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=self.zone)


@dataclass(frozen=True)
class _Product:
    field_name: str
    columns: tuple[str, ...]

    def __call__(self, row: Mapping[str, Any]) -> object:
        result = 1.0
        for column in self.columns:
            value = row.get(column)
            if is_missing(value):
                raise EventError(f"field {self.field_name!r}: column {column!r} is empty")
            result *= _number(self.field_name, value)
        if not math.isfinite(result):
            raise EventError(f"field {self.field_name!r}: product is not finite")
        return round(result, 10)  # 6 * 0.1 is 0.6000000000000001 otherwise


@dataclass(frozen=True)
class _Hash:
    """A deterministic id from columns; the user column contributes its pseudonym."""

    columns: tuple[str, ...]

    def __call__(self, row: Mapping[str, Any]) -> object:
        text = "\x1f".join("" if is_missing(row.get(c)) else str(row.get(c)) for c in self.columns)
        return "h_" + hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _constant(value: object) -> _Getter:
    return lambda row: value


@dataclass(frozen=True)
class EventMapping:
    """How to read events from a foreign export: one getter per event field.

    Fields the mapping does not name are read from a column of the same name, if any.
    ``user_column`` is the source column that holds the raw user id (so quarantined rows
    can be pseudonymised); ``delimiter`` and ``encoding`` describe a CSV source.

    ``user_id(row)`` returns the normalised raw id the mapping reads from ``row``.

    Examples
    --------
    >>> m = EventMapping.from_dict({"fields": {
    ...     "event_id": {"hash": ["InvoiceNo", "StockCode"]},
    ...     "ts": {"column": "InvoiceDate", "format": "%m/%d/%Y %H:%M"},
    ...     "user": {"column": "CustomerID", "type": "id"},
    ...     "type": {"value": "purchase"}, "node": {"value": "web"},
    ...     "amount": {"multiply": ["Quantity", "UnitPrice"]}}})
    >>> row = m.apply({"InvoiceNo": "536365", "StockCode": "85123A", "CustomerID": "17850.0",
    ...                "InvoiceDate": "12/1/2010 8:26", "Quantity": "6", "UnitPrice": "2.55"})
    >>> row["user"], row["amount"], row["ts"].isoformat()
    ('17850', 15.3, '2010-12-01T08:26:00+00:00')
    """

    getters: Mapping[str, _Getter]
    user_column: str = "user"
    delimiter: str = ","
    encoding: str = "utf-8"

    def apply(
        self, row: Mapping[str, Any], pseudonym: Callable[[str], str] | None = None
    ) -> dict[str, Any]:
        """Return the event-shaped dict of ``row`` (raises ``EventError`` with the reason).

        A hashed event id that includes the user column hashes ``pseudonym(raw id)``, so
        the id carries nothing derived from the raw id alone.
        """
        out: dict[str, Any] = {}
        for name in EVENT_COLUMNS:
            getter = self.getters.get(name)
            if getter is None:
                if name in row:
                    out[name] = row[name]
                continue
            source = row
            if isinstance(getter, _Hash) and pseudonym and self.user_column in getter.columns:
                raw = row.get(self.user_column)
                if not is_missing(raw):
                    source = {**row, self.user_column: pseudonym(str(raw).strip())}
            out[name] = getter(source)
        return out

    def user_id(self, row: Mapping[str, Any]) -> object:
        """The raw user id of ``row`` as the mapping reads it (None when missing)."""
        getter = self.getters.get("user")
        return row.get(self.user_column) if getter is None else getter(row)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> EventMapping:
        """Load a mapping from a ``.json`` or ``.toml`` file (``ConfigError`` if invalid)."""
        source = Path(path)
        try:
            text = source.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read mapping file {source}: {exc.strerror or exc}") from exc
        try:
            if source.suffix.lower() == ".toml":
                data = tomllib.loads(text.decode("utf-8"))
            elif source.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                raise ConfigError(f"mapping file {source} must end in .json or .toml")
        except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"mapping file {source} is not valid: {exc}") from exc
        return cls.from_dict(data, where=str(source))

    @classmethod
    def from_dict(cls, data: Any, where: str = "mapping") -> EventMapping:
        """Build a mapping from ``{"source": {...}, "fields": {...}}``."""
        if not isinstance(data, dict) or not isinstance(data.get("fields"), dict):
            raise ConfigError(f"{where}: needs a 'fields' table mapping event fields to sources")
        unknown = set(data) - {"source", "fields"}
        if unknown:
            raise ConfigError(f"{where}: unknown top-level key(s) {', '.join(sorted(unknown))}")
        source = data.get("source", {})
        if not isinstance(source, dict) or set(source) - {"delimiter", "encoding"}:
            raise ConfigError(f"{where}: 'source' may only set 'delimiter' and 'encoding'")
        getters: dict[str, _Getter] = {}
        user_column = "user"
        for name, spec in data["fields"].items():
            if name not in EVENT_COLUMNS:
                raise ConfigError(
                    f"{where}: {name!r} is not an event field; fields: {', '.join(EVENT_COLUMNS)}"
                )
            getters[name] = _getter(name, spec, where)
            if name == "user":
                user_column = spec if isinstance(spec, str) else str(spec.get("column", "user"))
        return cls(
            getters,
            user_column=user_column,
            delimiter=_one_char(source.get("delimiter", ","), where),
            encoding=str(source.get("encoding", "utf-8")),
        )


def _one_char(value: object, where: str) -> str:
    if not isinstance(value, str) or len(value) != 1:
        raise ConfigError(f"{where}: source.delimiter must be one character, got {value!r}")
    return value


def _getter(name: str, spec: object, where: str) -> _Getter:
    if isinstance(spec, str):
        return _Column(name, spec, "datetime" if name == "ts" else "string")
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}: field {name!r} must map to a column name or a table")
    unknown = set(spec) - _SPEC_KEYS
    sources = [k for k in ("column", "value", "multiply", "hash") if k in spec]
    if unknown or len(sources) != 1:
        raise ConfigError(
            f"{where}: field {name!r} needs exactly one of column, value, multiply, hash"
            + (f" (unknown key(s) {', '.join(sorted(unknown))})" if unknown else "")
        )
    if "value" in spec:
        return _constant(spec["value"])
    if "multiply" in spec:
        return _Product(name, _column_list(name, spec["multiply"], where))
    if "hash" in spec:
        return _Hash(_column_list(name, spec["hash"], where))
    kind = str(spec.get("type", "datetime" if name == "ts" else "string"))
    if kind not in _TYPES:
        raise ConfigError(
            f"{where}: field {name!r}: unknown type {kind!r}; use {', '.join(_TYPES)}"
        )
    values = spec.get("map", {})
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: field {name!r}: 'map' must be a table of value -> value")
    return _Column(
        name,
        str(spec["column"]),
        kind,
        fmt=None if spec.get("format") is None else str(spec["format"]),
        zone=_zone(spec.get("timezone"), name),
        values={str(k): v for k, v in values.items()},
        default=spec.get("default"),
    )


def _column_list(name: str, value: object, where: str) -> tuple[str, ...]:
    if not (isinstance(value, list) and value and all(isinstance(v, str) for v in value)):
        raise ConfigError(f"{where}: field {name!r}: give a non-empty list of column names")
    return tuple(value)
