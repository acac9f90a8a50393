"""The bundle manifest: a frozen mirror of ``manifest.json`` and its canonical bytes.

The signature covers exactly the canonical bytes, so one value has one byte encoding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgemark.errors import BundleError

MANIFEST_FILE = "manifest.json"
SIGNATURE_FILE = "manifest.sig"
MANIFEST_FORMAT = 1

_KNOWN = frozenset(
    {"format", "name", "version", "key_id", "feature_spec_hash", "files", "offers", "policy",
     "metrics"}
)  # fmt: skip
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
_KEY_ID = re.compile(r"[A-Za-z0-9._-]+")


def canonical_json(value: Any) -> bytes:
    """Canonical UTF-8 JSON: sorted keys, no spaces, no NaN.

    >>> canonical_json({"b": 1, "a": [1.5, "é"]})
    b'{"a":[1.5,"\\xc3\\xa9"],"b":1}'
    """
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except (TypeError, ValueError) as exc:
        raise BundleError(f"Manifest value is not plain JSON: {exc}.") from None
    return text.encode("utf-8")


def validate_file_name(name: str) -> str:
    """Return ``name`` if it is a safe relative bundle path (``a/b.onnx``), else ``BundleError``."""
    parts = name.split("/") if isinstance(name, str) else []
    if not parts or any(not _SEGMENT.fullmatch(p) or p in {".", ".."} for p in parts):
        raise BundleError(
            f"Invalid bundle file name {name!r}: use relative paths made of letters, digits, "
            "'.', '_', '-' and '/' (no '..', no leading '/')."
        )
    if name in {MANIFEST_FILE, SIGNATURE_FILE}:
        raise BundleError(f"{name!r} is reserved for the bundle's own manifest and signature.")
    return name


@dataclass(frozen=True)
class Manifest:
    """What a bundle holds and how to run it; mirrors ``manifest.json`` field by field.

    ``extra`` keeps top-level keys this version does not know (they are signed too).

    >>> m = Manifest(name="propensity", version="1", key_id="k1", feature_spec_hash="ab",
    ...              files={"model.onnx": "0" * 64})
    >>> Manifest.from_bytes(m.to_bytes()) == m
    True
    """

    name: str
    version: str
    key_id: str
    feature_spec_hash: str
    files: dict[str, str]
    offers: list[dict[str, Any]] = field(default_factory=list)
    policy: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    format: int = MANIFEST_FORMAT
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``manifest.json``."""
        out: dict[str, Any] = dict(self.extra)
        out.update(
            format=self.format,
            name=self.name,
            version=self.version,
            key_id=self.key_id,
            feature_spec_hash=self.feature_spec_hash,
            files=dict(self.files),
            offers=[dict(o) for o in self.offers],
            policy=dict(self.policy),
            metrics=dict(self.metrics),
        )
        return out

    def to_bytes(self) -> bytes:
        """The canonical bytes that are written to ``manifest.json`` and signed."""
        return canonical_json(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Build from a parsed ``manifest.json`` object; ``BundleError`` names a bad field."""
        if not isinstance(data, Mapping):
            raise BundleError("Manifest must be a JSON object.")
        missing = sorted(k for k in _KNOWN - {"format"} if k not in data)
        if "format" not in data:
            missing.insert(0, "format")
        if missing:
            raise BundleError(f"Manifest is missing field(s): {', '.join(missing)}.")
        return cls(
            name=data["name"],
            version=data["version"],
            key_id=data["key_id"],
            feature_spec_hash=data["feature_spec_hash"],
            files=data["files"],
            offers=data["offers"],
            policy=data["policy"],
            metrics=data["metrics"],
            format=data["format"],
            extra={k: v for k, v in data.items() if k not in _KNOWN},
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Parse ``manifest.json`` bytes; ``BundleError`` if not JSON or not a valid manifest."""
        try:
            parsed = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError(f"manifest.json is not valid UTF-8 JSON: {exc}.") from None
        return cls.from_dict(parsed)


def read_manifest(bundle_dir: str | Path) -> Manifest:
    """Read and parse ``bundle_dir/manifest.json`` WITHOUT checking the signature."""
    path = Path(bundle_dir) / MANIFEST_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BundleError(f"{bundle_dir} is not a bundle: it has no {MANIFEST_FILE}.") from None
    return Manifest.from_bytes(data)


def _validate(m: Manifest) -> None:
    if type(m.format) is not int or m.format != MANIFEST_FORMAT:
        raise BundleError(
            f"Manifest field 'format' is {m.format!r}; this edgemark reads format "
            f"{MANIFEST_FORMAT}. Upgrade edgemark or rebuild the bundle."
        )
    for name in ("name", "version"):
        value = getattr(m, name)
        if not isinstance(value, str) or not value.strip():
            raise BundleError(f"Manifest field {name!r} must be a non-empty string, got {value!r}.")
    if not isinstance(m.key_id, str) or not _KEY_ID.fullmatch(m.key_id):
        raise BundleError(f"Manifest field 'key_id' is not a valid key id: {m.key_id!r}.")
    if not isinstance(m.feature_spec_hash, str):
        raise BundleError("Manifest field 'feature_spec_hash' must be a string.")
    _validate_files(m.files)
    _validate_offers(m.offers)
    for name in ("policy", "metrics", "extra"):
        value = getattr(m, name)
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise BundleError(f"Manifest field {name!r} must be a JSON object.")
    canonical_json(m.to_dict())  # everything must be plain, finite JSON


def _validate_files(files: object) -> None:
    if not isinstance(files, dict) or not files:
        raise BundleError("Manifest field 'files' must be a non-empty object {name: sha256}.")
    for name, digest in files.items():
        validate_file_name(name)
        if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
            raise BundleError(
                f"Manifest field 'files' has an invalid sha256 for {name!r}: {digest!r}."
            )


def _validate_offers(offers: object) -> None:
    if not isinstance(offers, list):
        raise BundleError("Manifest field 'offers' must be a list of offer objects.")
    seen: set[str] = set()
    for i, offer in enumerate(offers):
        if not isinstance(offer, dict):
            raise BundleError(f"Manifest field 'offers[{i}]' must be an object.")
        oid = offer.get("id")
        if not isinstance(oid, str) or not oid:
            raise BundleError(f"Manifest field 'offers[{i}].id' must be a non-empty string.")
        if oid in seen:
            raise BundleError(f"Manifest field 'offers' lists offer id {oid!r} twice.")
        seen.add(oid)
        if not isinstance(offer.get("name"), str):
            raise BundleError(f"Manifest field 'offers[{i}].name' must be a string.")
        for num in ("discount", "cost"):
            value = offer.get(num)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise BundleError(f"Manifest field 'offers[{i}].{num}' must be a number.")
