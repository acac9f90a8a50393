"""Everything built from one verified bundle, held by one immutable reference (``Active``).

``build_active`` makes a new one off to the side (scorer, self-test, policies, guardrails,
drift references), carrying learned state over from the bundle it replaces when the
experiment is the same; the runtime then swaps one reference, so a decision sees either
the old bundle or the new one, never a mix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from edgemark.bundle import Manifest, TrustStore, verify_bundle
from edgemark.edge._contextual import (
    ContextualPolicy,
    context_size,
    default_prior,
    score_logit,
)
from edgemark.edge._drift import DriftMonitor, read_references
from edgemark.edge._experiments import Assignment
from edgemark.edge._guardrails import Guardrails
from edgemark.edge._policy import ThompsonPolicy
from edgemark.edge._settings import PolicySettings, parse_policy
from edgemark.errors import BundleError, BundleSignatureError, EdgeError
from edgemark.features import FeatureSpec
from edgemark.models import OnnxScorer, run_selftest

FloatArray = npt.NDArray[np.float64]
SELFTEST_FILE = "selftest.json"
_BASKET_DEFAULT = ("spend_90d", "purchases_90d")


@dataclass(slots=True)
class VersionHealth:
    """Cumulative figures of one bundle version on this node (for heartbeats and gates)."""

    decisions: int = 0
    errors: int = 0
    treatment_exposures: int = 0
    treatment_conversions: int = 0
    holdout_exposures: int = 0
    holdout_conversions: int = 0


@dataclass(frozen=True)
class Active:
    """The serving bundle and what decide() needs from it."""

    manifest: Manifest
    bundle_dir: Path
    settings: PolicySettings
    offer_index: dict[str, int]
    scorer: OnnxScorer
    guards: Guardrails
    contextual: ContextualPolicy | None
    beta: ThompsonPolicy
    drift: DriftMonitor
    basket: tuple[int, int] | None
    dim: int
    blank: FloatArray
    users: dict[str, tuple[str, Assignment]] = field(default_factory=dict)
    assignments: dict[tuple[str, tuple[bool, ...]], Assignment] = field(default_factory=dict)
    content: Any | None = None  # the bundle's ContentEngine (content extra), if it has a pack

    @property
    def version(self) -> str:
        """The bundle version."""
        return self.manifest.version

    def context(
        self, vector: FloatArray, score: float, values: Sequence[float] | None = None
    ) -> FloatArray:
        """[1, logit(score), log1p(features clipped at 0)] for the contextual policy.

        ``values`` (the same features as Python floats) lets the clip be skipped when no
        feature is negative, which is every vector of validated events.
        """
        x = np.empty(self.dim)
        x[0] = 1.0
        x[1] = score_logit(score)
        if values is not None and min(values) >= 0.0:
            np.log1p(vector, out=x[2:])
        else:
            np.log1p(np.maximum(vector, 0.0), out=x[2:])
        return x

    def basket_of(self, vector: Sequence[float] | None, fallback: float) -> float:
        """The user's average basket from the features, else ``fallback``."""
        if vector is None or self.basket is None:
            return fallback
        count = float(vector[self.basket[1]])
        return float(vector[self.basket[0]]) / count if count > 0 else fallback


def prepare_bundle(
    path: Path, trust: TrustStore | None, spec: FeatureSpec
) -> tuple[Manifest, PolicySettings, OnnxScorer]:
    """Verify a bundle and build what does not depend on the node's state (no swap).

    Raises the ``BundleError`` of the first failed check: signature, integrity, runtime
    requirements (``verify_bundle``), feature spec, policy, model, self-test.
    """
    if trust is None:
        raise BundleSignatureError(
            "This runtime has no trust store, so no bundle can be verified; start it "
            "with trust=TrustStore.from_directory(<dir of trusted *.pub keys>)."
        )
    manifest = verify_bundle(path, trust)
    if manifest.feature_spec_hash != spec.spec_hash():
        raise BundleError(
            f"Bundle {manifest.version} was built for feature spec "
            f"{manifest.feature_spec_hash[:12]}, this node computes "
            f"{spec.spec_hash()[:12]}; rebuild it with the node's spec."
        )
    settings = parse_policy(manifest.policy, manifest.offers)
    return manifest, settings, build_scorer(path, manifest, len(spec.names))


