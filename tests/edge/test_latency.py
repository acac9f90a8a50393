"""decide() latency record: the folded histogram equals numpy's count of every latency."""

from __future__ import annotations

import numpy as np
import pytest

from edgemark.edge._latency import LatencyRecord
from edgemark.observe import DECIDE_BUCKETS


@pytest.mark.parametrize("n", [0, 1, 4095, 4096, 4097, 12_345])
def test_buckets_count_every_latency_once_however_often_the_ring_wraps(n: int) -> None:
    rng = np.random.default_rng(n)
    latencies = rng.lognormal(np.log(90.0), 0.8, n)
    latencies[: min(n, 3)] = [25.0, 100.0, 25_000.0][: min(n, 3)]  # exactly on bounds
    record = LatencyRecord()
    for us in latencies:
        record.record(float(us))
    hist = record.histogram()
    bounds = np.array(DECIDE_BUCKETS) * 1e6
    expected = [int(np.sum(latencies <= b)) for b in bounds] + [n]
    assert np.cumsum(hist["counts"]).tolist() == expected
    assert hist["count"] == n and hist["sum_us"] == pytest.approx(float(latencies.sum()))
    assert record.recent().tolist() == sorted_ring(latencies, 4096)
    assert record.histogram() == hist  # reading twice does not count twice


def sorted_ring(latencies: np.ndarray, size: int) -> list[float]:
    """What the ring holds: the last ``size`` latencies, at their positions modulo size."""
    ring = np.zeros(min(len(latencies), size))
    for k, us in enumerate(latencies):
        ring[k % size] = us
    return ring.tolist()
