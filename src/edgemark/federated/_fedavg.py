"""DP-FedAvg in numpy: what a node computes from its own rows (a clipped, noised update)
and what the server does with the updates it receives (average, top up the noise, step).

Noise is distributed: each of the expected ``sample_rate * nodes`` clients adds Gaussian
noise of variance ``(z * C)^2 / expected``, so the sum carries ``(z * C)^2`` as the
accountant assumes; when fewer clients answer, the server adds the missing variance.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import ConfigError
from edgemark.federated._dp import DEFAULT_DELTA, RoundAccountant, clip_update, gaussian_noise
from edgemark.federated._model import local_sgd

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DPFedAvgConfig:
    """Settings of DP-FedAvg. ``noise_multiplier`` 0 trains without DP."""

    clip_norm: float = 0.5
    noise_multiplier: float = 1.0
    sample_rate: float = 1.0
    server_lr: float = 1.0
    server_momentum: float = 0.9
    local_epochs: int = 2
    local_lr: float = 0.1
    batch_size: int = 32
    delta: float = DEFAULT_DELTA
    # Indices of the features the model uses (None: all). A compact model keeps DP noise
    # off the unused weights, which stay 0: fewer noised coordinates, better utility.
    features: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not (self.clip_norm > 0 and math.isfinite(self.clip_norm)):
            raise ConfigError(f"clip_norm must be a finite number > 0, got {self.clip_norm!r}")
        if not (self.noise_multiplier >= 0 and math.isfinite(self.noise_multiplier)):
            raise ConfigError(f"noise_multiplier must be >= 0, got {self.noise_multiplier!r}")
        if not 0 < self.sample_rate <= 1:
            raise ConfigError(f"sample_rate must lie in (0, 1], got {self.sample_rate!r}")
        if self.local_epochs < 1 or self.batch_size < 1:
            raise ConfigError("local_epochs and batch_size must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe settings."""
        out = asdict(self)
        out["features"] = None if self.features is None else list(self.features)
        return out

    def active(self, n_params: int) -> npt.NDArray[np.int64]:
        """Indices of the parameters that train (the used features' weights and the bias)."""
        if self.features is None:
            return np.arange(n_params, dtype=np.int64)
        return np.asarray([*self.features, n_params - 1], dtype=np.int64)


def client_update(
    params: FloatArray,
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    cfg: DPFedAvgConfig,
    *,
    noise_std: float,
    rng: np.random.Generator | None = None,
) -> FloatArray:
    """A node's contribution: local SGD from ``params``, the change clipped to
    ``cfg.clip_norm``, plus its share ``noise_std`` of the Gaussian noise (on the trained
    coordinates only; the others are 0)."""
    active = cfg.active(len(params))
    rows = np.asarray(x, dtype=np.float64)[:, active[:-1]]
    start = params[active]
    trained = local_sgd(
        start, rows, y, epochs=cfg.local_epochs, lr=cfg.local_lr, batch_size=cfg.batch_size,
        rng=rng,
    )  # fmt: skip
    change = clip_update(trained - start, cfg.clip_norm)
    if noise_std > 0:
        change = change + gaussian_noise(change.shape, noise_std)
    update = np.zeros_like(params, dtype=np.float64)
    update[active] = change
    return update


@dataclass
class DPFedAvgServer:
    """The server's state: parameters, momentum, the accountant and the round history."""

    params: FloatArray
    cfg: DPFedAvgConfig
    nodes: int
    budget: float | None = None
    velocity: FloatArray = field(init=False)
    accountant: RoundAccountant = field(init=False)
    history: list[dict[str, Any]] = field(default_factory=list)
    iterates: list[FloatArray] = field(default_factory=list)  # the parameters after each round

    def __post_init__(self) -> None:
        self.velocity = np.zeros_like(self.params)
        self.accountant = RoundAccountant(
            self.cfg.noise_multiplier, self.cfg.sample_rate, self.budget, self.cfg.delta
        )

    @property
    def expected_clients(self) -> float:
        """Clients expected per round (``sample_rate * nodes``)."""
        return max(self.cfg.sample_rate * self.nodes, 1.0)

    @property
    def client_noise_std(self) -> float:
        """The noise each client adds (its share of ``z * C`` on the sum)."""
        sigma = self.cfg.noise_multiplier * self.cfg.clip_norm
        return sigma / math.sqrt(self.expected_clients)

    def sample(self, node_ids: list[int], rng: np.random.Generator) -> list[int]:
        """Poisson sampling: each node takes part with probability ``sample_rate``."""
        if self.cfg.sample_rate >= 1:
            return list(node_ids)
        keep = rng.random(len(node_ids)) < self.cfg.sample_rate
        return [n for n, k in zip(node_ids, keep, strict=True) if k]

    def apply(self, updates: list[FloatArray]) -> FloatArray:
        """Average the noised updates over the expected count, top up noise, take a step."""
        total = np.sum(updates, axis=0) if updates else np.zeros_like(self.params)
        missing = max(self.expected_clients - len(updates), 0.0)
        if self.cfg.noise_multiplier > 0 and missing > 0:
            active = self.cfg.active(len(self.params))
            std = self.client_noise_std * math.sqrt(missing)
            total[active] = total[active] + gaussian_noise(active.shape, std)
        mean = total / self.expected_clients
        self.velocity = self.cfg.server_momentum * self.velocity + mean
        self.params = self.params + self.cfg.server_lr * self.velocity
        self.iterates.append(self.params.copy())
        return self.params

    @property
    def model(self) -> FloatArray:
        """The model to evaluate and ship: the mean of the later half of the iterates.

        Training goes on from the last iterate (``params``), which wanders under the DP
        noise and the server momentum; averaging the iterates of rounds ceil(t/2)..t
        (suffix averaging) steadies it, and as post-processing of released updates it
        costs no privacy.
        """
        if not self.iterates:
            return self.params
        tail: FloatArray = np.mean(self.iterates[len(self.iterates) // 2 :], axis=0)
        return tail
