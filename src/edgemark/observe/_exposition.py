"""The Prometheus text exposition format (0.0.4), written by hand, and a thread-safe histogram.

No dependency: the core install is the edge install, and the format is small and stable.
Names and label names are checked against Prometheus' rules, so a typo fails at once
instead of producing a scrape error on someone's server.
"""

from __future__ import annotations

import bisect
import math
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from edgemark.errors import ConfigError

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
Labels = Mapping[str, str]
Sample = tuple[Labels, Any]
# Seconds: from 25 µs (a fast decide) to 10 s (a slow hub request).
LATENCY_BUCKETS = (
    0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
# Seconds, finer where decide() lives (tens to hundreds of µs), up to a 25 ms stall.
DECIDE_BUCKETS = (
    0.000025, 0.00005, 0.000075, 0.0001, 0.00015, 0.0002, 0.0003, 0.0005, 0.00075,
    0.001, 0.002, 0.005, 0.01, 0.025,
)  # fmt: skip


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    for key in labels:
        if not _LABEL.match(key):
            raise ConfigError(f"Invalid Prometheus label name {key!r}.")
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(labels.items()))
    return "{" + inner + "}"


def number(value: Any) -> str:
    """A sample value as Prometheus writes it (integers without a decimal point).

    >>> number(3.0), number(0.25), number(float("inf"))
    ('3', '0.25', '+Inf')
    """
    x = float(value)
    if math.isinf(x):
        return "+Inf" if x > 0 else "-Inf"
    if math.isnan(x):
        return "NaN"
    return str(int(x)) if x.is_integer() and abs(x) < 2**53 else repr(x)


class Exposition:
    """Families of samples, rendered as one exposition text.

    >>> e = Exposition()
    >>> e.family("edgemark_outbox_pending", "gauge", "Report rows waiting.", [({}, 3)])
    >>> print(e.text(), end="")
    # HELP edgemark_outbox_pending Report rows waiting.
    # TYPE edgemark_outbox_pending gauge
    edgemark_outbox_pending 3
    """

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str, samples: Iterable[Sample]) -> None:
        """One metric family; samples whose value is None are left out."""
        if not _NAME.match(name):
            raise ConfigError(f"Invalid Prometheus metric name {name!r}.")
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            if value is not None:
                self.lines.append(f"{name}{_labels(labels)} {number(value)}")

    def raw(self, name: str, labels: Labels, value: Any) -> None:
        """One extra sample line (a histogram's _bucket, _sum or _count, a summary's _count)."""
        self.lines.append(f"{name}{_labels(labels)} {number(value)}")

    def histogram(
        self, name: str, help_text: str, series: Iterable[tuple[Labels, Histogram]]
    ) -> None:
        """A histogram family from live ``Histogram`` objects (one per label set)."""
        self.family(name, "histogram", help_text, [])
        for labels, hist in series:
            counts, total, count = hist.snapshot()
            self.buckets(name, labels, hist.bounds, counts, total, count)

    def buckets(
        self,
        name: str,
        labels: Labels,
        bounds: Sequence[float],
        counts: Sequence[int],
        total: float,
        count: int,
    ) -> None:
        """One histogram series from per-bucket ``counts`` (the last one +Inf): cumulative
        ``_bucket`` lines, ``_sum`` and ``_count``. The family header is the caller's."""
        running = 0
        for bound, n in zip((*bounds, math.inf), counts, strict=True):
            running += n
            self.raw(f"{name}_bucket", {**labels, "le": number(bound)}, running)
        self.raw(f"{name}_sum", labels, total)
        self.raw(f"{name}_count", labels, count)

    def text(self) -> str:
        """The exposition text, newline-terminated."""
        return "\n".join(self.lines) + "\n"


class Histogram:
    """Cumulative bucket counts of observed values (thread-safe; ``observe`` is O(log n))."""

    def __init__(self, bounds: Sequence[float] = LATENCY_BUCKETS) -> None:
        if list(bounds) != sorted(set(bounds)) or not bounds:
            raise ConfigError("Histogram bounds must be distinct and increasing.")
        self.bounds = tuple(float(b) for b in bounds)
        self._counts = [0] * (len(self.bounds) + 1)
        self._sum = 0.0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        """Count one observation."""
        index = bisect.bisect_left(self.bounds, value)
        with self._lock:
            self._counts[index] += 1
            self._sum += value

    def snapshot(self) -> tuple[list[int], float, int]:
        """``(per-bucket counts, sum, count)``; the last bucket is +Inf."""
        with self._lock:
            return list(self._counts), self._sum, sum(self._counts)
