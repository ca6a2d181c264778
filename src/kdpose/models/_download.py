"""Weights from URLs: downloaded once into a cache folder, verified by sha256, with an offline mode.

Environment:
    KDPOSE_CACHE: download cache folder (default ``~/.cache/kdpose``).
    KDPOSE_OFFLINE=1: never touch the network; a URL that is not cached is an error.
"""
from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
import urllib.request
from pathlib import Path

from ..errors import CheckpointError
from ..utils.io import atomic_write

# MMPose's publish_model.py puts the first 7-8 hex digits of the file's sha256 before the date
_MMPOSE_HASH = re.compile(r"-([0-9a-f]{7,8})_\d{8}\.pth$")


def cache_dir() -> Path:
    """The download cache: ``$KDPOSE_CACHE`` or ``~/.cache/kdpose``."""
    return Path(os.environ.get("KDPOSE_CACHE") or Path.home() / ".cache" / "kdpose")


def is_url(value: object) -> bool:
    return isinstance(value, str) and urllib.parse.urlparse(value).scheme in ("http", "https", "file")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _check_hash(path: Path, expected: str | None, source: str) -> None:
    if not expected:
        return
    actual = _sha256(path)
    if not actual.startswith(expected.lower()):
        raise CheckpointError(f"{source}: sha256 mismatch: expected {expected}..., got {actual}")


def download_weights(url: str, sha256: str | None = None, cache: str | os.PathLike | None = None,
                     fix: str | None = None) -> Path:
    """Download ``url`` once into the cache and return the local path.

    ``sha256`` (full digest or a prefix) is checked after download and on every cache hit; when not given, the
    7-8 hex digit sha256 prefix in MMPose file names (``...-cfc8f33d_20230126.pth``) is used. A cached file is
    never fetched again; with ``KDPOSE_OFFLINE=1`` a missing file is an error instead of a download. A failed
    download's error ends with ``fix`` (default: fetch the file elsewhere and copy it to its place in the cache).
    """
    name = Path(urllib.parse.urlparse(url).path).name
    if not name:
        raise CheckpointError(f"{url}: the URL does not name a file")
    if sha256 is None:
        found = _MMPOSE_HASH.search(name)
        sha256 = found.group(1) if found else None
    target = Path(cache or cache_dir()) / name
    if target.is_file():
        _check_hash(target, sha256, str(target))
        return target
    if os.environ.get("KDPOSE_OFFLINE", "") not in ("", "0"):
        raise CheckpointError(f"{url}: not in the cache ({target}) and KDPOSE_OFFLINE is set; download it on a "
                              f"machine with network access and copy it to {target}")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, atomic_write(target, "wb") as f:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                f.write(chunk)
    except OSError as e:  # URLError / HTTPError / timeouts are OSErrors
        fix = fix or f"download it on a machine with network access and copy it to {target}"
        raise CheckpointError(f"{url}: download failed ({e}); {fix}") from None
    try:
        _check_hash(target, sha256, url)
    except CheckpointError:
        target.unlink(missing_ok=True)  # never keep a file that failed verification
        raise
    return target


def resolve_weights(weights: str | os.PathLike, sha256: str | None = None) -> Path:
    """A local path for ``weights``: URLs are downloaded into the cache, paths are returned as they are."""
    if is_url(weights):
        return download_weights(str(weights), sha256=sha256)
    path = Path(weights).expanduser()
    if path.is_dir():
        raise CheckpointError(f"{path}: a directory, not a weights file")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    return path
