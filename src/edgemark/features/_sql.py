"""The SQL of the batch engine, generated from the same ``Plan`` as the online engine.

Steps (each a DuckDB temp table): usable events (consent, lateness, revocation epochs);
session starts; contributions ``C`` (one row per event, plus pseudo-rows for abandoned
carts, fatigue resets and distinct-category hand-overs, each with the bucket ``wb`` that
decides its window); per-bucket partial sums ``P``; and per (user, time) pair the sum of the
complete buckets inside the windows plus the current bucket's rows with ``ts <= t``.
"""

from __future__ import annotations

from edgemark.features._plan import Eval, Plan
from edgemark.features._spec import BEHAVIOUR_TYPES, DAY_SECONDS


def lit(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def num(value: float) -> str:
    """A SQL double literal that reads back as exactly ``value``."""
    return f"CAST({float(value)!r} AS DOUBLE)"


class BatchSQL:
    """The statements of one spec (see module docstring)."""

    def __init__(self, plan: Plan, universe: list[str] | None = None) -> None:
        """``universe``: every category the distinct-category features can meet, when there
        are at most 62 of them (sets become bitmasks); None keeps them as lists."""
        self.plan = plan
        self.universe = universe
        self.bucket = num(plan.bucket)
        self.kinds = sorted(plan.recency_types) + (["#act", "#start"] if _has_age(plan) else [])
        self.dc_types = sorted(plan.category_caps)
        self.fatigue = plan.fatigue_cap > 0
        self.categories = sorted({str(c[2]) for c in plan.columns if c[0] == "cat"})

    # -- preparation ----------------------------------------------------------------------
    def consent(self) -> list[str]:
        """Statements that build the consent tables (cons, cstate, rev) from ``ev``."""
        late = num(self.plan.lateness)
        return [
            "CREATE TEMP TABLE cons AS SELECT u, CASE WHEN cp THEN ts ELSE ts + lag END AS eff, "
            f"cp AS granted FROM ev WHERE type = 'consent' AND (NOT cp OR lag <= {late})",
            "CREATE TEMP TABLE cstate AS SELECT u, eff, bool_and(granted) AS granted "
            "FROM cons GROUP BY u, eff",
            "CREATE TEMP TABLE rev AS SELECT u, eff, count(*) OVER (PARTITION BY u ORDER BY eff "
            "RANGE UNBOUNDED PRECEDING) AS k FROM cons WHERE NOT granted",
        ]

    def prepare(self, revocations: bool) -> list[str]:
        """Statements that build ``ue`` (usable events), ``P`` (per-bucket sums), ``Ccur``
        (the rows of the pairs' current buckets) and ``R`` from ``ev`` and the pairs ``q``."""
        p = self.plan
        usable = f"SELECT * FROM ev WHERE type <> 'consent' AND cp AND lag <= {num(p.lateness)}"
        if revocations:
            epoch = (
                f"SELECT e.u, coalesce(r.k, 0) AS ep, e.type, e.ts, e.amount, e.category "
                f"FROM ({usable}) e ASOF LEFT JOIN rev r ON e.u = r.u AND e.ts > r.eff"
            )
        else:
            epoch = f"SELECT u, 0 AS ep, type, ts, amount, category FROM ({usable})"
        events, pseudo = self._contributions()
        contributions = " UNION ALL ".join([events, *pseudo])
        lists = [f"{self._category_set(i)} AS dc{i}" for i in range(len(self.dc_types))]
        # Small integer codes for the type and the declared categories: compared once per
        # row instead of strings once per column.
        codes = " ".join(f"WHEN {lit(t)} THEN {code(t)}" for t in BEHAVIOUR_TYPES)
        cats = ", ".join(lit(c) for c in self.categories) or "''"
        numbers = [v for v in self._values() if not v.startswith("dc")]
        current = ", ".join(["u", "ep", "bucket", "ts", "wb", *numbers, *lists])
        return [
            # A view when it is a plain filter of ev (each reader reads only its columns).
            f"CREATE TEMP {'TABLE' if revocations else 'VIEW'} ue AS SELECT *, "
            f"CAST(floor(ts / {self.bucket}) AS BIGINT) AS bucket, "
            f"CAST(CASE type {codes} ELSE -1 END AS TINYINT) AS tc, "
            f"CAST(coalesce(list_position([{cats}], category), 0) AS TINYINT) AS cc "
            f"FROM ({epoch})",
            *([f"CREATE TEMP TABLE starts AS {self._session_starts()}"] if p.sessions else []),
            *(f"CREATE TEMP TABLE ab{k} AS {self.abandoned(a)}" for k, a in enumerate(p.carts)),
            *([f"CREATE TEMP TABLE resets AS {self.resets()}"] if self.fatigue else []),
            f"CREATE TEMP VIEW C AS {contributions}",
            f"CREATE TEMP TABLE P AS SELECT u, ep, bucket, wb, {self._sums()} FROM C "
            "GROUP BY u, ep, bucket, wb",
            f"CREATE TEMP TABLE Ccur AS SELECT {current} FROM C "
            "WHERE bucket IN (SELECT DISTINCT cur FROM q)",
            f"CREATE TEMP TABLE R AS {self._latest()}",
        ]

    def _values(self) -> list[str]:
        return (
            [f"c{j}" for j in range(self.plan.width)]
            + (["fat"] if self.fatigue else [])
            + [f"dc{i}" for i in range(len(self.dc_types))]
            + [f"lk{i}" for i in range(len(self.kinds))]
        )

    def _row(self, exprs: dict[str, str], source: str, where: str = "") -> str:
        """One SELECT of contribution rows: u, ep, bucket, ts, wb, type, cat and the value
        columns (distinct-category lists are built from type and cat when aggregating)."""
        cols = [
            exprs.get(name, "CAST(NULL AS DOUBLE)" if name.startswith("lk") else "0.0")
            + f" AS {name}"
            for name in self._values()
            if not name.startswith("dc")
        ]
        keys = ("u", "ep", "bucket", "ts", "wb", "tc", "cat")
        defaults = {"tc": "CAST(-1 AS TINYINT)", "cat": "CAST(NULL AS VARCHAR)"}
        base = ", ".join(exprs.get(k, defaults.get(k, k)) + f" AS {k}" for k in keys)
        return f"SELECT {base}, {', '.join(cols)} FROM {source}" + (
            f" WHERE {where}" if where else ""
        )

    def _contributions(self) -> tuple[str, list[str]]:
        """The SELECT of event rows, and the SELECTs of pseudo-rows."""
        p = self.plan
        exprs = {"wb": "bucket", "tc": "tc", "cat": "category"}
        for j, key in enumerate(p.columns):
            exprs[f"c{j}"] = self._column_expr(key)
        if self.fatigue:
            exprs["fat"] = f"CAST(tc = {code('exposure')} AS DOUBLE)"
        for i, kind in enumerate(self.kinds):
            if kind == "#act":
                exprs[f"lk{i}"] = "ts"
            elif kind == "#start":
                exprs[f"lk{i}"] = "CAST(NULL AS DOUBLE)"  # session starts are pseudo-rows
            else:
                exprs[f"lk{i}"] = f"CASE WHEN tc = {code(kind)} THEN ts END"
        pseudo = [self._abandoned_rows(k, within) for k, within in enumerate(p.carts)]
        if self.fatigue:
            pseudo.append(self._fatigue_resets())
        if p.sessions:
            cells = (
                {"wb": "bucket", f"c{p.start_col}": "1.0"} if p.start_col >= 0 else {"wb": "bucket"}
            )
            if "#start" in self.kinds:
                cells[f"lk{self.kinds.index('#start')}"] = "ts"
            pseudo.append(self._row(cells, "starts"))
        return self._row(exprs, "ue"), pseudo

    def _column_expr(self, key: tuple[str, ...]) -> str:
        what = key[0]
        if what == "act":
            return "1.0"
        if what == "start":
            return "0.0"  # session starts are pseudo-rows
        if what == "abandon":
            return "0.0"
        is_type = f"tc = {code(key[1])}"
        if what == "n":
            return f"CAST({is_type} AS DOUBLE)"
        if what == "amt":
            return f"CASE WHEN {is_type} THEN coalesce(amount, 0.0) ELSE 0.0 END"
        if what == "dec":
            half_life = num(float(key[2]))
            decay = f"pow(2.0, (ts - bucket * {self.bucket}) / {half_life})"
            return f"CASE WHEN {is_type} THEN {decay} ELSE 0.0 END"
        category = self.categories.index(str(key[2])) + 1
        return f"CAST({is_type} AND cc = {category} AS DOUBLE)"

    def _category_set(self, i: int) -> str:
        """The set of one row's category (for distinct-category feature ``i``): a one-bit
        mask when the universe is small, else a one-element list."""
        is_type = f"tc = {code(self.dc_types[i])} AND cat IS NOT NULL"
        if self.universe is None:
            return f"CASE WHEN {is_type} THEN [cat] ELSE CAST([] AS VARCHAR[]) END"
        names = ", ".join(lit(c) for c in self.universe)
        bit = f"(CAST(1 AS BIGINT) << (list_position([{names}], cat) - 1))"
        return f"CASE WHEN {is_type} THEN {bit} ELSE CAST(0 AS BIGINT) END"

    def _distinct_count(self, v: str, w: int) -> str:
        if self.universe is None:
            return (
                f"len(list_distinct(flatten(list({v}) FILTER (WHERE wb > cur - {w})))) AS {v}_{w}"
            )
        return f"bit_count(bit_or({v}) FILTER (WHERE wb > cur - {w})) AS {v}_{w}"

    def _session_starts(self) -> str:
        """Events that start a session (more than a gap after the previous one), without
        sorting every event: within a cell of half a gap no event can start a session, so
        only each cell's first event is compared with the previous cell's last."""
        half = num(self.plan.gap / 2)
        cells = (
            f"SELECT u, ep, floor(ts / {half}) AS cell, min(ts) AS first, max(ts) AS last "
            "FROM ue GROUP BY u, ep, cell"
        )
        chained = (
            "SELECT u, ep, first AS ts, lag(last) OVER (PARTITION BY u, ep ORDER BY cell) "
            f"AS prev FROM ({cells})"
        )
        return (
            f"SELECT u, ep, ts, CAST(floor(ts / {self.bucket}) AS BIGINT) AS bucket FROM "
            f"({chained}) WHERE prev IS NULL OR ts - prev > {num(self.plan.gap)}"
        )

    def abandoned(self, within: float) -> str:
        """The carts no purchase followed within ``within`` seconds (u, ep, ts, bucket).
        (Filters on the type name reach the Parquet reader; the type code would not.)"""
        a = num(within)
        return (
            "SELECT c.u, c.ep, c.ts, c.bucket FROM "
            "(SELECT u, ep, ts, bucket FROM ue WHERE type = 'add_to_cart') c "
            "ASOF LEFT JOIN (SELECT u, ep, ts FROM ue WHERE type = 'purchase') p "
            "ON c.u = p.u AND c.ep = p.ep AND p.ts >= c.ts "
            f"WHERE p.ts IS NULL OR p.ts > c.ts + {a}"
        )

    def _abandoned_rows(self, k: int, within: float) -> str:
        """Abandoned carts as rows of their cart's own bucket (so they add no group to P);
        the pair query counts them once ``cart + within <= t`` (see ``avail``)."""
        return self._row({"wb": "bucket", f"c{self.plan.abandon_cols[within]}": "1.0"}, f"ab{k}")

    def resets(self) -> str:
        """An exposure stops counting at the first redeem at or after it (u, ep, ts, wb)."""
        return (
            "SELECT x.u, x.ep, r.ts AS ts, x.bucket AS wb FROM "
            "(SELECT u, ep, ts, bucket FROM ue WHERE type = 'exposure') x "
            "ASOF JOIN (SELECT u, ep, ts FROM ue WHERE type = 'redeem') r "
            "ON x.u = r.u AND x.ep = r.ep AND r.ts >= x.ts"
        )

    def _fatigue_resets(self) -> str:
        exprs = {"bucket": f"CAST(floor(ts / {self.bucket}) AS BIGINT)", "fat": "-1.0"}
        return self._row(exprs, "resets")

    def _sums(self) -> str:
        out = []
        for v in self._values():
            if v.startswith("lk"):
                out.append(f"max({v}) AS {v}")
            elif v.startswith("dc") and self.universe is not None:
                out.append(f"bit_or({self._category_set(int(v[2:]))}) AS {v}")
            elif v.startswith("dc"):
                t = code(self.dc_types[int(v[2:])])
                out.append(
                    f"coalesce(list(DISTINCT cat) FILTER (WHERE tc = {t} AND cat IS NOT NULL), "
                    f"CAST([] AS VARCHAR[])) AS {v}"
                )
            else:
                out.append(f"sum({v}) AS {v}")
        return ", ".join(out)

    def _latest(self) -> str:
        """Newest time per (user, epoch, kind, bucket), for recency beyond the windows."""
        if not self.kinds:
            return "SELECT '' AS u, 0 AS ep, '' AS kind, 0 AS bucket, 0.0 AS mx WHERE FALSE"
        parts = [
            f"SELECT u, ep, {lit(k)} AS kind, bucket, lk{i} AS mx FROM P WHERE lk{i} IS NOT NULL"
            for i, k in enumerate(self.kinds)
        ]
        return " UNION ALL ".join(parts)

    # -- per pair -------------------------------------------------------------------------
    def pair_query(self) -> str:
        """SELECT idx and one column per feature for the pairs in table ``pq`` (idx, u, t)."""
        p = self.plan
        width = max(p.max_window, 1)
        values = ", ".join(f"x.{v}" for v in self._values())
        # avail{k}: abandoned carts (at their cart's bucket) count once cart + within <= t:
        # whole buckets before cur - within, and the carts of that bucket up to t - within.
        lags = [p.spec.buckets_of(a, "within") for a in p.carts]
        avail_p = "".join(
            f", CAST(x.wb < q.cur - {b} AS DOUBLE) AS avail{k}" for k, b in enumerate(lags)
        )
        avail_c = "".join(f", 0.0 AS avail{k}" for k in range(len(lags)))
        joined = (
            f"SELECT q.idx, q.cur, q.t, x.wb, {values}{avail_p} FROM q JOIN P x ON x.u = q.u AND "
            f"x.ep = q.ep AND x.bucket < q.cur AND x.wb > q.cur - {width} "
            f"UNION ALL SELECT q.idx, q.cur, q.t, x.wb, {values}{avail_c} FROM q JOIN Ccur x "
            "ON x.u = q.u AND x.ep = q.ep AND x.bucket = q.cur AND x.ts <= q.t"
        )
        for k, (within, b) in enumerate(zip(p.carts, lags, strict=True)):
            cells = ", ".join(self._cart_cell(v, within) for v in self._values())
            avail = "".join(f", {1.0 if j == k else 0.0} AS avail{j}" for j in range(len(lags)))
            joined += (
                f" UNION ALL SELECT q.idx, q.cur, q.t, a.bucket AS wb, {cells}{avail} FROM q "
                f"JOIN ab{k} a ON a.u = q.u AND a.ep = q.ep AND a.bucket = q.cur - {b} "
                f"AND a.ts + {num(within)} <= q.t"
            )
        # One 0/1 factor per window, computed once per row: cheaper than a FILTER per sum.
        flags = ", ".join(f"CAST(wb > cur - {w} AS DOUBLE) AS in{w}" for w in p.windows)
        flagged = f"SELECT *{', ' + flags if flags else ''} FROM ({joined})"
        carts = {f"c{col}": k for k, col in enumerate(p.abandon_cols.values())}
        aggs = [
            (
                self._distinct_count(v, w)
                if v.startswith("dc")
                else f"sum({v} * in{w}{f' * avail{carts[v]}' if v in carts else ''}) AS {v}_{w}"
            )
            for v in self._values()
            for w in self._windows_of(v)
        ]
        aggs += [f"max(lk{i}) AS lk{i}" for i in range(len(self.kinds))]
        aggs += [
            f"sum(c{e.col} * in{e.window} * pow(2.0, (wb * {self.bucket} - t) / {num(e.param)}))"
            f" AS d{e.pos}"
            for e in p.evals
            if e.kind == "decayed_count"
        ]
        columns = ", ".join(aggs) if aggs else "count(*) AS n"
        sums = f"SELECT idx, {columns} FROM ({flagged}) GROUP BY idx"
        latest = self._asof_latest()
        features = ", ".join(f'{self._feature(e)} AS "{p.spec.names[e.pos]}"' for e in p.evals)
        # A zone's offsets: the table ``tz`` (start, off) of ``LocalTime.table``, registered
        # by the caller; each pair takes the last start at or before its time.
        zone = " ASOF LEFT JOIN tz z ON q.t >= z.start" if p.local.zone is not None else ""
        return (
            f"WITH s AS ({sums}), l AS ({latest}) SELECT q.idx, q.u, q.t, {features} "
            f"FROM q LEFT JOIN s USING (idx) LEFT JOIN l USING (idx){zone}"
        )

    def _cart_cell(self, value: str, within: float) -> str:
        """The value of column ``value`` in an abandoned-cart row of the pair query."""
        if value == f"c{self.plan.abandon_cols[within]}":
            return "1.0"
        if value.startswith("lk"):
            return "CAST(NULL AS DOUBLE)"
        if value.startswith("dc"):
            return "CAST([] AS VARCHAR[])" if self.universe is None else "CAST(0 AS BIGINT)"
        return "0.0"

    def _windows_of(self, value: str) -> list[int]:
        """The windows a value column is summed over (none for decayed columns)."""
        out: set[int] = set()
        for e in self.plan.evals:
            if e.kind == "decayed_count":
                continue
            cols = {f"c{e.col}", f"c{e.col2}"}
            if e.kind == "offer_fatigue":
                cols = {"fat"}
            if e.kind == "distinct_categories":
                cols = {f"dc{self.dc_types.index(e.name)}"}
            if value in cols:
                out.add(e.window)
        return sorted(out)

    def _asof_latest(self) -> str:
        if not self.kinds:
            return "SELECT idx FROM q"
        kinds = ", ".join(f"({lit(k)})" for k in self.kinds)
        pivots = ", ".join(
            f"max(r.mx) FILTER (WHERE k.kind = {lit(kind)}) AS al{i}"
            for i, kind in enumerate(self.kinds)
        )
        return (
            f"SELECT k.idx, {pivots} FROM (SELECT q.idx, q.u, q.ep, q.cur, v.kind FROM q "
            f"CROSS JOIN (VALUES {kinds}) v(kind)) k ASOF LEFT JOIN R r ON k.u = r.u AND "
            "k.ep = r.ep AND k.kind = r.kind AND k.cur > r.bucket GROUP BY k.idx"
        )

    def _feature(self, e: Eval) -> str:
        p = self.plan
        kind = e.kind
        local = f"(q.t + {'z.off' if p.local.zone is not None else num(p.offset)})"
        day = f"floor({local} / {DAY_SECONDS}.0)"
        if kind == "hour_of_day":
            return f"floor(({local} - {day} * {DAY_SECONDS}.0) / 3600.0)"
        if kind == "day_of_week":  # Monday = 0; the epoch began on a Thursday
            return f"CAST(((CAST({day} AS BIGINT) + 3) % 7 + 7) % 7 AS DOUBLE)"
        default = num(p.cap_days) if kind == "recency_days" else "0.0"
        return f"CASE WHEN q.revoked THEN {default} ELSE coalesce({self._value(e)}, {default}) END"

    def _value(self, e: Eval) -> str:
        p = self.plan
        kind, w = e.kind, e.window

        def s(col: str) -> str:
            return f"coalesce(s.{col}_{w}, 0.0)"

        if kind in ("count", "sum_amount", "session_count", "cart_abandonment"):
            return s(f"c{e.col}")
        if kind in ("mean_amount", "category_share", "events_per_session"):
            top, bottom = s(f"c{e.col}"), s(f"c{e.col2}")
            return f"CASE WHEN {bottom} > 0 THEN {top} / {bottom} ELSE 0.0 END"
        if kind == "decayed_count":
            return f"s.d{e.pos}"
        if kind == "offer_fatigue":
            return f"least({num(e.param)}, {s('fat')})"
        if kind == "distinct_categories":
            return f"least({num(e.param)}, {s(f'dc{self.dc_types.index(e.name)}')})"
        if kind == "recency_days":
            last = self._last(e.name)
            return f"least({num(p.cap_days)}, (q.t - {last}) / {DAY_SECONDS}.0)"
        last_act, last_start = self._last("#act"), self._last("#start")
        return (
            f"CASE WHEN q.t - {last_act} <= {num(p.gap)} THEN (q.t - {last_start}) / 60.0 "
            "ELSE 0.0 END"
        )

    def _last(self, kind: str) -> str:
        i = self.kinds.index(kind)
        never = "'-Infinity'::DOUBLE"
        return f"greatest(coalesce(s.lk{i}, {never}), coalesce(l.al{i}, {never}))"


def code(event_type: str) -> int:
    """The small integer code of a behaviour event type."""
    return BEHAVIOUR_TYPES.index(event_type)


def _has_age(plan: Plan) -> bool:
    return any(e.kind == "session_age_minutes" for e in plan.evals)
