"""Settings of the end-to-end demo, validated once where they are made."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgemark.errors import ConfigError


@dataclass(frozen=True)
class DemoSettings:
    """What the demo simulates and where it writes.

    The defaults finish in well under three minutes on two cores.
    """

    out_dir: Path = Path("demo-out")
    nodes: int = 4
    days: int = 14
    history_days: int = 28
    customers: int = 12000
    seed: int = 7
    holdout_share: float = 0.2
    epsilon_per_report: float = 1.0
    v2_day: int = 3
    v3_day: int = 8
    waves: tuple[int, ...] = (25, 50, 100)
    process_timeout_s: float = 60.0
    # Federated rounds (DP-FedAvg over the nodes' own consented events) at the start of
    # each day from ``federated_from_day``; 0 rounds turns them off.
    # Few rounds late in the run: the nodes have more labelled days by then, and fewer
    # rounds need less noise per round for the same budget.
    federated_rounds: int = 5
    federated_epsilon: float = 8.0
    federated_from_day: int = 8
    # One release of the nodes' per-offer conversion rates (node-level DP) on v2's day,
    # before v2 is built with them as its offer priors; 0 turns it off. Four nodes make
    # node-level DP expensive: the noise on each fleet rate has sd z*C/4. With the rates
    # sent relative to the fleet's DP-report rates (clip C = 0.15), epsilon 3 gives sd
    # ~0.06: the priors average 19.5 of their cap of 20 pseudo-counts (r(1-r)/sd^2), and
    # the noise pulls some arm's rate so low that it keeps < 5 in ~1 release of 30.
    # Epsilon 2 (sd ~0.09): 15.5, and < 5 in ~1 of 4; epsilon 1: ~4.5; above 3 buys little.
    offer_priors_epsilon: float = 3.0
    # Route every node -> hub request through a capturing proxy (OUT/work/wire/*.jsonl).
    capture_wire: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.nodes < 4:
            raise ConfigError(f"The demo needs at least 4 edge nodes (got {self.nodes}).")
        if self.days < 14:
            raise ConfigError(f"The demo needs at least 14 simulated days (got {self.days}).")
        if self.history_days < 21:
            raise ConfigError(
                f"The demo needs at least 21 days of history to train on (got {self.history_days})."
            )
        if self.customers < 200:
            raise ConfigError(f"The demo needs at least 200 customers (got {self.customers}).")
        if not 0 <= self.v2_day < self.v3_day < self.days:
            raise ConfigError(
                f"Rollout days must satisfy 0 <= v2_day < v3_day < days "
                f"(got {self.v2_day}, {self.v3_day}, {self.days})."
            )
        if self.federated_rounds < 0 or not self.federated_epsilon > 0:
            raise ConfigError(
                "federated_rounds must be >= 0 and federated_epsilon > 0 "
                f"(got {self.federated_rounds}, {self.federated_epsilon})."
            )
        if not 0 <= self.offer_priors_epsilon < float("inf"):
            raise ConfigError(
                "offer_priors_epsilon must be a finite number >= 0 (0: no offer-priors round), "
                f"got {self.offer_priors_epsilon}."
            )
        if not 0.0 < self.holdout_share < 1.0:
            raise ConfigError(f"holdout_share must lie in (0, 1) (got {self.holdout_share}).")
