from __future__ import annotations

import base64
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgemark.bundle import (
    BundleStore,
    Manifest,
    TrustStore,
    build_bundle,
    pack_bundle,
    read_manifest,
    sign_manifest,
    unpack_bundle,
    verify_bundle,
)
from edgemark.errors import BundleError, BundleIntegrityError, BundleSignatureError

Kwargs = Callable[[Ed25519PrivateKey, dict[str, Path]], dict[str, Any]]


def test_round_trip_build_pack_unpack_verify(
    tmp_path: Path, bundle_dir: Path, trust: TrustStore, sources: dict[str, Path]
) -> None:
    data = pack_bundle(bundle_dir)
    out = unpack_bundle(data, tmp_path / "unpacked")

    manifest = verify_bundle(out, trust)

    assert manifest.version == "2026.01.1" and manifest.key_id == "k1"
    assert manifest.offers[0]["id"] == "pct10"
    assert (out / "model.onnx").read_bytes() == sources["model.onnx"].read_bytes()
    assert (out / "ref/hist.json").read_bytes() == sources["ref/hist.json"].read_bytes()
    import hashlib

    assert (
        manifest.files["model.onnx"]
        == hashlib.sha256(sources["model.onnx"].read_bytes()).hexdigest()
    )


def test_manifest_is_canonical_json_and_signature_is_base64_64_bytes(
    bundle_dir: Path, signing_key: Ed25519PrivateKey
) -> None:
    raw = (bundle_dir / "manifest.json").read_bytes()
    parsed = json.loads(raw)
    sig = base64.b64decode((bundle_dir / "manifest.sig").read_bytes(), validate=True)

    assert raw == json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
    assert parsed["format"] == 1
    assert len(sig) == 64
    signing_key.public_key().verify(sig, raw)


def test_same_inputs_same_bytes(
    bundle_kwargs: Kwargs, tmp_path: Path, signing_key: Ed25519PrivateKey, sources: dict[str, Path]
) -> None:
    a = build_bundle(tmp_path / "a", **bundle_kwargs(signing_key, sources))
    b = build_bundle(tmp_path / "b", **bundle_kwargs(signing_key, sources))

    assert (a / "manifest.json").read_bytes() == (b / "manifest.json").read_bytes()
    assert (a / "manifest.sig").read_bytes() == (b / "manifest.sig").read_bytes()
    assert pack_bundle(a) == pack_bundle(b) == pack_bundle(a)


def test_packed_tar_members_are_normalised(bundle_dir: Path) -> None:
    (bundle_dir / "model.onnx").chmod(0o755)

    with tarfile.open(fileobj=io.BytesIO(pack_bundle(bundle_dir)), mode="r:gz") as tar:
        members = tar.getmembers()

    assert [m.name for m in members] == sorted(
        ["manifest.json", "manifest.sig", "model.onnx", "ref/hist.json"]
    )
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {
        (0, 0, 0, "", "", 0o644)
    }


def test_flipped_byte_in_model_is_integrity_error_naming_file(
    bundle_dir: Path, trust: TrustStore
) -> None:
    model = bundle_dir / "model.onnx"
    data = bytearray(model.read_bytes())
    data[100] ^= 0x01
    model.write_bytes(bytes(data))

    with pytest.raises(BundleIntegrityError, match=r"'model\.onnx'.*expected sha256"):
        verify_bundle(bundle_dir, trust)


def test_missing_listed_file_is_integrity_error(bundle_dir: Path, trust: TrustStore) -> None:
    (bundle_dir / "ref" / "hist.json").unlink()

    with pytest.raises(BundleIntegrityError, match=r"'ref/hist\.json'.*missing"):
        verify_bundle(bundle_dir, trust)


def test_edited_manifest_is_signature_error(bundle_dir: Path, trust: TrustStore) -> None:
    path = bundle_dir / "manifest.json"
    path.write_bytes(path.read_bytes().replace(b'"holdout_share":0.1', b'"holdout_share":0.0'))

    with pytest.raises(BundleSignatureError, match="does not verify with key 'k1'"):
        verify_bundle(bundle_dir, trust)


