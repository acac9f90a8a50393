"""Verification of a bundle directory: key status and signature first, then every file's
hash, then whether this node can run the model (runtime requirements).

An edge node loads nothing that has not passed ``verify_bundle``.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edgemark.bundle._build import file_sha256
from edgemark.bundle._keyring import today_utc
from edgemark.bundle._keys import TrustStore
from edgemark.bundle._manifest import MANIFEST_FILE, SIGNATURE_FILE, Manifest, read_manifest
from edgemark.bundle._runtime import check_runtime
from edgemark.errors import BundleError, BundleIntegrityError, BundleSignatureError

_log = logging.getLogger("edgemark.bundle")

_SIGN_HINT = "edgemark bundle sign DIR --key KEYFILE --key-id ID"


def verify_bundle(
    bundle_dir: str | os.PathLike[str], trust: TrustStore, *, now: datetime | None = None
) -> Manifest:
    """Check signature, key status, contents and runtime needs of a bundle; return its manifest.

    Raises ``BundleError`` (no or bad manifest, or this node cannot run the model: agreement
    3), ``BundleSignatureError`` (signature missing, invalid, or from an untrusted, revoked
    or expired rotated key) or ``BundleIntegrityError`` (a file changed, is missing, or is
    not listed). ``now`` (default: the clock) decides whether a rotated key is still
    accepted; a signature by a rotated key is accepted with a warning in the log.
    """
    bundle = Path(bundle_dir)
    if not bundle.is_dir():
        raise BundleError(f"Bundle directory {bundle} does not exist.")
    read_manifest(bundle)  # a clear BundleError when manifest.json is missing
    data = (bundle / MANIFEST_FILE).read_bytes()
    manifest = Manifest.from_bytes(data)  # parse exactly the bytes whose signature we check
    signature = _read_signature(bundle)
    key = _check_key(manifest, trust, today_utc(now))
    try:
        key.verify(signature, data)
    except InvalidSignature:
        raise BundleSignatureError(
            f"Bundle {manifest.name} {manifest.version}: the signature does not verify with "
            f"key '{manifest.key_id}', so manifest.json was changed after signing or signed "
            f"with another key. Rebuild or re-sign it: {_SIGN_HINT}"
        ) from None
    _check_files(bundle, manifest)
    if "runtime" in manifest.extra:
        check_runtime(manifest.extra["runtime"])
    return manifest


def _check_key(manifest: Manifest, trust: TrustStore, today: date) -> Ed25519PublicKey:
    """The key to verify with, or ``BundleSignatureError`` saying why there is none."""
    what = f"Bundle {manifest.name} {manifest.version} is signed with key '{manifest.key_id}'"
    status = trust.status(manifest.key_id)
    if status.state == "revoked":
        reason = f": {status.reason}" if status.reason else ""
        raise BundleSignatureError(
            f"{what}, which was revoked on {status.revoked_on}{reason}. Bundles signed with "
            f"a revoked key are refused; re-sign it with a trusted key: {_SIGN_HINT}"
        )
    key = trust.get(manifest.key_id)
    if key is None:
        trusted = ", ".join(trust.key_ids) or "none"
        raise BundleSignatureError(
            f"{what}, which is not in the trust store (trusted: {trusted}). "
            f"Sign it with a trusted key: {_SIGN_HINT}"
        )
    if not status.accepts(today):
        raise BundleSignatureError(
            f"{what}, which was rotated out and accepted only until {status.until} "
            f"(today is {today}). Re-sign it with the current key"
            f"{' ' + repr(status.replaced_by) if status.replaced_by else ''}: {_SIGN_HINT}"
        )
    if status.state == "rotated":
        _log.warning(
            "%s, a rotated key accepted only until %s; re-sign it with the current key.",
            what,
            status.until,
        )
    return key


def verify_report(
    bundle_dir: str | os.PathLike[str], trust: TrustStore, *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Run every check ``verify_bundle`` runs, without stopping at the first failure.

    Returns ``[{"check", "ok", "detail"}, ...]`` for ``manifest``, ``key``, ``signature``,
    ``files`` (one entry per problem) and ``runtime``, so a person sees exactly what failed.
    """
    bundle = Path(bundle_dir)
    out: list[dict[str, Any]] = []

    def record(check: str, step: Callable[[], str]) -> bool:
        try:
            detail = step()
        except BundleError as exc:
            out.append({"check": check, "ok": False, "detail": str(exc)})
            return False
        out.append({"check": check, "ok": True, "detail": detail})
        return True

    manifest_box: list[Manifest] = []

    def manifest_step() -> str:
        if not bundle.is_dir():
            raise BundleError(f"Bundle directory {bundle} does not exist.")
        manifest_box.append(read_manifest(bundle))
        return f"{manifest_box[0].name} {manifest_box[0].version}"

    if not record("manifest", manifest_step):
        return out
    manifest, data = manifest_box[0], (bundle / MANIFEST_FILE).read_bytes()
    keys: list[Ed25519PublicKey] = []
    today = today_utc(now)
    key_ok = record("key", lambda: _key_step(manifest, trust, today, keys))
    if key_ok:
        record("signature", lambda: _signature_step(bundle, keys[0], data, manifest))
    for problem in _file_problems(bundle, manifest):
        out.append({"check": "files", "ok": False, "detail": problem})
    if not any(r["check"] == "files" for r in out):
        out.append({"check": "files", "ok": True, "detail": f"{len(manifest.files)} files match"})
    if "runtime" in manifest.extra:
        record("runtime", lambda: _runtime_step(manifest))
    return out


