"""The bundle registry: upload (idempotent, 409 on conflict, 422 on garbage), list, download."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Callable

import httpx

from ._support import ADMIN, bearer, enrol_node

OCTET = {"Content-Type": "application/octet-stream"}


def upload(client: httpx.Client, data: bytes) -> tuple[int, dict[str, object]]:
    r = client.post("/v1/bundles", content=data, headers={**ADMIN, **OCTET})
    return r.status_code, r.json()


def test_upload_list_download_round_trip(
    client: httpx.Client, make_bundle: Callable[..., bytes]
) -> None:
    data = make_bundle("v1")

    status, body = upload(client, data)

    assert status == 201
    assert body == {"version": "v1", "sha256": hashlib.sha256(data).hexdigest(), "key_id": "k1"}
    (listed,) = client.get("/v1/bundles", headers=ADMIN).json()["bundles"]
    assert listed["version"] == "v1" and listed["key_id"] == "k1"
    assert listed["sha256"] == hashlib.sha256(data).hexdigest()
    _, token = enrol_node(client, "store-1")
    got = client.get("/v1/bundles/v1", headers=bearer(token))
    assert got.status_code == 200 and got.content == data
    assert got.headers["X-Edgemark-Sha256"] == hashlib.sha256(data).hexdigest()


def test_same_bytes_again_is_idempotent(
    client: httpx.Client, make_bundle: Callable[..., bytes]
) -> None:
    data = make_bundle("v1")
    upload(client, data)

    status, body = upload(client, data)

    assert status == 200 and body["version"] == "v1"
    assert len(client.get("/v1/bundles", headers=ADMIN).json()["bundles"]) == 1


def test_same_version_other_bytes_is_409(
    client: httpx.Client, make_bundle: Callable[..., bytes]
) -> None:
    upload(client, make_bundle("v1", b"first"))

    status, body = upload(client, make_bundle("v1", b"second"))

    assert status == 409
    assert "already exists" in str(body["detail"])


def test_garbage_bytes_are_422(client: httpx.Client) -> None:
    for junk in [b"", b"not a tarball", b"\x1f\x8b\x08\x00garbage"]:
        status, body = upload(client, junk)
        assert status == 422, junk
        assert body["detail"]


def test_tampered_file_is_422(client: httpx.Client, make_bundle: Callable[..., bytes]) -> None:
    data = make_bundle("v1")
    members: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for m in tar.getmembers():
            f = tar.extractfile(m)
            assert f is not None
            members[m.name] = f.read()
    members["model.onnx"] = b"evil"
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))

    status, body = upload(client, out.getvalue())

    assert status == 422
    assert "model.onnx" in str(body["detail"])


def test_unknown_bundle_is_404(client: httpx.Client) -> None:
    r = client.get("/v1/bundles/v9", headers=ADMIN)
    assert r.status_code == 404 and "v9" in r.json()["detail"]


def test_oversized_bundle_is_413(client: httpx.Client) -> None:
    status, body = upload(client, b"x" * (1024 * 1024 + 1))
    assert status == 413
    assert "too large" in str(body["detail"])
