"""The batch feature engine: point-in-time-correct training frames in DuckDB SQL.

Only events with ``ts <= t`` feed the features at ``t``; labels look at ``(t, t + horizon]``.
Same window semantics as ``OnlineFeatures`` (parity is tested). Needs the ``train`` extra.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

from edgemark._extras import require
from edgemark.errors import FeatureError
from edgemark.features._spec import DAY_SECONDS, Feature, FeatureSpec

_NEEDED = ("user", "type", "ts", "amount")


def _open(events: Any) -> Any:
    """Return a DuckDB connection with a view ``src`` over ``events``."""
    duckdb = require("duckdb", "train")
    con = duckdb.connect()
    if hasattr(events, "parquet_glob") and hasattr(events, "to_arrow"):  # an EventLog
        events = events.to_arrow() if not events.parts() else events.parquet_glob()
    if isinstance(events, str | os.PathLike):
        glob = os.fspath(events).replace("'", "''")
        try:
            con.execute(f"CREATE VIEW src AS SELECT * FROM read_parquet('{glob}')")
        except duckdb.Error as exc:
            raise FeatureError(f"cannot read events from {os.fspath(events)!r}: {exc}") from exc
    else:
        try:
            con.register("src_input", events)
        except Exception as exc:  # duckdb raises several types for unsupported objects
            raise FeatureError(
                "events must be a Parquet glob, an EventLog, a pyarrow Table or a pandas "
                f"DataFrame, got {type(events).__name__}"
            ) from exc
        con.execute("CREATE VIEW src AS SELECT * FROM src_input")
    columns = {row[0]: str(row[1]) for row in con.execute("DESCRIBE src").fetchall()}
    missing = [c for c in _NEEDED if c not in columns]
    if missing:
        raise FeatureError(f"events lack the column(s) {', '.join(missing)}")
    ts = "epoch(ts)" if columns["ts"].startswith("TIMESTAMP") else "CAST(ts AS DOUBLE)"
    con.execute(
        f'CREATE TEMP TABLE ev AS SELECT CAST("user" AS VARCHAR) AS u, '
        f"CAST(type AS VARCHAR) AS type, {ts} AS ts, CAST(amount AS DOUBLE) AS amount FROM src"
    )
    return con


def _feature_sql(f: Feature, spec: FeatureSpec) -> str:
    """One aggregate over the join of pairs ``p`` (u, t, tb) with events ``e``."""
    of_type = f"e.type = '{f.event_type}'"
    cap = float(spec.recency_cap_days)
    if f.kind in ("count", "sum_amount"):
        inside = f"{of_type} AND e.bucket > p.tb - {spec.window_buckets(f)}"
        if f.kind == "count":
            return f"CAST(count(e.ts) FILTER (WHERE {inside}) AS DOUBLE)"
        return f"coalesce(sum(coalesce(e.amount, 0.0)) FILTER (WHERE {inside}), 0.0)"
    if f.kind == "recency_days":
        last = f"max(e.ts) FILTER (WHERE {of_type})"
        return f"least({cap}, coalesce((p.t - {last}) / {float(DAY_SECONDS)}, {cap}))"
    assert f.half_life_days is not None  # kind == "decayed_count", checked by Feature
    half_life = float(f.half_life_days) * DAY_SECONDS
    decay = f"pow(2.0, (e.ts - p.t) / {half_life})"
    return f"coalesce(sum({decay}) FILTER (WHERE {of_type}), 0.0)"


def _features_query(spec: FeatureSpec) -> str:
    """SELECT of one row per pair in table ``pairs`` (idx, u, t) with one column per feature."""
    bucket = float(spec.bucket_seconds)
    types = ", ".join(f"'{t}'" for t in sorted({f.event_type for f in spec.features}))
    aggregates = ",\n  ".join(f'{_feature_sql(f, spec)} AS "{f.name}"' for f in spec.features)
    return f"""
WITH p AS (SELECT idx, u, t, CAST(floor(t / {bucket}) AS BIGINT) AS tb FROM pairs),
e AS (SELECT u, type, ts, amount, CAST(floor(ts / {bucket}) AS BIGINT) AS bucket
      FROM ev WHERE type IN ({types}))
