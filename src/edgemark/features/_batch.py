"""The batch feature engine: point-in-time-correct training frames in DuckDB SQL.

Only events with ``ts <= t`` feed the features at ``t``; outcomes look at ``(t, t + N]``.
Same meaning as ``OnlineFeatures`` (parity is tested): both read one ``Plan``. Arrival order
(for the late-event policy) is the log's ``arrival_lag_s`` column, or else the row order of
the input. Needs the ``train`` extra.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

from edgemark._extras import require
from edgemark.errors import FeatureError
from edgemark.features import _running as running
from edgemark.features._local import CHUNK
from edgemark.features._outcomes import Outcome, outcome_query
from edgemark.features._plan import Plan
from edgemark.features._prefix import Unsupported
from edgemark.features._spec import DAY_SECONDS, FeatureSpec
from edgemark.features._sql import BatchSQL, num

_REQUIRED = ("user", "type", "ts")
_CONSENT = ("consent_personalization", "consent_training")


def _source(con: Any, events: Any) -> str:
    """Register ``events`` and return a FROM clause with an ``arrival`` order column."""
    duckdb = require("duckdb", "train")
    pa = require("pyarrow", "train")
    if hasattr(events, "parquet_glob") and hasattr(events, "to_arrow"):  # an EventLog
        if not events.parts():
            events = events.to_arrow(["user", "type", "ts", "amount", "category", *_CONSENT])
        else:
            events = events.parquet_glob()
    if isinstance(events, str | os.PathLike):
        glob = os.fspath(events).replace("'", "''")
        try:
            con.execute(
                f"CREATE VIEW src AS SELECT * FROM read_parquet('{glob}', filename = true, "
                "file_row_number = true, union_by_name = true)"
            )
        except duckdb.Error as exc:
            raise FeatureError(f"cannot read events from {os.fspath(events)!r}: {exc}") from exc
        return "src"
    try:
        if not hasattr(events, "num_rows"):
            events = pa.Table.from_pandas(events, preserve_index=False)
        table = events.append_column("arrival", pa.array(range(events.num_rows), pa.int64()))
    except Exception as exc:  # pyarrow raises several types for unsupported objects
        raise FeatureError(
            "events must be a Parquet glob, an EventLog, a pyarrow Table or a pandas "
            f"DataFrame, got {type(events).__name__}"
        ) from exc
    con.register("src", table)
    return "src"


def _open(events: Any, need_consent: bool = True) -> Any:
    """A DuckDB connection with table ``ev`` (u, type, ts, amount, category, cp, ct, lag)."""
    duckdb = require("duckdb", "train")
    con = duckdb.connect()
    src = _source(con, events)
    columns = {row[0]: str(row[1]) for row in con.execute(f"DESCRIBE {src}").fetchall()}
    missing = [c for c in _REQUIRED if c not in columns]
    if need_consent:
        missing += [c for c in _CONSENT if c not in columns]
    if missing:
        raise FeatureError(
            f"events lack the column(s) {', '.join(missing)}"
            + ("; a missing consent means no consent" if set(missing) & set(_CONSENT) else "")
        )
    ts = "epoch(ts)" if columns["ts"].startswith("TIMESTAMP") else "CAST(ts AS DOUBLE)"

    def opt(name: str, kind: str, default: str) -> str:
        return f"CAST({name} AS {kind})" if name in columns else default

    arrival = "arrival" if "arrival" in columns else "0"
    if "arrival_lag_s" in columns:
        lag = "coalesce(CAST(arrival_lag_s AS DOUBLE), 0.0)"
    else:  # the input's row order (files in name order) is its arrival order
        if "file_row_number" in columns:
            arrival = "row_number() OVER (ORDER BY filename, file_row_number)"
        lag = (
            "coalesce(greatest(max(ts_) OVER (PARTITION BY u ORDER BY arrival ROWS BETWEEN "
            "UNBOUNDED PRECEDING AND 1 PRECEDING) - ts_, 0.0), 0.0)"
        )
    # With recorded lags, a view is cheaper than a copy (Parquet reads only what each step
    # needs); lags computed from row order need one materialised pass.
    kind = "VIEW" if "arrival_lag_s" in columns else "TABLE"
    con.execute(
        f"CREATE TEMP {kind} ev AS SELECT u, type, ts_ AS ts, amount, category, cp, ct, "
        f"{lag} AS lag "
        f'FROM (SELECT CAST("user" AS VARCHAR) AS u, CAST(type AS VARCHAR) AS type, {ts} AS ts_, '
        f"{opt('amount', 'DOUBLE', 'CAST(NULL AS DOUBLE)')} AS amount, "
        f"{opt('category', 'VARCHAR', 'CAST(NULL AS VARCHAR)')} AS category, "
        f"coalesce({opt('consent_personalization', 'BOOLEAN', 'FALSE')}, FALSE) AS cp, "
        f"coalesce({opt('consent_training', 'BOOLEAN', 'FALSE')}, FALSE) AS ct, "
        f"{arrival} AS arrival{', arrival_lag_s' if 'arrival_lag_s' in columns else ''} "
        f"FROM {src})"
    )
    return con


def _finite_times(values: Iterable[float], what: str) -> list[float]:
    times = [float(v) for v in values]
    bad = [v for v in times if not math.isfinite(v)]
    if bad:
        raise FeatureError(f"{what} must be finite epoch seconds, got {bad[0]!r}")
    return times


def _features(con: Any, spec: FeatureSpec, reference: bool = False) -> Any:
    """Prepare the spec's tables on ``con`` (pairs in ``pairs``: idx, u, t); return the
    features of every pair: a float64 matrix (a column per feature) and the pairs (Arrow:
    idx, u, t, ...) in idx order, or a SQL relation of idx, u, t and the features.

    The running plan (``_running``) computes them unless ``reference`` asks for the join
    plan of ``BatchSQL`` (which also takes the few specs and logs the running plan cannot
    hold exactly)."""
    plan = Plan(spec)
    universe = _category_universe(con, plan)
    sql = BatchSQL(plan, universe)
    for statement in sql.consent():
        con.execute(statement)
    con.execute(
        "CREATE TEMP TABLE q AS SELECT p.idx, p.u, p.t, "
        f"CAST(floor(p.t / {num(sql.plan.bucket)}) AS BIGINT) AS cur, "
        "coalesce(r.k, 0) AS ep, coalesce(NOT c.granted, FALSE) AS revoked FROM pairs p "
        "ASOF LEFT JOIN rev r ON p.u = r.u AND p.t >= r.eff "
        "ASOF LEFT JOIN cstate c ON p.u = c.u AND p.t >= c.eff"
    )
    revocations = con.execute("SELECT count(*) FROM rev").fetchone()[0] > 0
    if not reference:
        try:
            matrix, pairs = running.compute(con, plan, universe, revocations)
        except Unsupported:
            for statement in running.drop_statements(plan, revocations):
                con.execute(statement)
        else:
            return matrix, pairs
    for statement in sql.prepare(revocations):
        con.execute(statement)
    _zone_table(con, plan)
    return f"({sql.pair_query()})"


def _zone_table(con: Any, plan: Plan) -> None:
    """Register ``tz`` (start, off): the spec's zone offsets over the chunks of the pairs'
    times (the table the other engines read), for the join plan's hour and weekday."""
    if plan.local.zone is None:
        return
    pa = require("pyarrow", "train")
    chunks = con.execute(f"SELECT DISTINCT floor(t / {float(CHUNK)!r}) FROM q").fetchall()
    starts, offsets = plan.local.table(int(c[0]) for c in chunks)
    con.register("tz", pa.table({"start": starts, "off": offsets}))


