from __future__ import annotations

import edgemark.bundle


def test_all_is_pinned() -> None:
    assert edgemark.bundle.__all__ == [
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
    for name in edgemark.bundle.__all__:
        assert hasattr(edgemark.bundle, name)
