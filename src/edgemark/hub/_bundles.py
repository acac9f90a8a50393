"""The hub's bundle registry: accept uploads, check integrity, store and list tar.gz bytes.

The hub checks that a bundle is well formed and that every file matches its manifest hash,
but does not require a trusted signature: nodes verify signatures, the hub only distributes.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from edgemark.bundle import MANIFEST_FILE, SIGNATURE_FILE, read_manifest, unpack_bundle
from edgemark.errors import BundleError, HubError
from edgemark.hub._db import Bundle

VERSION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$"
_VERSION_RE = re.compile(VERSION_PATTERN)


@dataclass(frozen=True)
class StoredBundle:
    """What an upload produced; ``created_now`` is False for an idempotent re-upload."""

    version: str
    sha256: str
    key_id: str
    created_now: bool


def inspect_bundle(data: bytes) -> tuple[str, str]:
    """Unpack ``data`` safely and check its manifest and file hashes; return (version, key_id).

    The signature must be present but is not checked against any key. Raises HubError 422
    naming what is wrong.
    """
    with tempfile.TemporaryDirectory(prefix="edgemark-hub-") as tmp:
        try:
            root = unpack_bundle(data, Path(tmp) / "bundle")
            manifest = read_manifest(root)
        except BundleError as exc:
            raise HubError(f"Not a valid bundle: {exc}", 422) from None
        if not _VERSION_RE.match(manifest.version):
            raise HubError(
                f"Bundle version {manifest.version!r} must match {VERSION_PATTERN} "
                "(letters, digits, '.', '_', '+', '-'; at most 64 characters).",
                422,
            )
        _check_files(root, manifest.files)
        if not (root / SIGNATURE_FILE).is_file():
            raise HubError(f"Bundle has no {SIGNATURE_FILE}; sign it before uploading.", 422)
        return manifest.version, manifest.key_id


def _check_files(root: Path, expected: dict[str, str]) -> None:
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    present -= {MANIFEST_FILE, SIGNATURE_FILE}
    for name in sorted(expected):
        if name not in present:
            raise HubError(f"Bundle file {name!r} named in the manifest is missing.", 422)
        if hashlib.sha256((root / name).read_bytes()).hexdigest() != expected[name]:
            raise HubError(f"Bundle file {name!r} does not match its manifest hash.", 422)
    extra = sorted(present - set(expected))
    if extra:
        raise HubError(f"Bundle holds files the manifest does not name: {extra}.", 422)


def store_bundle(session: Session, bundle_dir: Path, data: bytes, now: float) -> StoredBundle:
    """Register uploaded bundle bytes (idempotent for the same bytes; 409 for other bytes)."""
    digest = hashlib.sha256(data).hexdigest()
    version, key_id = inspect_bundle(data)
    existing = session.get(Bundle, version)
    if existing is not None:
        if existing.sha256 != digest:
            raise HubError(
                f"Bundle version {version!r} already exists with other bytes "
                f"(sha256 {existing.sha256[:12]}...); give the new bundle a new version.",
                409,
            )
        return StoredBundle(version, digest, existing.key_id, created_now=False)
    bundle_dir.mkdir(parents=True, exist_ok=True)
    path = bundle_dir / f"{version}.tar.gz"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # atomic: a reader never sees half a bundle
    session.add(
        Bundle(
            version=version,
            sha256=digest,
            key_id=key_id,
            created=now,
            size=len(data),
            path=str(path),
        )
    )
    session.flush()
    return StoredBundle(version, digest, key_id, created_now=True)


def list_bundles(session: Session) -> list[Bundle]:
    """Every registered bundle, oldest first."""
    return list(session.scalars(select(Bundle).order_by(Bundle.created, Bundle.version)))


def bundle_path(session: Session, version: str) -> tuple[Path, str]:
    """Path and sha256 of a registered bundle (HubError 404 if unknown)."""
    bundle = session.get(Bundle, version)
    if bundle is None or not Path(bundle.path).is_file():
        raise HubError(f"No bundle with version {version!r} in the registry.", 404)
    return Path(bundle.path), bundle.sha256
