"""Verification of a bundle directory: trusted signature first, then every file's hash.

An edge node loads nothing that has not passed ``verify_bundle``.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature

from edgemark.bundle._build import file_sha256
from edgemark.bundle._keys import TrustStore
from edgemark.bundle._manifest import MANIFEST_FILE, SIGNATURE_FILE, Manifest, read_manifest
from edgemark.errors import BundleError, BundleIntegrityError, BundleSignatureError

_SIGN_HINT = "edgemark bundle sign DIR --key KEYFILE --key-id ID"


def verify_bundle(bundle_dir: str | os.PathLike[str], trust: TrustStore) -> Manifest:
    """Check signature and contents of a bundle directory; return its ``Manifest``.

    Raises ``BundleError`` (no or bad manifest), ``BundleSignatureError`` (signature missing,
    invalid, or from an untrusted key) or ``BundleIntegrityError`` (a file changed, is
    missing, or is not listed).
    """
    bundle = Path(bundle_dir)
    if not bundle.is_dir():
        raise BundleError(f"Bundle directory {bundle} does not exist.")
    read_manifest(bundle)  # a clear BundleError when manifest.json is missing
    data = (bundle / MANIFEST_FILE).read_bytes()
    manifest = Manifest.from_bytes(data)  # parse exactly the bytes whose signature we check
    signature = _read_signature(bundle)
    key = trust.get(manifest.key_id)
    if key is None:
        trusted = ", ".join(trust.key_ids) or "none"
        raise BundleSignatureError(
            f"Bundle {manifest.name} {manifest.version} is signed with key "
            f"'{manifest.key_id}', which is not in the trust store (trusted: {trusted}). "
            f"Sign it with a trusted key: {_SIGN_HINT}"
        )
    try:
        key.verify(signature, data)
    except InvalidSignature:
        raise BundleSignatureError(
            f"Bundle {manifest.name} {manifest.version}: the signature does not verify with "
            f"key '{manifest.key_id}', so manifest.json was changed after signing or signed "
            f"with another key. Rebuild or re-sign it: {_SIGN_HINT}"
        ) from None
    _check_files(bundle, manifest)
    return manifest


def _read_signature(bundle: Path) -> bytes:
    path = bundle / SIGNATURE_FILE
    try:
        text = path.read_bytes().strip()
    except FileNotFoundError:
        raise BundleSignatureError(
            f"Bundle {bundle} has no {SIGNATURE_FILE}; unsigned bundles are never loaded. "
            f"Sign it: {_SIGN_HINT}"
        ) from None
    try:
        signature = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        signature = b""
    if len(signature) != 64:
        raise BundleSignatureError(
            f"{path} is not a base64 Ed25519 signature (64 bytes). Re-sign it: {_SIGN_HINT}"
        )
    return signature


def _check_files(bundle: Path, manifest: Manifest) -> None:
    for name, expected in sorted(manifest.files.items()):
        path = bundle / name
        if path.is_symlink() or not path.is_file():
            raise BundleIntegrityError(
                f"Bundle file {name!r} listed in the manifest is missing (or not a regular "
                "file). Re-download or rebuild the bundle."
            )
        actual = file_sha256(path)
        if actual != expected:
            raise BundleIntegrityError(
                f"Bundle file {name!r} does not match the manifest: expected sha256 "
                f"{expected[:12]}…, got {actual[:12]}…. It was changed or corrupted; "
                "re-download or rebuild the bundle."
            )
    extra = sorted(set(_all_files(bundle)) - set(manifest.files) - {MANIFEST_FILE, SIGNATURE_FILE})
    if extra:
        raise BundleIntegrityError(
            f"Bundle holds file(s) not listed in the signed manifest: {', '.join(extra)}. "
            "Remove them or rebuild the bundle."
        )


def _all_files(bundle: Path) -> list[str]:
    """Relative POSIX names of every non-directory entry below ``bundle`` (symlinks too)."""
    out = []
    for root, dirs, names in os.walk(bundle):
        base = Path(root)
        for n in names + [d for d in dirs if (base / d).is_symlink()]:
            out.append((base / n).relative_to(bundle).as_posix())
    return out
