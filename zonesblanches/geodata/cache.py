"""Where downloads and built networks are cached, and how files are written safely.

The cache lives in ``$ZONESBLANCHES_CACHE`` when set, else in ``$XDG_CACHE_HOME/zonesblanches``,
else in ``~/.cache/zonesblanches``. Every cache file is written to a temporary name in the same
folder and renamed into place, so that a run stopped half-way never leaves a truncated file under
the final name; readers still validate what they load and rebuild on any error.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def cache_dir(sub: str | None = None, *, base: str | os.PathLike | None = None) -> Path:
    """Return (and create) the cache folder, or its sub-folder ``sub``.

    Parameters
    ----------
    sub : str, optional
        Sub-folder name (e.g. ``"reseaux"``, ``"telechargements"``).
    base : path-like, optional
        Explicit cache root; overrides the environment.
    """
    if base is not None:
        root = Path(base)
    elif os.environ.get("ZONESBLANCHES_CACHE"):
        root = Path(os.environ["ZONESBLANCHES_CACHE"])
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        root = (Path(xdg) if xdg else Path.home() / ".cache") / "zonesblanches"
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


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; move it onto ``target`` only on success.

    Examples
    --------
    >>> with atomic_path(dest) as tmp:  # doctest: +SKIP
    ...     frame.to_parquet(tmp)
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
