from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgemark.errors import EventError
from edgemark.events import EVENT_COLUMNS, EVENT_TYPES, Event, validate_event

BASE = {"event_id": "e1", "ts": 1767571200.0, "user": "u_1", "type": "view", "node": "store-1"}


def _row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = dict(BASE)
    row.update(changes)
    return row


def test_columns_follow_the_contract_order() -> None:
    assert EVENT_COLUMNS == (
        "event_id", "ts", "user", "type", "node", "channel", "item", "category", "amount",
        "offer", "consent_personalization", "consent_measurement", "consent_training",
    )  # fmt: skip
    assert EVENT_TYPES == (
        "view", "add_to_cart", "purchase", "exposure", "click", "redeem", "consent",
    )  # fmt: skip


def test_defaults_match_the_contract_and_missing_consent_means_none() -> None:
    event = validate_event(BASE)

    assert event == Event("e1", 1767571200.0, "u_1", "view", "store-1")
    assert (event.channel, event.item, event.amount, event.offer) == ("store", None, None, None)
    assert not (
        event.consent_personalization or event.consent_measurement or event.consent_training
    )


def test_event_is_frozen_and_slotted() -> None:
    event = validate_event(BASE)

    with pytest.raises(AttributeError):
        event.ts = 0.0  # type: ignore[misc]
    assert not hasattr(event, "__dict__")


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (1767571200, 1767571200.0),
        ("1767571200.5", 1767571200.5),
        ("2026-01-05T00:00:00Z", 1767571200.0),
        ("2026-01-05T01:00:00+01:00", 1767571200.0),
        ("2026-01-05 00:00:00", 1767571200.0),
        (datetime(2026, 1, 5, tzinfo=UTC), 1767571200.0),
        (datetime(2026, 1, 5), 1767571200.0),
        (datetime(2026, 1, 4, 19, tzinfo=timezone(timedelta(hours=-5))), 1767571200.0),
    ],
)
def test_ts_forms(ts: object, expected: float) -> None:
    assert validate_event(_row(ts=ts)).ts == expected


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"user": None}, "missing required field 'user'"),
        ({"node": ""}, "missing required field 'node'"),
        ({"ts": None}, "missing required field 'ts'"),
        ({"type": "like"}, "unknown event type 'like'; known types: view, add_to_cart"),
        ({"ts": "yesterday"}, "ts 'yesterday' is not parseable"),
        ({"ts": math.inf}, "ts is not finite"),
        ({"ts": "nan"}, "ts is not finite"),
        ({"ts": True}, "ts must be epoch seconds"),
        ({"ts": [1]}, "ts must be epoch seconds"),
        ({"type": "purchase"}, "amount missing for purchase"),
        ({"type": "purchase", "amount": ""}, "amount missing for purchase"),
        ({"type": "purchase", "amount": -0.01}, "amount negative"),
        ({"type": "purchase", "amount": "ten"}, "amount 'ten' is not a number"),
        ({"type": "purchase", "amount": math.inf}, "amount inf is not finite"),
        ({"type": "exposure"}, "offer missing for exposure"),
        ({"type": "redeem", "offer": " "}, "offer missing for redeem"),
        ({"consent_training": "maybe"}, "consent flag 'consent_training' is not boolean"),
        ({"consent_measurement": 2}, "consent flag 'consent_measurement' is not boolean"),
        ({"event_id": 7}, "field 'event_id' must be a string, got int"),
        ({"item": 3.5}, "field 'item' must be a string, got float"),
    ],
)
def test_invalid_rows_name_the_reason(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(EventError) as info:
        validate_event(_row(**changes))

    assert reason in str(info.value)


def test_non_mapping_is_rejected() -> None:
    with pytest.raises(EventError, match="must be a mapping"):
        validate_event(["e1"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("False", False), ("1", True), ("0", False), (1, True), (0, False)],
)
def test_consent_flags_from_csv_strings(text: object, expected: bool) -> None:
    event = validate_event(_row(consent_personalization=text))

    assert event.consent_personalization is expected


def test_amount_is_ignored_on_non_purchases_and_parsed_on_purchases() -> None:
    assert validate_event(_row(amount=-5)).amount is None
    assert validate_event(_row(type="purchase", amount="12.50")).amount == 12.5


def test_empty_optional_strings_become_none() -> None:
    event = validate_event(_row(item="", category=float("nan"), channel=""))

    assert (event.item, event.category, event.channel) == (None, None, "store")


_text = st.text(min_size=1, max_size=12).filter(lambda s: s.strip() == s and s != "")
_events = st.builds(
    Event,
    event_id=_text,
    ts=st.floats(min_value=-1e10, max_value=1e10, allow_nan=False),
    user=_text,
    type=st.sampled_from([t for t in EVENT_TYPES if t not in ("purchase", "exposure", "redeem")]),
    node=_text,
    channel=_text,
    item=st.none() | _text,
    category=st.none() | _text,
    offer=st.none() | _text,
    consent_personalization=st.booleans(),
    consent_measurement=st.booleans(),
    consent_training=st.booleans(),
)


@given(_events)
def test_to_dict_round_trips_through_json(event: Event) -> None:
    data = json.loads(json.dumps(event.to_dict()))

    assert list(data) == list(EVENT_COLUMNS)
    assert Event.from_dict(data) == event


@given(st.floats(min_value=0, max_value=1e7, allow_nan=False), _text)
def test_purchase_round_trips(amount: float, offer: str) -> None:
    event = Event("e", 1.0, "u", "purchase", "n", amount=amount, offer=offer)

    assert Event.from_dict(event.to_dict()) == event
