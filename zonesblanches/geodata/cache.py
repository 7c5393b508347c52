"""Where downloads and built networks are cached, and how files are written safely.

The cache lives in ``$ZONESBLANCHES_CACHE`` when set, else in ``$XDG_CACHE_HOME/zonesblanches``,
else in ``~/.cache/zonesblanches`` (see :mod:`zonesblanches.settings`). Every cache file is written to a temporary name in the same
folder and renamed into place, so that a run stopped half-way never leaves a truncated file under
the final name; readers still validate what they load and rebuild on any error.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from zonesblanches import settings
from zonesblanches.writers import atomic_path

__all__ = ["atomic_path", "cache_dir", "file_digest"]


def cache_dir(sub: str | None = None, *, base: str | os.PathLike | None = None) -> Path:
    """Return (and create) the cache folder, or its sub-folder ``sub``.

    Parameters
    ----------
    sub : str, optional
        Sub-folder name (e.g. ``"reseaux"``, ``"telechargements"``).
    base : path-like, optional
        Explicit cache root; overrides the environment.
    """
    root = Path(base) if base is not None else settings.cache_root()
    path = root / sub if sub else root
    path.mkdir(parents=True, exist_ok=True)
    return path


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Hex digest of a file's content, read in chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
