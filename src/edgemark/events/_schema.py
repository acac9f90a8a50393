"""The event schema: one row of the event log, its columns, and validation of raw rows.

Owns ``Event``, ``EVENT_TYPES``, ``EVENT_COLUMNS`` and ``validate_event``, which turns a raw
mapping (from CSV, JSON or Parquet) into an ``Event`` or raises ``EventError`` with the reason.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from edgemark.errors import EventError

EVENT_TYPES: tuple[str, ...] = (
    "view",
    "add_to_cart",
    "purchase",
    "exposure",
    "click",
    "redeem",
    "consent",
)

EVENT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "ts",
    "user",
    "type",
    "node",
    "channel",
    "item",
    "category",
    "amount",
    "offer",
    "consent_personalization",
    "consent_measurement",
    "consent_training",
)

CONSENT_COLUMNS: tuple[str, ...] = EVENT_COLUMNS[-3:]
_REQUIRED_STR: tuple[str, ...] = ("event_id", "user", "type", "node")
_OPTIONAL_STR: tuple[str, ...] = ("item", "category", "offer")
_NEEDS_OFFER = frozenset({"exposure", "redeem"})
_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n"})


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the event log; ``user`` is a pseudonymous id once ingested.

    Construction does not validate (the simulator builds millions); use ``Event.from_dict``
    or ``validate_event`` for untrusted input.

    Examples
    --------
    >>> e = Event("e1", 1767571200.0, "u_1", "purchase", "store-1", amount=12.5)
    >>> Event.from_dict(e.to_dict()) == e
    True
    """

    event_id: str
    ts: float
    user: str
    type: str
    node: str
    channel: str = "store"
    item: str | None = None
    category: str | None = None
    amount: float | None = None
    offer: str | None = None
    consent_personalization: bool = False
    consent_measurement: bool = False
    consent_training: bool = False

    def to_dict(self) -> dict[str, Any]:
        """Return the event as a JSON-safe dict in ``EVENT_COLUMNS`` order (ts as float)."""
        return {name: getattr(self, name) for name in EVENT_COLUMNS}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> Event:
        """Validate ``d`` and build an ``Event``; raises ``EventError`` with the reason."""
        return validate_event(d)


def is_missing(value: object) -> bool:
    """Return True for None, blank strings and NaN (how files spell an empty value)."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    return isinstance(value, float) and math.isnan(value)


def _type_name(value: object) -> str:
    return type(value).__name__


def parse_ts(value: object) -> float:
    """Parse epoch seconds, an ISO-8601 string (naive = UTC) or a datetime into epoch float."""
    if isinstance(value, bool):
        raise EventError(f"ts must be epoch seconds or an ISO-8601 time, got bool {value!r}")
    if isinstance(value, datetime):
        ts = _datetime_ts(value)
    elif isinstance(value, numbers.Real):
        ts = float(value)
    elif isinstance(value, str):
        ts = _parse_ts_text(value.strip())
    else:
        raise EventError(
            f"ts must be epoch seconds or an ISO-8601 time, got {_type_name(value)} {value!r}"
        )
    if not math.isfinite(ts):
        raise EventError(f"ts is not finite ({value!r}); give a real epoch time")
    return ts


def _datetime_ts(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _parse_ts_text(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return _datetime_ts(datetime.fromisoformat(text))
    except ValueError:
        raise EventError(
            f"ts {text!r} is not parseable; use epoch seconds or ISO-8601 "
            "such as '2026-01-05T10:00:00Z'"
        ) from None


def parse_bool(name: str, value: object) -> bool:
    """Parse a consent flag: bool, 0/1, or the strings true/false/1/0 (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral) and int(value) in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise EventError(
        f"consent flag {name!r} is not boolean ({_type_name(value)} {value!r}); "
        "use true/false or 1/0"
    )


def _required_str(raw: Mapping[str, object], name: str) -> str:
    value = raw.get(name)
    if is_missing(value):
        raise EventError(f"missing required field {name!r}")
    if not isinstance(value, str):
        raise EventError(f"field {name!r} must be a string, got {_type_name(value)} {value!r}")
    return value.strip()


def _optional_str(raw: Mapping[str, object], name: str) -> str | None:
    value = raw.get(name)
    if is_missing(value):
        return None
    if not isinstance(value, str):
        raise EventError(f"field {name!r} must be a string, got {_type_name(value)} {value!r}")
    return value.strip()


def _amount(raw: Mapping[str, object], event_type: str) -> float | None:
    if event_type != "purchase":
        return None  # amounts on other event types carry no meaning and are ignored
    value = raw.get("amount")
    if is_missing(value):
        raise EventError("amount missing for purchase; a purchase needs an amount >= 0")
    if isinstance(value, bool) or not isinstance(value, numbers.Real | str):
        raise EventError(f"amount must be a number, got {_type_name(value)} {value!r}")
    try:
        amount = float(value)
    except ValueError:
        raise EventError(f"amount {value!r} is not a number") from None
    if not math.isfinite(amount):
        raise EventError(f"amount {value!r} is not finite")
    if amount < 0:
        raise EventError(f"amount negative ({amount}) for purchase; amounts must be >= 0")
    return amount


def validate_event(raw: Mapping[str, object]) -> Event:
    """Validate a raw row and return an ``Event``; raises ``EventError`` with the reason.

    Examples
    --------
    >>> validate_event({"event_id": "e1", "ts": "2026-01-05T00:00:00Z", "user": "u",
    ...                 "type": "view", "node": "store-1"}).ts
    1767571200.0
    """
    if not isinstance(raw, Mapping):
        raise EventError(f"an event must be a mapping of fields, got {_type_name(raw)}")
    event_id, user, event_type, node = (_required_str(raw, name) for name in _REQUIRED_STR)
    if event_type not in EVENT_TYPES:
        raise EventError(
            f"unknown event type {event_type!r}; known types: {', '.join(EVENT_TYPES)}"
        )
    if is_missing(raw.get("ts")):
        raise EventError("missing required field 'ts'")
    ts = parse_ts(raw["ts"])
    item, category, offer = (_optional_str(raw, name) for name in _OPTIONAL_STR)
    if event_type in _NEEDS_OFFER and offer is None:
        raise EventError(f"offer missing for {event_type} event; it must name the offer")
    channel = _optional_str(raw, "channel") or "store"
    consents = [
        False if is_missing(raw.get(name)) else parse_bool(name, raw[name])
        for name in CONSENT_COLUMNS
    ]
    return Event(
        event_id=event_id,
        ts=ts,
        user=user,
        type=event_type,
        node=node,
        channel=channel,
        item=item,
        category=category,
        amount=_amount(raw, event_type),
        offer=offer,
        consent_personalization=consents[0],
        consent_measurement=consents[1],
        consent_training=consents[2],
    )
