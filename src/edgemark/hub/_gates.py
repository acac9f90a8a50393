"""Rollout health gates: the wave's heartbeat figures against the rest of the fleet.

Four gates, each ``pass``, ``fail`` or ``no_data`` (too few decisions or exposures to
judge). A gate fails only when the wave is worse by more than its margin AND the
difference is significant at ``z`` (one-sided), so sampling noise in a small canary does
not roll a good bundle back while a clearly bad one is caught:

- ``error_rate``: failed decisions / decisions (two-proportion z-test);
- ``decide_p99``: median over nodes of their decide P99 (µs) above ``max_p99_ratio`` times
  the rest's and above ``p99_floor_us`` (a budget no bundle needs to beat); only against
  nodes measured at the same time, never against the baseline snapshot, because latency
  follows the machine's load of the moment;
- ``drift_psi``: median feature/score PSI above ``max_psi`` and the rest's + ``max_psi_increase``;
- ``conversion``: uplift (treatment minus holdout conversion rate) below the rest's by more
  than ``max_conversion_drop`` (difference of differences, z-test).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["pass", "fail", "no_data"]


@dataclass(frozen=True)
class GatePolicy:
    """Thresholds of the gates (stored with each rollout).

    >>> GatePolicy().max_error_rate_increase
    0.01
    """

    enabled: bool = True
    min_decisions: int = 200
    min_exposures: int = 200
    z: float = 1.645
    max_error_rate_increase: float = 0.01
    max_p99_ratio: float = 2.0
    p99_floor_us: float = 2000.0
    max_psi: float = 0.25
    max_psi_increase: float = 0.1
    max_conversion_drop: float = 0.02

    def to_json(self) -> dict[str, Any]:
        """The policy as a JSON object."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> GatePolicy:
        """The policy from ``to_json``'s output (unknown keys are ignored)."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Figures:
    """Summed heartbeat figures of a group of nodes (one side of a comparison)."""

    nodes: int = 0
    decisions: int = 0
    errors: int = 0
    error_decisions: int = 0  # decisions of the nodes that report errors
    p99s: list[float] = field(default_factory=list)
    psis: list[float] = field(default_factory=list)
    t_exposures: int = 0
    t_conversions: int = 0
    h_exposures: int = 0
    h_conversions: int = 0
    live: bool = True  # False for a baseline snapshot taken when the rollout started

    def add(self, row: Mapping[str, Any]) -> None:
        """Add one node's health columns (``h_*`` keys; None means "not reported")."""
        decisions = int(row.get("h_decisions") or 0)
        self.nodes += 1
        self.decisions += decisions
        if row.get("h_errors") is not None:
            self.errors += int(row["h_errors"])
            self.error_decisions += decisions
        if row.get("h_p99_us") is not None and decisions > 0:
            self.p99s.append(float(row["h_p99_us"]))
        if row.get("h_psi") is not None:
            self.psis.append(float(row["h_psi"]))
        if row.get("h_t_exposures") is not None and row.get("h_h_exposures") is not None:
            self.t_exposures += int(row["h_t_exposures"])
            self.t_conversions += int(row.get("h_t_conversions") or 0)
            self.h_exposures += int(row["h_h_exposures"])
            self.h_conversions += int(row.get("h_h_conversions") or 0)

    def to_json(self) -> dict[str, Any]:
        """The figures as a JSON object (a rollout's baseline)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Figures:
        """The figures from ``to_json``'s output."""
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def baseline(cls, data: Mapping[str, Any]) -> Figures:
        """A stored baseline snapshot (not comparable for latency)."""
        figures = cls.from_json(data)
        figures.live = False
        return figures

    @classmethod
    def of(cls, rows: Iterable[Mapping[str, Any]]) -> Figures:
        """The figures of several nodes' rows."""
        figures = cls()
        for row in rows:
            figures.add(row)
        return figures


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict with the figures it compared."""

    gate: str
    status: Status
    wave: float | None
    rest: float | None
    detail: str

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object."""
        return asdict(self)


