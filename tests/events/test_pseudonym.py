from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pytest

from edgemark.errors import ConfigError
from edgemark.events import Pseudonymizer


def test_pseudonym_is_prefixed_truncated_hmac_sha256() -> None:
    key = bytes(range(32))
    expected = "u_" + hmac.new(key, b"cust-000123", hashlib.sha256).hexdigest()[:32]

    assert Pseudonymizer(key).pseudonym("cust-000123") == expected


def test_different_keys_give_different_pseudonyms() -> None:
    a, b = Pseudonymizer(b"a" * 32), Pseudonymizer(b"b" * 32)

    assert a.pseudonym("x") != b.pseudonym("x")
    assert a.pseudonym("x") != a.pseudonym("y")


def test_repr_hides_the_key() -> None:
    assert "aaaa" not in repr(Pseudonymizer(b"a" * 32))


def test_empty_key_is_rejected() -> None:
    with pytest.raises(ConfigError):
        Pseudonymizer(b"")


def test_create_key_file_writes_32_private_bytes(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "pseudonym.key"

    created = Pseudonymizer.create_key_file(path)

    assert len(path.read_bytes()) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert Pseudonymizer.from_key_file(path).pseudonym("x") == created.pseudonym("x")


def test_create_key_file_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "k"
    Pseudonymizer.create_key_file(path)
    before = path.read_bytes()

    with pytest.raises(ConfigError, match="already exists"):
        Pseudonymizer.create_key_file(path)
    assert path.read_bytes() == before


def test_missing_key_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        Pseudonymizer.from_key_file(tmp_path / "nope")


def test_short_key_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "k"
    path.write_bytes(b"short")

    with pytest.raises(ConfigError, match="5 bytes"):
        Pseudonymizer.from_key_file(path)