def _key_step(
    manifest: Manifest, trust: TrustStore, today: date, keys: list[Ed25519PublicKey]
) -> str:
    keys.append(_check_key(manifest, trust, today))
    status = trust.status(manifest.key_id)
    if status.state == "rotated":
        return f"'{manifest.key_id}' is rotated, accepted until {status.until}"
    return f"'{manifest.key_id}' is trusted"


def _signature_step(bundle: Path, key: Ed25519PublicKey, data: bytes, manifest: Manifest) -> str:
    try:
        key.verify(_read_signature(bundle), data)
    except InvalidSignature:
        raise BundleSignatureError(
            f"the signature does not verify with key '{manifest.key_id}': manifest.json was "
            f"changed after signing or signed with another key. Re-sign: {_SIGN_HINT}"
        ) from None
    return "Ed25519 signature over manifest.json verifies"


def _runtime_step(manifest: Manifest) -> str:
    check_runtime(manifest.extra["runtime"])
    return "this node's onnxruntime runs the model's opsets"


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
    problems = _file_problems(bundle, manifest)
    if problems:
        raise BundleIntegrityError(problems[0])


def _file_problems(bundle: Path, manifest: Manifest) -> list[str]:
    """Every missing, changed or unlisted file, as one message each (empty: all match)."""
    problems = []
    for name, expected in sorted(manifest.files.items()):
        path = bundle / name
        if path.is_symlink() or not path.is_file():
            problems.append(
                f"Bundle file {name!r} listed in the manifest is missing (or not a regular "
                "file). Re-download or rebuild the bundle."
            )
            continue
        actual = file_sha256(path)
        if actual != expected:
            problems.append(
                f"Bundle file {name!r} does not match the manifest: expected sha256 "
                f"{expected[:12]}…, got {actual[:12]}…. It was changed or corrupted; "
                "re-download or rebuild the bundle."
            )
    extra = sorted(set(_all_files(bundle)) - set(manifest.files) - {MANIFEST_FILE, SIGNATURE_FILE})
    if extra:
        problems.append(
            f"Bundle holds file(s) not listed in the signed manifest: {', '.join(extra)}. "
            "Remove them or rebuild the bundle."
        )
    return problems


def _all_files(bundle: Path) -> list[str]:
    """Relative POSIX names of every non-directory entry below ``bundle`` (symlinks too)."""
    out = []
    for root, dirs, names in os.walk(bundle):
        base = Path(root)
        for n in names + [d for d in dirs if (base / d).is_symlink()]:
            out.append((base / n).relative_to(bundle).as_posix())
    return out
