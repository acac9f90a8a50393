from __future__ import annotations

import math

import numpy as np
import pytest

from edgemark.errors import PrivacyError
from edgemark.privacy import (
    count_mechanism,
    laplace_count,
    laplace_sum,
    noise_scale,
    sum_mechanism,
)


def test_noise_scale_is_sensitivity_over_epsilon() -> None:
    assert noise_scale(0.5, 1) == 2.0
    assert noise_scale(2.0, 30.0) == 15.0


def test_count_noise_has_the_variance_of_scale_b_not_2b() -> None:
    b = 5.0  # epsilon 0.2
    noise = np.array([laplace_count(100, epsilon=0.2) for _ in range(10_000)]) - 100
    discrete = 1.0 / (2.0 * math.sinh(1.0 / (2.0 * b)) ** 2)  # 49.8, continuous: 2b^2 = 50
    assert noise.var() == pytest.approx(discrete, rel=0.1)  # 2b would give 200
    assert abs(noise.mean()) < 0.3
    assert noise.dtype.kind == "i"


def test_sum_noise_has_variance_two_b_squared() -> None:
    b = 40.0  # revenue cap 20, epsilon 0.5
    noise = np.array([laplace_sum(1000.0, 0.5, 20.0) for _ in range(10_000)]) - 1000.0
    assert noise.var() == pytest.approx(2 * b**2, rel=0.1)
    assert abs(noise.mean()) < 2.0


@pytest.mark.parametrize(("epsilon", "sensitivity"), [(0.5, 1), (1.0, 3), (0.05, 2)])
def test_the_built_count_measurement_spends_exactly_epsilon(
    epsilon: float, sensitivity: int
) -> None:
    spent = count_mechanism(epsilon, sensitivity).map(sensitivity)
    assert spent == pytest.approx(epsilon, rel=1e-9)
    assert count_mechanism(epsilon, sensitivity) is count_mechanism(epsilon, sensitivity)


def test_the_built_sum_measurement_spends_exactly_epsilon() -> None:
    assert sum_mechanism(0.25, 10.0).map(10.0) == pytest.approx(0.25, rel=1e-9)


@pytest.mark.parametrize("epsilon", [0.0, -1.0, math.inf, math.nan])
def test_epsilon_must_be_positive_and_finite(epsilon: float) -> None:
    with pytest.raises(PrivacyError, match="epsilon must be"):
        laplace_count(3, epsilon)
    with pytest.raises(PrivacyError, match="epsilon must be"):
        laplace_sum(3.0, epsilon, 1.0)


@pytest.mark.parametrize("sensitivity", [0, -2])
def test_sensitivity_must_be_positive(sensitivity: int) -> None:
    with pytest.raises(PrivacyError, match="sensitivity must be > 0"):
        laplace_count(3, 1.0, sensitivity)
    with pytest.raises(PrivacyError, match="sensitivity must be > 0"):
        laplace_sum(3.0, 1.0, float(sensitivity))
    with pytest.raises(PrivacyError, match="sensitivity"):
        noise_scale(1.0, sensitivity)


def test_wrong_value_types_are_refused() -> None:
    with pytest.raises(PrivacyError, match="int value"):
        laplace_count(2.5, 1.0)  # type: ignore[arg-type]
    with pytest.raises(PrivacyError, match="whole number"):
        laplace_count(2, 1.0, 1.5)  # type: ignore[arg-type]
    with pytest.raises(PrivacyError, match="finite number"):
        laplace_sum(math.nan, 1.0, 1.0)
