"""Wire types of the edge runtime: ``DecisionRequest`` (in) and ``Decision`` (out).

Both round-trip through JSON-safe dicts; ``from_dict`` validates and raises ``EdgeError``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgemark.errors import EdgeError, EdgemarkError

_REQUEST_KEYS = frozenset(
    {"user", "ts", "consent_personalization", "consent_measurement", "context"}
)


def _finite_float(raw: Mapping[str, Any], key: str, what: str) -> float:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EdgeError(f"{what}: {key!r} must be a number, got {type(value).__name__}.")
    number = float(value)
    if not math.isfinite(number):
        raise EdgeError(f"{what}: {key!r} must be finite, got {number!r}.")
    return number


def _flag(raw: Mapping[str, Any], key: str, what: str) -> bool:
    value = raw.get(key, True)
    if not isinstance(value, bool):
        raise EdgeError(f"{what}: {key!r} must be true or false, got {value!r}.")
    return value


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """A request to decide which offer (if any) to show ``user`` at time ``ts``.

    ``user`` is the raw id as the touchpoint knows it; the runtime pseudonymises it before
    anything is stored.
    """

    user: str
    ts: float
    consent_personalization: bool = True
    consent_measurement: bool = True
    context: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.user, str) or not self.user:
            raise EdgeError("Decision request: 'user' must be a non-empty string.")
        if isinstance(self.ts, bool) or not isinstance(self.ts, int | float):
            raise EdgeError("Decision request: 'ts' must be epoch seconds (a number).")
        if not math.isfinite(self.ts):
            raise EdgeError(f"Decision request: 'ts' must be finite, got {self.ts!r}.")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the request."""
        return {
            "user": self.user,
            "ts": float(self.ts),
            "consent_personalization": self.consent_personalization,
            "consent_measurement": self.consent_measurement,
            "context": dict(self.context),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> DecisionRequest:
        """Validate ``raw`` and build a request; raises ``EdgeError`` naming the problem."""
        what = "Decision request"
        if not isinstance(raw, Mapping):
            raise EdgeError(f"{what} must be a JSON object, got {type(raw).__name__}.")
        unknown = set(raw) - _REQUEST_KEYS
        if unknown:
            raise EdgeError(
                f"{what}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_REQUEST_KEYS)}."
            )
        user = raw.get("user")
        if not isinstance(user, str) or not user:
            raise EdgeError(f"{what}: 'user' is missing or not a non-empty string.")
        context = raw.get("context", {})
        if not isinstance(context, Mapping):
            raise EdgeError(f"{what}: 'context' must be an object.")
        return cls(
            user=user,
            ts=_finite_float(raw, "ts", what),
            consent_personalization=_flag(raw, "consent_personalization", what),
            consent_measurement=_flag(raw, "consent_measurement", what),
            context=dict(context),
        )


@dataclass(frozen=True, slots=True)
class Decision:
    """What the runtime decided, and everything off-policy evaluation needs later.

    ``probability`` is the probability with which ``arm`` was chosen for this request: the
    share of the user's ``layer`` (holdout, explore or policy) times the probability within
    the layer. ``score`` is the model's purchase propensity (None without personalization
    consent); ``assignments`` the user's arm in every further experiment.
    """

    decision_id: str
    offer: str | None
    probability: float
    experiment: str
    arm: str
    reasons: tuple[str, ...]
    bundle_version: str
    latency_us: float
    score: float | None
    layer: str = "policy"
    assignments: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict of the decision."""
        return {
            "decision_id": self.decision_id,
            "offer": self.offer,
            "probability": self.probability,
            "experiment": self.experiment,
            "arm": self.arm,
            "reasons": list(self.reasons),
            "bundle_version": self.bundle_version,
            "latency_us": self.latency_us,
            "score": self.score,
            "layer": self.layer,
            "assignments": dict(self.assignments),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Decision:
        """Rebuild a decision from ``to_dict`` output; raises ``EdgeError`` if malformed."""
        try:
            score = raw["score"]
            return cls(
                decision_id=str(raw["decision_id"]),
                offer=None if raw["offer"] is None else str(raw["offer"]),
                probability=float(raw["probability"]),
                experiment=str(raw["experiment"]),
                arm=str(raw["arm"]),
                reasons=tuple(str(r) for r in raw["reasons"]),
                bundle_version=str(raw["bundle_version"]),
                latency_us=float(raw["latency_us"]),
                score=None if score is None else float(score),
                layer=str(raw.get("layer", "policy")),
                assignments=tuple(
                    (str(k), str(v)) for k, v in dict(raw.get("assignments", {})).items()
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EdgeError(f"Malformed decision {raw!r}: {exc}.") from exc


@dataclass(slots=True)
class ObserveResult:
    """What a batch of events did: accepted, duplicated (ids seen before), rejected."""

    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    errors: list[EdgemarkError] = field(default_factory=list)

    def reject(self, index: int, error: EdgemarkError) -> None:
        """Record that event ``index`` was refused, with the reason."""
        self.rejected.append({"index": index, "reason": str(error)})
        self.errors.append(error)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe figures (the local API's answer)."""
        return {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}
