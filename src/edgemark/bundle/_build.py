"""Deterministic bundle builds: copy files, hash them, write and sign the canonical manifest.

Same inputs give the same bytes: nothing here reads the clock or the file metadata.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgemark.bundle._keys import validate_key_id
from edgemark.bundle._manifest import (
    MANIFEST_FILE,
    SIGNATURE_FILE,
    Manifest,
    canonical_json,
    read_manifest,
    validate_file_name,
)
from edgemark.errors import BundleError, ConfigError


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def build_bundle(
    out_dir: str | os.PathLike[str],
    *,
    name: str,
    version: str,
    files: Mapping[str, str | os.PathLike[str]],
    feature_spec_hash: str,
    offers: list[dict[str, Any]],
    policy: dict[str, Any],
    metrics: dict[str, Any],
    signing_key: Ed25519PrivateKey,
    key_id: str,
    extra: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Build a signed bundle directory in ``out_dir`` and return its path.

    ``files`` maps the name inside the bundle (e.g. ``"model.onnx"``) to a source file.
    ``extra`` adds further top-level manifest keys (signed like the rest). Refuses a
    non-empty ``out_dir`` unless ``overwrite=True``.
    """
    _check_key_id(key_id)
    clash = sorted(set(extra or {}) & {"format", "name", "version", "key_id", "files"})
    if clash or {"feature_spec_hash", "offers", "policy", "metrics"} & set(extra or {}):
        raise BundleError(f"extra= must not set built-in manifest fields: {sorted(extra or {})}.")
    sources = {validate_file_name(n): Path(p) for n, p in files.items()}
    for n, src in sources.items():
        if not src.is_file():
            raise BundleError(f"Bundle file {n!r}: source {src} does not exist or is not a file.")
    out = Path(out_dir)
    _prepare_out_dir(out, overwrite)
    digests: dict[str, str] = {}
    for n, src in sorted(sources.items()):
        dest = out / n
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)  # bytes only: no mode or mtime copied
        digests[n] = file_sha256(dest)
    fields = {
        "name": name,
        "version": version,
        "key_id": key_id,
        "feature_spec_hash": feature_spec_hash,
        "files": digests,
        "offers": offers,
        "policy": policy,
        "metrics": metrics,
    }
    # Round trip through JSON so numpy scalars, tuples etc. become what a reader will see.
    data = json.loads(canonical_json({**_plain(dict(extra or {})), **_plain(fields)}))
    manifest = Manifest.from_dict({"format": 1, **data})
    _write_signed(out, manifest, signing_key)
    return out


def sign_manifest(
    bundle_dir: str | os.PathLike[str], signing_key: Ed25519PrivateKey, key_id: str
) -> Manifest:
    """Re-sign an existing bundle with another key: rewrite ``key_id``, manifest and signature.

    The bundle's files are not checked here; verify it with the old key first if that matters.
    """
    _check_key_id(key_id)
    bundle = Path(bundle_dir)
    old = read_manifest(bundle)
    manifest = Manifest.from_dict({**old.to_dict(), "key_id": key_id})
    _write_signed(bundle, manifest, signing_key)
    return manifest


def _check_key_id(key_id: str) -> None:
    try:
        validate_key_id(key_id)
    except ConfigError as exc:
        raise BundleError(str(exc)) from None


def _plain(value: dict[str, Any]) -> dict[str, Any]:
    """JSON-encode with numpy scalars and arrays turned into plain Python values."""
    return dict(json.loads(json.dumps(value, default=_to_builtin, allow_nan=True)))


def _to_builtin(obj: object) -> object:
    if hasattr(obj, "tolist"):  # numpy scalars and arrays, without importing numpy
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def _write_signed(out: Path, manifest: Manifest, signing_key: Ed25519PrivateKey) -> None:
    data = manifest.to_bytes()
    signature = signing_key.sign(data)
    (out / MANIFEST_FILE).write_bytes(data)
    (out / SIGNATURE_FILE).write_bytes(base64.b64encode(signature))


def _prepare_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise BundleError(f"Bundle output {out} exists and is not a directory.")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise BundleError(
                f"Bundle output directory {out} is not empty; choose a new directory or "
                "pass overwrite=True (--overwrite) to replace it."
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
