"""Guardrails from the bundle policy: which offers a decision may show, and why not.

Per offer: consent purposes it requires, eligibility (request context values, score range),
a frequency cap per user over a window, a daily budget per node; per user: a rate limit on
decisions. Counters live in memory and are rebuilt from the decisions table on start, so
they always agree with what was stored. With no guardrails configured every check is free.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from edgemark.errors import BundleError

_DAY = 86400.0
_PURPOSES = ("personalization", "measurement")
_RULE_KEYS = frozenset(
    {"max_per_user", "window_hours", "daily_budget", "requires_consent", "eligible"}
)


@dataclass(frozen=True, slots=True)
class OfferRule:
    """The guardrails of one offer (None: that guardrail is off)."""

    max_per_user: int | None = None
    window_s: float = 7 * _DAY
    daily_budget: int | None = None
    requires: tuple[str, ...] = ()
    context: tuple[tuple[str, frozenset[str]], ...] = ()
    min_score: float | None = None
    max_score: float | None = None


@dataclass(frozen=True, slots=True)
class GuardrailSettings:
    """Rules per offer id and the per-user rate limit (``rate_max`` decisions per window)."""

    rules: Mapping[str, OfferRule] = field(default_factory=dict)
    rate_max: int | None = None
    rate_window_s: float = 3600.0

    @property
    def active(self) -> bool:
        """True if any guardrail is configured."""
        return bool(self.rules) or self.rate_max is not None


def parse_guardrails(raw: Any, offers: tuple[str, ...]) -> GuardrailSettings:
    """Validate ``policy["guardrails"]``; ``BundleError`` names the bad key."""
    if not isinstance(raw, Mapping) or not set(raw) <= {"rate_limit", "offers"}:
        raise BundleError(
            "Bundle policy 'guardrails' must be an object with 'rate_limit' and/or 'offers'."
        )
    rate_max, rate_window = None, 3600.0
    if "rate_limit" in raw:
        rate = raw["rate_limit"]
        if not isinstance(rate, Mapping):
            raise BundleError("Bundle policy 'guardrails.rate_limit' must be an object.")
        rate_max = _int(rate.get("max_decisions"), "rate_limit.max_decisions", low=1)
        rate_window = _num(rate.get("window_seconds", 3600.0), "rate_limit.window_seconds", 1e-3)
    by_offer = raw.get("offers", {})
    if not isinstance(by_offer, Mapping) or not set(by_offer) <= {*offers, "*"}:
        raise BundleError(
            f"Bundle policy 'guardrails.offers' must map offer ids (or '*') to rules; "
            f"offers: {list(offers)}."
        )
    default = by_offer.get("*", {})
    rules = {}
    for offer in offers:
        merged = {**_object(default, "*"), **_object(by_offer.get(offer, {}), offer)}
        if merged:
            rules[offer] = _rule(merged, offer)
    return GuardrailSettings(rules, rate_max, rate_window)


def _object(value: Any, offer: str) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not set(value) <= _RULE_KEYS:
        raise BundleError(
            f"Bundle policy 'guardrails.offers.{offer}' must be an object with keys from "
            f"{sorted(_RULE_KEYS)}."
        )
    return dict(value)


def _rule(raw: Mapping[str, Any], offer: str) -> OfferRule:
    where = f"guardrails.offers.{offer}"
    cap = raw.get("max_per_user")
    budget = raw.get("daily_budget")
    requires = raw.get("requires_consent", [])
    if not isinstance(requires, list) or not set(requires) <= set(_PURPOSES):
        raise BundleError(f"Bundle policy '{where}.requires_consent' must list {_PURPOSES}.")
    eligible = raw.get("eligible", {})
    if not isinstance(eligible, Mapping) or not set(eligible) <= {
        "context",
        "min_score",
        "max_score",
    }:
        raise BundleError(
            f"Bundle policy '{where}.eligible' takes 'context', 'min_score', 'max_score'."
        )
    context = eligible.get("context", {})
    if not isinstance(context, Mapping) or not all(
        isinstance(v, list) and v for v in context.values()
    ):
        raise BundleError(
            f"Bundle policy '{where}.eligible.context' must map keys to lists of values."
        )
    low, high = eligible.get("min_score"), eligible.get("max_score")
    return OfferRule(
        max_per_user=None if cap is None else _int(cap, f"{where}.max_per_user", low=0),
        window_s=_num(raw.get("window_hours", 168.0), f"{where}.window_hours", 1e-6) * 3600.0,
        daily_budget=None if budget is None else _int(budget, f"{where}.daily_budget", low=0),
        requires=tuple(str(p) for p in requires),
        context=tuple(
            (str(k), frozenset(_text(v) for v in values)) for k, values in sorted(context.items())
        ),
        min_score=None if low is None else _num(low, f"{where}.eligible.min_score", 0.0),
        max_score=None if high is None else _num(high, f"{where}.eligible.max_score", 0.0),
    )


def _num(value: Any, where: str, low: float) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < low:
        raise BundleError(f"Bundle policy '{where}' must be a number >= {low}, got {value!r}.")
    return float(value)


def _int(value: Any, where: str, low: int) -> int:
    number = _num(value, where, float(low))
    if number != int(number):
        raise BundleError(f"Bundle policy '{where}' must be a whole number, got {value!r}.")
    return int(number)


def _text(value: Any) -> str:
    """Context values compare as text, so 14 and "14" match."""
    return value if isinstance(value, str) else json_scalar(value)


def json_scalar(value: Any) -> str:
    """Render a JSON scalar the way JSON spells it (true, 3, 2.5)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Guardrails:
    """Counters behind the guardrails of one experiment's offers (``offers`` order)."""

    def __init__(self, settings: GuardrailSettings, offers: tuple[str, ...]) -> None:
        self.settings = settings
        self.offers = offers
        self.active = settings.active
        self._rules = tuple(settings.rules.get(o) for o in offers)
        self._all = (True,) * len(offers)
        # Counters are keyed by offer id, so they carry over to a bundle that reorders offers.
        self._shown: dict[str, dict[str, deque[float]]] = {}
        self._decided: dict[str, deque[float]] = {}
        self._budget: dict[tuple[int, str], int] = {}
        self.blocked: dict[str, int] = {}

    def adopt(self, old: Guardrails) -> None:
        """Take over the counters of the guardrails this one replaces (same experiment)."""
        self._shown, self._decided, self._budget = old._shown, old._decided, old._budget
        self.blocked = old.blocked

    def check(
        self,
        user: str,
        ts: float,
        context: Mapping[str, Any],
        score: float | None,
        consent: tuple[bool, bool],
    ) -> tuple[tuple[bool, ...], tuple[str, ...], bool]:
        """(allowed per offer, reasons, rate limited) for one decision; counters unchanged.

        ``consent`` is (personalization, measurement) as the request states it.
        """
        if not self.active:
            return self._all, (), False
        limit = self.settings.rate_max
        if limit is not None:
            stamps = self._decided.get(user)
            if stamps and self._count(stamps, ts, self.settings.rate_window_s) >= limit:
                self._note("rate_limit")
                return (False,) * len(self.offers), ("guardrail:rate_limit",), True
        reasons: list[str] = []
        allowed = self._all
        shown = self._shown.get(user)
        for index, rule in enumerate(self._rules):
            if rule is not None:
                why = self._why(rule, self.offers[index], shown, ts, context, score, consent)
                if why is not None:
                    reasons.append(f"guardrail:{why}:{self.offers[index]}")
                    self._note(why)
                    allowed = (*allowed[:index], False, *allowed[index + 1 :])
        return allowed, tuple(reasons), False

    def _why(
        self,
        rule: OfferRule,
        offer: str,
        shown: dict[str, deque[float]] | None,
        ts: float,
        context: Mapping[str, Any],
        score: float | None,
        consent: tuple[bool, bool],
    ) -> str | None:
        if rule.requires and (
            (not consent[0] and "personalization" in rule.requires)
            or (not consent[1] and "measurement" in rule.requires)
        ):
            return "consent"
        for key, values in rule.context:
            if key not in context or _text(context[key]) not in values:
                return "eligibility"
        if rule.min_score is not None or rule.max_score is not None:
            low = -math.inf if rule.min_score is None else rule.min_score
            high = math.inf if rule.max_score is None else rule.max_score
            if score is None or not low <= score <= high:
                return "eligibility"
        if rule.max_per_user is not None:
            stamps = None if shown is None else shown.get(offer)
            if self._count(stamps, ts, rule.window_s) >= rule.max_per_user:
                return "frequency_cap"
        if rule.daily_budget is not None:
            if self._budget.get((int(ts // _DAY), offer), 0) >= rule.daily_budget:
                return "daily_budget"
        return None

    def record(self, user: str, ts: float, offer_index: int | None) -> None:
        """Count one stored decision (and the offer it showed, if any)."""
        if not self.active:
            return
        if self.settings.rate_max is not None:
            self._decided.setdefault(user, deque()).append(ts)
        if offer_index is None:
            return
        rule = self._rules[offer_index]
        if rule is None:
            return
        offer = self.offers[offer_index]
        if rule.max_per_user is not None:
            self._shown.setdefault(user, {}).setdefault(offer, deque()).append(ts)
        if rule.daily_budget is not None:
            key = (int(ts // _DAY), offer)
            self._budget[key] = self._budget.get(key, 0) + 1

    def restore(self, rows: Iterable[tuple[str, float, str | None]]) -> None:
        """Rebuild counters from stored decisions (pseudonym, ts, offer shown), oldest first."""
        index = {o: i for i, o in enumerate(self.offers)}
        for user, ts, offer in rows:
            self.record(user, ts, None if offer is None else index.get(offer))

    def horizon_s(self) -> float:
        """How far back stored decisions matter to these counters."""
        windows = [r.window_s for r in self._rules if r is not None and r.max_per_user is not None]
        return max([self.settings.rate_window_s, _DAY, *windows])

    def forget(self, user: str) -> None:
        """Drop a user's counters (erasure)."""
        self._shown.pop(user, None)
        self._decided.pop(user, None)

    def _note(self, why: str) -> None:
        self.blocked[why] = self.blocked.get(why, 0) + 1

    @staticmethod
    def _count(stamps: deque[float] | None, ts: float, window_s: float) -> int:
        if not stamps:
            return 0
        while stamps and stamps[0] <= ts - window_s:
            stamps.popleft()
        return len(stamps)
