"""Durable edge state in SQLite (WAL) under ``state_dir/edge.db``: schema, change sets, reads.

Only pseudonyms (and keyed hashes of event ids) are ever written. The runtime collects
what changed in memory into a ``Changes`` set and ``write`` stores it in ONE transaction,
so the file always holds a consistent cut: decisions, outcomes, features, posteriors and
counters from the same instant. ``synchronous=NORMAL`` survives a killed process (the WAL
is in the OS cache); ``durability="power"`` (FULL) also survives a power cut.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgemark.errors import ConfigError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS decisions (
    id TEXT PRIMARY KEY, pseudonym TEXT NOT NULL, ts REAL NOT NULL, day INTEGER NOT NULL,
    experiment TEXT NOT NULL, arm TEXT NOT NULL, offer TEXT, probability REAL NOT NULL,
    bundle_version TEXT NOT NULL, consent_measurement INTEGER NOT NULL,
    counted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS decisions_day ON decisions (day);
CREATE INDEX IF NOT EXISTS decisions_user ON decisions (pseudonym, ts);
CREATE TABLE IF NOT EXISTS conversions (
    decision_id TEXT PRIMARY KEY, ts REAL NOT NULL, revenue REAL NOT NULL);
CREATE TABLE IF NOT EXISTS attributions (
    event_key TEXT NOT NULL, decision_id TEXT NOT NULL, offer TEXT NOT NULL,
    model TEXT NOT NULL, credit REAL NOT NULL, revenue REAL NOT NULL, ts REAL NOT NULL,
    PRIMARY KEY (event_key, decision_id));
CREATE TABLE IF NOT EXISTS events (
    key TEXT PRIMARY KEY, pseudonym TEXT NOT NULL, ts REAL NOT NULL, type TEXT NOT NULL,
    amount REAL, offer TEXT, category TEXT, item TEXT, channel TEXT, consent INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS events_user ON events (pseudonym);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
CREATE TABLE IF NOT EXISTS posteriors (
    experiment TEXT NOT NULL, offer TEXT NOT NULL, exposures REAL NOT NULL,
    conversions REAL NOT NULL, PRIMARY KEY (experiment, offer));
CREATE TABLE IF NOT EXISTS models (experiment TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS user_features (pseudonym TEXT PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
    idempotency_key TEXT PRIMARY KEY, payload TEXT NOT NULL, created REAL NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS reported_days (day INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS refusals (
    day INTEGER NOT NULL, experiment TEXT NOT NULL, reason TEXT NOT NULL,
    PRIMARY KEY (day, experiment));
CREATE TABLE IF NOT EXISTS privacy_ledger (
    release_id TEXT PRIMARY KEY, day INTEGER NOT NULL, period INTEGER NOT NULL,
    epsilon REAL NOT NULL, ts REAL NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# Columns added after the walking skeleton: (table, column, declaration).
_MIGRATIONS = (
    ("decisions", "layer", "TEXT NOT NULL DEFAULT 'legacy'"),
    ("decisions", "assignments", "TEXT NOT NULL DEFAULT ''"),
    ("decisions", "context", "BLOB"),
    ("decisions", "resolved", "INTEGER NOT NULL DEFAULT 1"),
    ("outbox", "kind", "TEXT NOT NULL DEFAULT 'report'"),
)
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS decisions_ts ON decisions (ts)",
    "CREATE INDEX IF NOT EXISTS decisions_open ON decisions (resolved) WHERE resolved = 0",
    "CREATE INDEX IF NOT EXISTS outbox_unsent ON outbox (sent, created)",
)

_INSERT_DECISION = (
    "INSERT OR IGNORE INTO decisions (id, pseudonym, ts, day, experiment, arm, offer, probability,"
    " bundle_version, consent_measurement, layer, assignments, context, resolved)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
DecisionRow = tuple[
    str, str, float, int, str, str, str | None, float, str, int, str, str, bytes | None, int
]
"""(id, pseudonym, ts, day, experiment, arm, offer, probability, bundle_version,
consent_measurement, layer, assignments, context, resolved)."""
EventRow = tuple[
    str, str, float, str, float | None, str | None, str | None, str | None, str | None, int
]
"""(key, pseudonym, ts, type, amount, offer, category, item, channel, consent bits)."""
AttributionRow = tuple[str, str, str, str, float, float, float]
"""(event key, decision id, offer, model, credit, revenue, ts)."""
DayDecision = tuple[str, str, str, str, str, int, float | None, str]
"""(id, pseudonym, experiment, layer, arm, consent, revenue or None, assignments)."""


@dataclass
class Changes:
    """Everything that changed in memory since the last write (one transaction)."""

    decisions: list[DecisionRow] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    conversions: list[tuple[str, float, float]] = field(default_factory=list)
    attributions: list[AttributionRow] = field(default_factory=list)
    events: list[EventRow] = field(default_factory=list)
    user_states: dict[str, dict[str, Any]] = field(default_factory=dict)
    forgotten: list[str] = field(default_factory=list)
    posteriors: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(
            (
                self.decisions,
                self.resolved,
                self.conversions,
                self.attributions,
                self.events,
                self.user_states,
                self.forgotten,
                self.posteriors,
                self.models,
            )
        )


class StateStore:
    """The node's SQLite database; every method is thread-safe (one connection, one lock)."""

    def __init__(self, path: Path, *, durability: str = "process") -> None:
        if durability not in ("process", "power"):
            raise ConfigError(f"durability must be 'process' or 'power', got {durability!r}.")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'NORMAL' if durability == 'process' else 'FULL'}")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        for table, column, declaration in _MIGRATIONS:
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        for statement in _INDEXES:
            self._db.execute(statement)

    # -- the one write path ---------------------------------------------------------------
    def write(self, changes: Changes) -> None:
        """Store a change set atomically (all of it or, on a crash, none of it)."""
        if not changes:
            return
        states = [(u, json.dumps(s, sort_keys=True)) for u, s in changes.user_states.items()]
        models = [(e, json.dumps(s)) for e, s in changes.models.items()]
        statements = (
            (_INSERT_DECISION, changes.decisions),
            ("UPDATE decisions SET resolved = 1 WHERE id = ?", [(i,) for i in changes.resolved]),
            ("INSERT OR IGNORE INTO conversions VALUES (?,?,?)", changes.conversions),
            ("INSERT OR IGNORE INTO attributions VALUES (?,?,?,?,?,?,?)", changes.attributions),
            ("INSERT OR IGNORE INTO events VALUES (?,?,?,?,?,?,?,?,?,?)", changes.events),
            ("INSERT OR REPLACE INTO user_features VALUES (?,?)", states),
            ("DELETE FROM user_features WHERE pseudonym = ?", [(u,) for u in changes.forgotten]),
            (
                "INSERT OR REPLACE INTO posteriors VALUES (?,?,?,?)",
                [(e, o, x, c) for (e, o), (x, c) in changes.posteriors.items()],
            ),
            ("INSERT OR REPLACE INTO models VALUES (?,?)", models),
        )
        with self._lock, self._db:
            self._db.execute("BEGIN")
            for sql, rows in statements:
                if rows:  # an empty executemany still costs a statement round
                    self._db.executemany(sql, rows)

    # -- reads on start -------------------------------------------------------------------
    def posteriors(self) -> dict[tuple[str, str], tuple[float, float]]:
        """(exposures, conversions) per (experiment, offer)."""
        rows = self._all("SELECT experiment, offer, exposures, conversions FROM posteriors")
        return {(e, o): (x, c) for e, o, x, c in rows}

    def models(self) -> dict[str, dict[str, Any]]:
        """Contextual posteriors per experiment."""
        return {e: json.loads(s) for e, s in self._all("SELECT experiment, state FROM models")}

    def user_states(self) -> dict[str, dict[str, Any]]:
        """Feature state per pseudonym."""
        rows = self._all("SELECT pseudonym, state FROM user_features")
        return {u: json.loads(s) for u, s in rows}

    def last_decisions(self) -> list[tuple[Any, ...]]:
        """Latest decision per pseudonym: (pseudonym, id, ts, experiment, arm, offer,
        converted, resolved, context, layer)."""
        return self._all(
            "SELECT d.pseudonym, d.id, d.ts, d.experiment, d.arm, d.offer,"
            " c.decision_id IS NOT NULL, d.resolved, d.context, d.layer FROM decisions d"
            " JOIN (SELECT pseudonym, max(ts) AS ts FROM decisions GROUP BY pseudonym) l"
            " ON d.pseudonym = l.pseudonym AND d.ts = l.ts"
            " LEFT JOIN conversions c ON c.decision_id = d.id"
        )

    def open_decisions(self) -> list[tuple[Any, ...]]:
        """Decisions whose outcome is not learned yet: (id, pseudonym, ts, experiment, offer,
        context, converted)."""
        return self._all(
            "SELECT d.id, d.pseudonym, d.ts, d.experiment, d.offer, d.context,"
            " c.decision_id IS NOT NULL FROM decisions d"
            " LEFT JOIN conversions c ON c.decision_id = d.id WHERE d.resolved = 0"
        )

    def recent_decisions(self, since: float) -> list[tuple[str, str, float, str, str | None]]:
        """(id, pseudonym, ts, experiment, offer) of decisions at or after ``since``, by ts."""
        return self._all(
            "SELECT id, pseudonym, ts, experiment, offer FROM decisions WHERE ts >= ?"
            " ORDER BY ts, id",
            (since,),
        )

    def recent_event_keys(self, since: float) -> list[tuple[str, float]]:
        """(key, ts) of journaled events at or after ``since``."""
        return self._all("SELECT key, ts FROM events WHERE ts >= ?", (since,))

    def watermark(self) -> float:
        """The latest decision or event time stored (0 when empty)."""
        row = self._all(
            "SELECT max(coalesce((SELECT max(ts) FROM decisions), 0),"
            " coalesce((SELECT max(ts) FROM events), 0))"
        )
        return float(row[0][0] or 0.0)

    def decisions_by_version(self) -> dict[str, int]:
        """Number of stored decisions per bundle version."""
        rows = self._all("SELECT bundle_version, count(*) FROM decisions GROUP BY bundle_version")
        return {v: int(n) for v, n in rows}

    def attributed(self) -> dict[str, tuple[float, float]]:
        """(credited conversions, credited revenue) per offer."""
        rows = self._all(
            "SELECT offer, sum(credit), sum(credit * revenue) FROM attributions GROUP BY offer"
        )
        return {o: (float(c), float(r)) for o, c, r in rows}

    def counts(self) -> dict[str, int]:
        """Row count of every table (for checks and status)."""
        tables = [r[0] for r in self._all("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: int(self._all(f"SELECT count(*) FROM {t}")[0][0]) for t in sorted(tables)}

    # -- reports --------------------------------------------------------------------------
    def unreported_days(self, until_day: int) -> list[int]:
        """Days before ``until_day`` that have decisions and no report yet."""
        rows = self._all(
            "SELECT DISTINCT day FROM decisions WHERE day < ? AND day NOT IN"
            " (SELECT day FROM reported_days) ORDER BY day",
            (until_day,),
        )
        return [int(d) for (d,) in rows]

    def day_decisions(self, day: int) -> list[DayDecision]:
        """The decisions of a day with their outcome, ordered by user then time."""
        return self._all(
            "SELECT d.id, d.pseudonym, d.experiment, d.layer, d.arm, d.consent_measurement,"
            " c.revenue, d.assignments FROM decisions d"
            " LEFT JOIN conversions c ON c.decision_id = d.id"
            " WHERE d.day = ? ORDER BY d.pseudonym, d.ts, d.id",
            (day,),
        )

    def commit_report(
        self,
        day: int,
        counted: Iterable[str],
        rows: list[dict[str, Any]],
        ledger: Iterable[tuple[str, int, int, float]] = (),
        refusals: Iterable[tuple[str, str]] = (),
        max_outbox: int | None = None,
    ) -> int:
        """Mark ``day`` reported, its counted decisions, spend the ledger and queue ``rows``.

        All in one transaction; returns the number of oldest unsent outbox rows dropped to
        keep at most ``max_outbox`` unsent rows.
        """
        now = time.time()
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute("INSERT OR IGNORE INTO reported_days VALUES (?)", (day,))
            self._db.executemany(
                "UPDATE decisions SET counted = 1 WHERE id = ?", [(i,) for i in counted]
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO privacy_ledger VALUES (?,?,?,?,?)",
                [(*entry, now) for entry in ledger],
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO refusals VALUES (?,?,?)",
                [(day, e, reason) for e, reason in refusals],
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO outbox (idempotency_key, payload, created, kind)"
                " VALUES (?,?,?,'report')",
                [(r["idempotency_key"], json.dumps(r, sort_keys=True), now) for r in rows],
            )
            return self._trim_outbox(max_outbox)

    def _trim_outbox(self, max_outbox: int | None) -> int:
        if max_outbox is None:
            return 0
        (unsent,) = self._db.execute("SELECT count(*) FROM outbox WHERE sent = 0").fetchone()
        excess = int(unsent) - max_outbox
        if excess <= 0:
            return 0
        self._db.execute(
            "DELETE FROM outbox WHERE idempotency_key IN (SELECT idempotency_key FROM outbox"
            " WHERE sent = 0 ORDER BY created, idempotency_key LIMIT ?)",
            (excess,),
        )
        return excess

    def ledger_entries(self) -> list[tuple[str, int, int, float]]:
        """(release id, day, period, epsilon) of every recorded release."""
        return self._all("SELECT release_id, day, period, epsilon FROM privacy_ledger ORDER BY ts")

    def refusals(self) -> list[tuple[int, str, str]]:
        """(day, experiment, reason) of every refused release."""
        return self._all("SELECT day, experiment, reason FROM refusals ORDER BY day, experiment")

    # -- outbox ---------------------------------------------------------------------------
    def unsent(self, limit: int = 500) -> list[dict[str, Any]]:
        """Report rows not yet acknowledged by the hub, oldest first."""
        rows = self._all(
            "SELECT payload FROM outbox WHERE sent = 0 ORDER BY created, idempotency_key LIMIT ?",
            (limit,),
        )
        return [json.loads(p) for (p,) in rows]

    def unsent_count(self) -> int:
        """Number of report rows not yet acknowledged."""
        return int(self._all("SELECT count(*) FROM outbox WHERE sent = 0")[0][0])

    def mark_sent(self, keys: Iterable[str]) -> None:
        """Mark outbox rows as acknowledged by the hub."""
        with self._lock, self._db:
            self._db.executemany(
                "UPDATE outbox SET sent = 1 WHERE idempotency_key = ?", [(k,) for k in keys]
            )

    def outbox_payloads(self) -> list[bytes]:
        """Every outbox payload as stored (for audits and tests)."""
        return [p.encode() for (p,) in self._all("SELECT payload FROM outbox")]

    # -- maintenance and erasure ----------------------------------------------------------
    def prune(self, events_before: float, decisions_before_day: int | None) -> None:
        """Drop journaled events older than ``events_before`` and, if given, reported and
        resolved decisions (with their outcomes) of days before ``decisions_before_day``."""
        with self._lock, self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM events WHERE ts < ?", (events_before,))
            # Rows the hub acknowledged a week ago are never sent again.
            self._db.execute(
                "DELETE FROM outbox WHERE sent = 1 AND created < ?", (time.time() - 7 * 86400,)
            )
            if decisions_before_day is not None:
                old = (
                    "SELECT id FROM decisions WHERE day < ? AND resolved = 1"
                    " AND day IN (SELECT day FROM reported_days)"
                )
                for table, column in (
                    ("conversions", "decision_id"),
                    ("attributions", "decision_id"),
                ):
                    self._db.execute(
                        f"DELETE FROM {table} WHERE {column} IN ({old})", (decisions_before_day,)
                    )
                self._db.execute(
                    f"DELETE FROM decisions WHERE id IN ({old})", (decisions_before_day,)
                )

    def erase(self, pseudonym: str) -> dict[str, int]:
        """Delete every row of ``pseudonym`` (securely overwritten) and return counts per table."""
        mine = "SELECT id FROM decisions WHERE pseudonym = ?"
        with self._lock:
            self._db.execute("PRAGMA secure_delete=ON")
            with self._db:
                self._db.execute("BEGIN")
                counts = {
                    "conversions": self._delete(
                        f"DELETE FROM conversions WHERE decision_id IN ({mine})", pseudonym
                    ),
                    "attributions": self._delete(
                        f"DELETE FROM attributions WHERE decision_id IN ({mine})", pseudonym
                    ),
                    "contributions": int(
                        self._db.execute(
                            "SELECT count(*) FROM decisions WHERE pseudonym = ? AND counted = 1",
                            (pseudonym,),
                        ).fetchone()[0]
                    ),
                    "decisions": self._delete(
                        "DELETE FROM decisions WHERE pseudonym = ?", pseudonym
                    ),
                    "events": self._delete("DELETE FROM events WHERE pseudonym = ?", pseudonym),
                    "features": self._delete(
                        "DELETE FROM user_features WHERE pseudonym = ?", pseudonym
                    ),
                }
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return counts

    def _delete(self, sql: str, pseudonym: str) -> int:
        return int(self._db.execute(sql, (pseudonym,)).rowcount)

    # -- meta -----------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        """A meta value, or None."""
        rows = self._all("SELECT value FROM meta WHERE key = ?", (key,))
        return None if not rows else str(rows[0][0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a meta value."""
        with self._lock, self._db:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?,?)", (key, value))

    def meta_items(self, prefix: str) -> list[tuple[str, str]]:
        """Meta (key, value) pairs whose key starts with ``prefix``."""
        rows = self._all(
            "SELECT key, value FROM meta WHERE substr(key, 1, ?) = ?", (len(prefix), prefix)
        )
        return [(str(k), str(v)) for k, v in rows]

    def integrity(self) -> str:
        """SQLite's integrity check ("ok" when the file is sound)."""
        return str(self._all("PRAGMA integrity_check")[0][0])

    def close(self) -> None:
        """Close the connection (callers write their last changes first)."""
        with self._lock:
            self._db.close()

    def _all(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        with self._lock:
            return list(self._db.execute(sql, tuple(params)))
