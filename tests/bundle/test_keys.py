from __future__ import annotations

import stat
from pathlib import Path

import pytest

from edgemark.bundle import TrustStore, generate_keypair, load_public_key, load_signing_key
from edgemark.errors import ConfigError


def test_generate_writes_private_key_0600_and_loadable_pair(tmp_path: Path) -> None:
    priv, pub = generate_keypair(tmp_path / "keys", "hub-1")

    assert (priv.name, pub.name) == ("hub-1.key", "hub-1.pub")
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    key = load_signing_key(priv)
    public = load_public_key(pub)
    public.verify(key.sign(b"msg"), b"msg")  # raises if the pair does not match


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    generate_keypair(tmp_path, "k1")
    before = (tmp_path / "k1.key").read_bytes()

    with pytest.raises(ConfigError, match="refusing to overwrite"):
        generate_keypair(tmp_path, "k1")
    assert (tmp_path / "k1.key").read_bytes() == before


@pytest.mark.parametrize("bad", ["", "a/b", "../x", "..", "k 1", "ké"])
def test_generate_rejects_bad_key_id(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ConfigError, match="Invalid key id"):
        generate_keypair(tmp_path, bad)


def test_load_signing_key_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_signing_key(tmp_path / "nope.key")
    (tmp_path / "junk.key").write_text("not a key")
    with pytest.raises(ConfigError, match="not an unencrypted PEM private key"):
        load_signing_key(tmp_path / "junk.key")
    _, pub = generate_keypair(tmp_path, "k1")
    with pytest.raises(ConfigError, match="not an unencrypted PEM private key"):
        load_signing_key(pub)


def test_trust_store_from_directory(tmp_path: Path) -> None:
    generate_keypair(tmp_path, "k2")
    generate_keypair(tmp_path, "k1")

    store = TrustStore.from_directory(tmp_path)

    assert store.key_ids == ("k1", "k2")
    assert store.get("k1") is not None and store.get("k3") is None
    assert "k2" in store and len(store) == 2


def test_trust_store_empty_or_missing_directory_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        TrustStore.from_directory(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"no \*\.pub"):
        TrustStore.from_directory(tmp_path)