def _category_universe(con: Any, plan: Plan) -> list[str] | None:
    """The categories distinct-category features can meet, if at most 62 (else None)."""
    if not plan.category_caps:
        return None
    types = ", ".join(f"'{t}'" for t in sorted(plan.category_caps))
    rows = con.execute(
        f"SELECT DISTINCT category FROM ev WHERE type IN ({types}) AND category IS NOT NULL "
        "ORDER BY category LIMIT 63"
    ).fetchall()
    return None if len(rows) > 62 else [str(r[0]) for r in rows]


def build_training_frame(
    events: Any,
    spec: FeatureSpec,
    label_times: Iterable[float],
    horizon_days: float = 7,
    outcomes: Sequence[Outcome] | None = None,
) -> Any:
    """Build a point-in-time-correct training frame (pandas DataFrame).

    Parameters
    ----------
    events
        A Parquet glob (str or path), an ``EventLog``, a pyarrow Table or a pandas DataFrame
        with at least user, type, ts (epoch seconds or timestamp) and the consent columns
        (amount, category and arrival_lag_s are optional).
    spec
        The feature spec; one column per feature, in ``spec.names`` order.
    label_times
        Epoch seconds; one row per (user, label_time) where the user has an event at or
        before label_time and training consent as of label_time (the latest consent
        event's flag, or else every event so far carried it).
    horizon_days
        Horizon of the default outcome ``label``: 1 iff the user purchases in
        ``(label_time, label_time + horizon]``.
    outcomes
        Outcome columns instead of the default (``Outcome("churn_30d", "churn", 30)``...).

    Returns
    -------
    pandas.DataFrame
        Columns ``user``, ``label_time``, the features, the outcomes; sorted by label_time,
        user.
    """
    return _training_frame(events, spec, label_times, horizon_days, outcomes)


