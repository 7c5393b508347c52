"""Ctrl-C is never lost: the command remembers it, and stops at its next step if it was
swallowed.

Python turns SIGINT into a ``KeyboardInterrupt`` raised in the main thread, at whatever Python
code runs there when the signal is noticed. If that code runs on behalf of a C library that
clears the errors of what it called (an attribute look-up, a callback, a destructor), the
interrupt is gone without a trace: ``zonesblanches demo`` interrupted in its first seconds then
ran to the end and exited 0 (issue 17, about one run in seven under load).

:func:`handling` installs a handler that raises the same ``KeyboardInterrupt`` and notes that a
Ctrl-C came; :func:`check`, called at each step of a command (each line it prints, and before
the output folder's manifest is written), raises it again when the first one was swallowed.
The handler is in place before any heavy library is imported: ``import zonesblanches.cli``
imports only the standard library and light modules (the package's public names are lazy), and
the command's modules, with pandas, GeoPandas and pyarrow, are imported inside ``main``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_received = False


def _on_sigint(signum, frame) -> None:
    global _received
    _received = True
    raise KeyboardInterrupt


@contextmanager
def handling() -> Iterator[None]:
    """Within the block, Ctrl-C is remembered (:func:`check`); the previous handler is put
    back after it. Outside the main thread (where Python delivers signals), nothing changes."""
    global _received
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received = False
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _received = False


def check() -> None:
    """Raise ``KeyboardInterrupt`` if a Ctrl-C came during :func:`handling` and was not
    handled (in the main thread only: elsewhere it would end a worker, not the command)."""
    if _received and threading.current_thread() is threading.main_thread():
        raise KeyboardInterrupt


def acknowledge() -> None:
    """The interrupt reached the command's handler: no step raises it again."""
    global _received
    _received = False
