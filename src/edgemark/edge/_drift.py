"""Drift: PSI of live feature values and scores against reference histograms from the bundle.

The bundle may ship ``reference_histograms`` (a manifest key, or a listed file
``reference_histograms.json``): {"features": {name: {"edges": [...], "fractions": [...]}},
"score": {...}}. ``edges`` are the k interior bin edges (ascending), ``fractions`` the k+1
shares of the reference in (-inf, e0), [e0, e1), ..., [e_last, inf). Absent: no drift.
The hot path only copies a row into a ring buffer; binning happens off the hot path.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.errors import BundleError

REFERENCE_FILE = "reference_histograms.json"
REFERENCE_KEY = "reference_histograms"
_FLOOR = 1e-4  # empty bins would make PSI infinite
MIN_COUNT = 100


@dataclass(frozen=True, slots=True)
class Histogram:
    """A reference histogram: interior edges and the share of each of len(edges)+1 bins."""

    edges: tuple[float, ...]
    fractions: tuple[float, ...]


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index sum((a - e) ln(a / e)) of two share vectors (floored).

    >>> round(psi([0.5, 0.5], [0.5, 0.5]), 6), round(psi([0.5, 0.5], [0.9, 0.1]), 3)
    (0.0, 0.879)
    """
    e = np.maximum(np.asarray(expected, dtype=np.float64), _FLOOR)
    a = np.maximum(np.asarray(actual, dtype=np.float64), _FLOOR)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def read_references(
    bundle_dir: Path, extra: Mapping[str, Any], files: Mapping[str, str], names: Sequence[str]
) -> dict[str, Histogram]:
    """Reference histograms by feature name (and ``"score"``), or {} when the bundle has none."""
    raw: Any = extra.get(REFERENCE_KEY)
    if raw is None and REFERENCE_FILE in files:
        try:
            raw = json.loads((bundle_dir / REFERENCE_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError(f"{REFERENCE_FILE} is not readable JSON: {exc}.") from None
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise BundleError("reference_histograms must be an object with 'features' and 'score'.")
    out: dict[str, Histogram] = {}
    features = raw.get("features", {})
    if not isinstance(features, Mapping):
        raise BundleError("reference_histograms.features must map feature names to histograms.")
    for name, hist in features.items():
        if name in names:  # a reference for a feature this spec lacks is ignored
            out[str(name)] = _histogram(hist, str(name))
    if raw.get("score") is not None:
        out["score"] = _histogram(raw["score"], "score")
    return out


def _histogram(raw: Any, name: str) -> Histogram:
    where = f"reference_histograms[{name!r}]"
    if not isinstance(raw, Mapping):
        raise BundleError(f"{where} must be an object with 'edges' and 'fractions'.")
    edges, shares = raw.get("edges"), raw.get("fractions", raw.get("counts"))
    numbers = isinstance(edges, list) and isinstance(shares, list)
    if not numbers or not all(_finite(v) for v in [*edges, *shares]):  # type: ignore[misc]
        raise BundleError(f"{where} needs lists of finite numbers 'edges' and 'fractions'.")
    assert isinstance(edges, list) and isinstance(shares, list)
    if len(shares) != len(edges) + 1 or any(b <= a for a, b in itertools.pairwise(edges)):
        raise BundleError(f"{where}: 'fractions' needs len(edges)+1 shares, edges ascending.")
    if min(shares) < 0 or sum(shares) <= 0:
        raise BundleError(f"{where}: 'fractions' must be >= 0 with a positive sum.")
    total = float(sum(shares))
    return Histogram(tuple(float(e) for e in edges), tuple(float(s) / total for s in shares))


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


class DriftMonitor:
    """Live histograms since the bundle was loaded; ``add`` is the hot-path part."""

    def __init__(
        self, references: Mapping[str, Histogram], names: Sequence[str], capacity: int = 4096
    ) -> None:
        self.references = dict(references)
        self._columns = [(i, n) for i, n in enumerate(names) if n in self.references]
        self._rows: npt.NDArray[np.float64] = np.zeros((capacity, len(names)))
        self._scores: npt.NDArray[np.float64] = np.zeros(capacity)
        self._n = 0
        self._binned = 0
        self._counts = {n: np.zeros(len(h.fractions)) for n, h in self.references.items()}
        self.enabled = bool(self.references)

    def add(self, vector: npt.NDArray[np.float64], score: float) -> None:
        """Remember one scored feature vector (overwrites the oldest if not binned in time)."""
        slot = self._n % len(self._scores)
        self._rows[slot] = vector
        self._scores[slot] = score
        self._n += 1

    def update(self) -> None:
        """Bin the rows added since the last update (off the hot path)."""
        n, capacity = self._n, len(self._scores)
        fresh = min(n - self._binned, capacity)
        if fresh <= 0:
            return
        slots = np.arange(n - fresh, n) % capacity
        for column, name in self._columns:
            self._bin(name, self._rows[slots, column])
        if "score" in self.references:
            self._bin("score", self._scores[slots])
        self._binned = n

    def _bin(self, name: str, values: npt.NDArray[np.float64]) -> None:
        edges = np.asarray(self.references[name].edges)
        index = np.searchsorted(edges, values, side="right")
        self._counts[name] += np.bincount(index, minlength=len(edges) + 1)

    def psi(self) -> dict[str, float]:
        """PSI per feature (and ``score``) with at least ``MIN_COUNT`` live values."""
        out = {}
        for name, counts in self._counts.items():
            if counts.sum() >= MIN_COUNT:
                out[name] = psi(self.references[name].fractions, counts / counts.sum())
        return out
