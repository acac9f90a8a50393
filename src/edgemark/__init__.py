"""edgemark: decide at the edge, learn together, measure honestly.

The top-level package exports the version and the error tree; each plane
(``edgemark.sim``, ``edgemark.events``, ``edgemark.edge`` ...) exports its own API.
"""

from __future__ import annotations

from edgemark.errors import (
    AuthError,
    BundleError,
    BundleIntegrityError,
    BundleSignatureError,
    ConfigError,
    EdgeError,
    EdgemarkError,
    EventError,
    FeatureError,
    HubError,
    MeasureError,
    MissingExtraError,
    ModelError,
    NoBundleError,
    PrivacyBudgetExceeded,
    PrivacyError,
    QualityGateError,
    RolloutError,
    SimError,
    UnknownOfferError,
)

__version__ = "0.1.0"

__all__ = [
    "AuthError",
    "BundleError",
    "BundleIntegrityError",
    "BundleSignatureError",
    "ConfigError",
    "EdgeError",
    "EdgemarkError",
    "EventError",
    "FeatureError",
    "HubError",
    "MeasureError",
    "MissingExtraError",
    "ModelError",
    "NoBundleError",
    "PrivacyBudgetExceeded",
    "PrivacyError",
    "QualityGateError",
    "RolloutError",
    "SimError",
    "UnknownOfferError",
    "__version__",
]
