"""Erasure of one user from everything the data platform wrote, with an audit trail.

``erase_user`` pseudonymises the raw id with the log's key and removes that pseudonym from
the event log (parts rewritten in place), the quarantine files, training frames (Parquet
files with a ``user`` column) and online feature stores (SQLite, secure delete). Edge
state is erased by the caller (``edgemark.edge.erase_user_state``, an outer-layer plane)
and its counts passed in, so one audit record covers all of it. The audit record holds
counts and times, never the id or its pseudonym.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edgemark._extras import require
from edgemark.errors import PrivacyError
from edgemark.events import EventLog, Pseudonymizer

AUDIT_NAME = "privacy-audit.jsonl"


@dataclass(frozen=True)
class ErasureReport:
    """What one erasure removed, per target (rows or lines), and where it was audited."""

    counts: dict[str, int]
    audit_path: Path
    request_id: str
    files: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Rows and lines removed in all."""
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (no id in it)."""
        return {
            "request_id": self.request_id,
            "counts": dict(sorted(self.counts.items())),
            "files_changed": dict(sorted(self.files.items())),
            "total": self.total,
            "audit_path": str(self.audit_path),
        }


def default_audit_path(log: EventLog) -> Path:
    """Where the audit trail of a log lives: ``<log>/audit/privacy-audit.jsonl``."""
    return log.root / "audit" / AUDIT_NAME


def append_audit(path: Path, record: Mapping[str, Any]) -> None:
    """Append one JSON line to the audit trail (created with its directory if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"at": datetime.now(UTC).isoformat(), **record}, sort_keys=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def erase_user(
    user: str,
    log: EventLog,
    pseudonymizer: Pseudonymizer,
    *,
    quarantine_dirs: Iterable[str | os.PathLike[str]] | None = None,
    frames: Iterable[str | os.PathLike[str]] = (),
    feature_stores: Iterable[str | os.PathLike[str]] = (),
    extra_counts: Mapping[str, int] | None = None,
    audit_path: str | os.PathLike[str] | None = None,
) -> ErasureReport:
    """Remove the user with raw id ``user`` from the log and every derived file given.

    Parameters
    ----------
    quarantine_dirs
        Directories of quarantine JSONL files (default: ``<log>/quarantine``).
    frames
        Training-frame Parquet files, or directories searched for ``*.parquet``.
    feature_stores
        ``FeatureStore`` SQLite files (online feature state).
    extra_counts
        Counts erased elsewhere (e.g. ``edge:<dir>:decisions``) to record in the audit.
    """
    if not isinstance(user, str) or not user.strip():
        raise PrivacyError("erasure needs the user's raw id (a non-empty string)")
    pseudonym = pseudonymizer.pseudonym(user.strip())
    pc = require("pyarrow.compute", "train")
    counts: dict[str, int] = {}
    files: dict[str, int] = {}
    counts["log_events"] = log.remove_rows(lambda t: pc.equal(t.column("user"), pseudonym))
    dirs = [log.root / "quarantine"] if quarantine_dirs is None else list(quarantine_dirs)
    counts["quarantine_rows"], files["quarantine"] = _erase_lines(dirs, pseudonym)
    counts["frame_rows"], files["frames"] = _erase_frames(frames, pseudonym)
    counts["feature_states"] = sum(_erase_store(Path(p), pseudonym) for p in feature_stores)
    for name, value in (extra_counts or {}).items():
        counts[name] = int(value)
    request_id = uuid.uuid4().hex
    audit = Path(audit_path) if audit_path is not None else default_audit_path(log)
    append_audit(audit, {"action": "erase", "request_id": request_id, "counts": counts})
    return ErasureReport(counts, audit, request_id, files)


def _erase_lines(dirs: Iterable[str | os.PathLike[str]], pseudonym: str) -> tuple[int, int]:
    """Drop every JSONL line that holds the pseudonym; (lines removed, files changed)."""
    removed = changed = 0
    needle = pseudonym.encode("ascii")
    for directory in dirs:
        root = Path(directory)
        if not root.is_dir():
            continue
        for path in sorted(root.glob("*.jsonl")):
            lines = path.read_bytes().splitlines(keepends=True)
            kept = [line for line in lines if needle not in line]
            if len(kept) != len(lines):
                _replace_bytes(path, b"".join(kept))
                removed += len(lines) - len(kept)
                changed += 1
    return removed, changed


def _parquet_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    out: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            out.extend(sorted(path.rglob("*.parquet")))
        elif path.is_file():
            out.append(path)
        else:
            raise PrivacyError(f"frame path {path} does not exist; give a Parquet file or folder")
    return out


def _erase_frames(paths: Iterable[str | os.PathLike[str]], pseudonym: str) -> tuple[int, int]:
    pc = require("pyarrow.compute", "train")
    pq = require("pyarrow.parquet", "train")
    removed = changed = 0
    for path in _parquet_files(paths):
        table = pq.read_table(path)
        if "user" not in table.column_names:
            continue
        mask = pc.fill_null(pc.equal(table.column("user").cast("string"), pseudonym), False)
        hits = int(pc.sum(mask).as_py() or 0)
        if hits:
            tmp = path.with_name(f".{path.name}.tmp")
            pq.write_table(table.filter(pc.invert(mask)), tmp)
            os.replace(tmp, path)
            removed += hits
            changed += 1
    return removed, changed


def _erase_store(path: Path, pseudonym: str) -> int:
    """Securely delete one user's row from a FeatureStore file (no copy left in the WAL)."""
    if not path.is_file():
        raise PrivacyError(f"feature store {path} does not exist")
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA secure_delete = ON")
        cur = db.execute("DELETE FROM feature_state WHERE user = ?", (pseudonym,))
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return max(cur.rowcount, 0)
    except sqlite3.Error as exc:
        raise PrivacyError(f"cannot erase from feature store {path}: {exc}") from exc
    finally:
        db.close()


def _replace_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
