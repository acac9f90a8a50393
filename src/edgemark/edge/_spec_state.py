"""Which feature spec a node's stored state belongs to: the per-user feature state in
``edge.db`` is only meaningful under the spec that built it, so a node refuses to start
under another one (its context settings, the time zone and UTC offset, may change).
"""

from __future__ import annotations

import hashlib
import json

from edgemark.edge._state import StateStore
from edgemark.errors import ConfigError
from edgemark.features import FeatureSpec

_META_KEY = "feature_state_spec"
_CONTEXT_KEYS = ("timezone", "utc_offset_hours")  # read per decision, never stored per user


def state_digest(spec: FeatureSpec) -> str:
    """sha256 of the spec without its context settings: what the stored state depends on."""
    state = {k: v for k, v in spec.to_dict().items() if k not in _CONTEXT_KEYS}
    canonical = json.dumps(state, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_state_spec(store: StateStore, spec: FeatureSpec) -> None:
    """Record the state's spec on a fresh node; ConfigError if an existing node's differs."""
    digest = state_digest(spec)
    known = store.get_meta(_META_KEY)
    if known is None:
        store.set_meta(_META_KEY, digest)
    elif known != digest:
        raise ConfigError(
            f"the node state in {store.path.parent} was built under another feature spec "
            f"(state {known[:12]}, now {digest[:12]}); only the time zone or UTC offset may "
            "change on an existing node. Start it from a fresh state directory."
        )
