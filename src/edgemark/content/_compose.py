"""The built-in grounded composer: templates per copy type, several phrasings each, filled
only with facts from retrieved passages (and the offer the decision chose).

Deterministic: the same brief and seed give the same variants in the same order.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from edgemark.errors import ConfigError

COPY_TYPES = ("headline", "offer_blurb", "product_answer", "subject_line")

# Slots: {name} {brand} {kind} {price} {currency} {fact1} {fact2} {offer} {answer}.
TEMPLATES: dict[str, tuple[str, ...]] = {
    "headline": (
        "{name}, {fact1}: {price} {currency}",
        "Now {price} {currency}: {name}",
        "{name} - {fact1}, {fact2}. {price} {currency}",
        "Meet {name}: {fact1}, just {price} {currency}",
    ),
    "offer_blurb": (
        "{offer} on {name}: {fact1}, {price} {currency} before the offer.",
        "{name} ({fact1}) with {offer} today. Shelf price {price} {currency}.",
        "Treat yourself: {offer} on {name}, {fact2}.",
        "{offer}: {name} by {brand}, {fact1}.",
    ),
    "product_answer": (
        "{answer}",
        "Good question. {answer}",
        "Here is what we can tell you: {answer}",
    ),
    "subject_line": (
        "{offer} on {name}",
        "{name}: {offer}",
        "Just for you: {offer} on {kind}",
        "{name}, {price} {currency}",
    ),
}


@dataclass(frozen=True)
class CopyBrief:
    """What a backend writes about: the copy type, the facts of the passages retrieved for
    it (``facts`` of the top product passage, ``answers`` of the top FAQ passages), the
    offer, the tone guide, and the surface's length limit."""

    copy_type: str
    facts: dict[str, Any] = field(default_factory=dict)
    answers: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    offer: str = ""
    tone: str = ""
    max_chars: int = 120
    n: int = 3
    seed: int = 0


@dataclass(frozen=True)
class Draft:
    """One candidate text and the template (or backend) it came from."""

    text: str
    template: str


def slots(brief: CopyBrief) -> dict[str, str]:
    """Template slots from the brief's facts; a missing fact is an empty slot."""
    f = brief.facts
    name = str(f.get("name", "")).lower()
    # Facts the name already states ("sand ceramic mug" is sand) would only repeat it.
    attrs = [
        str(v)
        for _, v in sorted(dict(f.get("attributes") or {}).items())
        if str(v).lower() not in name
    ]
    answer = brief.answers[0] if brief.answers else ""
    answer = re.sub(r"^[^:]{1,40}:\s*", "", answer)  # drop the FAQ page title prefix
    return {
        "name": str(f.get("name", "")),
        "brand": str(f.get("brand", "")),
        "kind": str(f.get("product_type", "")),
        "price": str(f.get("price", "")),
        "currency": str(f.get("currency", "")),
        "fact1": attrs[0] if attrs else "",
        "fact2": attrs[1] if len(attrs) > 1 else "",
        "offer": brief.offer,
        "answer": answer,
    }


def _usable(template: str, values: dict[str, str]) -> bool:
    needed = re.findall(r"{(\w+)}", template)
    return all(values.get(name) for name in needed)


class TemplateComposer:
    """The built-in backend: offline, deterministic given ``brief.seed``, always available."""

    name = "builtin"

    def write(self, brief: CopyBrief) -> list[Draft]:
        """Up to ``brief.n`` variants, each from a different phrasing whose slots are filled."""
        if brief.copy_type not in TEMPLATES:
            raise ConfigError(
                f"Copy type {brief.copy_type!r} is unknown; use one of {', '.join(COPY_TYPES)}."
            )
        values = slots(brief)
        options = [(i, t) for i, t in enumerate(TEMPLATES[brief.copy_type]) if _usable(t, values)]
        random.Random(brief.seed).shuffle(options)
        # Length is left to the guardrails, so a too-long phrasing is counted, not hidden.
        return [Draft(t.format(**values), f"{brief.copy_type}-{i}") for i, t in options[: brief.n]]
