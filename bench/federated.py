"""Bench: DP-FedAvg on Flower's simulation engine with 100 simulated stores.

- one simulation trains four models side by side (epsilon 1, 3, 8 at delta 1e-6 and no DP)
  for 30 rounds over non-IID shards of 20,000 simulated customers, and the same logistic
  model centrally on the pooled rows: AUC on a held-out later period per round;
- a second simulation trains only the epsilon-8 model for 10 rounds, for the wall time of
  one round with 100 nodes (the first round, which warms Ray's actors, is left out);
- bytes per node per round: the model's float64 parameters down and the update up (Flower's
  message framing not included).

Prints one JSON object: {"bench": "federated", "figures": {...}}.
"""

from __future__ import annotations

import json
import statistics
import time

from edgemark.federated import DPFedAvgConfig, simulate_federated, simulate_shards

NODES = 100
ROUNDS = 30


def main() -> None:
    began = time.perf_counter()
    data = simulate_shards(nodes=NODES, customers=20000, days=35, seed=7)
    data_s = time.perf_counter() - began
    cfg = DPFedAvgConfig()  # clip 0.5, all nodes each round, 2 local epochs, momentum 0.9
    curves = simulate_federated(data, rounds=ROUNDS, epsilons=[1.0, 3.0, 8.0, None], base=cfg)
    timed = simulate_federated(data, rounds=10, epsilons=[8.0], base=cfg)
    round_s = [r["seconds"] for r in timed.rounds[1:]]
    auc_eps8 = curves.variants["eps8"]["auc_final"]
    eps8 = [r for r in curves.rounds if r["variant"] == "eps8"]
    reached = [r["round"] for r in eps8 if r["auc"] >= 0.97 * curves.auc_central]
    figures = {
        "round_s_100_nodes": statistics.median(round_s),
        "bytes_per_node_round": timed.bytes_per_node_round,
        "auc_central": curves.auc_central,
        "auc_fl_eps8": auc_eps8,
        "auc_ratio_eps8": auc_eps8 / curves.auc_central,
        "auc_fl_eps3": curves.variants["eps3"]["auc_final"],
        "auc_fl_eps1": curves.variants["eps1"]["auc_final"],
        "auc_fl_nodp": curves.variants["nodp"]["auc_final"],
        "rounds_to_97pct_eps8": reached[0] if reached else None,
        "curves": {name: curves.curve(name) for name in curves.variants},
        "epsilon_spent": {n: v["epsilon_spent"] for n, v in curves.variants.items()},
        "noise_multiplier": {n: v["noise_multiplier"] for n, v in curves.variants.items()},
        "nodes": NODES,
        "rounds": ROUNDS,
        "train_rows": len(data.y_train),
        "test_rows": len(data.y_test),
        "data_s": data_s,
        "simulation_s_4_models": curves.wall_s,
        "total_s": time.perf_counter() - began,
    }
    print(json.dumps({"bench": "federated", "figures": figures}))


if __name__ == "__main__":
    main()