def _training_frame(
    events: Any,
    spec: FeatureSpec,
    label_times: Iterable[float],
    horizon_days: float = 7,
    outcomes: Sequence[Outcome] | None = None,
    reference: bool = False,
) -> Any:
    """``build_training_frame``; ``reference`` computes the features with the join plan."""
    if not (isinstance(horizon_days, int | float) and 0 < horizon_days < math.inf):
        raise FeatureError(f"horizon_days must be a positive number, got {horizon_days!r}")
    wanted = (
        list(outcomes) if outcomes is not None else [Outcome("label", "purchase", horizon_days)]
    )
    _check_outcomes(spec, wanted)
    times = sorted(set(_finite_times(label_times, "label_times")))
    pa = require("pyarrow", "train")
    con = _open(events)
    con.register("label_input", pa.table({"t": pa.array(times, pa.float64())}))
    con.execute(
        "CREATE TEMP TABLE consent_training AS SELECT u, ts, bool_and(ct) AS ct FROM ev "
        "WHERE type = 'consent' GROUP BY u, ts"
    )
    con.execute(
        "CREATE TEMP TABLE pairs AS SELECT row_number() OVER (ORDER BY l.t, f.u) AS idx, f.u, l.t "
        "FROM (SELECT u, min(ts) AS first_ts, min(CASE WHEN NOT ct THEN ts END) AS no_training "
        "FROM ev GROUP BY u) f JOIN label_input l ON f.first_ts <= l.t "
        "ASOF LEFT JOIN consent_training c ON f.u = c.u AND l.t >= c.ts "
        "WHERE coalesce(c.ct, f.no_training IS NULL OR f.no_training > l.t)"
    )
    relation = _features(con, spec, reference)
    if not isinstance(relation, str):
        try:
            extra = con.sql(f"{outcome_query(wanted)} ORDER BY p.idx").to_arrow_table()
        finally:
            con.close()
        return _assemble(spec, relation, "label_time", extra)
    names = ", ".join(f'x."{n}"' for n in spec.names)
    labels = ", ".join(f'y."{o.name}"' for o in wanted)
    sql = (
        f'WITH y AS ({outcome_query(wanted)}) SELECT x.u AS "user", x.t AS label_time, '
        f"{names}, {labels} FROM {relation} x JOIN y USING (idx) ORDER BY x.idx"
    )
    return _frame(con, sql)