def build_scorer(path: Path, manifest: Manifest, n_features: int) -> OnnxScorer:
    """The bundle's scorer, after its self-test (agreement 1) if the bundle ships one."""
    try:
        scorer = OnnxScorer(path / "model.onnx")
        scorer.score_one(np.zeros(n_features, dtype=np.float64))
    except Exception as exc:  # any failure to score means the model is unusable
        raise BundleError(
            f"Bundle {manifest.version}: model.onnx does not score a {n_features}-feature row "
            f"({exc}); rebuild the bundle with a model for this spec."
        ) from exc
    if SELFTEST_FILE in manifest.files:
        try:
            selftest = json.loads((path / SELFTEST_FILE).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BundleError(f"self-test failed: {SELFTEST_FILE} unreadable ({exc}).") from None
        run_selftest(scorer, selftest)
    return scorer


def build_active(
    path: Path,
    manifest: Manifest,
    settings: PolicySettings,
    scorer: OnnxScorer,
    names: tuple[str, ...],
    *,
    previous: Active | None,
    beta_counts: Mapping[str, tuple[float, float]],
    model_state: Mapping[str, Any] | None,
    rng: np.random.Generator,
) -> Active:
    """Assemble an ``Active`` for a verified bundle (nothing is swapped here)."""
    dim = context_size(len(names))
    same = previous is not None and previous.settings.experiment == settings.experiment
    guards = Guardrails(settings.guardrails, settings.offers)
    if same and previous is not None:
        guards.adopt(previous.guards)
    contextual = None
    if settings.policy == "contextual":
        contextual = _contextual(settings, dim)
        if same and previous is not None and previous.contextual is not None:
            contextual.load_state(previous.contextual.state())
        elif model_state is not None:
            contextual.load_state(model_state)
        contextual.refresh(rng)
    beta = ThompsonPolicy(
        settings.offers, settings.prior_alpha, settings.prior_beta, rng, refresh_every=None
    )
    beta.load_counts(beta_counts)
    try:
        references = read_references(path, manifest.extra, manifest.files, names)
    except BundleError as exc:
        raise BundleError(f"Bundle {manifest.version}: {exc}") from None
    return Active(
        manifest=manifest,
        bundle_dir=path,
        settings=settings,
        offer_index={o: i for i, o in enumerate(settings.offers)},
        scorer=scorer,
        guards=guards,
        contextual=contextual,
        beta=beta,
        drift=DriftMonitor(references, names),
        basket=_basket(settings, names),
        dim=dim,
        blank=_blank(dim),
    )


def _contextual(settings: PolicySettings, dim: int) -> ContextualPolicy:
    arms = ("none", *settings.offers)
    try:
        model = default_prior(dim, arms, settings.priors, settings.prior_variance)
    except EdgeError as exc:
        raise BundleError(str(exc)) from None
    return ContextualPolicy(
        settings.terms,
        model,
        n_samples=settings.posterior_samples,
        floor=settings.min_propensity,
    )


def _basket(settings: PolicySettings, names: tuple[str, ...]) -> tuple[int, int] | None:
    raw = settings.raw.get("basket_features")
    spend, count = _BASKET_DEFAULT
    if isinstance(raw, Mapping):
        spend, count = str(raw.get("spend", spend)), str(raw.get("count", count))
    if spend in names and count in names:
        return names.index(spend), names.index(count)
    return None


def _blank(dim: int) -> FloatArray:
    x = np.zeros(dim)
    x[0] = 1.0
    x.setflags(write=False)
    return x
