"""Foreign exports through a mapping: an online-retail export becomes purchase events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from edgemark.errors import ConfigError, EventError
from edgemark.events import EventLog, EventMapping, Pseudonymizer, ingest_file

KEY = Pseudonymizer(b"m" * 32)
NOW = 1767571200.0  # 2026-01-05
RETAIL_TOML = """
[source]
delimiter = ","
encoding = "utf-8"

[fields]
event_id = { hash = ["InvoiceNo", "StockCode", "InvoiceDate", "Quantity", "UnitPrice",
                     "CustomerID"] }
ts = { column = "InvoiceDate", format = "%m/%d/%Y %H:%M", timezone = "Europe/London" }
user = { column = "CustomerID", type = "id" }
type = { value = "purchase" }
node = { value = "online-shop" }
channel = { value = "web" }
item = "StockCode"
amount = { multiply = ["Quantity", "UnitPrice"] }
consent_personalization = { value = true }
consent_training = { value = true }
"""
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
ROWS = [
    "536365,85123A,WHITE HANGING HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom",
    "536365,71053,WHITE METAL LANTERN,6,12/1/2010 8:26,3.39,17850.0,United Kingdom",
    "C536379,D,Discount,-1,12/1/2010 9:41,27.50,14527.0,United Kingdom",  # cancellation
    "536414,22139,RETROSPOT TEA SET,56,12/1/2010 11:52,0,,United Kingdom",  # no customer
    "536415,22952,CAKE CASES,10,7/1/2010 11:57,abc,12838.0,United Kingdom",  # bad price
    "536416,22953,CAKE CASES,10,31/1/2010 11:57,1.0,12838.0,United Kingdom",  # bad date
    "536365,85123A,WHITE HANGING HEART,6,12/1/2010 8:26,2.55,17850.0,United Kingdom",  # dup
    "581587,22138,BAKING SET,3,12/9/2030 12:50,4.95,12680.0,France",  # future
]


def _retail(tmp_path: Path) -> tuple[Path, EventMapping]:
    src = tmp_path / "online_retail.csv"
    src.write_text(HEADER + "\n".join(ROWS) + "\n")
    mapping_file = tmp_path / "retail.toml"
    mapping_file.write_text(RETAIL_TOML)
    return src, EventMapping.from_file(mapping_file)


def _quarantined(path: Path | None) -> list[dict[str, Any]]:
    assert path is not None
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_online_retail_export_becomes_purchase_events(tmp_path: Path) -> None:
    src, mapping = _retail(tmp_path)
    log = EventLog(tmp_path / "log")

    result = ingest_file(src, log, KEY, tmp_path / "q", mapping=mapping, now=NOW)

    assert (result.read, result.accepted, result.quarantined) == (8, 2, 6)
    events = list(log.events())
    assert [e.amount for e in events] == [15.3, 20.34]  # Quantity * UnitPrice
    assert {e.user for e in events} == {KEY.pseudonym("17850")}  # "17850.0" normalised
    assert all(e.type == "purchase" and e.channel == "web" for e in events)
    assert events[0].ts == 1291191960.0  # 2010-12-01 08:26 in London (GMT) = UTC
    assert events[0].event_id.startswith("h_") and events[0].event_id != events[1].event_id
    assert result.reasons == {
        "negative_amount": 1,
        "missing_field": 1,
        "wrong_type": 1,
        "bad_timestamp": 1,
        "duplicate_id": 1,
        "future_timestamp": 1,
    }


def test_quarantined_mapped_rows_carry_pseudonyms_only(tmp_path: Path) -> None:
    src, mapping = _retail(tmp_path)

    result = ingest_file(
        src, EventLog(tmp_path / "log"), KEY, tmp_path / "q", mapping=mapping, now=NOW
    )

    bad = _quarantined(result.quarantine_path)
    assert [b["line"] for b in bad] == [4, 5, 6, 7, 8, 9]
    assert bad[0]["row"]["CustomerID"] == KEY.pseudonym("14527")
    assert bad[1]["row"]["CustomerID"] == ""  # missing stays missing
    stored = result.quarantine_path.read_bytes() if result.quarantine_path else b""
    for raw in (b"14527", b"12838", b"12680", b"17850"):
        assert raw not in stored
    assert "does not match the mapping's format" in bad[3]["reason"]


def test_same_file_twice_adds_nothing_and_ids_are_deterministic(tmp_path: Path) -> None:
    src, mapping = _retail(tmp_path)
    log = EventLog(tmp_path / "log")
    other = EventLog(tmp_path / "other")

    first = ingest_file(src, log, KEY, tmp_path / "q", mapping=mapping, now=NOW)
    second = ingest_file(src, log, KEY, tmp_path / "q", mapping=mapping, now=NOW)
    ingest_file(src, other, KEY, tmp_path / "q2", mapping=mapping, now=NOW)

    assert first.accepted == 2 and second.accepted == 0
    assert second.reasons["duplicate_id"] == 3
    assert log.count() == 2
    assert log.event_ids() == other.event_ids()


def test_hashed_ids_use_the_pseudonym_not_the_raw_id(tmp_path: Path) -> None:
    src, mapping = _retail(tmp_path)
    log_a, log_b = EventLog(tmp_path / "a"), EventLog(tmp_path / "b")

    ingest_file(src, log_a, KEY, tmp_path / "q", mapping=mapping, now=NOW)
    ingest_file(src, log_b, Pseudonymizer(b"z" * 32), tmp_path / "q", mapping=mapping, now=NOW)

    assert log_a.event_ids().isdisjoint(log_b.event_ids())


def test_json_mapping_with_value_map_and_semicolons(tmp_path: Path) -> None:
    spec = {
        "source": {"delimiter": ";"},
        "fields": {
            "event_id": "id",
            "ts": {"column": "when", "type": "float"},
            "user": "who",
            "type": {"column": "what", "map": {"pv": "view", "atc": "add_to_cart"}},
            "node": {"value": "app"},
            "category": {"column": "cat", "default": "other"},
        },
    }
    (tmp_path / "m.json").write_text(json.dumps(spec))
    src = tmp_path / "clicks.csv"
    src.write_text(
        "id;when;who;what;cat\n1;1767571200;a;pv;shoes\n2;1767571201;a;atc;\n3;1767571202;b;buy;x\n"
    )
    log = EventLog(tmp_path / "log")

    result = ingest_file(
        src, log, KEY, tmp_path / "q", mapping=EventMapping.from_file(tmp_path / "m.json"), now=NOW
    )

    assert (result.accepted, result.reasons) == (2, {"unmapped_value": 1})
    assert [(e.type, e.category) for e in log.events()] == [
        ("view", "shoes"),
        ("add_to_cart", "other"),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "needs a 'fields' table"),
        ({"fields": {"price": "x"}}, "'price' is not an event field"),
        ({"fields": {"ts": {"column": "a", "value": 1}}}, "exactly one of"),
        ({"fields": {"ts": {"column": "a", "type": "date"}}}, "unknown type 'date'"),
        ({"fields": {"amount": {"multiply": []}}}, "non-empty list"),
        ({"fields": {"ts": {"column": "a", "timezone": "Mars/Base"}}}, "unknown time zone"),
        ({"fields": {}, "source": {"delimiter": ";;"}}, "one character"),
        ({"fields": {}, "extra": 1}, "unknown top-level key"),
    ],
)
def test_invalid_mappings_are_config_errors(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        EventMapping.from_dict(data)


def test_mapping_files_must_be_json_or_toml(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text("fields: {}")
    (tmp_path / "m.toml").write_text("fields = [")

    with pytest.raises(ConfigError, match=r"\.json or \.toml"):
        EventMapping.from_file(tmp_path / "m.yaml")
    with pytest.raises(ConfigError, match="not valid"):
        EventMapping.from_file(tmp_path / "m.toml")
    with pytest.raises(ConfigError, match="cannot read"):
        EventMapping.from_file(tmp_path / "none.toml")


def test_int_type_rejects_fractions() -> None:
    mapping = EventMapping.from_dict({"fields": {"amount": {"column": "q", "type": "int"}}})

    assert mapping.apply({"q": "3"})["amount"] == 3
    with pytest.raises(EventError, match="not a whole number"):
        mapping.apply({"q": "2.5"})


def test_docs_example_mapping_is_valid(tmp_path: Path) -> None:
    """The mapping shown in docs/features.md parses and ingests the sample rows."""
    doc = Path(__file__).resolve().parents[2] / "docs" / "features.md"
    text = doc.read_text()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "doc.toml").write_text(block)
    src = tmp_path / "retail.csv"
    src.write_text(HEADER + "\n".join(ROWS[:2]) + "\n")

    result = ingest_file(
        src,
        EventLog(tmp_path / "log"),
        KEY,
        tmp_path / "q",
        mapping=EventMapping.from_file(tmp_path / "doc.toml"),
        now=NOW,
    )

    assert result.accepted == 2
