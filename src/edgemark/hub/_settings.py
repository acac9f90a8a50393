"""Hub configuration: the explicit ``HubSettings`` object and the one reader of the environment.

Secrets are wrapped in ``Secret`` so a repr, a log line or a traceback never shows them.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from edgemark.errors import ConfigError

ENV_ADMIN_TOKEN = "EDGEMARK_ADMIN_TOKEN"
ENV_DATABASE = "EDGEMARK_HUB_DB"
ENV_BUNDLES = "EDGEMARK_HUB_BUNDLES"
ENV_RATE_LIMIT = "EDGEMARK_HUB_RATE_LIMIT"
ENV_PRIVACY_BUDGET = "EDGEMARK_HUB_PRIVACY_BUDGET"
MIN_ADMIN_TOKEN_CHARS = 16


class Secret:
    """A string that does not show itself in repr or str; ``reveal()`` gives the value.

    >>> Secret("s3cret-admin-token")
    Secret('**********')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The wrapped value (call this only where the secret is used)."""
        return self._value

    def matches(self, candidate: str) -> bool:
        """Constant-time comparison with ``candidate``."""
        return hmac.compare_digest(self._value.encode(), candidate.encode())

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and self.matches(other._value)

    def __hash__(self) -> int:
        return hash(Secret)


def admin_token_from_env(environ: Mapping[str, str] | None = None) -> Secret:
    """Read and check the admin token from ``EDGEMARK_ADMIN_TOKEN`` (ConfigError if unfit)."""
    env = os.environ if environ is None else environ
    value = env.get(ENV_ADMIN_TOKEN, "")
    if not value:
        raise ConfigError(
            f"{ENV_ADMIN_TOKEN} is not set. Set it to a random string of at least "
            f"{MIN_ADMIN_TOKEN_CHARS} characters, e.g. export EDGEMARK_ADMIN_TOKEN="
            "$(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return _checked_token(value)


def _checked_token(value: str) -> Secret:
    if len(value) < MIN_ADMIN_TOKEN_CHARS:
        raise ConfigError(
            f"{ENV_ADMIN_TOKEN} is {len(value)} characters long; use at least "
            f"{MIN_ADMIN_TOKEN_CHARS} random characters."
        )
    return Secret(value)


@dataclass(frozen=True)
class HubSettings:
    """Everything the hub needs to run, passed in explicitly.

    >>> s = HubSettings(admin_token=Secret("0123456789abcdef"))
    >>> s.database_url, s.admin_token
    ('sqlite:///hub.db', Secret('**********'))
    """

    admin_token: Secret
    database_url: str = "sqlite:///hub.db"
    bundle_dir: Path = field(default_factory=lambda: Path("hub-bundles"))
    max_bundle_bytes: int = 64 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    rate_limit_per_s: float = 20.0
    rate_limit_burst: int = 200
    enrolment_ttl_s: float = 24 * 3600.0
    controller_interval_s: float = 1.0
    heartbeat_batch_max: int = 1000
    # Each node's user-level epsilon budget, shown against its spend in the privacy ledger.
    privacy_budget: float | None = None

    def __post_init__(self) -> None:
        if len(self.admin_token.reveal()) < MIN_ADMIN_TOKEN_CHARS:
            raise ConfigError(
                f"The admin token must have at least {MIN_ADMIN_TOKEN_CHARS} characters."
            )
        if self.max_bundle_bytes <= 0 or self.max_json_bytes <= 0:
            raise ConfigError("max_bundle_bytes and max_json_bytes must be positive.")
        if self.rate_limit_per_s <= 0 or self.rate_limit_burst < 1:
            raise ConfigError(
                "rate_limit_per_s must be positive and rate_limit_burst at least 1 "
                f"(got {self.rate_limit_per_s}, {self.rate_limit_burst})."
            )
        if self.enrolment_ttl_s <= 0 or self.controller_interval_s <= 0:
            raise ConfigError("enrolment_ttl_s and controller_interval_s must be positive.")
        if self.heartbeat_batch_max < 1:
            raise ConfigError("heartbeat_batch_max must be at least 1.")
        if self.privacy_budget is not None and not 0 < self.privacy_budget < float("inf"):
            raise ConfigError(
                f"privacy_budget must be a positive epsilon; got {self.privacy_budget}."
            )

    @classmethod
    def from_env(
        cls,
        overrides: Mapping[str, str | None] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> HubSettings:
        """Build settings from ``EDGEMARK_*`` variables; ``overrides`` (same keys) win.

        Read once, at an entry point. Keys: EDGEMARK_ADMIN_TOKEN (required, >= 16 chars),
        EDGEMARK_HUB_DB (default ``sqlite:///hub.db``), EDGEMARK_HUB_BUNDLES (default
        ``hub-bundles``), EDGEMARK_HUB_RATE_LIMIT (requests per second per client,
        default 20), EDGEMARK_HUB_PRIVACY_BUDGET (each node's epsilon budget in the privacy
        ledger; default none). An override of ``None`` means "not given".
        """
        env: dict[str, str] = dict(os.environ if environ is None else environ)
        env.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls(
            admin_token=admin_token_from_env(env),
            database_url=env.get(ENV_DATABASE) or "sqlite:///hub.db",
            bundle_dir=Path(env.get(ENV_BUNDLES) or "hub-bundles"),
            rate_limit_per_s=_positive_float(env, ENV_RATE_LIMIT, 20.0),
            privacy_budget=(
                _positive_float(env, ENV_PRIVACY_BUDGET, 1.0)
                if env.get(ENV_PRIVACY_BUDGET)
                else None
            ),
        )


def _positive_float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{key} must be a positive number; got {raw!r}.")
    return value