def _check_outcomes(spec: FeatureSpec, outcomes: list[Outcome]) -> None:
    names = [o.name for o in outcomes]
    clash = sorted(set(names) & set(spec.names)) or sorted({n for n in names if names.count(n) > 1})
    if not outcomes or clash:
        raise FeatureError(
            f"outcome names must be unique and differ from feature names (clash: {clash})"
            if outcomes
            else "give at least one outcome"
        )


def feature_vectors_at(
    events: Any, spec: FeatureSpec, user_times: Sequence[tuple[str, float]]
) -> Any:
    """Return the batch feature vectors of given (user, t) pairs, in input order.

    Users without events get the defaults (0, the recency cap, and the time's context).
    Columns: ``user``, ``ts``, then one per feature (pandas DataFrame).
    """
    return _vectors_at(events, spec, user_times)


def _vectors_at(
    events: Any, spec: FeatureSpec, user_times: Sequence[tuple[str, float]], reference: bool = False
) -> Any:
    """``feature_vectors_at``; ``reference`` computes the features with the join plan."""
    pa = require("pyarrow", "train")
    con = _open(events)
    users = [str(u) for u, _ in user_times]
    times = _finite_times((t for _, t in user_times), "times")
    pairs = pa.table(
        {
            "idx": pa.array(range(len(users)), pa.int64()),
            "u": pa.array(users, pa.string()),
            "t": pa.array(times, pa.float64()),
        }
    )
    con.register("pairs", pairs)
    relation = _features(con, spec, reference)
    if not isinstance(relation, str):
        con.close()
        return _assemble(spec, relation, "ts", None)
    names = ", ".join(f'x."{n}"' for n in spec.names)
    return _frame(con, f'SELECT x.u AS "user", x.t AS ts, {names} FROM {relation} x ORDER BY x.idx')


def label_schedule(events: Any, every_days: float = 7, horizon_days: float = 7) -> list[float]:
    """Return label times every ``every_days`` through the span of ``events``.

    The first is ``every_days`` after the midnight (UTC) before the first event, the last is
    at most ``horizon_days`` before the last event, so no label looks past the data.
    """
    for name, value in (("every_days", every_days), ("horizon_days", horizon_days)):
        if not (isinstance(value, int | float) and 0 < value < math.inf):
            raise FeatureError(f"{name} must be a positive number, got {value!r}")
    con = _open(events, need_consent=False)
    try:
        first, last = con.execute("SELECT min(ts), max(ts) FROM ev").fetchall()[0]
    finally:
        con.close()
    if first is None:
        raise FeatureError("there are no events, so there is no span to place label times in")
    start = math.floor(first / DAY_SECONDS) * DAY_SECONDS
    step, horizon = every_days * DAY_SECONDS, horizon_days * DAY_SECONDS
    count = math.floor((last - horizon - start) / step)
    if count < 1:
        span = (last - first) / DAY_SECONDS
        raise FeatureError(
            f"the events span {span:.1f} days, too short for a label every {every_days} days "
            f"with a {horizon_days}-day horizon; use smaller --every-days / --horizon-days"
        )
    return [start + k * step for k in range(1, count + 1)]


def _assemble(spec: FeatureSpec, features: Any, time_name: str, extra: Any) -> Any:
    """The frame of the running plan: user, time, the features, the ``extra`` columns (an
    Arrow table in pair order, with idx), as ``_frame`` would return them."""
    pd = require("pandas", "train")
    matrix, pairs = features
    frame = pd.DataFrame(matrix, columns=list(spec.names), copy=False)
    frame.insert(0, time_name, pairs.column("t").to_numpy())
    frame.insert(0, "user", pairs.column("u").to_pandas())
    for name in extra.column_names[1:] if extra is not None else []:
        frame[name] = extra.column(name).to_numpy()
    return frame


def _frame(con: Any, sql: str) -> Any:
    try:
        return con.execute(sql).df()
    finally:
        con.close()
