"""HubSettings.from_env and the Secret wrapper."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgemark.errors import ConfigError
from edgemark.hub import HubSettings, Secret


def test_from_env_reads_each_key_and_overrides_win() -> None:
    env = {
        "EDGEMARK_ADMIN_TOKEN": "a" * 20, "EDGEMARK_HUB_DB": "sqlite:///x.db",
        "EDGEMARK_HUB_BUNDLES": "/tmp/b",
    }  # fmt: skip

    s = HubSettings.from_env({"EDGEMARK_HUB_DB": "sqlite:///y.db", "EDGEMARK_HUB_BUNDLES": None},
                             environ=env)  # fmt: skip

    assert s.admin_token.reveal() == "a" * 20
    assert s.database_url == "sqlite:///y.db" and s.bundle_dir == Path("/tmp/b")


def test_defaults() -> None:
    s = HubSettings.from_env(environ={"EDGEMARK_ADMIN_TOKEN": "a" * 16})
    assert s.database_url == "sqlite:///hub.db" and s.bundle_dir == Path("hub-bundles")


def test_missing_or_short_admin_token_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="EDGEMARK_ADMIN_TOKEN is not set"):
        HubSettings.from_env(environ={})
    with pytest.raises(ConfigError, match="at least 16"):
        HubSettings.from_env(environ={"EDGEMARK_ADMIN_TOKEN": "short"})


def test_secret_never_shows_itself() -> None:
    secret = Secret("very-secret-admin-token")
    settings = HubSettings(admin_token=secret)

    assert repr(secret) == str(secret) == "Secret('**********')"
    assert "very-secret" not in repr(settings) and "very-secret" not in f"{settings}"
    assert secret == Secret("very-secret-admin-token") and secret != Secret("x" * 23)
    assert secret.matches("very-secret-admin-token") and not secret.matches("nope")


def test_privacy_budget_comes_from_env_and_must_be_a_positive_epsilon() -> None:
    base = {"EDGEMARK_ADMIN_TOKEN": "a" * 16}
    assert HubSettings.from_env(environ=base).privacy_budget is None
    env = {**base, "EDGEMARK_HUB_PRIVACY_BUDGET": "12.5"}
    assert HubSettings.from_env(environ=env).privacy_budget == 12.5
    for bad in ("0", "-1", "lots"):
        with pytest.raises(ConfigError, match="EDGEMARK_HUB_PRIVACY_BUDGET"):
            HubSettings.from_env(environ={**base, "EDGEMARK_HUB_PRIVACY_BUDGET": bad})
