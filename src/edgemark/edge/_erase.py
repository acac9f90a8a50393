"""Offline erasure of one user from a node's state directory (cross-issue agreement 2).

For a node that is not running: the raw id is pseudonymised with the node's own key
(``state_dir/node.key``) and every row of that pseudonym is deleted from ``edge.db`` with
SQLite's secure delete, then the WAL is checkpointed so no copy stays behind. A running
node erases through ``Runtime.erase_user`` or POST /v1/erase instead, which also clears
its memory.
"""

from __future__ import annotations

import os
from pathlib import Path

from edgemark.edge._state import StateStore
from edgemark.errors import ConfigError
from edgemark.events import Pseudonymizer

ERASED_TABLES = ("attributions", "contributions", "conversions", "decisions", "events", "features")


def node_pseudonymizer(state_dir: Path, key: bytes | None) -> Pseudonymizer:
    """The node's pseudonymiser: ``key`` if given, else ``state_dir/node.key`` (created,
    mode 0600, on first start)."""
    if key is not None:
        return Pseudonymizer(key)
    path = state_dir / "node.key"
    if path.exists():
        return Pseudonymizer.from_key_file(path)
    return Pseudonymizer.create_key_file(path)


def erase_user_state(state_dir: str | os.PathLike[str], user: str) -> dict[str, int]:
    """Remove ``user`` (the raw id) from the node state in ``state_dir``; counts per table.

    ``contributions`` counts the user's decisions that were already counted in released
    DP reports (those aggregates hold no id and stay as they are). A directory without a
    key or a database holds nothing of anyone: every count is 0.

    >>> import tempfile
    >>> erase_user_state(tempfile.mkdtemp(), "cust-1")["decisions"]
    0
    """
    if not isinstance(user, str) or not user:
        raise ConfigError("erase_user_state needs the user's raw id (a non-empty string).")
    root = Path(state_dir)
    key, db = root / "node.key", root / "edge.db"
    if not key.is_file() or not db.is_file():
        return dict.fromkeys(ERASED_TABLES, 0)
    pseudonym = Pseudonymizer.from_key_file(key).pseudonym(user)
    store = StateStore(db)
    try:
        return store.erase(pseudonym)
    finally:
        store.close()