def evaluate(wave: Figures, rest: Figures, policy: GatePolicy) -> list[GateResult]:
    """Every gate's verdict for ``wave`` against ``rest`` (empty if gates are disabled).

    ``rest`` is the nodes outside the wave, or the baseline taken at the rollout's start
    when too few of them are left (the last wave).
    """
    if not policy.enabled:
        return []
    return [
        _error_rate(wave, rest, policy),
        _decide_p99(wave, rest, policy),
        _drift(wave, rest, policy),
        _conversion(wave, rest, policy),
    ]


def _error_rate(wave: Figures, rest: Figures, p: GatePolicy) -> GateResult:
    nw, nr = wave.error_decisions, rest.error_decisions
    if min(nw, nr) < p.min_decisions:
        return _no_data("error_rate", f"needs {p.min_decisions} decisions per side")
    rw, rr = wave.errors / nw, rest.errors / nr
    pooled = (wave.errors + rest.errors) / (nw + nr)
    se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / nw + 1 / nr))
    worse = rw - rr > p.max_error_rate_increase and rw - rr > p.z * se
    detail = f"wave {rw:.4f} vs rest {rr:.4f} (margin {p.max_error_rate_increase})"
    return GateResult("error_rate", "fail" if worse else "pass", rw, rr, detail)


def _decide_p99(wave: Figures, rest: Figures, p: GatePolicy) -> GateResult:
    if not rest.live:  # latency depends on the moment's load: compare only side by side
        return _no_data("decide_p99", "no nodes left on the previous version to compare with")
    if wave.decisions < p.min_decisions or not wave.p99s or not rest.p99s:
        return _no_data("decide_p99", f"needs {p.min_decisions} decisions and P99s per side")
    pw, pr = statistics.median(wave.p99s), statistics.median(rest.p99s)
    limit = max(p.max_p99_ratio * pr, p.p99_floor_us)
    detail = f"wave {pw:.0f} µs vs rest {pr:.0f} µs (limit {limit:.0f} µs)"
    return GateResult("decide_p99", "fail" if pw > limit else "pass", pw, pr, detail)


def _drift(wave: Figures, rest: Figures, p: GatePolicy) -> GateResult:
    if not wave.psis or not rest.psis:
        return _no_data("drift_psi", "no PSI reported")
    sw, sr = statistics.median(wave.psis), statistics.median(rest.psis)
    limit = max(p.max_psi, sr + p.max_psi_increase)
    detail = f"wave {sw:.3f} vs rest {sr:.3f} (limit {limit:.3f})"
    return GateResult("drift_psi", "fail" if sw > limit else "pass", sw, sr, detail)


def _conversion(wave: Figures, rest: Figures, p: GatePolicy) -> GateResult:
    sides = (wave.t_exposures, wave.h_exposures, rest.t_exposures, rest.h_exposures)
    if min(sides) < p.min_exposures:
        return _no_data("conversion", f"needs {p.min_exposures} exposures per arm and side")
    uw, vw = _uplift(wave.t_conversions, wave.t_exposures, wave.h_conversions, wave.h_exposures)
    ur, vr = _uplift(rest.t_conversions, rest.t_exposures, rest.h_conversions, rest.h_exposures)
    drop = ur - uw
    worse = drop > p.max_conversion_drop and drop > p.z * math.sqrt(vw + vr)
    detail = f"uplift wave {uw:+.4f} vs rest {ur:+.4f} (margin {p.max_conversion_drop})"
    return GateResult("conversion", "fail" if worse else "pass", uw, ur, detail)


def _uplift(tc: int, te: int, hc: int, he: int) -> tuple[float, float]:
    pt, ph = min(max(tc / te, 0.0), 1.0), min(max(hc / he, 0.0), 1.0)
    return pt - ph, pt * (1 - pt) / te + ph * (1 - ph) / he


def _no_data(gate: str, why: str) -> GateResult:
    return GateResult(gate, "no_data", None, None, why)


def failed(results: Iterable[GateResult]) -> list[GateResult]:
    """The failing results."""
    return [r for r in results if r.status == "fail"]
