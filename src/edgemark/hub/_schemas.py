"""Pydantic models of every JSON body the hub accepts: strict, bounded, no unknown fields.

A body that does not fit is answered with 422 and a message that names the field.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from edgemark.hub._bundles import VERSION_PATTERN

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_REPORTS_PER_REQUEST = 10_000
_BIG = 10**12

NodeName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Version = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Micros = Annotated[float, Field(ge=0, le=3.6e9, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=_BIG)]
Reason = Annotated[str, StringConstraints(max_length=500)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class EnrolmentTokenIn(_Strict):
    """POST /v1/enrolment-tokens."""

    node_name: NodeName


class EnrolIn(_Strict):
    """POST /v1/nodes/enrol."""

    enrolment_token: Token
    node_name: NodeName


class GatesIn(_Strict):
    """Thresholds of a rollout's health gates (see ``edgemark.hub.GatePolicy``)."""

    enabled: bool = True
    min_decisions: Annotated[int, Field(ge=1, le=_BIG)] = 200
    min_exposures: Annotated[int, Field(ge=1, le=_BIG)] = 200
    z: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)] = 1.645
    max_error_rate_increase: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.01
    max_p99_ratio: Annotated[float, Field(ge=1, le=1000, allow_inf_nan=False)] = 2.0
    p99_floor_us: Micros = 2000.0
    max_psi: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 0.25
    max_psi_increase: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] = 0.1
    max_conversion_drop: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 0.02


class RolloutIn(_Strict):
    """POST /v1/rollouts."""

    version: Version
    waves: Annotated[
        list[Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)]],
        Field(min_length=1, max_length=20),
    ] = Field(default_factory=lambda: [25.0, 50.0, 100.0])
    min_nodes: Annotated[int, Field(ge=1, le=1_000_000)] = 1
    soak_heartbeats: Annotated[int, Field(ge=1, le=10_000)] = 1
    soak_seconds: Annotated[float, Field(ge=0, le=30 * 86400, allow_inf_nan=False)] = 0.0
    gates: GatesIn = Field(default_factory=GatesIn)


class ReasonIn(_Strict):
    """POST /v1/rollouts/{id}/pause|resume|abort and /v1/nodes/{node}/revoke."""

    reason: Reason = ""


class AdminTokenIn(_Strict):
    """POST /v1/admin-tokens."""

    name: NodeName
    scope: Literal["read", "deploy", "admin"]


class HealthIn(_Strict):
    """Health figures of the version a node runs, cumulative since it started running it."""

    version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    decisions: Count
    errors: Count | None = None
    decide_p99_us: Micros | None = None
    drift_psi: Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)] | None = None
    treatment_exposures: Count | None = None
    treatment_conversions: Count | None = None
    holdout_exposures: Count | None = None
    holdout_conversions: Count | None = None

    @model_validator(mode="after")
    def _consistent(self) -> HealthIn:
        if self.errors is not None and self.errors > self.decisions:
            raise ValueError("errors cannot exceed decisions")
        for arm in ("treatment", "holdout"):
            exposures = getattr(self, f"{arm}_exposures")
            conversions = getattr(self, f"{arm}_conversions")
            if conversions is not None and (exposures is None or conversions > exposures):
                raise ValueError(f"{arm}_conversions needs {arm}_exposures >= it")
        return self


class BundleErrorIn(_Strict):
    """A node's report that it refused a bundle."""

    version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    reason: Annotated[str, StringConstraints(max_length=2000)]


class HeartbeatIn(_Strict):
    """POST /v1/heartbeats."""

    active_version: Annotated[str, StringConstraints(max_length=64)] | None = None
    decisions_by_version: Annotated[
        dict[
            Annotated[str, StringConstraints(max_length=64)], Annotated[int, Field(ge=0, le=_BIG)]
        ],
        Field(max_length=100),
    ] = Field(default_factory=dict)
    latency_p50_us: Micros | None = None
    latency_p99_us: Micros | None = None
    bundle_error: BundleErrorIn | None = None
    health: HealthIn | None = None


class ReportIn(_Strict):
    """One DP-noised report row (noised counts may be negative)."""

    idempotency_key: Annotated[str, StringConstraints(min_length=8, max_length=128)]
    day: Annotated[int, Field(ge=0, le=10_000_000)]
    experiment: Label
    arm: Label
    exposures: Annotated[int, Field(ge=-_BIG, le=_BIG)]
    conversions: Annotated[int, Field(ge=-_BIG, le=_BIG)]
    revenue: Annotated[float, Field(ge=-1e15, le=1e15, allow_inf_nan=False)]
    epsilon: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]
    count_noise_scale: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False)]
    revenue_noise_scale: Annotated[float, Field(ge=0, le=1e15, allow_inf_nan=False)]
    # Optional (agreement E): nodes before revenue intervals send none of these.
    revenue_sq: Annotated[float, Field(ge=-1e30, le=1e30, allow_inf_nan=False)] | None = None
    revenue_sq_noise_scale: Annotated[float, Field(ge=0, le=1e30, allow_inf_nan=False)] | None = (
        None
    )
    max_contributions: Annotated[int, Field(ge=1, le=1_000_000)] | None = None


class ReportsIn(_Strict):
    """POST /v1/reports."""

    reports: Annotated[list[ReportIn], Field(max_length=MAX_REPORTS_PER_REQUEST)]


class ErrorOut(BaseModel):
    """Every error answer: a message that says what happened and what to do."""

    detail: str


_ERRORS = {
    400: "Malformed request (e.g. an invalid Content-Length).",
    401: "Missing, unknown, expired or revoked credentials.",
    403: "The credentials lack the scope this endpoint needs.",
    404: "No such resource.",
    409: "Conflicts with the current state (e.g. a rollout is active).",
    413: "The body exceeds the size limit.",
    422: "The body or a parameter does not fit the schema.",
    429: "Too many requests from this client; see Retry-After.",
    503: "The database is unavailable or busy; retry.",
}
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorOut, "description": text} for code, text in _ERRORS.items()
}
