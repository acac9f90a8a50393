"""Health gates: each one against numbers worked out by hand."""

from __future__ import annotations

import math

import pytest

from edgemark.hub import GatePolicy
from edgemark.hub._gates import Figures, evaluate

POLICY = GatePolicy(min_decisions=100, min_exposures=100)


def side(**kw: object) -> Figures:
    return Figures(**kw)  # type: ignore[arg-type]


def by_gate(wave: Figures, rest: Figures, policy: GatePolicy = POLICY) -> dict[str, str]:
    return {r.gate: r.status for r in evaluate(wave, rest, policy)}


def test_too_little_data_is_no_data_not_a_failure() -> None:
    wave = side(decisions=50, errors=40, error_decisions=50, p99s=[9e6])
    rest = side(decisions=10_000, errors=0, error_decisions=10_000, p99s=[100.0])

    assert by_gate(wave, rest) == {
        "error_rate": "no_data", "decide_p99": "no_data", "drift_psi": "no_data",
        "conversion": "no_data",
    }  # fmt: skip


def test_error_rate_fails_only_when_worse_by_the_margin_and_significant() -> None:
    rest = side(decisions=10_000, errors=50, error_decisions=10_000)  # 0.5 %
    # 3 % on 1,000 decisions: +2.5 points > 1 point margin; z = 0.025 / 0.0024 ≈ 10
    bad = side(decisions=1000, errors=30, error_decisions=1000)
    # 1.2 % on 1,000: +0.7 points, inside the margin
    fine = side(decisions=1000, errors=12, error_decisions=1000)
    # 3 % on 100: beyond the margin and z = 0.025 / sqrt(p(1-p)(1/100+1/10000)) ≈ 3.4: fails
    small = side(decisions=100, errors=3, error_decisions=100)
    # 2 % on 100: +1.5 points; pooled se ≈ 0.0074, z ≈ 2.0 > 1.645 → fails; at z=2.5 it passes
    borderline = side(decisions=100, errors=2, error_decisions=100)

    assert by_gate(bad, rest)["error_rate"] == "fail"
    assert by_gate(fine, rest)["error_rate"] == "pass"
    assert by_gate(small, rest)["error_rate"] == "fail"
    assert by_gate(borderline, rest)["error_rate"] == "fail"
    assert by_gate(borderline, rest, GatePolicy(min_decisions=100, z=2.5))["error_rate"] == "pass"
    result = next(r for r in evaluate(bad, rest, POLICY) if r.gate == "error_rate")
    assert result.wave == pytest.approx(0.03) and result.rest == pytest.approx(0.005)


def test_p99_fails_above_ratio_and_floor() -> None:
    rest = side(decisions=5000, p99s=[300.0, 400.0, 500.0])  # median 400
    slow = side(decisions=500, p99s=[2500.0, 2600.0, 9000.0])  # median 2600 > max(800, 2000)
    under_floor = side(decisions=500, p99s=[1500.0])  # 3.75x the rest, but under 2 ms
    assert by_gate(slow, rest)["decide_p99"] == "fail"
    assert by_gate(under_floor, rest)["decide_p99"] == "pass"
    baseline = Figures.baseline(rest.to_json())
    assert by_gate(slow, baseline)["decide_p99"] == "no_data"  # only side by side


def test_drift_fails_above_absolute_and_relative_limits() -> None:
    rest = side(psis=[0.05, 0.08, 0.2])  # median 0.08 → limit max(0.25, 0.18) = 0.25
    assert by_gate(side(psis=[0.3]), rest)["drift_psi"] == "fail"
    assert by_gate(side(psis=[0.2]), rest)["drift_psi"] == "pass"
    drifted_rest = side(psis=[0.4])  # limit 0.5
    assert by_gate(side(psis=[0.45]), drifted_rest)["drift_psi"] == "pass"


def test_conversion_gate_compares_uplift_against_the_rest() -> None:
    # rest: treatment 12 %, holdout 8 % → uplift +4 points, on 20,000 per arm
    rest = side(t_exposures=20_000, t_conversions=2400, h_exposures=20_000, h_conversions=1600)
    # wave: treatment 8 %, holdout 8 % → uplift 0: a 4-point drop; se ≈ 0.0095 → z ≈ 4.2
    worse = side(t_exposures=2000, t_conversions=160, h_exposures=2000, h_conversions=160)
    same = side(t_exposures=2000, t_conversions=240, h_exposures=2000, h_conversions=160)

    assert by_gate(worse, rest)["conversion"] == "fail"
    assert by_gate(same, rest)["conversion"] == "pass"
    result = next(r for r in evaluate(worse, rest, POLICY) if r.gate == "conversion")
    assert result.wave == pytest.approx(0.0) and result.rest == pytest.approx(0.04)
    se = math.sqrt(2 * 0.08 * 0.92 / 2000 + 0.12 * 0.88 / 20_000 + 0.08 * 0.92 / 20_000)
    assert 0.04 / se > POLICY.z


def test_disabled_gates_give_no_results() -> None:
    assert evaluate(side(), side(), GatePolicy(enabled=False)) == []


def test_figures_sum_node_rows_and_skip_missing_fields() -> None:
    figures = Figures.of(
        [
            {"h_decisions": 100, "h_errors": 2, "h_p99_us": 300.0, "h_psi": 0.1,
             "h_t_exposures": 40, "h_t_conversions": 4, "h_h_exposures": 10, "h_h_conversions": 1},
            {"h_decisions": 50, "h_errors": None, "h_p99_us": None, "h_psi": None},
        ]
    )  # fmt: skip
    assert (figures.nodes, figures.decisions, figures.errors, figures.error_decisions) == (
        2, 150, 2, 100,
    )  # fmt: skip
    assert figures.p99s == [300.0] and figures.psis == [0.1]
    assert (figures.t_exposures, figures.h_conversions) == (40, 1)
    assert Figures.from_json(figures.to_json()) == figures