def test_untrusted_key_is_signature_error_naming_key(
    bundle_kwargs: Kwargs, tmp_path: Path, sources: dict[str, Path]
) -> None:
    other = Ed25519PrivateKey.generate()
    kwargs = bundle_kwargs(other, sources) | {"key_id": "k9"}
    bundle = build_bundle(tmp_path / "b", **kwargs)
    trust = TrustStore({"k1": Ed25519PrivateKey.generate().public_key(), "k2": other.public_key()})

    with pytest.raises(BundleSignatureError) as info:
        verify_bundle(bundle, trust)
    assert "signed with key 'k9', which is not in the trust store (trusted: k1, k2)" in str(
        info.value
    )
    assert "edgemark bundle sign" in str(info.value)


def test_signature_by_wrong_key_under_trusted_id_is_rejected(
    bundle_kwargs: Kwargs, tmp_path: Path, sources: dict[str, Path], trust: TrustStore
) -> None:
    impostor = Ed25519PrivateKey.generate()
    bundle = build_bundle(tmp_path / "b", **bundle_kwargs(impostor, sources))

    with pytest.raises(BundleSignatureError, match="'k1'"):
        verify_bundle(bundle, trust)


def test_missing_or_garbled_signature(bundle_dir: Path, trust: TrustStore) -> None:
    (bundle_dir / "manifest.sig").write_bytes(b"!!not base64!!")
    with pytest.raises(BundleSignatureError, match="not a base64 Ed25519 signature"):
        verify_bundle(bundle_dir, trust)
    (bundle_dir / "manifest.sig").unlink()
    with pytest.raises(BundleSignatureError, match=r"has no manifest\.sig"):
        verify_bundle(bundle_dir, trust)


def test_extra_file_is_integrity_error_naming_it(bundle_dir: Path, trust: TrustStore) -> None:
    (bundle_dir / "ref" / "evil.py").write_text("print('hi')")

    with pytest.raises(BundleIntegrityError, match=r"not listed.*ref/evil\.py"):
        verify_bundle(bundle_dir, trust)


def test_missing_or_bad_manifest_is_bundle_error(bundle_dir: Path, trust: TrustStore) -> None:
    (bundle_dir / "manifest.json").write_text('{"format": 1, "name": "x"}')
    with pytest.raises(BundleError, match="missing field"):
        verify_bundle(bundle_dir, trust)
    (bundle_dir / "manifest.json").unlink()
    with pytest.raises(BundleError, match=r"no manifest\.json"):
        verify_bundle(bundle_dir, trust)


def test_sign_manifest_re_signs_with_new_key(
    bundle_dir: Path, trust: TrustStore, signing_key: Ed25519PrivateKey
) -> None:
    new_key = Ed25519PrivateKey.generate()
    sign_manifest(bundle_dir, new_key, "k2")

    with pytest.raises(BundleSignatureError, match="'k2'"):
        verify_bundle(bundle_dir, trust)
    manifest = verify_bundle(bundle_dir, TrustStore({"k2": new_key.public_key()}))
    assert manifest.key_id == "k2" and read_manifest(bundle_dir) == manifest


def test_build_refuses_non_empty_out_dir_unless_overwrite(
    bundle_kwargs: Kwargs,
    bundle_dir: Path,
    signing_key: Ed25519PrivateKey,
    sources: dict[str, Path],
    trust: TrustStore,
) -> None:
    with pytest.raises(BundleError, match="not empty"):
        build_bundle(bundle_dir, **bundle_kwargs(signing_key, sources))
    (bundle_dir / "stale.txt").write_text("old")

    build_bundle(bundle_dir, **bundle_kwargs(signing_key, sources), overwrite=True)

    assert verify_bundle(bundle_dir, trust).name == "propensity"


