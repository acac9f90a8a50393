from __future__ import annotations

import edgemark.bundle


def test_all_is_pinned() -> None:
    assert edgemark.bundle.__all__ == [
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
    for name in edgemark.bundle.__all__:
        assert hasattr(edgemark.bundle, name)
