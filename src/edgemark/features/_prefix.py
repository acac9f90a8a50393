"""Prefix sums over the sorted group rows of the running plan, read per (user, time) pair.

Rows are keyed ``(partition << 32) | bucket offset`` (a partition is a user's consent
epoch), so "every row of the pair's partition before bucket b" is one binary search, and a
window is the difference of two prefixes. Integer-valued columns run over all rows (exact);
float columns restart at each partition, so other users' totals cost no precision.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = Any  # a numpy array (numpy's stubs type most results as Any)
Sums = tuple[Array, bool]  # running sums with a leading 0, and whether they span partitions
_SHIFT = 32
_LIMIT = (1 << 31) - 1
_MAX_DECAY_EXPONENT = 900.0  # the scaled decayed sums stay far below the double range


class Unsupported(Exception):
    """The running plan cannot hold this data exactly; the caller uses the reference plan."""


def column(table: Any, name: str) -> Array:
    """One column of an Arrow table as a numpy array (nulls become NaN); a view of the
    Arrow buffer when it has one chunk and no nulls (fresh memory is slow to touch)."""
    data = table.column(name)
    if data.num_chunks == 1 and data.null_count == 0:
        return data.chunk(0).to_numpy(zero_copy_only=False)
    return np.ascontiguousarray(data.to_numpy())


class Prefix:
    """The sorted group rows of the running plan and the pairs that read them."""

    def __init__(self, groups: Any, pairs: Any, bucket_seconds: float) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        self.groups = groups
        n = self.n = groups.num_rows
        users = groups.column("u").combine_chunks()
        ep = column(groups, "ep").astype(np.int64)
        self.bucket = column(groups, "bucket").astype(np.int64)
        self.bucket_seconds = bucket_seconds
        new_user = np.ones(n, dtype=bool)
        if n > 1:
            changed = pc.not_equal(users.slice(1), users.slice(0, n - 1))
            new_user[1:] = changed.to_numpy(zero_copy_only=False)
        pid = np.cumsum(new_user) - 1
        found = pc.index_in(pairs.column("u"), value_set=users.filter(pa.array(new_user)))
        qpid = found.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        qep = column(pairs, "ep").astype(np.int64)
        epochs = int(max(ep.max(initial=0), qep.max(initial=0))) + 1
        self.pk = pid * epochs + ep
        self.qpk = np.where(qpid >= 0, qpid * epochs + qep, -1)
        self.bmin = int(self.bucket.min(initial=0))
        offset = self.bucket - self.bmin + 1
        if n and (int(self.pk[-1]) > _LIMIT or int(offset.max()) >= _LIMIT):
            raise Unsupported("too many partitions or buckets for 64-bit row keys")
        self.key = (self.pk << _SHIFT) | offset
        self.new_part = np.ones(n, dtype=bool)
        self.new_part[1:] = self.pk[1:] != self.pk[:-1]
        self.cur = column(pairs, "cur").astype(np.int64)
        self.t = column(pairs, "t").astype(np.float64)
        self._at: dict[int, Array] = {}
        self.before = np.searchsorted(self.key, self.qpk << _SHIFT) - 1  # row before partition
        self.first_row = np.minimum(self.before + 1, max(n - 1, 0))
        self.has_rows = self.before + 1 < n
        if n:
            self.has_rows &= self.pk[self.first_row] == self.qpk
        self._ref: Array | None = None
        self._depth: Array | None = None
        self._scratch: Array = np.empty(0)

    def column(self, name: str) -> Array:
        """A column of the group rows."""
        return column(self.groups, name)

    def at(self, back: int) -> Array:
        """Per pair: index of its partition's last row before bucket ``cur - back`` (or the
        row before the partition)."""
        if back not in self._at:
            offset = np.clip(self.cur - back - self.bmin + 1, 0, _LIMIT)
            self._at[back] = np.searchsorted(self.key, (self.qpk << _SHIFT) | offset) - 1
        return self._at[back]

    def through(self, first: Array, back: int, delay: float) -> Array:
        """Per pair: ``at(back)`` extended over the rows of bucket ``cur - back`` whose time
        ``first`` satisfies ``first + delay <= t`` (those buckets hold one row per time)."""
        row = self.at(back).copy()
        target = self.cur - back
        active = np.arange(len(row))
        while active.size and self.n:
            nxt = np.minimum(row[active] + 1, self.n - 1)
            ok = (row[active] + 1 < self.n) & (self.pk[nxt] == self.qpk[active])
            ok &= (self.bucket[nxt] == target[active]) & (first[nxt] + delay <= self.t[active])
            active = active[ok]
            row[active] += 1
        return row

    def prefix(self, values: Array, exact: bool) -> Sums:
        """Running sums with a leading 0 (index ``row + 1``)."""
        out = np.empty(self.n + 1)
        out[0] = 0.0
        values = np.asarray(values, dtype=np.float64)
        if exact:
            np.cumsum(values, out=out[1:])
            return out, True
        out[1:] = values
        self._segmented(out[1:])
        return out, False

    def _segmented(self, values: Array) -> None:
        """Inclusive prefix sums within each partition, in place (log-step scan)."""
        if not self.n:
            return
        if self._depth is None:
            start = np.maximum.accumulate(np.where(self.new_part, np.arange(self.n), 0))
            self._depth = np.arange(self.n) - start
            self._scratch = np.empty(self.n)
        depth, scratch, n = self._depth, self._scratch, self.n
        step, deepest = 1, int(depth.max())
        while step <= deepest:
            np.copyto(scratch[: n - step], values[: n - step])
            np.add(
                values[step:], scratch[: n - step], out=values[step:], where=depth[step:] >= step
            )
            step *= 2

    def read(self, sums: Sums, index: Array) -> Array:
        """Per pair: its partition's running sum through row ``index`` (at or after the row
        before the partition)."""
        values, everywhere = sums
        if everywhere:
            return values[index + 1]
        return np.where(index > self.before, values[index + 1], 0.0)

    def between(self, sums: Sums, end: Array, back: int) -> Array:
        """Per pair: rows after ``at(back)`` through ``end``."""
        return self.read(sums, end) - self.read(sums, self.at(back))

    def last(self, present: Array, values: Array, end: Array) -> Array:
        """Per pair: ``values`` of the last row through ``end`` of its partition where
        ``present`` (``-inf`` without one)."""
        if not self.n:
            return np.full(len(self.t), -np.inf)
        index = np.maximum.accumulate(np.where(present, np.arange(self.n), -1))
        picked = np.where(end >= 0, index[np.maximum(end, 0)], -1)
        return np.where(picked > self.before, values[np.maximum(picked, 0)], -np.inf)

    def _refs(self) -> Array:
        """Per row: the first bucket of its partition."""
        if self._ref is None:
            first = np.maximum.accumulate(np.where(self.new_part, np.arange(self.n), 0))
            self._ref = self.bucket[first]
        return self._ref

    def decay_rows(self, half_life: float) -> Array:
        """Per row ``2 ** ((bucket - ref) * B / h)``, ``ref`` its partition's first bucket."""
        exponent = (self.bucket - self._refs()) * self.bucket_seconds / half_life
        if self.n and float(exponent.max()) > _MAX_DECAY_EXPONENT:
            raise Unsupported("decayed sums span too many half-lives for one running sum")
        return np.power(2.0, exponent)

    def decay_pairs(self, half_life: float) -> Array:
        """Per pair ``2 ** ((ref * B - t) / h)`` (0 without rows)."""
        if not self.n:
            return np.zeros(len(self.t))
        ref = self._refs()[self.first_row] * self.bucket_seconds
        scale = np.power(2.0, np.clip((ref - self.t) / half_life, -1100.0, 1000.0))
        return np.where(self.has_rows, scale, 0.0)
