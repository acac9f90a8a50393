"""Pseudonymous user ids: keyed HMAC-SHA256 of the raw id, and the key file that holds the key.

The key lives outside the event log; without it a pseudonym cannot be linked back to a raw id.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from edgemark.errors import ConfigError

KEY_BYTES = 32


class Pseudonymizer:
    """Turn raw user ids into stable pseudonyms ``"u_" + 32 hex`` of HMAC-SHA256(key, id).

    Examples
    --------
    >>> p = Pseudonymizer(b"k" * 32)
    >>> p.pseudonym("cust-000123") == p.pseudonym("cust-000123")
    True
    >>> len(p.pseudonym("cust-000123"))
    34
    """

    __slots__ = ("_base",)

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray) or len(key) == 0:
            raise ConfigError("A pseudonymisation key must be non-empty bytes.")
        # Keyed once; each pseudonym copies the keyed state instead of re-deriving the pads.
        self._base = hmac.new(bytes(key), digestmod=hashlib.sha256)

    def __repr__(self) -> str:
        return "Pseudonymizer(key='**********')"

    def pseudonym(self, raw_id: str) -> str:
        """Return the pseudonym of ``raw_id``."""
        mac = self._base.copy()
        mac.update(raw_id.encode("utf-8"))
        return "u_" + mac.hexdigest()[:32]

    @classmethod
    def from_key_file(cls, path: str | os.PathLike[str]) -> Pseudonymizer:
        """Load the key from ``path`` (at least 32 bytes); ``ConfigError`` if missing or short."""
        key_path = Path(path)
        try:
            key = key_path.read_bytes()
        except FileNotFoundError:
            raise ConfigError(
                f"Pseudonymisation key file {key_path} does not exist. Create one with "
                f"'edgemark ingest ... --create-key' or Pseudonymizer.create_key_file()."
            ) from None
        except OSError as exc:
            raise ConfigError(f"Cannot read pseudonymisation key file {key_path}: {exc}") from exc
        if len(key) < KEY_BYTES:
            raise ConfigError(
                f"Pseudonymisation key file {key_path} holds {len(key)} bytes, fewer than "
                f"{KEY_BYTES}; it is truncated or not a key file. Restore it from backup "
                "(a new key gives every user a new pseudonym)."
            )
        return cls(key)

    @classmethod
    def create_key_file(cls, path: str | os.PathLike[str]) -> Pseudonymizer:
        """Write 32 random bytes to a new file ``path`` (mode 0600) and return its Pseudonymizer.

        Refuses to overwrite an existing file (``ConfigError``): replacing a key silently
        would re-pseudonymise every user.
        """
        key_path = Path(path)
        key = secrets.token_bytes(KEY_BYTES)
        key_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise ConfigError(
                f"Key file {key_path} already exists; refusing to overwrite it. "
                "Use it as is, or move it away first if you really want a new key."
            ) from None
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        os.chmod(key_path, 0o600)  # O_CREAT's mode is filtered by the umask
        return cls(key)
