"""Clipping, noise calibration and the round accountant against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edgemark.errors import PrivacyBudgetExceeded, PrivacyError
from edgemark.federated import RoundAccountant, calibrate_noise, clip_update, epsilon_spent

dp_accounting = pytest.importorskip("dp_accounting")


def classic_rdp_epsilon(rounds: int, z: float, delta: float) -> float:
    """Gaussian RDP (alpha / 2z^2 per round) with the classic conversion (Mironov 2017)."""
    orders = np.arange(2, 257, dtype=float)
    return float(np.min(rounds * orders / (2 * z * z) + math.log(1 / delta) / (orders - 1)))


def pld_epsilon(rounds: int, z: float, q: float, delta: float) -> float:
    """The tighter privacy-loss-distribution accountant of the same library."""
    pld = dp_accounting.pld.PLDAccountant()
    event = dp_accounting.GaussianDpEvent(z)
    if q < 1:
        event = dp_accounting.PoissonSampledDpEvent(q, event)
    pld.compose(event, rounds)
    return float(pld.get_epsilon(delta))


def test_clip_keeps_short_updates_and_scales_long_ones() -> None:
    short = np.array([0.1, -0.2])
    assert np.array_equal(clip_update(short, 1.0), short)
    long = np.arange(1.0, 30.0)
    clipped = clip_update(long, 0.5)
    assert np.linalg.norm(clipped) == pytest.approx(0.5)
    assert np.allclose(clipped / np.linalg.norm(clipped), long / np.linalg.norm(long))


@pytest.mark.parametrize(("rounds", "z"), [(1, 2.0), (30, 3.8), (100, 10.0)])
def test_full_participation_epsilon_matches_the_rdp_bound(rounds: int, z: float) -> None:
    ours = epsilon_spent(rounds, z, 1.0, 1e-6)
    # dp-accounting's conversion is tighter than the classic one, and RDP never beats PLD.
    assert ours <= classic_rdp_epsilon(rounds, z, 1e-6) + 1e-9
    assert ours >= 0.75 * classic_rdp_epsilon(rounds, z, 1e-6)
    assert pld_epsilon(rounds, z, 1.0, 1e-6) <= ours * 1.001


def test_sampling_amplifies_and_calibration_hits_the_target() -> None:
    assert epsilon_spent(30, 1.5, 0.3) < epsilon_spent(30, 1.5, 1.0)
    for target, q in [(1.0, 1.0), (8.0, 1.0), (3.0, 0.3)]:
        z = calibrate_noise(target, 30, q)
        assert epsilon_spent(30, z, q) <= target
        assert epsilon_spent(30, z * 0.99, q) > target * 0.97  # not needlessly noisy
        assert pld_epsilon(30, z, q, 1e-6) <= target
    with pytest.raises(PrivacyError):
        calibrate_noise(0.0, 30, 1.0)


def test_accountant_stops_before_the_budget_is_exceeded() -> None:
    z = calibrate_noise(3.0, 5, 1.0)
    accountant = RoundAccountant(z, 1.0, budget=3.0)
    spent = []
    for _ in range(5):
        accountant.check_next()
        spent.append(accountant.record_round())
    assert spent == sorted(spent) and spent[-1] <= 3.0
    with pytest.raises(PrivacyBudgetExceeded, match="training stops after 5 rounds"):
        accountant.check_next()
    assert accountant.rounds == 5
    assert math.isinf(RoundAccountant(0.0, 1.0).epsilon_after_next())
