"""Runtime requirements (agreement 3): what a bundle's model needs, and whether this node has it.

The manifest's ``runtime`` object names the ONNX opsets per domain, the lowest onnxruntime
that runs them and the package versions the model was exported with; ``check_runtime``
refuses a bundle this node cannot run, before anything is swapped in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from edgemark.errors import BundleError

# (onnxruntime minor, max ai.onnx opset, max ai.onnx.ml opset) it implements, from ONNX
# Runtime's Versioning.md; conservative where a release is unsure. Newer releases than the
# last row are assumed to implement at least that row.
ORT_OPSETS: tuple[tuple[tuple[int, int], int, int], ...] = (
    ((1, 14), 18, 3),
    ((1, 15), 19, 3),
    ((1, 16), 19, 3),
    ((1, 17), 20, 4),
    ((1, 18), 21, 4),
    ((1, 19), 21, 4),
    ((1, 20), 21, 4),
    ((1, 21), 22, 4),
    ((1, 22), 22, 4),
)
MIN_ONNXRUNTIME = "1.18.0"
"""The oldest onnxruntime edgemark supports (the core dependency's floor)."""

_DOMAIN_ALIASES = {"": "ai.onnx", "ai.onnx": "ai.onnx", "ai.onnx.ml": "ai.onnx.ml"}


def parse_version(text: str) -> tuple[int, ...]:
    """Leading numeric components of a version string: ``"1.18.0rc1"`` -> ``(1, 18, 0)``.

    >>> parse_version("1.20.1")
    (1, 20, 1)
    """
    parts = []
    for piece in str(text).split("."):
        match = re.match(r"\d+", piece)
        if match is None:
            break
        parts.append(int(match.group()))
        if match.end() != len(piece):
            break
    if not parts:
        raise BundleError(f"{text!r} is not a version number like 1.18.0.")
    return tuple(parts)


def max_opsets(ort_version: str) -> dict[str, int]:
    """The highest ai.onnx and ai.onnx.ml opsets an onnxruntime version implements."""
    minor = parse_version(ort_version)[:2]
    known = [row for row in ORT_OPSETS if row[0] <= minor]
    _, onnx_max, ml_max = known[-1] if known else ORT_OPSETS[0]
    return {"ai.onnx": onnx_max, "ai.onnx.ml": ml_max}


def min_onnxruntime_for(opsets: Mapping[str, int]) -> str:
    """The oldest onnxruntime (not below ``MIN_ONNXRUNTIME``) that implements ``opsets``."""
    for (major, minor), onnx_max, ml_max in ORT_OPSETS:
        have = {"ai.onnx": onnx_max, "ai.onnx.ml": ml_max}
        if (major, minor) >= parse_version(MIN_ONNXRUNTIME)[:2] and all(
            v <= have.get(_domain(d), 1) for d, v in opsets.items()
        ):
            return f"{major}.{minor}.0"
    raise BundleError(
        f"No known onnxruntime implements opsets {dict(opsets)}; export with a lower opset."
    )


def _domain(name: str) -> str:
    return _DOMAIN_ALIASES.get(name, name)


def node_runtime() -> dict[str, Any]:
    """What this node runs: its onnxruntime version and the opsets that version implements."""
    version = metadata.version("onnxruntime")
    return {"onnxruntime": version, "opsets": max_opsets(version)}


def check_runtime(requirements: Any, node: Mapping[str, Any] | None = None) -> None:
    """Raise ``BundleError`` naming what is missing if this node cannot run ``requirements``.

    ``requirements`` is a manifest's ``runtime`` object; ``node`` defaults to
    ``node_runtime()``. Unknown opset domains (custom operators) are refused too.
    """
    if not isinstance(requirements, Mapping):
        raise BundleError("Manifest field 'runtime' must be a JSON object.")
    have = dict(node or node_runtime())
    problems = []
    needed = requirements.get("min_onnxruntime")
    if needed is not None and parse_version(have["onnxruntime"]) < parse_version(str(needed)):
        problems.append(f"onnxruntime >= {needed} (this node has {have['onnxruntime']})")
    opsets = requirements.get("onnx_opsets", {})
    if not isinstance(opsets, Mapping):
        raise BundleError("Manifest field 'runtime.onnx_opsets' must be an object.")
    for domain, version in sorted(opsets.items()):
        limit = have["opsets"].get(_domain(domain))
        if limit is None:
            problems.append(f"ONNX operator domain {domain!r} (not implemented here)")
        elif not isinstance(version, int) or version > limit:
            problems.append(
                f"ONNX opset {version} of domain {_domain(domain)!r} (onnxruntime "
                f"{have['onnxruntime']} implements up to {limit})"
            )
    if problems:
        raise BundleError(
            "This node cannot run the bundle's model: it needs "
            + "; ".join(problems)
            + ". Upgrade onnxruntime on the node or re-export the model for this runtime."
        )
