"""A node's content-addressed store of unpacked bundles, one directory per archive sha256.

Entries appear atomically (unpack into a temporary directory, then ``os.replace``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from edgemark.bundle._archive import unpack_bundle
from edgemark.errors import BundleError

_SHA256 = re.compile(r"[0-9a-f]{64}")


class BundleStore:
    """Unpacked bundles under ``root/<sha256 of the tar.gz bytes>``.

    ``put`` does not verify: verify ``path(sha)`` with ``verify_bundle`` before loading it.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def put(self, data: bytes) -> tuple[str, Path]:
        """Unpack archive bytes into the store (once) and return ``(sha256, path)``."""
        digest = hashlib.sha256(data).hexdigest()
        final = self.root / digest
        if final.is_dir():
            return digest, final
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{digest[:12]}-", dir=self.root))
        try:
            unpack_bundle(data, tmp / "b")
            try:
                os.replace(tmp / "b", final)
            except OSError:
                if not final.is_dir():  # not a lost race with another writer: a real error
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return digest, final

    def has(self, sha256: str) -> bool:
        """Whether the archive with this sha256 is in the store."""
        return (self.root / _check(sha256)).is_dir()

    def path(self, sha256: str) -> Path:
        """The directory of a stored bundle; ``BundleError`` if it is not stored."""
        path = self.root / _check(sha256)
        if not path.is_dir():
            raise BundleError(f"Bundle {sha256[:12]}… is not in the store at {self.root}.")
        return path

    def digests(self) -> list[str]:
        """The sha256 of every stored bundle, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if _SHA256.fullmatch(p.name))


def _check(sha256: str) -> str:
    if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
        raise BundleError(f"{sha256!r} is not a lowercase hex sha256.")
    return sha256
