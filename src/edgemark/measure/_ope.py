"""Off-policy evaluation: the value a target policy would have had, from logged decisions.

With importance weights ``w_i = pi_e(a_i | x_i) / pi_b(a_i | x_i)`` (``pi_b`` is the logged
propensity of the action taken, e.g. the edge's ``Decision.probability``) and a reward model
``q(x, a)``, the estimators are Open Bandit Pipeline's definitions:

- IPS: ``mean(w r)``;
- SNIPS: ``sum(w r) / sum(w)``;
- DR: ``mean(sum_a pi_e(a | x) q(x, a) + w (r - q(x, a_i)))``.

Intervals are normal with the standard error of the per-row terms (for SNIPS the
delta-method influence ``w (r - V) / mean(w)``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark._extras import require
from edgemark.errors import MeasureError
from edgemark.measure._decision_logs import RANDOMISED_LAYERS
from edgemark.measure._table import Codes, read_columns

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class PolicyValue:
    """One estimator's value of the target policy, with its standard error and interval."""

    estimator: str
    value: float
    std_error: float
    ci_low: float
    ci_high: float
    level: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        return asdict(self)


@dataclass(frozen=True, slots=True)
class OPEResult:
    """IPS, SNIPS and DR values of a target policy and the weight diagnostics.

    ``logged_value`` is the mean logged reward (the logging policy's value);
    ``effective_sample_size`` is ``sum(w)**2 / sum(w**2)``: far below ``n`` means the
    target policy strays from the logged one and the intervals are wide for good reason.
    """

    n: int
    actions: tuple[str, ...]
    estimates: tuple[PolicyValue, ...]
    logged_value: float
    effective_sample_size: float
    max_weight: float
    reward_model: str

    def by_name(self) -> dict[str, PolicyValue]:
        """Estimates keyed by estimator name (``ips``, ``snips``, ``dr``)."""
        return {e.estimator: e for e in self.estimates}

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict."""
        out = asdict(self)
        out["actions"] = list(self.actions)
        out["estimates"] = [e.to_dict() for e in self.estimates]
        return out


def _value(name: str, terms: FloatArray, value: float, z: float, level: float) -> PolicyValue:
    se = float(terms.std(ddof=1) / math.sqrt(terms.size)) if terms.size > 1 else math.nan
    return PolicyValue(name, value, se, value - z * se, value + z * se, level)


def _check(rewards: FloatArray, propensities: FloatArray, target: FloatArray) -> None:
    n = rewards.size
    if n < 2:
        raise MeasureError(f"off-policy evaluation needs at least 2 logged rows, got {n}")
    if propensities.shape != (n,) or target.shape[0] != n:
        raise MeasureError(
            f"logs have {n} rewards, {propensities.size} propensities and "
            f"{target.shape[0]} target rows; they must match row for row"
        )
    if not np.isfinite(rewards).all():
        raise MeasureError("rewards hold NaN or infinite values; clean them first")
    bad = np.flatnonzero(~((propensities > 0) & (propensities <= 1)))
    if bad.size:
        raise MeasureError(
            f"logged propensities must lie in (0, 1]; row {int(bad[0]) + 1} holds "
            f"{propensities[bad[0]]!r}. A zero propensity means the logged action could not "
            "have been taken: check the propensity column"
        )
    sums = target.sum(axis=1)
    off = np.flatnonzero((np.abs(sums - 1.0) > 1e-6) | (target < 0).any(axis=1))
    if off.size:
        raise MeasureError(
            f"target policy row {int(off[0]) + 1} is not a probability distribution "
            f"(sums to {sums[off[0]]:.6g}); each row needs probabilities >= 0 summing to 1"
        )


def _mean_model(codes: IntArray, rewards: FloatArray, k: int) -> FloatArray:
    """Per-action mean reward (overall mean for actions never logged), for every row."""
    n = np.bincount(codes, minlength=k).astype(np.float64)
    sums = np.bincount(codes, weights=rewards, minlength=k)
    means = np.where(n > 0, sums / np.maximum(n, 1.0), rewards.mean())
    return np.broadcast_to(means, (codes.size, k)).copy()


def _lightgbm_model(
    codes: IntArray, rewards: FloatArray, features: FloatArray, k: int, seed: int
) -> FloatArray:
    """Cross-fitted (2 folds) LightGBM reward model: q(x, a) for every row and action."""
    lgb = require("lightgbm", "train")
    rng = np.random.default_rng(seed)
    fold = rng.integers(2, size=codes.size)
    onehot = np.eye(k)
    out = np.empty((codes.size, k))
    for f in (0, 1):
        fit, pred = fold != f, fold == f
        model = lgb.LGBMRegressor(n_estimators=100, learning_rate=0.1, verbose=-1, seed=seed)
        model.fit(np.hstack([features[fit], onehot[codes[fit]]]), rewards[fit])
        for a in range(k):
            x = np.hstack([features[pred], np.tile(onehot[a], (int(pred.sum()), 1))])
            out[pred, a] = model.predict(x)
    return out


def off_policy_value(
    actions: Sequence[object] | npt.NDArray[np.generic] | Codes,
    rewards: Sequence[float] | FloatArray,
    propensities: Sequence[float] | FloatArray,
    target: FloatArray | str,
    *,
    target_actions: Sequence[str] | None = None,
    reward_model: str | FloatArray = "mean",
    features: FloatArray | None = None,
    level: float = 0.95,
    seed: int = 0,
) -> OPEResult:
    """IPS, SNIPS and DR estimates of the target policy's mean reward per decision.

    ``target`` is an ``(n, K)`` matrix of the target policy's action probabilities per
    logged row, with columns named by ``target_actions`` (default: the logged actions,
    sorted), or ``"uniform"``. ``reward_model`` for DR is ``"mean"`` (per-action mean
    reward), ``"lightgbm"`` (cross-fitted on ``features``, needs the ``train`` extra) or an
    ``(n, K)`` matrix of predicted rewards.

    Examples
    --------
    >>> res = off_policy_value(["a", "b", "a", "b"], [1, 0, 1, 1], [0.5] * 4, "uniform")
    >>> {e.estimator: e.value for e in res.estimates}
    {'ips': 0.75, 'snips': 0.75, 'dr': 0.75}
    """
    z = _z(level)
    codes = actions if isinstance(actions, Codes) else Codes.of(actions)
    r = np.asarray(rewards, dtype=np.float64)
    pb = np.asarray(propensities, dtype=np.float64)
    names = tuple(target_actions) if target_actions is not None else codes.names
    pi = _target_matrix(target, r.size, len(names))
    _check(r, pb, pi)
    a = _align(codes, names)
    k = len(names)
    w = pi[np.arange(r.size), a] / pb
    q, model_name = _reward_model(reward_model, a, r, features, k, seed)
    dr_terms = (pi * q).sum(axis=1) + w * (r - q[np.arange(r.size), a])
    snips = float((w * r).sum() / w.sum()) if w.sum() > 0 else math.nan
    estimates = (
        _value("ips", w * r, float((w * r).mean()), z, level),
        _value("snips", w * (r - snips) / w.mean(), snips, z, level),
        _value("dr", dr_terms, float(dr_terms.mean()), z, level),
    )
    ess = float(w.sum() ** 2 / (w**2).sum()) if (w > 0).any() else 0.0
    return OPEResult(r.size, names, estimates, float(r.mean()), ess, float(w.max()), model_name)


def _z(level: float) -> float:
    if not (isinstance(level, int | float) and 0.0 < level < 1.0):
        raise MeasureError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}")
    return NormalDist().inv_cdf(0.5 + level / 2.0)


def _target_matrix(target: FloatArray | str, n: int, k: int) -> FloatArray:
    if isinstance(target, str):
        if target != "uniform":
            raise MeasureError(f"target must be a probability matrix or 'uniform', got {target!r}")
        return np.full((n, k), 1.0 / k)
    pi = np.asarray(target, dtype=np.float64)
    if pi.ndim != 2 or pi.shape[1] != k:
        raise MeasureError(f"target policy must have one column per action ({k}), got {pi.shape}")
    return pi


def _align(codes: Codes, names: Sequence[str]) -> IntArray:
    """Logged action codes re-indexed into the target's action columns."""
    missing = sorted(set(codes.names) - set(names))
    if missing:
        raise MeasureError(
            f"logged action(s) {', '.join(map(repr, missing))} have no column in the target "
            f"policy (its actions: {', '.join(names)}); add a probability column for each"
        )
    lookup = np.array([list(names).index(n) for n in codes.names], dtype=np.int64)
    return lookup[codes.codes]


