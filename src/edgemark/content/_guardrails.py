"""Guardrails every composed text passes before it is shown: PII (e-mail, phone, card
numbers by Luhn, IBAN by mod 97, names from the customer record), banned claims, grounding
(every number and product name in the text appears in a retrieved fact), length per surface.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Characters a surface shows at most; unknown surfaces get the strictest limit.
SURFACE_LIMITS: dict[str, int] = {
    "email_subject": 60,
    "push": 90,
    "screen": 120,
    "sms": 140,
    "app": 160,
    "kiosk": 240,
}
REASONS = (
    "pii_email",
    "pii_phone",
    "pii_card",
    "pii_iban",
    "pii_name",
    "banned",
    "ungrounded",
    "too_long",
)

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_CARD = re.compile(r"(?<![\d.,])\d(?:[ -]?\d){12,18}(?![\d.,]\d)")
# Groups of digits joined by single spaces, dashes or brackets; no dots, so prices and
# sentences ("36-46. 137.99") do not read as phone numbers.
_PHONE = re.compile(
    r"(?<![\w.,])(?:(?:\+\d{1,3}[ -]?)?\(?\d{2,5}\)?(?:[ -]\d{2,8}){1,4}|[+0]\d{8,14})"
    r"(?![\w,]|\.\d)"
)
_IBAN_START = re.compile(r"\b[A-Z]{2}\d{2}")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


@dataclass(frozen=True)
class Verdict:
    """Whether a text may be shown, and every reason it may not (in ``REASONS`` order)."""

    ok: bool
    reasons: tuple[str, ...]


def luhn_ok(digits: str) -> bool:
    """The Luhn check of a card number's digits.

    >>> luhn_ok("4111111111111111"), luhn_ok("4111111111111112")
    (True, False)
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    """The ISO 13616 mod-97 check of an IBAN (spaces ignored).

    >>> iban_ok("GB82 WEST 1234 5698 7654 32"), iban_ok("GB82 WEST 1234 5698 7654 33")
    (True, False)
    """
    s = text.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", s):
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def find_ibans(text: str) -> list[tuple[int, int]]:
    """Spans of valid IBANs; every length 15-34 is tried, since words may follow one."""
    upper, spans = text.upper(), []
    for m in _IBAN_START.finditer(upper):
        ends, count = [], 0
        for pos in range(m.start(), len(upper)):
            ch = upper[pos]
            if ch.isalnum() and ch.isascii():
                count += 1
                ends.append(pos + 1)
            elif ch != " " or count > 33:
                break
        for end in reversed(ends[14:34]):
            if iban_ok(upper[m.start() : end]):
                spans.append((m.start(), end))
                break
    return spans


def pii_reasons(text: str, names: Iterable[str] = ()) -> list[str]:
    """PII found in ``text``: e-mail, card (Luhn-valid 13-19 digits), phone, IBAN, names."""
    found = []
    if _EMAIL.search(text):
        found.append("pii_email")
    ibans = find_ibans(text)
    if ibans:
        found.append("pii_iban")
        for start, end in ibans:  # an IBAN's digits are not also a phone number
            text = text[:start] + " " * (end - start) + text[end:]
    for match in _CARD.finditer(text):
        if luhn_ok(re.sub(r"\D", "", match.group())):
            found.append("pii_card")
            text = text[: match.start()] + " " * len(match.group()) + text[match.end() :]
    for match in _PHONE.finditer(text):
        if 9 <= sum(ch.isdigit() for ch in match.group()) <= 15:
            found.append("pii_phone")
    lowered = text.lower()
    for name in names:
        if len(name) >= 2 and re.search(rf"\b{re.escape(name.lower())}\b", lowered):
            found.append("pii_name")
            break
    return sorted(set(found), key=REASONS.index)


def banned_hits(text: str, banned: Iterable[str]) -> list[str]:
    """The banned claims or words that ``text`` contains (case-insensitive, whole words)."""
    lowered = text.lower()
    return [b for b in banned if re.search(rf"(?<!\w){re.escape(b.lower())}(?!\w)", lowered)]


def numbers_in(text: str) -> list[str]:
    """Numbers as written (``4.90``, ``30``), with thousands separators kept."""
    return [m.group().rstrip(".,") for m in _NUMBER.finditer(text)]


def ungrounded(text: str, evidence: Sequence[str], known_names: Iterable[str] = ()) -> list[str]:
    """Numbers and product names in ``text`` that no evidence string contains.

    ``known_names`` are every brand and product name of the pack: naming one that was not
    retrieved is an ungrounded product fact even when no number is involved.
    """
    joined = " ".join(evidence).lower()
    evidence_numbers = set(numbers_in(joined))
    missing = [n for n in numbers_in(text) if n not in evidence_numbers]
    lowered = text.lower()
    for name in known_names:
        if name and name.lower() in lowered and name.lower() not in joined:
            missing.append(name)
    return missing


def check(
    text: str,
    *,
    surface: str,
    evidence: Sequence[str],
    banned: Iterable[str] = (),
    names: Iterable[str] = (),
    known_names: Iterable[str] = (),
) -> Verdict:
    """Every guardrail on one text; ``ok`` only when no reason fired."""
    reasons = pii_reasons(text, names)
    if banned_hits(text, banned):
        reasons.append("banned")
    if ungrounded(text, evidence, known_names):
        reasons.append("ungrounded")
    if len(text) > SURFACE_LIMITS.get(surface, min(SURFACE_LIMITS.values())):
        reasons.append("too_long")
    return Verdict(not reasons, tuple(reasons))
