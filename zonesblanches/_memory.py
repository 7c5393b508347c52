"""Give the memory of large freed arrays back to the system (glibc's allocator, Linux).

A region's road networks are tens of arrays of 10 to 60 MB built, used and freed in turn
(issue 17: region, 3 modes, at most 1.5 GB). glibc serves an allocation from its heap unless it
is larger than a threshold, and raises that threshold, up to 32 MB, each time a block served by
``mmap`` is freed: after the first large temporary, most arrays of a network live in the heap,
where freed blocks stay in the process (the resident memory measured at the end of the network
phase was 0.6 GB above what the models held). :func:`fix_mmap_threshold` fixes the threshold,
as the ``MALLOC_MMAP_THRESHOLD_`` environment variable would, so that every array of more than
:data:`MMAP_THRESHOLD_BYTES` is given back when freed; :func:`trim` returns what the heap holds
free. Elsewhere (another C library, another system) both do nothing. The numbers computed do not
depend on either.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import os
import sys
from collections.abc import Iterator

M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter number for the mmap threshold (``malloc.h``)."""

MMAP_THRESHOLD_BYTES = 4 << 20
"""Blocks above this size are mapped on their own and given back when freed (4 MiB: a network
array of 500,000 elements; smaller ones are too short-lived and many to be worth a mapping)."""


def _glibc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt  # noqa: B018 - glibc only (musl has no such symbol)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def fix_mmap_threshold() -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD_BYTES`, unless the user set
    ``MALLOC_MMAP_THRESHOLD_``; True if it was set here."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def trim() -> None:
    """Give the free memory of glibc's heap back to the system (``malloc_trim(0)``)."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@contextlib.contextmanager
def old_objects_frozen() -> Iterator[None]:
    """Within this block, the objects that existed before it are left out of Python's cyclic
    garbage collection (``gc.freeze``), and put back at its end (``gc.unfreeze``).

    The output writers (map, workbook, report: issue 17) make many short-lived objects, so the
    collector runs full collections; each walks every object of the process, the analysis'
    included, though none of them can become garbage while the outputs are written (region, 3
    modes: two while the map and the report were written, 0.22 and 0.24 s; with this block,
    one of 0.04 s). New objects are collected as usual. Nothing is done when the collector is
    off or objects are already frozen (an outer block, or the user's own freeze: their objects
    stay frozen)."""
    if not gc.isenabled() or gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def freezing_old_objects(func):
    """Decorate ``func`` so that it runs within :func:`old_objects_frozen`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with old_objects_frozen():
            return func(*args, **kwargs)

    return wrapper
