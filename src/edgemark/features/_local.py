"""Local time of a feature spec: the UTC offset at any instant, fixed or of an IANA zone.

Every engine reads hour of day and weekday through one offset table, built from the zone
database with ``datetime.fromtimestamp`` (the ground truth): per chunk of 2**25 s (~388
days), offsets probed every 6 hours and each change bisected to its second. The online
reader keeps the offset until the next transition, the running plan looks offsets up with
``searchsorted`` and the SQL plan ASOF-joins the same table, so all three agree.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, tzinfo

import numpy as np
import numpy.typing as npt

from edgemark.errors import FeatureError

DAY = 86400
CHUNK = 1 << 25  # seconds per table chunk (a power of two: t / CHUNK is exact)
# Transitions of one zone are at least 4 days apart (tzdata since 1900: 344,400 s), so a
# 6-hour probe sees every one.
_STEP = 6 * 3600
# datetime covers years 1..9999; offsets outside are those of the nearest covered second.
_FIRST = int(datetime(2, 1, 1, tzinfo=UTC).timestamp())
_LAST = int(datetime(9998, 12, 31, tzinfo=UTC).timestamp())
_KEPT_CHUNKS = 64  # online: chunks kept (reads wander over a few years at most)

Array = npt.NDArray[np.float64]


def load_zone(name: object) -> tzinfo:
    """The zone ``name`` of the zone database; ``FeatureError`` naming the fix otherwise."""
    if not isinstance(name, str) or not name:
        raise FeatureError(
            f"timezone must be an IANA zone name such as 'Europe/Berlin', got {name!r}"
        )
    if name == "localtime":
        raise FeatureError(
            "timezone 'localtime' is this machine's own zone, so the hub and every node could "
            "read different hours; name the zone, e.g. 'Europe/Berlin'"
        )
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(name)
    except Exception as exc:  # ZoneInfoNotFoundError, ValueError/OSError for malformed keys
        if not _has_zone_database():
            raise FeatureError(
                f"cannot read time zone {name!r}: this system has no time zone database; "
                "install the 'tzdata' package (pip install tzdata)"
            ) from None
        raise FeatureError(
            f"unknown time zone {name!r} ({exc}); use an IANA name such as 'Europe/Berlin' "
            "or 'America/New_York'"
        ) from None


def _has_zone_database() -> bool:
    import importlib.util
    import os
    import zoneinfo

    if any(os.path.isdir(path) for path in zoneinfo.TZPATH):
        return True
    try:
        return importlib.util.find_spec("tzdata") is not None
    except (ImportError, ValueError):
        return False


class LocalTime:
    """Hour of day and weekday (Monday = 0) of epoch seconds in a spec's local time.

    ``zone`` None means the fixed offset ``offset_s``; else the zone's offset at each
    instant (DST-aware), from a table shared by the engines (see the module docstring).
    """

    def __init__(self, zone: str | None, offset_s: float) -> None:
        self.zone = None if zone is None else load_zone(zone)
        self.fixed = float(offset_s)
        # (lo, hi, offset): the offset holds for lo <= t < hi (empty until the first read).
        self._span = (math.inf, -math.inf, 0.0)
        self._chunks: dict[int, tuple[list[int], list[float]]] = {}
        # Hour of day and weekday of one time: the decision hot path (a fixed offset keeps
        # the read it always had; a zone's offset is kept until it changes).
        self.context: Callable[[float], tuple[float, float]] = (
            self._context_fixed if self.zone is None else self._context_zoned
        )

    def _context_zoned(self, t: float) -> tuple[float, float]:
        lo, hi, offset = self._span
        if not lo <= t < hi:
            lo, hi, offset = self._span = self._span_of(t)
        local = t + offset
        day = math.floor(local / DAY)
        return float(math.floor((local - day * DAY) / 3600.0)), float((day + 3) % 7)

    def _context_fixed(self, t: float) -> tuple[float, float]:
        local = t + self.fixed
        day = math.floor(local / DAY)
        return float(math.floor((local - day * DAY) / 3600.0)), float((day + 3) % 7)

    def offset_at(self, t: float) -> float:
        """The UTC offset (seconds) in force at ``t``."""
        if self.zone is None:
            return self.fixed
        lo, hi, offset = self._span
        if not lo <= t < hi:
            lo, hi, offset = self._span = self._span_of(t)
        return offset

    def offsets(self, t: Array) -> Array:
        """The UTC offset at each of ``t`` (finite epoch seconds), vectorised."""
        if self.zone is None:
            return np.full(t.shape, self.fixed)
        chunks = np.unique(np.floor(t / float(CHUNK))).astype(np.int64).tolist()
        starts, offsets = self.table(chunks)
        return offsets[np.searchsorted(starts, t, "right") - 1]

    def hours_weekdays(self, t: Array) -> tuple[Array, Array]:
        """Hour of day and weekday of each of ``t`` (the formula of ``context``)."""
        local = t + (self.fixed if self.zone is None else self.offsets(t))
        day = np.floor(local / float(DAY))
        hour = np.floor((local - day * float(DAY)) / 3600.0)
        weekday = (((day.astype(np.int64) + 3) % 7 + 7) % 7).astype(np.float64)
        return hour, weekday

    def table(self, chunks: Iterable[int]) -> tuple[Array, Array]:
        """Transition starts and the offsets from them on, over the given chunks (each
        table begins at its chunk's start, so a time of those chunks finds its offset)."""
        starts: list[int] = []
        offsets: list[float] = []
        for k in sorted(set(chunks)):
            s, o = self._chunk(k)
            starts += s
            offsets += o
        return np.asarray(starts, dtype=np.float64), np.asarray(offsets, dtype=np.float64)

    def _span_of(self, t: float) -> tuple[float, float, float]:
        k = math.floor(t / CHUNK)
        starts, offsets = self._chunk(k)
        i = bisect_right(starts, t) - 1
        hi = starts[i + 1] if i + 1 < len(starts) else (k + 1) * CHUNK
        return float(starts[i]), float(hi), offsets[i]

    def _chunk(self, k: int) -> tuple[list[int], list[float]]:
        """Transitions of chunk ``k`` (its start first), probed and bisected (cached)."""
        if k in self._chunks:
            return self._chunks[k]
        if len(self._chunks) >= _KEPT_CHUNKS:
            self._chunks.clear()
        first, end = k * CHUNK, (k + 1) * CHUNK
        starts, offsets = [first], [self._utcoffset(first)]
        probes = [*range(first + _STEP, end, _STEP), end]
        prev, prev_offset = first, offsets[0]
        for probe in probes:
            offset = self._utcoffset(probe)
            while offset != prev_offset:  # a change in (prev, probe]: find its first second
                a, b = prev, probe
                while b - a > 1:
                    mid = (a + b) // 2
                    if self._utcoffset(mid) == prev_offset:
                        a = mid
                    else:
                        b = mid
                prev, prev_offset = b, self._utcoffset(b)
                if b < end:
                    starts.append(b)
                    offsets.append(prev_offset)
            prev = probe
        self._chunks[k] = (starts, offsets)
        return starts, offsets

    def _utcoffset(self, second: int) -> float:
        moment = datetime.fromtimestamp(min(max(second, _FIRST), _LAST), self.zone)
        delta = moment.utcoffset()
        return 0.0 if delta is None else delta.total_seconds()
