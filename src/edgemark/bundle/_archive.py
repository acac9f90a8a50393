"""Bundle archives: deterministic tar.gz packing and safe unpacking of untrusted archives.

Unpacking never follows links or writes outside the destination, and caps the total size.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zlib
from pathlib import Path, PurePosixPath

from edgemark.errors import BundleError

MAX_UNPACKED_BYTES = 200 * 1024 * 1024
MAX_MEMBERS = 10_000


def pack_bundle(bundle_dir: str | os.PathLike[str]) -> bytes:
    """Pack every regular file of ``bundle_dir`` into deterministic tar.gz bytes.

    Names are sorted; mtime, uid and gid are 0; owner names empty; mode 0644; gzip mtime 0.
    """
    root = Path(bundle_dir)
    if not root.is_dir():
        raise BundleError(f"Bundle directory {root} does not exist.")
    names = _regular_files(root)
    if not names:
        raise BundleError(f"Bundle directory {root} is empty; nothing to pack.")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            data = (root / name).read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _regular_files(root: Path) -> list[str]:
    names = []
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if path.is_symlink():
            raise BundleError(f"Bundle {root} contains a symlink {rel!r}; bundles hold files only.")
        if path.is_file():
            names.append(rel)
    return sorted(names)


def unpack_bundle(
    data: bytes, dest: str | os.PathLike[str], *, max_bytes: int = MAX_UNPACKED_BYTES
) -> Path:
    """Safely unpack tar.gz ``data`` into ``dest`` (created; must be empty) and return it.

    Rejects absolute paths, ``..``, links, devices, duplicate names and more than
    ``max_bytes`` of content with ``BundleError``; a corrupt archive is a ``BundleError`` too.
    Unpacking does not verify the bundle: call ``verify_bundle`` next.
    """
    out = Path(dest)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BundleError(f"Unpack destination {out} exists and is not an empty directory.")
    out.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            _extract(tar, out, max_bytes)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise BundleError(f"Bundle archive is corrupt or not a tar.gz: {exc}.") from None
    return out


def _extract(tar: tarfile.TarFile, out: Path, max_bytes: int) -> None:
    total, seen = 0, set[str]()
    for count, member in enumerate(tar, start=1):
        if count > MAX_MEMBERS:
            raise BundleError(f"Bundle archive has more than {MAX_MEMBERS} entries; refusing it.")
        name = _safe_name(member)
        if member.isdir():
            (out / name).mkdir(parents=True, exist_ok=True)
            continue
        if name in seen:
            raise BundleError(f"Bundle archive lists {name!r} twice; refusing it.")
        seen.add(name)
        total += member.size
        if total > max_bytes:
            raise BundleError(
                f"Bundle archive unpacks to more than {max_bytes} bytes; refusing it."
            )
        src = tar.extractfile(member)
        if src is None:
            raise BundleError(f"Bundle archive entry {name!r} has no content.")
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.parent.is_symlink() or target.exists():
            raise BundleError(f"Bundle archive entry {name!r} collides with another entry.")
        with src, target.open("xb") as fh:
            fh.write(src.read())


def _safe_name(member: tarfile.TarInfo) -> str:
    name = member.name
    if not (member.isfile() or member.isdir()):
        kind = "link" if member.issym() or member.islnk() else "special file"
        raise BundleError(f"Bundle archive entry {name!r} is a {kind}; only files are allowed.")
    path = PurePosixPath(name)
    if (
        not name
        or "\\" in name
        or "\x00" in name
        or path.is_absolute()
        or ".." in path.parts
        or name.startswith("/")
    ):
        raise BundleError(f"Bundle archive entry {name!r} is an unsafe path; refusing it.")
    return path.as_posix()
