"""decide() latencies: a ring of the last 4,096 (P50/P99 for heartbeats and status) folded,
every time the ring fills, into cumulative histogram buckets for Prometheus.

Folding in batches keeps decide's own cost to one array store and one comparison; the
buckets are exact because every latency passes through the ring before it is overwritten.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.observe import DECIDE_BUCKETS

FloatArray = npt.NDArray[np.float64]
RING = 4096


class LatencyRecord:
    """Recent latencies (µs) and cumulative buckets since the runtime started.

    Not locked: the runtime calls it under its own lock.

    >>> rec = LatencyRecord(bounds_us=(100.0, 200.0), size=4)
    >>> for us in (50.0, 150.0, 150.0, 250.0, 100.0):
    ...     rec.record(us)
    >>> rec.histogram()["counts"], rec.recent().tolist()
    ([2, 2, 1], [100.0, 150.0, 150.0, 250.0])
    """

    def __init__(self, bounds_us: tuple[float, ...] | None = None, size: int = RING) -> None:
        bounds = tuple(b * 1e6 for b in DECIDE_BUCKETS) if bounds_us is None else bounds_us
        self._bounds = np.asarray(bounds, dtype=np.float64)
        self._ring = np.zeros(size, dtype=np.float64)
        self._size = size
        self._n = 0
        self._folded = 0
        self._counts = np.zeros(len(bounds) + 1, dtype=np.int64)
        self._sum = 0.0

    def record(self, latency_us: float) -> None:
        """Keep one latency; fold the ring into the buckets when it is about to wrap."""
        self._ring[self._n % self._size] = latency_us
        self._n += 1
        if self._n - self._folded >= self._size:
            self._fold()

    def recent(self) -> FloatArray:
        """The last ``size`` latencies (fewer before the ring first fills)."""
        return self._ring[: min(self._n, self._size)].copy()

    def histogram(self) -> dict[str, Any]:
        """Cumulative figures: ``bounds_us``, per-bucket ``counts`` (last one +Inf), ``sum_us``,
        ``count``; the Prometheus histogram of ``edgemark_decide_duration_seconds``."""
        self._fold()
        return {
            "bounds_us": self._bounds.tolist(),
            "counts": self._counts.tolist(),
            "sum_us": self._sum,
            "count": self._n,
        }

    def _fold(self) -> None:
        if self._folded == self._n:
            return
        values = self._ring[np.arange(self._folded, self._n) % self._size]
        # side="left": a latency equal to a bound falls in that bound's bucket (le).
        index = np.searchsorted(self._bounds, values, side="left")
        self._counts += np.bincount(index, minlength=len(self._counts))
        self._sum += float(values.sum())
        self._folded = self._n
