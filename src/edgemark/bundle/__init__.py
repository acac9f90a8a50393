"""Bundles, the deployable unit: manifest, content hashes, Ed25519 signature, verify, archive.

Core only (cryptography and the standard library): every edge node verifies what it loads,
including the signing key's keyring status and the model's runtime requirements.
"""

from __future__ import annotations

from edgemark.bundle._archive import pack_bundle, unpack_bundle
from edgemark.bundle._build import build_bundle, sign_manifest
from edgemark.bundle._keyring import KEYRING_FILE, KeyStatus, read_keyring, set_key_status
from edgemark.bundle._keys import (
    TrustStore,
    generate_keypair,
    load_public_key,
    load_signing_key,
)
from edgemark.bundle._manifest import (
    MANIFEST_FILE,
    SIGNATURE_FILE,
    Manifest,
    canonical_json,
    read_manifest,
)
from edgemark.bundle._openssf import (
    generate_openssf_keypair,
    openssf_signature_path,
    sign_openssf,
    verify_openssf,
)
from edgemark.bundle._runtime import check_runtime, min_onnxruntime_for, node_runtime
from edgemark.bundle._store import BundleStore
from edgemark.bundle._verify import verify_bundle, verify_report

__all__ = [
    "KEYRING_FILE",
    "MANIFEST_FILE",
    "SIGNATURE_FILE",
    "BundleStore",
    "KeyStatus",
    "Manifest",
    "TrustStore",
    "build_bundle",
    "canonical_json",
    "check_runtime",
    "generate_keypair",
    "generate_openssf_keypair",
    "load_public_key",
    "load_signing_key",
    "min_onnxruntime_for",
    "node_runtime",
    "openssf_signature_path",
    "pack_bundle",
    "read_keyring",
    "read_manifest",
    "set_key_status",
    "sign_manifest",
    "sign_openssf",
    "unpack_bundle",
    "verify_bundle",
    "verify_openssf",
    "verify_report",
]
