"""Ed25519 signing keys for bundles: generating key pairs, loading them, and the trust store.

A node trusts exactly the public keys in its trust store (the key id is the file stem),
each with its keyring status: trusted, rotated (accepted until a date) or revoked.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edgemark.bundle._keyring import KeyStatus, read_keyring
from edgemark.errors import ConfigError

_KEY_ID = re.compile(r"[A-Za-z0-9._-]+")


def validate_key_id(key_id: str) -> str:
    """Return ``key_id`` if it is a valid key id, else raise ``ConfigError``."""
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id) or key_id in {".", ".."}:
        raise ConfigError(
            f"Invalid key id {key_id!r}: use letters, digits, '.', '_' and '-' only "
            "(e.g. 'hub-2026')."
        )
    return key_id


def generate_keypair(directory: str | os.PathLike[str], key_id: str) -> tuple[Path, Path]:
    """Write a new Ed25519 key pair ``<key_id>.key`` (mode 0600) and ``<key_id>.pub``.

    Returns ``(private_path, public_path)``. Refuses to overwrite existing files.
    """
    validate_key_id(key_id)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    private_path, public_path = directory / f"{key_id}.key", directory / f"{key_id}.pub"
    for path in (private_path, public_path):
        if path.exists():
            raise ConfigError(
                f"Key file {path} already exists; refusing to overwrite it. "
                "Choose another --key-id or remove the old key on purpose."
            )
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(private_path, private_pem, 0o600)
    _write_new(public_path, public_pem, 0o644)
    return private_path, public_path


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` exclusively with ``mode`` (no window where a key is world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.chmod(path, mode)  # the umask may have narrowed the mode given to os.open


def load_signing_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    """Load a PEM PKCS8 Ed25519 private key; ``ConfigError`` if missing or not such a key."""
    path = Path(path)
    data = _read_key_file(path, "signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{path} is not an unencrypted PEM private key ({exc}). "
            "Create one with: edgemark keys generate --dir DIR --key-id ID"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(
            f"{path} holds a {type(key).__name__}, but bundles are signed with Ed25519."
        )
    return key


def load_public_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """Load a PEM Ed25519 public key; ``ConfigError`` if missing or not such a key."""
    path = Path(path)
    data = _read_key_file(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{path} is not a PEM public key ({exc}).") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path} holds a {type(key).__name__}, but bundles use Ed25519 keys.")
    return key


def _read_key_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"The {what} file {path} does not exist.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read the {what} file {path}: {exc.strerror}.") from None


class TrustStore:
    """The public keys a node accepts bundle signatures from, by key id, with their status.

    ``statuses`` (from the directory's ``keyring.json``) marks keys rotated or revoked; a
    key without a status is trusted. ``get`` returns no key for a revoked id.

    >>> key = Ed25519PrivateKey.generate().public_key()
    >>> store = TrustStore({"hub-1": key})
    >>> store.key_ids, store.get("hub-1") is key, store.get("other")
    (('hub-1',), True, None)
    """

    def __init__(
        self,
        keys: Mapping[str, Ed25519PublicKey],
        statuses: Mapping[str, KeyStatus] | None = None,
    ) -> None:
        for key_id, key in keys.items():
            validate_key_id(key_id)
            if not isinstance(key, Ed25519PublicKey):
                raise ConfigError(f"Trusted key {key_id!r} is not an Ed25519 public key.")
        self._keys = dict(keys)
        self._statuses = dict(statuses or {})

    @classmethod
    def from_directory(cls, directory: str | os.PathLike[str]) -> TrustStore:
        """Trust every ``*.pub`` file in ``directory`` (key id = file stem) per its keyring."""
        directory = Path(directory)
        if not directory.is_dir():
            raise ConfigError(
                f"Trust directory {directory} does not exist. Copy the hub's public key "
                "(<key_id>.pub) into it."
            )
        keys = {path.stem: load_public_key(path) for path in sorted(directory.glob("*.pub"))}
        if not keys:
            raise ConfigError(
                f"Trust directory {directory} holds no *.pub files, so no bundle could verify. "
                "Copy the hub's public key (<key_id>.pub) into it."
            )
        return cls(keys, read_keyring(directory))

    @property
    def key_ids(self) -> tuple[str, ...]:
        """The key ids whose signatures can verify (trusted or rotated), sorted."""
        return tuple(sorted(k for k in self._keys if self.status(k).state != "revoked"))

    def status(self, key_id: str) -> KeyStatus:
        """The keyring status of ``key_id`` (``trusted`` when the keyring does not name it)."""
        return self._statuses.get(key_id, KeyStatus())

    def accepts(self, key_id: str, today: date) -> bool:
        """Whether a signature by ``key_id`` is accepted on ``today``."""
        return key_id in self._keys and self.status(key_id).accepts(today)

    def get(self, key_id: str) -> Ed25519PublicKey | None:
        """The public key for ``key_id``, or ``None`` if it is unknown or revoked."""
        if self.status(key_id).state == "revoked":
            return None
        return self._keys.get(key_id)

    def __contains__(self, key_id: object) -> bool:
        return isinstance(key_id, str) and self.get(key_id) is not None

    def __len__(self) -> int:
        return len(self.key_ids)

    def __repr__(self) -> str:
        return f"TrustStore(key_ids={list(self.key_ids)!r})"