SELECT p.idx, p.u, p.t,
  {aggregates}
FROM p LEFT JOIN e ON e.u = p.u AND e.ts <= p.t
GROUP BY p.idx, p.u, p.t, p.tb
"""


def _finite_times(values: Iterable[float], what: str) -> list[float]:
    times = [float(v) for v in values]
    bad = [v for v in times if not math.isfinite(v)]
    if bad:
        raise FeatureError(f"{what} must be finite epoch seconds, got {bad[0]!r}")
    return times


def build_training_frame(
    events: Any,
    spec: FeatureSpec,
    label_times: Iterable[float],
    horizon_days: float = 7,
) -> Any:
    """Build a point-in-time-correct training frame (pandas DataFrame).

    Parameters
    ----------
    events
        A Parquet glob (str or path), an ``EventLog``, a pyarrow Table or a pandas DataFrame
        with at least the columns user, type, ts (epoch seconds or timestamp), amount.
    spec
        The feature spec; one column per feature, in ``spec.names`` order.
    label_times
        Epoch seconds; one row per (user, label_time) where the user has an event at or
        before label_time.
    horizon_days
        ``label`` is 1 iff the user purchases in ``(label_time, label_time + horizon]``.

    Returns
    -------
    pandas.DataFrame
        Columns ``user``, ``label_time``, the features, ``label``; sorted by label_time, user.
    """
    if not (isinstance(horizon_days, int | float) and 0 < horizon_days < math.inf):
        raise FeatureError(f"horizon_days must be a positive number, got {horizon_days!r}")
    times = sorted(set(_finite_times(label_times, "label_times")))
    pa = require("pyarrow", "train")
    con = _open(events)
    con.register("label_input", pa.table({"t": pa.array(times, pa.float64())}))
    con.execute(
        "CREATE TEMP TABLE pairs AS SELECT row_number() OVER (ORDER BY l.t, f.u) AS idx, "
        "f.u, l.t FROM (SELECT u, min(ts) AS first_ts FROM ev GROUP BY u) f "
        "JOIN label_input l ON f.first_ts <= l.t"
    )
    horizon = float(horizon_days) * DAY_SECONDS
    names = ", ".join(f'x."{n}"' for n in spec.names)
    sql = f"""
WITH x AS ({_features_query(spec)}),
y AS (SELECT p.idx, CAST(count(e.ts) > 0 AS BIGINT) AS label FROM pairs p
      LEFT JOIN ev e ON e.u = p.u AND e.type = 'purchase' AND e.ts > p.t AND e.ts <= p.t + {horizon}
      GROUP BY p.idx)
SELECT x.u AS "user", x.t AS label_time, {names}, y.label
FROM x JOIN y USING (idx) ORDER BY x.idx
"""
    return _frame(con, sql)


def feature_vectors_at(
    events: Any, spec: FeatureSpec, user_times: Sequence[tuple[str, float]]
) -> Any:
    """Return the batch feature vectors of given (user, t) pairs, in input order.

    Users without events get the defaults (0, and the recency cap). Columns: ``user``,
    ``ts``, then one per feature (pandas DataFrame).
    """
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
    names = ", ".join(f'x."{n}"' for n in spec.names)
    sql = (
        f'WITH x AS ({_features_query(spec)}) SELECT x.u AS "user", x.t AS ts, {names} '
        "FROM x ORDER BY x.idx"
    )
    return _frame(con, sql)


def label_schedule(events: Any, every_days: float = 7, horizon_days: float = 7) -> list[float]:
    """Return label times every ``every_days`` through the span of ``events``.

    The first is ``every_days`` after the midnight (UTC) before the first event, the last is
    at most ``horizon_days`` before the last event, so no label looks past the data.
    """
    for name, value in (("every_days", every_days), ("horizon_days", horizon_days)):
        if not (isinstance(value, int | float) and 0 < value < math.inf):
            raise FeatureError(f"{name} must be a positive number, got {value!r}")
    con = _open(events)
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


def _frame(con: Any, sql: str) -> Any:
    try:
        return con.execute(sql).df()
    finally:
        con.close()
