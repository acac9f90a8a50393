"""Guardrails: PII with checksums, banned claims, grounding and length, on known cases."""

from __future__ import annotations

import numpy as np
import pytest

from edgemark.content import SURFACE_LIMITS, check
from edgemark.content._guardrails import (
    banned_hits,
    find_ibans,
    iban_ok,
    luhn_ok,
    numbers_in,
    pii_reasons,
    ungrounded,
)


def _luhn_complete(body: str) -> str:
    for d in "0123456789":
        if luhn_ok(body + d):
            return body + d
    raise AssertionError("no check digit")


def test_luhn_valid_card_numbers_are_caught_in_any_grouping() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        length = int(rng.integers(13, 20))
        number = _luhn_complete("".join(str(d) for d in rng.integers(0, 10, length - 1)))
        grouped = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
        assert "pii_card" in pii_reasons(f"card {grouped} ok"), grouped
        assert "pii_card" in pii_reasons(f"card {number.replace(' ', '')}")


def test_a_wrong_check_digit_is_not_a_card() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert "pii_card" not in pii_reasons("ref 4111 1111 1111 1112")


@pytest.mark.parametrize(
    "iban", ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "FR1420041010050500013M02606"]
)
def test_valid_ibans_are_caught_and_only_as_ibans(iban: str) -> None:
    assert iban_ok(iban)
    assert pii_reasons(f"pay to {iban} by Friday") == ["pii_iban"]
    assert find_ibans(f"x {iban}")


def test_an_iban_with_a_wrong_checksum_is_not_pii() -> None:
    assert not iban_ok("GB82 WEST 1234 5698 7654 33")
    assert "pii_iban" not in pii_reasons("GB82 WEST 1234 5698 7654 33")


@pytest.mark.parametrize(
    ("text", "reasons"),
    [
        ("write to jo.doe+shop@mail.example.co.uk", ["pii_email"]),
        ("call 020 7946 0958", ["pii_phone"]),
        ("call +44 20 7946 0958", ["pii_phone"]),
        ("text 07700900123", ["pii_phone"]),
        ("Hi Alice, your mug is here", ["pii_name"]),
        # Retail facts that look numeric must not read as PII.
        ("Trainers, sizes 36-46. 137.99 GBP", []),
        ("Power bank 20,000 mAh, 2-year warranty, 24.99 EUR", []),
        ("Open 08:00 to 21:00, Monday to Saturday", []),
        ("Valid for 24 months, from 10 to 200", []),
        ("Offer ends 2026-01-31", []),
        ("Alicent lamp", []),  # a name inside another word is not the name
    ],
)
def test_pii_cases(text: str, reasons: list[str]) -> None:
    assert pii_reasons(text, names=["Alice"]) == reasons


def test_banned_claims_match_whole_words_case_insensitively() -> None:
    banned = ["miracle", "clinically proven", "cures"]
    assert banned_hits("A MIRACLE cream, Clinically Proven!", banned) == [
        "miracle",
        "clinically proven",
    ]
    assert banned_hits("secures your cable", banned) == []


def test_grounding_checks_numbers_and_product_names() -> None:
    evidence = ["Golden Mill oat milk. size: 750 ml. Price: 2.99 GBP.", "10% off"]
    names = ["Golden Mill", "Nordbay"]
    assert ungrounded("Golden Mill oat milk, 750 ml, 2.99 GBP, 10% off", evidence, names) == []
    assert ungrounded("Golden Mill oat milk, now 1.99 GBP", evidence, names) == ["1.99"]
    assert ungrounded("Try Nordbay oat milk", evidence, names) == ["Nordbay"]
    assert numbers_in("20,000 mAh for 24.99.") == ["20,000", "24.99"]


def test_check_combines_every_reason_and_applies_surface_limits() -> None:
    ok = check("Oat milk 2.99 GBP", surface="email_subject", evidence=["Price: 2.99 GBP"])
    assert ok.ok and ok.reasons == ()
    long = "x" * (SURFACE_LIMITS["email_subject"] + 1)
    bad = check(
        f"Miracle for Anna at anna@example.com: 1.49 {long}",
        surface="email_subject",
        evidence=["Price: 2.99"],
        banned=["miracle"],
        names=["Anna"],
    )
    assert not bad.ok
    assert bad.reasons == ("pii_email", "pii_name", "banned", "ungrounded", "too_long")
    assert check("y" * 500, surface="unknown", evidence=[]).reasons == ("too_long",)
