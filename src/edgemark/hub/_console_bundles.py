"""The console's Bundles pages: the registry, and one bundle's manifest, card and signatures.

The hub checks integrity, not trust (nodes verify signatures against their trust store),
and the page says so rather than showing a green tick it could not honestly give.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from edgemark.errors import HubError
from edgemark.hub import _console_data as data
from edgemark.hub._console_html import cards, esc, fmt, link, notice, pager, table, when
from edgemark.hub._db import Bundle


def bundles(session: Session, page: int) -> str:
    """The registry, newest first."""
    found = data.bundles_page(session, page)
    rows = [
        [link(f"/console/bundles/{b.version}", b.version), esc(when(b.created)),
         f"{b.size / 1024:,.1f}", esc(b.key_id), f"<code>{esc(b.sha256[:16])}…</code>"]
        for b in found.rows
    ]  # fmt: skip
    listing = table(["Version", "Uploaded (UTC)", "Size KiB", "Signing key", "sha256"], rows,
                    f"{found.total:,} bundles, newest first", numeric=frozenset({2}))  # fmt: skip
    return listing + pager("/console/bundles", found.page, found.pages)


def bundle(session: Session, version: str) -> str:
    """One bundle: integrity and signature facts, model card, manifest."""
    row = session.get(Bundle, version)
    if row is None:
        raise HubError(f"No bundle with version {version!r} in the registry.", 404)
    files = data.bundle_files(Path(row.path))
    manifest: dict[str, Any] = files["manifest"] or {}
    head = cards([
        ("Version", row.version, ""), ("Signing key", row.key_id, ""),
        ("Files", str(len(manifest.get("files", {}))), ""),
        ("Size", f"{row.size / 1024:,.1f} KiB", ""),
    ])  # fmt: skip
    sig = files["signature"]
    facts = [
        ["Archive sha256", f"<code>{esc(row.sha256)}</code>"],
        ["Ed25519 signature (manifest.sig)",
         f"present, {_sig_bytes(sig)} bytes, key {esc(row.key_id)}" if sig else "missing"],
        ["OpenSSF model signature", "present beside the bundle" if files["sigstore"] else "none"],
        ["Integrity", "every file matched its manifest hash when uploaded"],
    ]  # fmt: skip
    trust = notice("The hub checks integrity, not trust: each node verifies the signature "
                   "against its own trust store and refuses a bundle that does not verify.",
                   "info")  # fmt: skip
    return (
        head + "<h2>Signatures</h2>" + table(["What", "Fact"], facts, "Integrity and signatures")
        + trust + _card(files["card"]) + _files(manifest)
        + "<h2>Manifest</h2><pre>" + esc(json.dumps(manifest, indent=2, sort_keys=True)[:200_000])
        + "</pre>"
    )  # fmt: skip


def _sig_bytes(sig: bytes) -> int:
    try:  # manifest.sig holds the signature in base64
        return len(base64.b64decode(sig, validate=True))
    except ValueError:
        return len(sig)


def _card(card: Any) -> str:
    if not isinstance(card, dict):
        return "<h2>Model card</h2>" + notice("This bundle carries no model card.", "info")
    rows = []
    for key, value in sorted(card.items()):
        if isinstance(value, int | float) and not isinstance(value, bool):
            shown = fmt(float(value), 4)
        elif isinstance(value, str):
            shown = esc(value)
        else:
            shown = f"<code>{esc(json.dumps(value, sort_keys=True)[:2000])}</code>"
        rows.append([esc(key), shown])
    return "<h2>Model card</h2>" + table(["Field", "Value"], rows, "card.json")


def _files(manifest: dict[str, Any]) -> str:
    files = manifest.get("files", {})
    rows = [[esc(name), f"<code>{esc(digest)}</code>"] for name, digest in sorted(files.items())]
    return "<h2>Files</h2>" + table(["File", "sha256"], rows, "Files named by the manifest")
