"""The append-only, hash-chained audit log: append an entry, read entries, verify the chain.

Entry n stores ``hash = sha256(prev_hash + canonical JSON of its fields)`` with
``prev_hash`` the hash of entry n-1 (64 zeros for the first). Editing an entry breaks its
own hash, deleting one leaves a gap in ``seq`` (or a head that names a missing entry), so
``verify_chain`` says where the log was changed. Details never hold secrets.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgemark.hub._db import AuditEntry, AuditHead, create_engine_for, session_factory

GENESIS = "0" * 64
_HEAD_ID = 1


@dataclass(frozen=True)
class AuditVerdict:
    """What ``verify_chain`` found: ``ok``, the entries checked, and where it broke."""

    ok: bool
    entries: int
    problem: str | None = None
    seq: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The verdict as a JSON object."""
        return {"ok": self.ok, "entries": self.entries, "problem": self.problem, "seq": self.seq}


def entry_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """The chained hash of one entry's fields (seq, ts, actor, action, target, details)."""
    canonical = json.dumps(
        {k: fields[k] for k in ("seq", "ts", "actor", "action", "target", "details")},
        sort_keys=True, separators=(",", ":"), ensure_ascii=True,
    )  # fmt: skip
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def append(
    session: Session,
    actor: str,
    action: str,
    target: str,
    now: float,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry in the caller's transaction (the head row lock orders appends)."""
    head = session.scalar(select(AuditHead).where(AuditHead.id == _HEAD_ID).with_for_update())
    if head is None:
        head = AuditHead(id=_HEAD_ID, seq=0, hash=GENESIS)
        session.add(head)
    fields = {
        "seq": head.seq + 1, "ts": now, "actor": actor, "action": action,
        "target": target, "details": json.dumps(dict(details or {}), sort_keys=True),
    }  # fmt: skip
    digest = entry_hash(head.hash, fields)
    entry = AuditEntry(prev_hash=head.hash, hash=digest, **fields)
    session.add(entry)
    head.seq, head.hash = entry.seq, digest
    session.flush()
    return entry


def entries(session: Session, after: int = 0, limit: int = 1000) -> list[AuditEntry]:
    """Entries with ``seq > after``, oldest first, at most ``limit``."""
    query = select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq)
    return list(session.scalars(query.limit(limit)))


def head(session: Session) -> tuple[int, str]:
    """``(seq, hash)`` of the last entry according to the head row (``(0, GENESIS)`` if none)."""
    row = session.get(AuditHead, _HEAD_ID)
    return (0, GENESIS) if row is None else (row.seq, row.hash)


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the JSON the API serves (details stay the stored canonical string)."""
    return {
        "seq": entry.seq, "ts": entry.ts, "actor": entry.actor, "action": entry.action,
        "target": entry.target, "details": entry.details, "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    }  # fmt: skip


def verify_chain(rows: Iterable[Mapping[str, Any]], head: tuple[int, str]) -> AuditVerdict:
    """Check every entry's hash and link, that ``seq`` runs 1, 2, ... without gaps, and that
    the log ends where ``head`` says; report the first problem and its ``seq``.

    >>> verify_chain([], (0, GENESIS)).ok
    True
    """
    prev, expected, count = GENESIS, 1, 0
    for row in rows:
        seq = int(row["seq"])
        if seq != expected:
            return _broken(count, f"entry {expected} is missing (next entry is {seq})", expected)
        if row["prev_hash"] != prev:
            return _broken(count, f"entry {seq} does not link to entry {seq - 1}", seq)
        if entry_hash(prev, row) != row["hash"]:
            return _broken(count, f"entry {seq} was edited (its hash does not match)", seq)
        prev, expected, count = row["hash"], expected + 1, count + 1
    head_seq, head_hash = head
    if head_seq > count:
        where = count + 1
        return _broken(count, f"entries {where}..{head_seq} at the end were deleted", where)
    if head_seq < count:
        return _broken(count, f"the head names entry {head_seq}, the log has {count}", count)
    if head_hash != prev:
        return _broken(count, f"the head does not match entry {count}", count)
    return AuditVerdict(True, count)


def _broken(count: int, problem: str, seq: int) -> AuditVerdict:
    return AuditVerdict(False, count, problem, seq)


def verify_session(session: Session, page: int = 5000) -> AuditVerdict:
    """Verify the whole log in the database behind ``session``, reading it page by page."""

    def rows() -> Iterable[dict[str, Any]]:
        after = 0
        while batch := entries(session, after, page):
            for entry in batch:
                yield entry_json(entry)
            after = batch[-1].seq

    return verify_chain(rows(), head(session))


def verify_database(database_url: str) -> AuditVerdict:
    """Verify the audit log of the hub database at ``database_url`` (read only)."""
    engine = create_engine_for(database_url)
    try:
        with session_factory(engine)() as session:
            return verify_session(session)
    finally:
        engine.dispose()
