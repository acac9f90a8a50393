from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgemark.bundle import (
    TrustStore,
    build_bundle,
    check_runtime,
    min_onnxruntime_for,
    node_runtime,
    verify_bundle,
    verify_report,
)
from edgemark.bundle._runtime import max_opsets, parse_version
from edgemark.errors import BundleError, BundleIntegrityError

Kwargs = Callable[[Ed25519PrivateKey, dict[str, Path]], dict[str, Any]]
NODE = {"onnxruntime": "1.20.1", "opsets": {"ai.onnx": 21, "ai.onnx.ml": 4}}


def test_versions_and_opset_table() -> None:
    assert parse_version("1.18.0rc1") == (1, 18, 0)
    assert max_opsets("1.17.3") == {"ai.onnx": 20, "ai.onnx.ml": 4}
    assert max_opsets("9.0.0") == max_opsets("1.22.0")  # newer than the table: its last row
    assert min_onnxruntime_for({"ai.onnx": 15, "ai.onnx.ml": 1}) == "1.18.0"  # the floor
    assert min_onnxruntime_for({"ai.onnx": 22}) == "1.21.0"
    import onnxruntime

    assert node_runtime()["onnxruntime"] == onnxruntime.__version__


def test_node_that_can_run_the_model_passes() -> None:
    check_runtime(
        {"onnx_opsets": {"ai.onnx": 15, "ai.onnx.ml": 1}, "min_onnxruntime": "1.18.0"}, NODE
    )


@pytest.mark.parametrize(
    ("needs", "message"),
    [
        (
            {"onnx_opsets": {"ai.onnx": 22}},
            r"ONNX opset 22 of domain 'ai\.onnx' \(onnxruntime 1\.20\.1 implements up to 21\)",
        ),
        ({"onnx_opsets": {"ai.onnx.ml": 5}}, r"opset 5 of domain 'ai\.onnx\.ml'"),
        ({"min_onnxruntime": "1.21.0"}, r"onnxruntime >= 1\.21\.0 \(this node has 1\.20\.1\)"),
        (
            {"onnx_opsets": {"com.example.custom": 1}},
            "domain 'com.example.custom' \\(not implemented",
        ),
    ],
)
def test_node_that_cannot_run_the_model_is_told_what_is_missing(
    needs: dict[str, Any], message: str
) -> None:
    with pytest.raises(BundleError, match=message):
        check_runtime(needs, NODE)


def test_verify_refuses_a_bundle_this_node_cannot_run(
    tmp_path: Path,
    bundle_kwargs: Kwargs,
    signing_key: Ed25519PrivateKey,
    sources: dict[str, Path],
    trust: TrustStore,
) -> None:
    kwargs = bundle_kwargs(signing_key, sources)
    kwargs["extra"] = {"runtime": {"onnx_opsets": {"ai.onnx": 99}, "min_onnxruntime": "1.18.0"}}
    bundle = build_bundle(tmp_path / "b", **kwargs)

    with pytest.raises(BundleError, match="cannot run the bundle's model: it needs ONNX opset 99"):
        verify_bundle(bundle, trust)
    checks = verify_report(bundle, trust)
    assert [(c["check"], c["ok"]) for c in checks] == [
        ("manifest", True), ("key", True), ("signature", True), ("files", True), ("runtime", False)
    ]  # fmt: skip


def test_verify_report_lists_every_failure(bundle_dir: Path, trust: TrustStore) -> None:
    (bundle_dir / "model.onnx").write_bytes(b"tampered")
    (bundle_dir / "ref" / "hist.json").unlink()
    (bundle_dir / "extra.txt").write_text("x")

    checks = verify_report(bundle_dir, trust)

    failed = [c["detail"] for c in checks if not c["ok"]]
    assert len(failed) == 3
    assert "'model.onnx' does not match" in failed[0] and "'ref/hist.json'" in failed[1]
    assert "extra.txt" in failed[2]
    with pytest.raises(BundleIntegrityError, match=r"model\.onnx"):
        verify_bundle(bundle_dir, trust)
