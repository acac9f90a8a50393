"""Bundles, the deployable unit: manifest, content hashes, Ed25519 signature, verify, archive.

Core only (cryptography and the standard library): every edge node verifies what it loads.
"""

from __future__ import annotations

from edgemark.bundle._archive import pack_bundle, unpack_bundle
from edgemark.bundle._build import build_bundle, sign_manifest
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
from edgemark.bundle._store import BundleStore
from edgemark.bundle._verify import verify_bundle

__all__ = [
    "MANIFEST_FILE",
    "SIGNATURE_FILE",
    "BundleStore",
    "Manifest",
    "TrustStore",
    "build_bundle",
    "canonical_json",
    "generate_keypair",
    "load_public_key",
    "load_signing_key",
    "pack_bundle",
    "read_manifest",
    "sign_manifest",
    "unpack_bundle",
    "verify_bundle",
]
