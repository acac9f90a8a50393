from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgemark.bundle import Manifest, canonical_json
from edgemark.errors import BundleError

_text = st.text(min_size=1, max_size=12)
_json: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=10,
)
_segment = st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,8}", fullmatch=True)
_offer = st.fixed_dictionaries(
    {
        "id": _segment,
        "name": st.text(max_size=10),
        "discount": st.floats(0, 1),
        "cost": st.floats(0, 100),
    }
)
_manifests = st.builds(
    Manifest,
    name=_text.filter(str.strip),
    version=_text.filter(str.strip),
    key_id=st.from_regex(r"[A-Za-z0-9._-]{1,12}", fullmatch=True),
    feature_spec_hash=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    files=st.dictionaries(
        st.lists(_segment, min_size=1, max_size=3)
        .map("/".join)
        .filter(lambda n: n not in {"manifest.json", "manifest.sig"}),
        st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
        min_size=1,
        max_size=4,
    ),
    offers=st.lists(_offer, max_size=3, unique_by=lambda o: o["id"]),
    policy=st.dictionaries(st.text(max_size=8), _json, max_size=4),
    metrics=st.dictionaries(st.text(max_size=8), _json, max_size=4),
    extra=st.dictionaries(st.sampled_from(["schema", "runtime", "fingerprint"]), _json),
)


@given(_manifests)
def test_manifest_round_trips_through_canonical_bytes(manifest: Manifest) -> None:
    data = manifest.to_bytes()

    again = Manifest.from_bytes(data)

    assert again == manifest
    assert again.to_bytes() == data
    assert data == json.dumps(
        json.loads(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def _valid() -> dict[str, Any]:
    return {
        "format": 1,
        "name": "p",
        "version": "1",
        "key_id": "k1",
        "feature_spec_hash": "ab",
        "files": {"model.onnx": "0" * 64},
        "offers": [{"id": "o", "name": "O", "discount": 0.1, "cost": 1}],
        "policy": {},
        "metrics": {},
    }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("format", 2, "'format'"),
        ("name", "", "'name'"),
        ("version", 3, "'version'"),
        ("key_id", "a/b", "'key_id'"),
        ("files", {}, "'files'"),
        ("files", {"model.onnx": "xyz"}, "sha256 for 'model.onnx'"),
        ("files", {"../m": "0" * 64}, "Invalid bundle file name"),
        (
            "offers",
            [{"id": "o", "name": "O", "discount": "x", "cost": 1}],
            r"offers\[0\]\.discount",
        ),
        ("offers", [{"name": "O", "discount": 0, "cost": 1}], r"offers\[0\]\.id"),
        ("policy", [], "'policy'"),
        ("metrics", {"auc": float("inf")}, "not plain JSON"),
    ],
)
def test_invalid_manifest_names_the_field(field: str, value: Any, message: str) -> None:
    data = _valid() | {field: value}
    with pytest.raises(BundleError, match=message):
        Manifest.from_dict(data)


def test_missing_fields_are_listed() -> None:
    data = _valid()
    del data["policy"], data["files"]
    with pytest.raises(BundleError, match=r"missing field.*files, policy"):
        Manifest.from_dict(data)


def test_not_json() -> None:
    with pytest.raises(BundleError, match="not valid UTF-8 JSON"):
        Manifest.from_bytes(b"{nope")
    assert canonical_json({"b": [], "a": "é"}) == '{"a":"é","b":[]}'.encode()
