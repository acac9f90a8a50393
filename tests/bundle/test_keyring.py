from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edgemark.bundle import (
    KeyStatus,
    TrustStore,
    read_keyring,
    set_key_status,
    verify_bundle,
    verify_report,
)
from edgemark.errors import BundleSignatureError, ConfigError


def _trust_dir(tmp_path: Path, key: Ed25519PrivateKey, key_id: str = "k1") -> Path:
    trust = tmp_path / "trust"
    trust.mkdir(exist_ok=True)
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (trust / f"{key_id}.pub").write_bytes(pem)
    return trust


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)


def test_rotated_key_verifies_until_its_date_with_a_warning_then_is_refused(
    tmp_path: Path,
    bundle_dir: Path,
    signing_key: Ed25519PrivateKey,
    caplog: pytest.LogCaptureFixture,
) -> None:
    trust_dir = _trust_dir(tmp_path, signing_key)
    set_key_status(
        trust_dir, "k1", KeyStatus("rotated", until=date(2026, 12, 31), replaced_by="k2")
    )
    trust = TrustStore.from_directory(trust_dir)

    with caplog.at_level(logging.WARNING, logger="edgemark.bundle"):
        manifest = verify_bundle(bundle_dir, trust, now=_at("2026-12-31"))

    assert manifest.key_id == "k1"
    assert "rotated key accepted only until 2026-12-31" in caplog.text
    with pytest.raises(BundleSignatureError, match=r"rotated out .* until 2026-12-31.*'k2'"):
        verify_bundle(bundle_dir, trust, now=_at("2027-01-01"))


def test_revoked_key_is_refused_naming_key_and_date(
    tmp_path: Path, bundle_dir: Path, signing_key: Ed25519PrivateKey
) -> None:
    trust_dir = _trust_dir(tmp_path, signing_key)
    set_key_status(
        trust_dir, "k1", KeyStatus("revoked", revoked_on=date(2026, 11, 1), reason="key leaked")
    )
    trust = TrustStore.from_directory(trust_dir)

    with pytest.raises(BundleSignatureError) as info:
        verify_bundle(bundle_dir, trust)

    message = str(info.value)
    assert "key 'k1', which was revoked on 2026-11-01: key leaked" in message
    assert "edgemark bundle sign" in message
    assert "k1" not in trust and trust.key_ids == () and trust.get("k1") is None
    report = verify_report(bundle_dir, trust)
    assert [(r["check"], r["ok"]) for r in report][:2] == [("manifest", True), ("key", False)]


def test_a_revoked_key_cannot_be_trusted_again(
    tmp_path: Path, signing_key: Ed25519PrivateKey
) -> None:
    trust_dir = _trust_dir(tmp_path, signing_key)
    set_key_status(trust_dir, "k1", KeyStatus("revoked", revoked_on=date(2026, 1, 1)))

    with pytest.raises(ConfigError, match="never trusted again"):
        set_key_status(trust_dir, "k1", KeyStatus("rotated", until=date(2030, 1, 1)))
    assert read_keyring(trust_dir)["k1"].state == "revoked"


def test_keyring_file_format_round_trips(tmp_path: Path, signing_key: Ed25519PrivateKey) -> None:
    trust_dir = _trust_dir(tmp_path, signing_key)
    set_key_status(trust_dir, "old", KeyStatus("revoked", revoked_on=date(2026, 3, 1), reason="r"))
    set_key_status(trust_dir, "k1", KeyStatus("rotated", until=date(2026, 12, 31)))

    data = json.loads((trust_dir / "keyring.json").read_text())

    assert data == {
        "format": 1,
        "keys": {
            "k1": {"status": "rotated", "accept_until": "2026-12-31"},
            "old": {"status": "revoked", "revoked_on": "2026-03-01", "reason": "r"},
        },
    }
    assert read_keyring(trust_dir)["old"] == KeyStatus(
        "revoked", revoked_on=date(2026, 3, 1), reason="r"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "not readable JSON"),
        ('{"format": 2, "keys": {}}', '"format": 1'),
        ('{"format": 1, "keys": {"k1": {"status": "lost"}}}', "'k1' is invalid.*lost"),
        ('{"format": 1, "keys": {"k1": {"status": "rotated"}}}', "needs 'accept_until'"),
        ('{"format": 1, "keys": {"k1": {"status": "revoked", "revoked_on": "May"}}}', "'k1'"),
    ],
)
def test_bad_keyring_is_config_error(
    tmp_path: Path, signing_key: Ed25519PrivateKey, body: str, message: str
) -> None:
    trust_dir = _trust_dir(tmp_path, signing_key)
    (trust_dir / "keyring.json").write_text(body)
    with pytest.raises(ConfigError, match=message):
        TrustStore.from_directory(trust_dir)
