"""Simulated store knowledge for content packs: FAQ and policy pages, tone-of-voice
guidelines, banned claims, and labelled retrieval queries with their true answers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgemark.sim._catalog import CatalogItem, _rng

# (page id, title, paragraphs): the policies a shopper asks about, stated with figures.
FAQ_PAGES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("returns", "Returns and refunds", (
        "You can return any unused item within 30 days of purchase with the receipt for a "
        "full refund.",
        "Electronics can be returned within 14 days if the seal is unbroken; opened "
        "electronics are repaired or exchanged under warranty.",
        "Refunds go back to the original payment method within 5 working days.",
    )),
    ("delivery", "Delivery", (
        "Standard home delivery costs 4.90 and takes 2 to 4 working days.",
        "Delivery is free on orders over 50.",
        "Click and collect orders are ready in store within 2 hours during opening hours.",
    )),
    ("hours", "Opening hours", (
        "Our stores are open from 08:00 to 21:00, Monday to Saturday.",
        "On Sundays stores open from 10:00 to 18:00.",
    )),
    ("loyalty", "Loyalty club", (
        "Loyalty club members collect 1 point for every 1 spent and get a 5 voucher for "
        "every 500 points.",
        "Joining the loyalty club is free and members get early access to seasonal sales.",
    )),
    ("price-match", "Price promise", (
        "If you find the same product cheaper at another local store within 7 days, we "
        "refund the difference.",
    )),
    ("gift-cards", "Gift cards", (
        "Gift cards are available from 10 to 200 and are valid for 24 months from purchase.",
    )),
    ("care-fashion", "Caring for clothes", (
        "Wash merino wool by hand in cold water and dry it flat to keep its shape.",
        "Wash denim inside out at 30 degrees to keep the colour.",
    )),
    ("care-electronics", "Charging and batteries", (
        "Charge wireless earbuds and speakers with the supplied USB-C cable; a full charge "
        "takes about 2 hours.",
        "Every electronics product comes with the warranty stated on its label; keep the "
        "receipt as proof of purchase.",
    )),
    ("sustainability", "Sustainability", (
        "Organic and fair trade products are certified by independent bodies; the label "
        "shows the certificate.",
        "Bring back used batteries and small electronics to any store for free recycling.",
    )),
)  # fmt: skip

TONE_GUIDE = """# Tone of voice

- Warm, clear and short: one idea per sentence, everyday words.
- Name the product and its price exactly as the catalog states them.
- Never invent facts: no figures, awards or health effects that the catalog does not state.
- No pressure tactics and no superlatives we cannot prove.
"""

BANNED_CLAIMS = (
    "guaranteed results", "cures", "miracle", "clinically proven", "best in the world",
    "risk-free", "100% safe", "lose weight", "act now", "lowest price ever",
)  # fmt: skip


def write_docs(directory: str | os.PathLike[str]) -> Path:
    """Write the FAQ pages (``faq-<id>.md``), ``tone.md`` and ``banned.txt`` into ``directory``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for page, title, paragraphs in FAQ_PAGES:
        body = "\n\n".join(paragraphs)
        (out / f"faq-{page}.md").write_text(f"# {title}\n\n{body}\n", encoding="utf-8")
    (out / "tone.md").write_text(TONE_GUIDE, encoding="utf-8")
    (out / "banned.txt").write_text("\n".join(BANNED_CLAIMS) + "\n", encoding="utf-8")
    return out


@dataclass(frozen=True, slots=True)
class LabelledQuery:
    """A shopper's question and the ids of the passages that answer it (ground truth).

    Product passages are named by SKU, FAQ passages ``faq-<page>#<paragraph>`` (0-based).
    """

    query: str
    relevant: tuple[str, ...]
    kind: str  # "product" or "faq"


_FAQ_QUESTIONS: tuple[tuple[str, str], ...] = (
    ("how long do I have to send something back", "faq-returns#0"),
    ("can I return headphones I already opened", "faq-returns#1"),
    ("when will I get my money back after a return", "faq-returns#2"),
    ("how much is shipping to my house", "faq-delivery#0"),
    ("is there a minimum order for free shipping", "faq-delivery#1"),
    ("how quickly can I pick up my order in the shop", "faq-delivery#2"),
    ("what time do you close on weekdays", "faq-hours#0"),
    ("are you open on sunday", "faq-hours#1"),
    ("how do reward points work", "faq-loyalty#0"),
    ("does it cost anything to join the rewards programme", "faq-loyalty#1"),
    ("do you match competitor prices", "faq-price-match#0"),
    ("how long is a gift voucher valid", "faq-gift-cards#0"),
    ("how should I wash a wool jumper", "faq-care-fashion#0"),
    ("how do I wash jeans without fading", "faq-care-fashion#1"),
    ("how long does it take to charge my earphones", "faq-care-electronics#0"),
    ("where can I recycle old batteries", "faq-sustainability#1"),
)


def labelled_queries(
    items: list[CatalogItem], seed: int = 7, *, products: int = 64
) -> list[LabelledQuery]:
    """Product questions (brand + type + a stated attribute) and FAQ questions, each with
    every passage that matches what it asks for; deterministic in ``seed``."""
    rng = _rng(seed, "queries")
    picks = rng.choice(len(items), size=min(products, len(items)), replace=False)
    out = [_product_query(items, items[int(i)], rng) for i in sorted(picks.tolist())]
    out.extend(LabelledQuery(q, (ref,), "faq") for q, ref in _FAQ_QUESTIONS)
    return out


def _product_query(
    items: list[CatalogItem], item: CatalogItem, rng: np.random.Generator
) -> LabelledQuery:
    key = sorted(item.attributes)[int(rng.integers(len(item.attributes)))]
    value = item.attributes[key]
    forms = (
        f"do you have the {item.brand} {item.product_type} with {value}",
        f"{item.brand} {item.product_type} {value}",
        f"looking for a {item.product_type} by {item.brand}, {value}",
    )
    query = forms[int(rng.integers(len(forms)))]
    relevant = tuple(
        other.sku
        for other in items
        if other.brand == item.brand
        and other.product_type == item.product_type
        and other.attributes.get(key) == value
    )
    return LabelledQuery(query, relevant, "product")


def reference_copy(item: CatalogItem) -> str:
    """A copywriter's reference headline for ``item`` (for ROUGE-L in content evals)."""
    facts = ", ".join(item.attributes[k] for k in sorted(item.attributes)[:2])
    return f"{item.name}, {facts}, now {item.price:.2f} {item.currency}."