def _reward_model(
    model: str | FloatArray,
    a: IntArray,
    r: FloatArray,
    features: FloatArray | None,
    k: int,
    seed: int,
) -> tuple[FloatArray, str]:
    if isinstance(model, str):
        if model == "mean":
            return _mean_model(a, r, k), "mean"
        if model == "lightgbm":
            if features is None or features.shape[0] != r.size:
                raise MeasureError(
                    "the lightgbm reward model needs feature columns, one row per log row "
                    "(--feature COL)"
                )
            x = np.asarray(features, dtype=np.float64).reshape(r.size, -1)
            return _lightgbm_model(a, r, x, k, seed), "lightgbm"
        raise MeasureError(f"reward model must be 'mean' or 'lightgbm', got {model!r}")
    q = np.asarray(model, dtype=np.float64)
    if q.shape != (r.size, k):
        raise MeasureError(f"reward-model matrix must have shape {(r.size, k)}, got {q.shape}")
    return q, "given"


def ope_csv(
    logs: Path,
    action: str,
    reward: str,
    propensity: str,
    target: Path | str,
    *,
    features: Sequence[str] = (),
    reward_model: str = "mean",
    level: float = 0.95,
    layer: str | None = None,
) -> OPEResult:
    """``off_policy_value`` on a log CSV; ``target`` is a CSV with one probability column
    per action (row for row with the logs) or ``"uniform"``.

    ``layer`` names the column with the edge's layer: only the randomised layers' rows are
    used, their propensity divided by those layers' share (see ``decision_logs``)."""
    text = [action, *([layer] if layer else [])]
    cols = read_columns(logs, numbers=[reward, propensity, *features], text=text, what="logs")
    feats = np.column_stack([cols.numbers[f] for f in features]) if features else None
    pi: FloatArray | str
    names: Sequence[str] | None = None
    if isinstance(target, str) and target == "uniform":
        pi = "uniform"
    else:
        pi, names = _read_target(Path(target))
    actions: Codes | npt.NDArray[np.str_] = cols.text[action]
    rewards, pb = cols.numbers[reward], cols.numbers[propensity]
    if layer is not None:
        keep, share = _randomised(cols.text[layer])
        codes = cols.text[action]
        actions = np.asarray(codes.names)[codes.codes[keep]]
        rewards, pb = rewards[keep], pb[keep] / share
        feats = feats[keep] if feats is not None else None
        if not isinstance(pi, str) and pi.shape[0] == keep.size:
            pi = pi[keep]
    return off_policy_value(
        actions,
        rewards,
        pb,
        pi,
        target_actions=names,
        reward_model=reward_model,
        features=feats,
        level=level,
    )


def _randomised(layers: Codes) -> tuple[npt.NDArray[np.bool_], float]:
    wanted = [i for i, name in enumerate(layers.names) if name in RANDOMISED_LAYERS]
    keep = np.isin(layers.codes, wanted)
    if not keep.any():
        raise MeasureError(
            f"no row of the logs is in the randomised layers {list(RANDOMISED_LAYERS)} "
            f"(layers seen: {', '.join(layers.names)}); OPE needs randomised decisions"
        )
    return keep, float(keep.mean())


def _read_target(path: Path) -> tuple[FloatArray, list[str]]:
    if not path.is_file():
        raise MeasureError(f"target policy file {path} does not exist; give a CSV or 'uniform'")
    with path.open(encoding="utf-8") as handle:
        header = [h.strip() for h in handle.readline().rstrip("\r\n").split(",")]
    names = [h for h in header if h]
    cols = read_columns(path, numbers=names, what="target policy")
    return np.column_stack([cols.numbers[n] for n in names]), names