@pytest.mark.parametrize("bad", ["../x", "/abs", "manifest.json", "a//b", ""])
def test_build_rejects_unsafe_file_names(
    bundle_kwargs: Kwargs,
    tmp_path: Path,
    signing_key: Ed25519PrivateKey,
    sources: dict[str, Path],
    bad: str,
) -> None:
    files = {bad: sources["model.onnx"]}
    with pytest.raises(BundleError, match=r"name|reserved"):
        build_bundle(tmp_path / "b", **bundle_kwargs(signing_key, files))


def test_build_converts_numpy_metrics_and_rejects_nan(
    bundle_kwargs: Kwargs, tmp_path: Path, signing_key: Ed25519PrivateKey, sources: dict[str, Path]
) -> None:
    import numpy as np

    kwargs = bundle_kwargs(signing_key, sources)
    kwargs["metrics"] = {"auc_test": np.float64(0.7), "n": np.int64(3)}
    bundle = build_bundle(tmp_path / "ok", **kwargs)
    assert read_manifest(bundle).metrics == {"auc_test": 0.7, "n": 3}

    kwargs["metrics"] = {"auc_test": float("nan")}
    with pytest.raises(BundleError, match="not plain JSON"):
        build_bundle(tmp_path / "nan", **kwargs)


def _tar_with(info: tarfile.TarInfo, data: bytes = b"x") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info.size = len(data) if info.isfile() else 0
        tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return buf.getvalue()


@pytest.mark.parametrize("name", ["../evil", "/etc/evil", "a/../../evil", "a\\..\\evil"])
def test_unpack_rejects_path_traversal(tmp_path: Path, name: str) -> None:
    with pytest.raises(BundleError, match="unsafe path"):
        unpack_bundle(_tar_with(tarfile.TarInfo(name)), tmp_path / "out")
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE])
def test_unpack_rejects_links_and_devices(tmp_path: Path, kind: bytes) -> None:
    info = tarfile.TarInfo("model.onnx")
    info.type, info.linkname = kind, "/etc/passwd"

    with pytest.raises(BundleError, match="only files are allowed"):
        unpack_bundle(_tar_with(info), tmp_path / "out")


def test_unpack_rejects_oversize_and_corrupt_archives(tmp_path: Path, bundle_dir: Path) -> None:
    data = pack_bundle(bundle_dir)
    with pytest.raises(BundleError, match="more than 100 bytes"):
        unpack_bundle(data, tmp_path / "a", max_bytes=100)
    with pytest.raises(BundleError, match="corrupt"):
        unpack_bundle(b"not a gzip", tmp_path / "b")
    with pytest.raises(BundleError, match="corrupt"):
        unpack_bundle(data[: len(data) // 2], tmp_path / "c")


def test_unpack_refuses_non_empty_destination(tmp_path: Path, bundle_dir: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("x")
    with pytest.raises(BundleError, match="not an empty directory"):
        unpack_bundle(pack_bundle(bundle_dir), tmp_path / "out")


def test_store_is_content_addressed_and_idempotent(
    tmp_path: Path, bundle_dir: Path, trust: TrustStore
) -> None:
    import hashlib

    data = pack_bundle(bundle_dir)
    store = BundleStore(tmp_path / "store")

    sha, path = store.put(data)
    again = store.put(data)

    assert sha == hashlib.sha256(data).hexdigest() and again == (sha, path)
    assert store.has(sha) and store.path(sha) == path and store.digests() == [sha]
    assert isinstance(verify_bundle(path, trust), Manifest)
    assert [p.name for p in (tmp_path / "store").iterdir()] == [sha]  # no temp dirs left
    assert not store.has("0" * 64)
    with pytest.raises(BundleError, match="not in the store"):
        store.path("0" * 64)
    with pytest.raises(BundleError, match="not a lowercase hex sha256"):
        store.path("../x")


def test_store_put_of_bad_archive_leaves_nothing(tmp_path: Path) -> None:
    store = BundleStore(tmp_path / "store")
    with pytest.raises(BundleError):
        store.put(b"garbage")
    assert list((tmp_path / "store").iterdir()) == []
