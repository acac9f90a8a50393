"""The marketing feature library: RFM, basket, sessions, decay, categories, carts, fatigue,
context. ``marketing_library`` builds it for a shop's own top categories; ``DEFAULT_SPEC`` is
the library for the simulated shop's categories (what the demo and the edge use).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from edgemark.errors import FeatureError
from edgemark.features._spec import Feature, FeatureSpec

DEFAULT_CATEGORIES: tuple[str, ...] = ("grocery", "home", "beauty", "fashion", "electronics")


def marketing_library(
    categories: Sequence[str] = DEFAULT_CATEGORIES,
    *,
    windows_days: Sequence[int] = (7, 30, 90),
    affinity_event: str = "view",
    cart_within_hours: float = 24.0,
    **settings: Any,
) -> FeatureSpec:
    """Return the full marketing feature library as a ``FeatureSpec``.

    Parameters
    ----------
    categories
        The shop's top categories: one affinity share (over the longest window) each.
    windows_days
        Windows of frequency and monetary value (purchase counts and spend).
    affinity_event
        Event type whose categories make up affinity shares and distinct categories.
    cart_within_hours
        An add_to_cart without a purchase within this many hours is abandoned.
    settings
        Passed on to ``FeatureSpec`` (bucket_seconds, recency_cap_days, ...).

    Examples
    --------
    >>> spec = marketing_library(["shoes", "bags"])
    >>> [n for n in spec.names if n.startswith("affinity")]
    ['affinity_shoes_90d', 'affinity_bags_90d']
    """
    windows = sorted({int(w) for w in windows_days})
    if not windows:
        raise FeatureError("windows_days needs at least one window")
    longest, middle = windows[-1], windows[len(windows) // 2]
    features = [
        Feature("recency_purchase_days", "recency_days", "purchase"),
        Feature("recency_view_days", "recency_days", "view"),
    ]
    features += [Feature(f"purchases_{w}d", "count", "purchase", window_days=w) for w in windows]
    features += [Feature(f"spend_{w}d", "sum_amount", "purchase", window_days=w) for w in windows]
    features += [
        Feature(f"avg_basket_{w}d", "mean_amount", "purchase", window_days=w)
        for w in sorted({middle, longest})
    ]
    features += [
        Feature(f"views_{windows[0]}d", "count", "view", window_days=windows[0]),
        Feature(f"views_{middle}d", "count", "view", window_days=middle),
        Feature(f"carts_{windows[0]}d", "count", "add_to_cart", window_days=windows[0]),
        Feature("view_decay_3d", "decayed_count", "view", window_days=middle, half_life_days=3),
        Feature(
            "purchase_decay_14d",
            "decayed_count",
            "purchase",
            window_days=longest,
            half_life_days=14,
        ),
        Feature(f"sessions_{windows[0]}d", "session_count", window_days=windows[0]),
        Feature(f"sessions_{middle}d", "session_count", window_days=middle),
        Feature(f"events_per_session_{middle}d", "events_per_session", window_days=middle),
        Feature("session_age_minutes", "session_age_minutes"),
        Feature(
            f"distinct_categories_{middle}d",
            "distinct_categories",
            affinity_event,
            window_days=middle,
            cap=16,
        ),
    ]
    features += [
        Feature(
            f"affinity_{_slug(c)}_{longest}d",
            "category_share",
            affinity_event,
            window_days=longest,
            category=c,
        )
        for c in categories
    ]
    features += [
        Feature(
            f"cart_abandonment_{middle}d",
            "cart_abandonment",
            window_days=middle,
            within_hours=cart_within_hours,
        ),
        Feature(f"offer_fatigue_{middle}d", "offer_fatigue", window_days=middle, cap=50),
        Feature("hour_of_day", "hour_of_day"),
        Feature("day_of_week", "day_of_week"),
    ]
    return FeatureSpec(tuple(features), **settings)


def _slug(category: str) -> str:
    """A feature-name-safe form of a category ('Home & Garden' -> 'home_garden')."""
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in category.lower())
    slug = "_".join(part for part in cleaned.split("_") if part)
    if not slug or not slug.isidentifier():
        slug = "c_" + slug
    return slug


DEFAULT_SPEC = marketing_library()
