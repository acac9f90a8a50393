"""Pydantic models of every JSON body the hub accepts: strict, bounded, no unknown fields.

A body that does not fit is answered with 422 and a message that names the field.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from edgemark.hub._bundles import VERSION_PATTERN

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
MAX_REPORTS_PER_REQUEST = 10_000
_BIG = 10**12

NodeName = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Version = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
Label = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Token = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Micros = Annotated[float, Field(ge=0, le=3.6e9, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class EnrolmentTokenIn(_Strict):
    """POST /v1/enrolment-tokens."""

    node_name: NodeName


class EnrolIn(_Strict):
    """POST /v1/nodes/enrol."""

    enrolment_token: Token
    node_name: NodeName


class RolloutIn(_Strict):
    """POST /v1/rollouts."""

    version: Version
    waves: Annotated[
        list[Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)]],
        Field(min_length=1, max_length=20),
    ] = Field(default_factory=lambda: [25.0, 50.0, 100.0])
    soak_heartbeats: Annotated[int, Field(ge=1, le=10_000)] = 1


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


class ReportsIn(_Strict):
    """POST /v1/reports."""

    reports: Annotated[list[ReportIn], Field(max_length=MAX_REPORTS_PER_REQUEST)]
