"""SQLite persistence of online feature state: one compressed JSON row per user.

An edge node (or any process) saves the users it changed, loads everything on start, and
evicts inactive users from memory and disk together. The spec hash is recorded, so state
saved for another spec is refused instead of being read wrongly.
"""

from __future__ import annotations

import json
import os
import sqlite3
import zlib
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from edgemark.errors import FeatureError
from edgemark.features._online import OnlineFeatures

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feature_state (user TEXT PRIMARY KEY, wm REAL, state BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS feature_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class FeatureStore:
    """Online feature state of many users in one SQLite file (WAL).

    Examples
    --------
    >>> import tempfile
    >>> from edgemark.features import DEFAULT_SPEC
    >>> online = OnlineFeatures(DEFAULT_SPEC)
    >>> online.update("u_1", "view", 1767571200.0)
    >>> with FeatureStore(Path(tempfile.mkdtemp()) / "features.db", DEFAULT_SPEC) as store:
    ...     store.save(online)
    ...     restored = OnlineFeatures(DEFAULT_SPEC)
    ...     store.load_into(restored)
    1
    1
    """

    def __init__(self, path: str | os.PathLike[str], spec: object) -> None:
        spec_hash = getattr(spec, "spec_hash", None)
        if not callable(spec_hash):
            raise FeatureError("FeatureStore needs the FeatureSpec whose state it keeps")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._hash = str(spec_hash())
        self._db = sqlite3.connect(self.path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        row = self._db.execute("SELECT value FROM feature_meta WHERE key = 'spec_hash'").fetchone()
        if row is None:
            self._db.execute("INSERT INTO feature_meta VALUES ('spec_hash', ?)", (self._hash,))
        elif row[0] != self._hash:
            raise FeatureError(
                f"{self.path} holds feature state of spec {row[0][:12]}, not {self._hash[:12]}; "
                "delete it (state is rebuilt by replaying events) or open the matching spec"
            )

    def save(self, online: OnlineFeatures, users: Iterable[str] | None = None) -> int:
        """Write the state of ``users`` (default: all of ``online``'s); return how many."""
        chosen = online.users() if users is None else [u for u in users if u in online]
        rows = []
        for user in chosen:
            state = online.state_of(user)
            blob = zlib.compress(json.dumps(state, separators=(",", ":")).encode("utf-8"))
            rows.append((user, state["wm"], blob))
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO feature_state VALUES (?,?,?)", rows)
        return len(rows)

    def load_into(self, online: OnlineFeatures) -> int:
        """Load every saved user into ``online``; return how many."""
        n = 0
        for user, blob in self._db.execute("SELECT user, state FROM feature_state"):
            try:
                state = json.loads(zlib.decompress(blob))
            except (zlib.error, ValueError) as exc:
                raise FeatureError(
                    f"feature state of a user in {self.path} is corrupt: {exc}"
                ) from exc
            online.load_state(user, state)
            n += 1
        return n

    def remove(self, users: Iterable[str]) -> int:
        """Delete the rows of ``users`` (erasure); return how many existed."""
        with self._db:
            self._db.execute("BEGIN")
            cur = self._db.executemany(
                "DELETE FROM feature_state WHERE user = ?", [(u,) for u in users]
            )
        return max(cur.rowcount, 0)

    def evict_inactive(self, online: OnlineFeatures, now: float) -> list[str]:
        """Evict inactive users from ``online`` and from disk (see ``evict_inactive``)."""
        gone = online.evict_inactive(now)
        self.remove(gone)
        return gone

    def users(self) -> list[str]:
        """Users with saved state."""
        return [u for (u,) in self._db.execute("SELECT user FROM feature_state ORDER BY user")]

    def bytes_per_user(self) -> float:
        """Mean size of a saved state in bytes (compressed)."""
        row = self._db.execute("SELECT avg(length(state)) FROM feature_state").fetchone()
        return float(row[0] or 0.0)

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
