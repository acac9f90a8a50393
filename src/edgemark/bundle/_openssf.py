"""OpenSSF model signing of a bundle directory: a Sigstore bundle with an in-toto statement.

Through the ``model-signing`` package in private-key mode (offline, no Sigstore services),
so supply-chain tools users already run can verify a bundle. It signs with ECDSA keys
(model-signing's key mode does not take Ed25519), so it has its own key pair. Extra
``openssf``; the edge never needs it.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from edgemark._extras import require
from edgemark.bundle._keys import _write_new, validate_key_id
from edgemark.errors import BundleSignatureError, ConfigError


def generate_openssf_keypair(directory: str | os.PathLike[str], key_id: str) -> tuple[Path, Path]:
    """Write an ECDSA P-256 pair ``<key_id>.ec.key.pem`` (0600) and ``<key_id>.ec.pub.pem``.

    The names do not end in ``.pub``, so a trust directory never mistakes them for bundle keys.
    """
    validate_key_id(key_id)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / f"{key_id}.ec.key.pem", folder / f"{key_id}.ec.pub.pem"
    for path in (private, public):
        if path.exists():
            raise ConfigError(f"Key file {path} already exists; refusing to overwrite it.")
    key = ec.generate_private_key(ec.SECP256R1())
    _write_new(
        private,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        0o600,
    )
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    _write_new(public, pem, 0o644)
    return private, public


def openssf_signature_path(bundle_dir: str | os.PathLike[str]) -> Path:
    """Where the OpenSSF signature of a bundle goes by default: next to it, not inside."""
    bundle = Path(bundle_dir)
    return bundle.with_name(bundle.name + ".sigstore.json")


def sign_openssf(
    bundle_dir: str | os.PathLike[str],
    private_key: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
) -> Path:
    """Sign every file of the bundle directory in the OpenSSF model-signing format.

    Writes the Sigstore bundle (DSSE envelope over an in-toto statement listing each
    file's digest) to ``out`` (default: ``<bundle>.sigstore.json``) and returns that path.
    """
    model_signing = require("model_signing", "openssf")
    target = Path(out) if out is not None else openssf_signature_path(bundle_dir)
    _check_outside(Path(bundle_dir), target)
    try:
        config = model_signing.signing.Config().use_elliptic_key_signer(private_key=private_key)
        config.sign(Path(bundle_dir), target)
    except (ValueError, TypeError, AttributeError, OSError) as exc:
        raise ConfigError(
            f"OpenSSF signing of {bundle_dir} failed ({exc}); it needs an ECDSA PEM private "
            "key, e.g. from: edgemark keys generate --openssf --dir DIR --key-id ID"
        ) from None
    return target


def verify_openssf(
    bundle_dir: str | os.PathLike[str],
    public_key: str | os.PathLike[str],
    signature: str | os.PathLike[str] | None = None,
) -> None:
    """Verify an OpenSSF signature of the bundle; ``BundleSignatureError`` when it fails."""
    model_signing = require("model_signing", "openssf")
    sig = Path(signature) if signature is not None else openssf_signature_path(bundle_dir)
    try:
        config = model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public_key)
        config.verify(Path(bundle_dir), sig)
    except Exception as exc:  # model-signing raises ValueError and sigstore's own errors
        raise BundleSignatureError(
            f"The OpenSSF signature {sig} does not verify bundle {bundle_dir} with "
            f"{public_key}: {exc}"
        ) from None


def _check_outside(bundle: Path, target: Path) -> None:
    if target.resolve().is_relative_to(bundle.resolve()):
        raise ConfigError(
            f"Write the OpenSSF signature outside the bundle ({target} is inside {bundle}); "
            "a file inside would not be listed in the signed manifest."
        )
