"""The one error tree of edgemark; every error a user can cause is an ``EdgemarkError``.

::

    EdgemarkError
    ├── ConfigError                 bad or missing configuration (env, files, options)
    ├── MissingExtraError           an optional dependency is not installed
    ├── SimError                    invalid simulator settings
    ├── EventError                  an event or an input file does not fit the schema
    ├── FeatureError                invalid feature spec or feature request
    ├── ModelError                  training, export or scoring failed
    │   └── QualityGateError        a model did not pass its quality gate (not bundled)
    ├── BundleError                 a bundle cannot be built, read or loaded
    │   ├── BundleIntegrityError    a file's bytes do not match the manifest
    │   └── BundleSignatureError    the signature is missing, wrong or from an untrusted key
    ├── EdgeError                   the edge runtime cannot serve a request
    │   ├── NoBundleError           no verified bundle is loaded yet
    │   └── UnknownOfferError       an event names an offer the bundle does not know
    ├── HubError                    the hub refused a request (carries the HTTP status)
    │   ├── AuthError               missing, wrong or revoked credentials
    │   └── RolloutError            a rollout request that cannot be carried out
    ├── PrivacyError                a privacy mechanism was misused
    │   └── PrivacyBudgetExceeded   spending would exceed the privacy budget
    └── MeasureError                input that an estimator cannot measure honestly
"""

from __future__ import annotations


class EdgemarkError(Exception):
    """Base of every error edgemark raises on purpose."""


class ConfigError(EdgemarkError):
    """Configuration is missing or invalid."""


class MissingExtraError(EdgemarkError):
    """An optional dependency is needed; the message names the extra to install."""


class SimError(EdgemarkError):
    """Simulator settings are invalid."""


class EventError(EdgemarkError):
    """An event or an input file does not fit the event schema."""


class FeatureError(EdgemarkError):
    """A feature spec or feature request is invalid."""


class ModelError(EdgemarkError):
    """Training, export or scoring of a model failed."""


class QualityGateError(ModelError):
    """A model did not beat its baselines (or lost too much in compression); not bundled.

    ``reasons`` lists each failed condition.
    """

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        super().__init__(message)
        self.reasons = list(reasons or [])


class BundleError(EdgemarkError):
    """A bundle cannot be built, read or loaded."""


class BundleIntegrityError(BundleError):
    """A bundle file's bytes do not match the hash recorded in the manifest."""


class BundleSignatureError(BundleError):
    """A bundle signature is missing, invalid, or made by a key that is not trusted."""


class EdgeError(EdgemarkError):
    """The edge runtime cannot serve a request."""


class NoBundleError(EdgeError):
    """No verified bundle is loaded on this node yet."""


class UnknownOfferError(EdgeError):
    """An event or request names an offer that the loaded bundle does not know."""


class HubError(EdgemarkError):
    """The hub refused a request; ``status`` is the HTTP status it answered with."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class AuthError(HubError):
    """Credentials are missing, wrong or revoked."""


class RolloutError(HubError):
    """A rollout request cannot be carried out in the rollout's current state."""


class PrivacyError(EdgemarkError):
    """A privacy mechanism was asked for something it cannot guarantee."""


class PrivacyBudgetExceeded(PrivacyError):
    """Spending would exceed the configured privacy budget."""


class MeasureError(EdgemarkError):
    """Input that an estimator cannot measure honestly (too few units, bad columns, ...)."""
