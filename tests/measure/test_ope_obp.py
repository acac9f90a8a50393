"""IPS, SNIPS and DR agree with Open Bandit Pipeline's definitions on the same logged data.

obp itself does not import with current pandas on Python 3.11, so its estimators'
closed forms (``obp/ope/estimators.py``: ``_estimate_round_rewards`` of
InverseProbabilityWeighting, SelfNormalizedInverseProbabilityWeighting and DoublyRobust,
with ``action_dist`` of shape (n, K, len_list) and ``position`` 0) are restated here.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgemark.measure import off_policy_value


def _obp_ipw(reward, action, position, pscore, action_dist):  # type: ignore[no-untyped-def]
    iw = action_dist[np.arange(action.shape[0]), action, position] / pscore
    return reward * iw


def _obp_snipw(reward, action, position, pscore, action_dist):  # type: ignore[no-untyped-def]
    iw = action_dist[np.arange(action.shape[0]), action, position] / pscore
    return reward * iw / iw.mean()


def _obp_dr(reward, action, position, pscore, action_dist, q):  # type: ignore[no-untyped-def]
    n = action.shape[0]
    iw = action_dist[np.arange(n), action, position] / pscore
    q_hat_at_position = q[np.arange(n), :, position]
    q_hat_factual = q[np.arange(n), action, position]
    pi_e_at_position = action_dist[np.arange(n), :, position]
    baseline = np.average(q_hat_at_position, weights=pi_e_at_position, axis=1)
    return baseline + iw * (reward - q_hat_factual)


@pytest.fixture
def logged() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(11)
    n, k = 5000, 4
    behaviour = rng.dirichlet(np.ones(k), size=n)
    action = np.array([rng.choice(k, p=p) for p in behaviour])
    pscore = behaviour[np.arange(n), action]
    reward = rng.binomial(1, 0.1 + 0.05 * action).astype(float)
    target = rng.dirichlet(np.full(k, 0.5), size=n)
    q = rng.uniform(0.0, 0.4, size=(n, k))
    return {"reward": reward, "action": action, "pscore": pscore, "target": target, "q": q}


def test_values_equal_obp_closed_forms(logged: dict[str, np.ndarray]) -> None:
    d = logged
    dist, pos = d["target"][:, :, None], np.zeros(d["action"].size, dtype=int)
    args = (d["reward"], d["action"], pos, d["pscore"], dist)
    names = ["0", "1", "2", "3"]
    res = off_policy_value(
        [str(a) for a in d["action"]],
        d["reward"],
        d["pscore"],
        d["target"],
        target_actions=names,
        reward_model=d["q"],
    ).by_name()
    ips, snips, dr = _obp_ipw(*args), _obp_snipw(*args), _obp_dr(*args, d["q"][:, :, None])
    assert res["ips"].value == pytest.approx(ips.mean(), rel=1e-12)
    assert res["snips"].value == pytest.approx(snips.mean(), rel=1e-12)
    assert res["dr"].value == pytest.approx(dr.mean(), rel=1e-12)
    # normal intervals from the same per-round terms obp bootstraps over
    n = d["reward"].size
    for name, terms in (("ips", ips), ("dr", dr)):
        assert res[name].std_error == pytest.approx(terms.std(ddof=1) / np.sqrt(n), rel=1e-9)


def test_the_per_action_mean_model_is_obp_dr_with_that_regression(
    logged: dict[str, np.ndarray],
) -> None:
    d = logged
    k = d["target"].shape[1]
    means = np.array([d["reward"][d["action"] == a].mean() for a in range(k)])
    q = np.tile(means, (d["reward"].size, 1))[:, :, None]
    pos = np.zeros(d["action"].size, dtype=int)
    expected = _obp_dr(d["reward"], d["action"], pos, d["pscore"], d["target"][:, :, None], q)
    res = off_policy_value(d["action"], d["reward"], d["pscore"], d["target"]).by_name()
    assert res["dr"].value == pytest.approx(expected.mean(), rel=1e-12)
