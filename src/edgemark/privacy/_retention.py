"""Retention: purge events older than a maximum age from the log, and old quarantine files.

Parts are rewritten in place without the expired rows (or deleted when nothing is left);
quarantine files last written before the cutoff are deleted. One audit record (counts,
cutoff) goes to the same trail as erasures.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgemark._extras import require
from edgemark.errors import PrivacyError
from edgemark.events import EventLog
from edgemark.privacy._erasure import append_audit, default_audit_path

DAY_SECONDS = 86400.0


@dataclass(frozen=True)
class RetentionReport:
    """What a retention run purged, and the cutoff it applied (epoch seconds)."""

    cutoff: float
    log_events: int
    quarantine_files: int
    audit_path: Path
    request_id: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "request_id": self.request_id,
            "cutoff": self.cutoff,
            "log_events": self.log_events,
            "quarantine_files": self.quarantine_files,
            "audit_path": str(self.audit_path),
        }


def apply_retention(
    log: EventLog,
    max_age_days: float,
    *,
    now: float | None = None,
    quarantine_dirs: Iterable[str | os.PathLike[str]] | None = None,
    audit_path: str | os.PathLike[str] | None = None,
) -> RetentionReport:
    """Delete events with ``ts < now - max_age_days`` and older quarantine files.

    Examples
    --------
    >>> import tempfile
    >>> from edgemark.events import Event
    >>> log = EventLog(Path(tempfile.mkdtemp()) / "log")
    >>> log.append([Event("old", 0.0, "u_1", "view", "s"), Event("new", 9e5, "u_1", "view", "s")])
    2
    >>> apply_retention(log, 7, now=1e6).log_events
    1
    """
    if isinstance(max_age_days, bool) or not isinstance(max_age_days, int | float):
        raise PrivacyError(f"max_age_days must be a number of days, got {max_age_days!r}")
    if not (math.isfinite(max_age_days) and max_age_days > 0):
        raise PrivacyError(f"max_age_days must be > 0, got {max_age_days!r}")
    clock = time.time() if now is None else float(now)
    cutoff = clock - float(max_age_days) * DAY_SECONDS
    pc = require("pyarrow.compute", "train")
    purged = log.remove_rows(lambda t: pc.less(t.column("ts"), cutoff))
    dirs = [log.root / "quarantine"] if quarantine_dirs is None else list(quarantine_dirs)
    files = 0
    for directory in dirs:
        root = Path(directory)
        for path in sorted(root.glob("*.jsonl")) if root.is_dir() else []:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                files += 1
    request_id = uuid.uuid4().hex
    audit = Path(audit_path) if audit_path is not None else default_audit_path(log)
    record = {"action": "retain", "request_id": request_id, "cutoff": cutoff,
              "max_age_days": float(max_age_days),
              "counts": {"log_events": purged, "quarantine_files": files}}  # fmt: skip
    append_audit(audit, record)
    return RetentionReport(cutoff, purged, files, audit, request_id)
