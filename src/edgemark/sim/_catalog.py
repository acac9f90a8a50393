"""A simulated product catalog for the retail world's SKUs (``sku-<category>-NNN``), with
prices, attributes, stock and locale, written as JSONL; the ground truth for content evals.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgemark.errors import SimError
from edgemark.sim._world import CATEGORIES

ITEMS_PER_CATEGORY = 50  # RetailWorld.shop draws items sku-<category>-000 .. -049
LOCALES = (("en-GB", "GBP", 0.7), ("en-IE", "EUR", 0.3))

# Per category: product types (name, price range, unit attributes) and attribute choices.
_TYPES: dict[str, tuple[tuple[str, float, float], ...]] = {
    "grocery": (("coffee beans", 6, 14), ("oat milk", 1.5, 3), ("olive oil", 5, 12),
                ("dark chocolate", 1.8, 4), ("granola", 3, 6), ("green tea", 2.5, 7)),
    "home": (("scented candle", 8, 25), ("ceramic mug", 6, 15), ("bath towel", 9, 30),
             ("desk lamp", 19, 60), ("throw blanket", 25, 70), ("storage basket", 12, 35)),
    "beauty": (("shampoo", 4, 12), ("face cream", 9, 35), ("lip balm", 2.5, 7),
               ("body lotion", 5, 15), ("sunscreen", 7, 20), ("hand soap", 2, 6)),
    "fashion": (("cotton t-shirt", 9, 25), ("slim jeans", 29, 80), ("wool scarf", 15, 45),
                ("rain jacket", 45, 130), ("running trainers", 49, 140), ("ankle socks", 5, 12)),
    "electronics": (("wireless earbuds", 29, 150), ("power bank", 15, 50),
                    ("smart plug", 10, 30), ("bluetooth speaker", 25, 120),
                    ("usb-c cable", 6, 20), ("phone case", 9, 35)),
}  # fmt: skip
_BRANDS: dict[str, tuple[str, ...]] = {
    "grocery": ("Hillfarm", "Golden Mill", "Nordbay", "Casa Verde"),
    "home": ("Linden & Co", "Oakhaus", "Morrow", "Brightnest"),
    "beauty": ("Veloura", "Pure Moss", "Dermalyn", "Seabright"),
    "fashion": ("Northline", "Wren", "Atelier Nine", "Cobble"),
    "electronics": ("Voltio", "Pixelwave", "Soundry", "Kestrel"),
}
_G, _ML = ("250 g", "500 g", "1 kg"), ("500 ml", "750 ml", "1 L")
_COLOURS = ("sage green", "charcoal", "ivory", "terracotta", "navy", "black", "olive", "sand")
_BATTERY = ("8 hours", "12 hours", "24 hours", "30 hours")
_WARRANTY = ("1-year warranty", "2-year warranty")
_VOLUME = ("50 ml", "100 ml", "250 ml", "400 ml")
_SKIN = ("dry skin", "sensitive skin", "all skin types")
# Attribute choices per product type, so a phone case never claims a battery life.
_ATTRS: dict[str, dict[str, tuple[str, ...]]] = {
    "coffee beans": {
        "size": _G,
        "origin": ("Colombia", "Ethiopia", "Brazil"),
        "diet": ("organic", "fair trade"),
    },
    "oat milk": {"size": _ML, "origin": ("Sweden", "Ireland"), "diet": ("organic", "vegan")},
    "olive oil": {
        "size": _ML,
        "origin": ("Italy", "Spain", "Greece"),
        "diet": ("organic", "extra virgin"),
    },
    "dark chocolate": {
        "size": ("100 g", "200 g"),
        "origin": ("Ecuador", "Ghana"),
        "diet": ("vegan", "fair trade"),
    },
    "granola": {
        "size": _G,
        "origin": ("Ireland", "United Kingdom"),
        "diet": ("organic", "gluten-free"),
    },
    "green tea": {
        "size": ("20 bags", "40 bags", "100 g"),
        "origin": ("Japan", "China"),
        "diet": ("organic", "fair trade"),
    },
    "scented candle": {"colour": _COLOURS, "material": ("soy wax", "beeswax")},
    "ceramic mug": {"colour": _COLOURS, "material": ("stoneware", "porcelain")},
    "bath towel": {"colour": _COLOURS, "material": ("cotton", "bamboo")},
    "desk lamp": {"colour": _COLOURS, "material": ("brushed steel", "oak")},
    "throw blanket": {"colour": _COLOURS, "material": ("recycled wool", "cotton")},
    "storage basket": {"colour": _COLOURS, "material": ("seagrass", "bamboo")},
    "shampoo": {
        "volume": _VOLUME,
        "skin type": ("dry hair", "oily hair", "all hair types"),
        "diet": ("vegan", "fragrance-free"),
    },
    "face cream": {
        "volume": ("30 ml", "50 ml"),
        "skin type": _SKIN,
        "diet": ("vegan", "fragrance-free"),
    },
    "lip balm": {
        "volume": ("4 g", "10 ml"),
        "skin type": _SKIN,
        "diet": ("vegan", "fragrance-free"),
    },
    "body lotion": {"volume": _VOLUME, "skin type": _SKIN, "diet": ("vegan", "fragrance-free")},
    "sunscreen": {
        "volume": ("50 ml", "200 ml"),
        "protection": ("SPF 30", "SPF 50"),
        "diet": ("vegan", "fragrance-free"),
    },
    "hand soap": {"volume": _VOLUME, "skin type": _SKIN, "diet": ("vegan", "fragrance-free")},
    "cotton t-shirt": {
        "colour": _COLOURS,
        "material": ("organic cotton", "cotton"),
        "sizes": ("XS-XL", "S-XXL"),
    },
    "slim jeans": {
        "colour": ("indigo", "black", "light blue"),
        "material": ("denim", "stretch denim"),
        "sizes": ("28-38", "30-40"),
    },
    "wool scarf": {
        "colour": _COLOURS,
        "material": ("merino wool", "lambswool"),
        "sizes": ("one size",),
    },
    "rain jacket": {
        "colour": _COLOURS,
        "material": ("recycled polyester", "waxed cotton"),
        "sizes": ("XS-XL", "S-XXL"),
    },
    "running trainers": {
        "colour": _COLOURS,
        "material": ("mesh", "recycled knit"),
        "sizes": ("36-46", "38-47"),
    },
    "ankle socks": {
        "colour": _COLOURS,
        "material": ("organic cotton", "merino wool"),
        "sizes": ("36-41", "42-46"),
    },
    "wireless earbuds": {
        "battery life": _BATTERY,
        "warranty": _WARRANTY,
        "connectivity": ("Bluetooth 5.3",),
    },
    "power bank": {
        "capacity": ("10,000 mAh", "20,000 mAh"),
        "warranty": _WARRANTY,
        "connectivity": ("USB-C",),
    },
    "smart plug": {"power": ("10 A", "16 A"), "warranty": _WARRANTY, "connectivity": ("Wi-Fi",)},
    "bluetooth speaker": {
        "battery life": _BATTERY,
        "warranty": _WARRANTY,
        "connectivity": ("Bluetooth 5.3",),
    },
    "usb-c cable": {"length": ("1 m", "2 m"), "warranty": _WARRANTY, "connectivity": ("USB-C",)},
    "phone case": {
        "colour": _COLOURS,
        "material": ("silicone", "recycled plastic"),
        "warranty": _WARRANTY,
    },
}


@dataclass(frozen=True, slots=True)
class CatalogItem:
    """One product: the facts a composer may state about it (and nothing else)."""

    sku: str
    name: str
    category: str
    product_type: str
    brand: str
    price: float
    currency: str
    in_stock: bool
    locale: str
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def description(self) -> str:
        """One factual sentence built from the attributes."""
        facts = "; ".join(f"{k}: {v}" for k, v in sorted(self.attributes.items()))
        return f"{self.name} ({self.product_type} by {self.brand}). {facts}."

    def to_dict(self) -> dict[str, Any]:
        """The JSONL row of the catalog file."""
        return {
            "sku": self.sku, "name": self.name, "category": self.category,
            "product_type": self.product_type, "brand": self.brand, "price": self.price,
            "currency": self.currency, "in_stock": self.in_stock, "locale": self.locale,
            "attributes": dict(self.attributes), "description": self.description,
        }  # fmt: skip


def _rng(seed: int, purpose: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(purpose.encode())])


def generate_catalog(seed: int = 7, *, per_category: int = ITEMS_PER_CATEGORY) -> list[CatalogItem]:
    """A deterministic catalog of ``per_category`` items for each of ``CATEGORIES``.

    >>> items = generate_catalog(1, per_category=3)
    >>> len(items), items[0].sku
    (15, 'sku-grocery-000')
    """
    if isinstance(per_category, bool) or not isinstance(per_category, int) or per_category < 1:
        raise SimError(f"per_category must be a whole number >= 1, got {per_category!r}")
    items = []
    for category in CATEGORIES:
        rng = _rng(seed, f"catalog-{category}")
        for k in range(per_category):
            items.append(_item(rng, category, k))
    return items


def _item(rng: np.random.Generator, category: str, k: int) -> CatalogItem:
    kind, low, high = _TYPES[category][int(rng.integers(len(_TYPES[category])))]
    brand = _BRANDS[category][int(rng.integers(len(_BRANDS[category])))]
    attrs = {a: vals[int(rng.integers(len(vals)))] for a, vals in _ATTRS[kind].items()}
    locale, currency, _ = LOCALES[int(rng.random() >= LOCALES[0][2])]
    price = round(float(rng.uniform(low, high)), 0) - 0.01  # shelf prices end in .99
    lead = attrs.get("colour") or attrs.get("diet") or attrs.get("material") or ""
    return CatalogItem(
        sku=f"sku-{category}-{k:03d}",
        name=f"{brand} {lead} {kind}".replace("  ", " ").strip(),
        category=category,
        product_type=kind,
        brand=brand,
        price=max(price, 0.99),
        currency=currency,
        in_stock=bool(rng.random() < 0.85),
        locale=locale,
        attributes=attrs,
    )


def write_catalog(items: list[CatalogItem], path: str | os.PathLike[str]) -> Path:
    """Write ``items`` as JSONL (one object a line, keys sorted) and return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item.to_dict(), sort_keys=True) + "\n")
    return out
