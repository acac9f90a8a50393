"""The keyring of a trust directory: which key ids are trusted, rotated out or revoked.

``keyring.json`` sits next to the ``<key_id>.pub`` files; a key without an entry is trusted.
A rotated key verifies until its ``accept_until`` date (flagged in the log), a revoked key
never verifies again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from edgemark.errors import ConfigError

KEYRING_FILE = "keyring.json"
KEYRING_FORMAT = 1
STATES = ("trusted", "rotated", "revoked")


@dataclass(frozen=True)
class KeyStatus:
    """The state of one key id: ``trusted``, ``rotated`` (until a date) or ``revoked`` (on one).

    >>> KeyStatus("rotated", until=date(2026, 12, 31)).accepts(date(2027, 1, 1))
    False
    """

    state: str = "trusted"
    until: date | None = None
    revoked_on: date | None = None
    reason: str = ""
    replaced_by: str = ""

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ConfigError(f"Key state {self.state!r} is not one of {', '.join(STATES)}.")
        if self.state == "rotated" and self.until is None:
            raise ConfigError("A rotated key needs 'accept_until' (YYYY-MM-DD).")
        if self.state == "revoked" and self.revoked_on is None:
            raise ConfigError("A revoked key needs 'revoked_on' (YYYY-MM-DD).")

    def accepts(self, today: date) -> bool:
        """Whether a signature by this key is accepted on ``today`` (UTC date)."""
        if self.state == "revoked":
            return False
        return self.until is None or today <= self.until

    def to_dict(self) -> dict[str, Any]:
        """The keyring entry of this status."""
        out: dict[str, Any] = {"status": self.state}
        if self.until is not None:
            out["accept_until"] = self.until.isoformat()
        if self.revoked_on is not None:
            out["revoked_on"] = self.revoked_on.isoformat()
        if self.reason:
            out["reason"] = self.reason
        if self.replaced_by:
            out["replaced_by"] = self.replaced_by
        return out

    @classmethod
    def from_dict(cls, key_id: str, data: Any) -> KeyStatus:
        """Parse one keyring entry; ``ConfigError`` names the key and the bad field."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"Keyring entry for {key_id!r} must be an object.")
        try:
            return cls(
                state=str(data.get("status", "trusted")),
                until=_date(data.get("accept_until")),
                revoked_on=_date(data.get("revoked_on")),
                reason=str(data.get("reason", "")),
                replaced_by=str(data.get("replaced_by", "")),
            )
        except (ConfigError, ValueError) as exc:
            raise ConfigError(f"Keyring entry for {key_id!r} is invalid: {exc}") from None


def _date(value: Any) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigError(f"dates are strings YYYY-MM-DD, got {value!r}")
    return date.fromisoformat(value)


def today_utc(now: datetime | None = None) -> date:
    """The UTC date of ``now`` (default: the clock)."""
    return (now or datetime.now(UTC)).astimezone(UTC).date()


def read_keyring(directory: str | os.PathLike[str]) -> dict[str, KeyStatus]:
    """The statuses in ``directory/keyring.json`` (empty when there is no keyring file)."""
    path = Path(directory) / KEYRING_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"Keyring {path} is not readable JSON: {exc}.") from None
    if not isinstance(data, Mapping) or data.get("format") != KEYRING_FORMAT:
        raise ConfigError(
            f'Keyring {path} must be an object with "format": {KEYRING_FORMAT} and "keys".'
        )
    keys = data.get("keys", {})
    if not isinstance(keys, Mapping):
        raise ConfigError(f"Keyring {path}: 'keys' must be an object {{key_id: entry}}.")
    return {str(k): KeyStatus.from_dict(str(k), v) for k, v in sorted(keys.items())}


def write_keyring(directory: str | os.PathLike[str], statuses: Mapping[str, KeyStatus]) -> Path:
    """Write ``keyring.json`` atomically (temporary file, then rename)."""
    path = Path(directory) / KEYRING_FILE
    body = {
        "format": KEYRING_FORMAT,
        "keys": {k: s.to_dict() for k, s in sorted(statuses.items())},
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def set_key_status(
    directory: str | os.PathLike[str], key_id: str, status: KeyStatus
) -> dict[str, KeyStatus]:
    """Record ``status`` for ``key_id`` in the keyring of ``directory``; returns the keyring.

    A revoked key stays revoked: it cannot be set back to trusted or rotated here.
    """
    from edgemark.bundle._keys import validate_key_id

    validate_key_id(key_id)
    if not Path(directory).is_dir():
        raise ConfigError(f"Trust directory {directory} does not exist.")
    statuses = read_keyring(directory)
    old = statuses.get(key_id)
    if old is not None and old.state == "revoked" and status.state != "revoked":
        raise ConfigError(
            f"Key {key_id!r} was revoked on {old.revoked_on}; a revoked key is never trusted "
            "again. Generate a new key instead: edgemark keys generate."
        )
    statuses[key_id] = status
    write_keyring(directory, statuses)
    return statuses
