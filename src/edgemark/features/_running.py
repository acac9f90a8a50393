"""The batch engine's fast plan: running sums looked up per (user, time) pair.

DuckDB sums the usable events (and the abandoned-cart and fatigue-reset rows of ``BatchSQL``)
once per (user, epoch, bucket, half-gap cell), sorted; numpy turns those rows into running
sums, so a window of any pair is a difference of two binary-searched prefixes, and DuckDB
adds the rows of the pair's current bucket up to ``t``. Same meaning as ``BatchSQL.pair_query``
(the reference plan; a test compares them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from edgemark._extras import require
from edgemark.features._plan import Eval, Plan
from edgemark.features._prefix import Array, Prefix, Unsupported, column
from edgemark.features._spec import BEHAVIOUR_TYPES, DAY_SECONDS
from edgemark.features._sql import BatchSQL, code, lit, num

Key = tuple[str, ...]
_BATCH = 1 << 22  # rows per Arrow batch: few chunks, cheap numpy views
_LISTED = 512  # more fine buckets than this are joined from a table, not listed in the SQL
_BITS, _PER = 17, 3  # packed counts: 3 fields of 17 bits in a double's 53
_EXACT = frozenset({"n", "cat", "act", "ab", "ex", "rst"})  # integer-valued sum columns


class Running:
    """The running-sum plan of one spec on one connection (see module docstring)."""

    def __init__(self, plan: Plan, universe: list[str] | None) -> None:
        if plan.category_caps and universe is None:
            raise Unsupported("more categories than the distinct-category columns hold")
        self.plan = plan
        self.sql = BatchSQL(plan, universe)
        self.universe = universe or []
        self.half_gap = plan.gap / 2 if plan.sessions else 0.0
        self.sums: dict[Key, int] = {}
        for e in plan.evals:
            for key in self._keys_of(e):
                self.sums.setdefault(key, len(self.sums))
        # Integer-valued sums share DOUBLE columns, _BITS bits each (fewer aggregates; exact
        # while a group has fewer than 2 ** _BITS rows, which ``compute`` checks).
        self.slots: dict[Key, tuple[str, int]] = {}
        counts = [k for k in self.sums if k[0] in _EXACT]
        for i, key in enumerate(counts):
            self.slots[key] = (f"p{i // _PER}", _BITS * (i % _PER))
        for j, key in enumerate(k for k in self.sums if k[0] not in _EXACT):
            self.slots[key] = (f"f{j}", -1)
        self.lk_types = sorted(plan.recency_types)
        cats = {str(k[2]) for k in self.sums if k[0] == "cat"}
        self.categories = sorted(cats)

    def _keys_of(self, e: Eval) -> list[Key]:
        p = self.plan
        key = p.columns[e.col] if e.col >= 0 else ()
        if e.kind in ("count", "sum_amount", "decayed_count"):
            return [key]
        if e.kind in ("mean_amount", "category_share"):
            return [key, p.columns[e.col2]]
        if e.kind in ("events_per_session", "session_age_minutes", "session_count"):
            return [("act",)] if e.kind == "events_per_session" else []
        if e.kind == "distinct_categories":
            return [("cat", e.name, c) for c in self.universe]
        if e.kind == "cart_abandonment":
            return [("ab", repr(e.param))]
        if e.kind == "offer_fatigue":
            return [("ex",), ("rst",)]
        return []

    # -- SQL ------------------------------------------------------------------------------
    def statements(self, revocations: bool) -> list[str]:
        """Statements that build ``ue`` (usable events), the pseudo-row tables and the
        ``rows`` view (events, abandoned carts, resets) from ``ev``, ``rev`` and ``q``."""
        p = self.plan
        bucket = num(p.bucket)
        usable = f"SELECT * FROM ev WHERE type <> 'consent' AND cp AND lag <= {num(p.lateness)}"
        if revocations:
            epoch = (
                "SELECT e.u, coalesce(r.k, 0) AS ep, e.type, e.ts, e.amount, e.category "
                f"FROM ({usable}) e ASOF LEFT JOIN rev r ON e.u = r.u AND e.ts > r.eff"
            )
        else:
            epoch = f"SELECT u, 0 AS ep, type, ts, amount, category FROM ({usable})"
        codes = " ".join(f"WHEN {lit(t)} THEN {code(t)}" for t in BEHAVIOUR_TYPES)
        cats = ", ".join(lit(c) for c in self.categories) or "''"
        out = [
            f"CREATE TEMP {'TABLE' if revocations else 'VIEW'} ue AS SELECT *, "
            f"CAST(floor(ts / {bucket}) AS BIGINT) AS bucket, {self._cell('ts')} AS cell, "
            f"CAST(CASE type {codes} ELSE -1 END AS TINYINT) AS tc, "
            f"CAST(coalesce(list_position([{cats}], category), 0) AS TINYINT) AS cc "
            f"FROM ({epoch})"
        ]
        out += [
            f"CREATE TEMP TABLE ab{k} AS {self.sql.abandoned(a)}" for k, a in enumerate(p.carts)
        ]
        if ("ex",) in self.sums:
            out.append(f"CREATE TEMP TABLE resets AS {self.sql.resets()}")
        out.append(f"CREATE TEMP VIEW rows AS {self._rows()}")
        return out

    def _cell(self, ts: str) -> str:
        if not self.half_gap:
            return "CAST(0 AS BIGINT)"
        return f"CAST(floor({ts} / {num(self.half_gap)}) AS BIGINT)"

    def _rows(self) -> str:
        """Event rows and pseudo-rows (abandoned carts, fatigue resets): u, ep, bucket, cell,
        ts, the sum columns (f* floats, p* packed counts), the recency columns l*."""
        names = sorted({name for name, _ in self.slots.values()})
        lks = [f"l{i}" for i in range(len(self.lk_types))]

        def select(cells: dict[Key, str], source: str, bucket: str) -> str:
            parts: dict[str, list[str]] = {n: [] for n in names}
            for key, value in cells.items():
                if key not in self.slots:
                    continue  # a recency column
                name, shift = self.slots[key]
                if value != "0.0":
                    parts[name].append(value if shift <= 0 else f"{value} * {float(1 << shift)!r}")
            values = [(" + ".join(parts[n]) or "0.0") + f" AS {n}" for n in names]
            values += [cells.get((n,), "CAST(NULL AS DOUBLE)") + f" AS {n}" for n in lks]
            head = f"u, ep, {bucket} AS bucket, {self._cell('ts')} AS cell, ts"
            return f"SELECT {head}, {', '.join(values)} FROM {source}"

        event: dict[Key, str] = {key: self._expr(key) for key in self.sums}
        event.update({(f"l{i}",): f"CASE WHEN tc = {code(t)} THEN ts END"
                      for i, t in enumerate(self.lk_types)})  # fmt: skip
        parts = [select(event, "ue", "bucket")]
        if ("rst",) in self.sums:
            bucket = f"CAST(floor(ts / {num(self.plan.bucket)}) AS BIGINT)"
            parts.append(select({("rst",): "1.0"}, "resets", bucket))
        for k, within in enumerate(self.plan.carts):
            parts.append(select({("ab", repr(within)): "1.0"}, f"ab{k}", "bucket"))
        return " UNION ALL ".join(parts)

    def _expr(self, key: Key) -> str:
        what = key[0]
        if what == "act":
            return "1.0"
        if what in ("ab", "rst"):
            return "0.0"
        if what == "ex":
            return f"CAST(tc = {code('exposure')} AS DOUBLE)"
        is_type = f"tc = {code(key[1])}"
        if what == "n":
            return f"CAST({is_type} AS DOUBLE)"
        if what == "amt":
            return f"CASE WHEN {is_type} THEN coalesce(amount, 0.0) ELSE 0.0 END"
        if what == "dec":
            decay = f"pow(2.0, (ts - bucket * {num(self.plan.bucket)}) / {num(float(key[2]))})"
            return f"CASE WHEN {is_type} THEN {decay} ELSE 0.0 END"
        category = self.categories.index(str(key[2])) + 1
        return f"CAST({is_type} AND cc = {category} AS DOUBLE)"

    def _aggregates(self) -> str:
        # A pseudo-row has the time of an event of its group (its cart or redeem), so the
        # group's first and last times are those of its events.
        cols = [f"sum({n}) AS {n}" for n in sorted({n for n, _ in self.slots.values()})]
        cols += [
            f"coalesce(max(l{i}), '-Infinity'::DOUBLE) AS l{i}" for i in range(len(self.lk_types))
        ]
        cols += ["min(ts) AS first", "max(ts) AS last", "count(*) AS n_rows"]
        return ", ".join(cols)

    def groups_query(self, fine: list[int]) -> str:
        """Per (u, ep, bucket, cell) sums, sorted; in the ``fine`` buckets (where pairs cut a
        bucket at their time) one row per distinct time instead, so a pair reads a prefix."""
        if len(fine) > _LISTED:  # many pair times: a table of them (``fine_buckets``)
            exact = "CASE WHEN bucket IN (SELECT b FROM fine_buckets) THEN ts END"
        elif fine:
            listed = ", ".join(str(b) for b in fine)
            exact = f"CASE WHEN bucket IN ({listed}) THEN ts END"
        else:
            exact = "CAST(NULL AS DOUBLE)"
        return (
            f"SELECT u, ep, bucket, {self._aggregates()} FROM rows "
            f"GROUP BY u, ep, bucket, cell, {exact} ORDER BY u, ep, bucket, cell, {exact}"
        )


def compute(con: Any, plan: Plan, universe: list[str] | None, revocations: bool) -> Any:
    """Run the plan on ``con`` (tables ev, rev, q); return the features as a float64 matrix
    (Fortran order: one contiguous column per feature) with one row per pair of ``q`` in idx
    order, and ``q`` (idx, u, t, cur, ep, revoked) as an Arrow table."""
    pa = require("pyarrow", "train")
    run = Running(plan, universe)
    for statement in run.statements(revocations):
        con.execute(statement)
    pairs = _arrow(con, "SELECT idx, u, t, cur, ep, revoked FROM q ORDER BY idx")
    curs = {int(c) for c in np.unique(column(pairs, "cur"))}
    backs = [0] + [plan.spec.buckets_of(a, "within") for a in plan.carts]
    fine = sorted({c - b for c in curs for b in backs})
    if len(fine) > _LISTED:
        con.register("fine_buckets", pa.table({"b": pa.array(fine, pa.int64())}))
    groups = _arrow(con, run.groups_query(fine))
    if groups.num_rows and int(column(groups, "n_rows").max()) >= 1 << _BITS:
        raise Unsupported("a group has too many rows for packed counts")
    prefix = Prefix(groups, pairs, plan.bucket)
    return _Assemble(run, prefix).matrix(column(pairs, "revoked")), pairs


def _arrow(con: Any, sql: str) -> Any:
    return con.sql(sql).to_arrow_table(batch_size=_BATCH)


def drop_statements(plan: Plan, revocations: bool) -> list[str]:
    """Statements that drop what ``Running.statements`` built (before the reference plan)."""
    tables = [f"ab{k}" for k in range(len(plan.carts))] + ["resets"]
    out = ["DROP VIEW IF EXISTS rows"]
    out += [f"DROP TABLE IF EXISTS {name}" for name in tables]
    return [*out, f"DROP {'TABLE' if revocations else 'VIEW'} IF EXISTS ue"]


class _Assemble:
    """The features of every pair from the prefixes of the group rows."""

    def __init__(self, run: Running, prefix: Prefix) -> None:
        self.run, self.p = run, prefix
        self.first = prefix.column("first")
        self.end = prefix.through(self.first, 0, 0.0)  # last row at or before t
        self._sums: dict[Key, tuple[Array, bool]] = {}
        self._starts: tuple[tuple[Array, bool], Array] | None = None
        self._context: tuple[Array, Array] | None = None

    def sums(self, key: Key) -> tuple[Array, bool]:
        if key not in self._sums:
            name, shift = self.run.slots[key]
            values = self.p.column(name)
            if shift >= 0:
                packed = values.astype(np.int64)
                values = ((packed >> shift) & ((1 << _BITS) - 1)).astype(np.float64)
            if key[0] == "dec":
                values = values * self.p.decay_rows(float(key[2]))
            self._sums[key] = self.p.prefix(values, key[0] in _EXACT)
        return self._sums[key]

    def total(self, key: Key, window: int) -> Array:
        """Sum of column ``key`` over the window, up to t."""
        return self.p.between(self.sums(key), self.end, window - 1)

    def starts(self) -> tuple[tuple[Array, bool], Array]:
        """Session starts: prefix sums per row, and per pair the last start time (-inf)."""
        if self._starts is None:
            p, gap = self.p, self.run.plan.gap
            last = p.column("last")
            start = p.new_part.copy()
            start[1:] |= self.first[1:] - last[:-1] > gap
            self._starts = (p.prefix(start, exact=True), p.last(start, self.first, self.end))
        return self._starts

    def matrix(self, revoked: Array) -> Array:
        plan = self.run.plan
        out = np.empty((len(self.p.t), len(plan.evals)), dtype=np.float64, order="F")
        for e in plan.evals:
            value = self.value(e)
            if e.kind not in ("hour_of_day", "day_of_week"):
                value = np.where(revoked, plan.defaults[e.pos], value)
            out[:, e.pos] = value
        return out

    def value(self, e: Eval) -> Array:
        plan, p, kind, w = self.run.plan, self.p, e.kind, e.window
        t = p.t
        if kind in ("hour_of_day", "day_of_week"):
            if self._context is None:  # one offset lookup for both features
                self._context = plan.local.hours_weekdays(t)
            return self._context[0 if kind == "hour_of_day" else 1]
        if kind == "recency_days":
            values = p.column(f"l{self.run.lk_types.index(e.name)}")
            last = p.last(values > -np.inf, values, self.end)
            return np.minimum(plan.cap_days, (t - last) / float(DAY_SECONDS))
        if kind in ("count", "sum_amount"):
            return self.total(plan.columns[e.col], w)
        if kind in ("mean_amount", "category_share"):
            top = self.total(plan.columns[e.col], w)
            return _ratio(top, self.total(plan.columns[e.col2], w))
        if kind == "decayed_count":
            complete = self.total(plan.columns[e.col], w)
            scale = p.decay_pairs(e.param)
            return np.where(complete != 0.0, complete * scale, 0.0)
        if kind in ("session_count", "events_per_session"):
            starts = p.between(self.starts()[0], self.end, w - 1)
            if kind == "session_count":
                return starts
            return _ratio(self.total(("act",), w), starts)
        if kind == "session_age_minutes":
            latest = self.starts()[1]
            last = p.last(np.ones(p.n, dtype=bool), p.column("last"), self.end)
            return np.where(t - last <= plan.gap, (t - latest) / 60.0, 0.0)
        if kind == "distinct_categories":
            seen = np.zeros_like(t)
            for c in self.run.universe:
                seen += self.total(("cat", e.name, c), w) > 0
            return np.minimum(e.param, seen)
        if kind == "cart_abandonment":
            return self._abandoned(e)
        if kind == "offer_fatigue":
            return self._fatigue(e)
        raise AssertionError(f"unknown kind {kind}")  # pragma: no cover - checked by Feature

    def _abandoned(self, e: Eval) -> Array:
        """Abandoned carts of the window due by t (``cart + within <= t``)."""
        p = self.p
        b = self.run.plan.spec.buckets_of(e.param, "within")
        if b >= e.window:
            return np.zeros_like(p.t)
        due = p.through(self.first, b, e.param)
        return p.between(self.sums(("ab", repr(e.param))), due, e.window - 1)

    def _fatigue(self, e: Eval) -> Array:
        """Exposures of the window after the last redeem: every exposure so far, less those
        before the window or reset by a redeem so far (both are prefixes in time)."""
        p = self.p
        exposures, resets = self.sums(("ex",)), self.sums(("rst",))
        seen = p.read(exposures, self.end) - p.read(exposures, p.before)
        reset = p.read(resets, self.end) - p.read(resets, p.before)
        before = p.read(exposures, p.at(e.window - 1)) - p.read(exposures, p.before)
        return np.minimum(e.param, seen - np.maximum(reset, before))


def _ratio(top: Array, bottom: Array) -> Array:
    safe = np.where(bottom > 0, bottom, 1.0)
    return np.where(bottom > 0, top / safe, 0.0)
