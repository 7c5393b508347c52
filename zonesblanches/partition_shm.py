"""The run's connection (:class:`_Connection`) and its whole networks' graphs on their way to
the workers, through shared memory when they share the machine
(:mod:`zonesblanches.partition_run`).

The launching process writes each whole network's graph (CSR arrays) once to ``/dev/shm``;
workers on the same machine map them copy-on-write (:class:`_SharedGraph`) instead of receiving
copies through Dask. Each run's folder is named after its process (:func:`_shared_folder`), so
the next run removes the folders of runs that were killed before they could
(:func:`_remove_stale_folders`). Split from :mod:`zonesblanches.partition_run`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

_GRAPH_ARRAYS = ("indptr", "indices", "data")
"""The arrays of a CSR graph, as :class:`_SharedGraph` writes and maps them."""


class _SharedGraph:
    """A whole network's graph (CSR matrix) written once by the launching process to shared
    memory (``/dev/shm``), for workers on the same machine: each maps the three arrays
    (copy-on-write: the pages are shared, a write would make the worker its own copy)
    instead of receiving a copy through Dask (pickled, sent, copied again from one worker to
    the other by the broadcast). Pickles as its paths and shape."""

    def __init__(self, folder: Path, shape: tuple[int, int], token: str):
        self.folder, self.shape, self.token = Path(folder), tuple(shape), token

    @classmethod
    def write(cls, graph, folder: Path, token: str) -> _SharedGraph:
        folder.mkdir()
        for name in _GRAPH_ARRAYS:
            np.save(folder / f"{name}.npy", np.asarray(getattr(graph, name)))
        (folder / "jeton").write_text(token, encoding="ascii")
        return cls(folder, graph.shape, token)

    def visible(self) -> bool:
        """Whether this process sees the very files written (on the same machine)."""
        try:
            return (self.folder / "jeton").read_text(encoding="ascii") == self.token
        except OSError:
            return False

    def load(self):
        import scipy.sparse as sp

        arrays = [np.load(self.folder / f"{n}.npy", mmap_mode="c") for n in _GRAPH_ARRAYS]
        return sp.csr_matrix(tuple(reversed(arrays)), shape=self.shape, copy=False)


SHARED_PREFIX = "zonesblanches-graphes-"
"""Start of the name of a run's folder in shared memory: then the launching process's pid, a
token of its host, a random part (:func:`_shared_folder`)."""


def _host_token() -> str:
    import hashlib
    import socket

    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (PermissionError), or cannot tell: alive
        return True
    return True


def _remove_stale_folders(root: Path) -> list[Path]:
    """Remove the folders a run left in ``root`` when its process was killed (SIGKILL leaves
    it no time to clean up): only this package's folders (:data:`SHARED_PREFIX`), of this
    user, made on this host, whose process is gone. Returns those removed."""
    import shutil
    import stat

    uid, host, removed = getattr(os, "getuid", lambda: None)(), _host_token(), []
    for entry in root.glob(SHARED_PREFIX + "*"):
        pid, _, rest = entry.name[len(SHARED_PREFIX) :].partition("-")
        if not pid.isdigit() or not rest.startswith(host + "-"):
            continue
        try:
            info = entry.lstat()
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or (uid is not None and info.st_uid != uid):
            continue
        if not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _shared_folder(graphs: Mapping[str, object], root: Path = Path("/dev/shm")) -> Path | None:
    """A new folder in ``root`` (``/dev/shm``) when it exists and has room for ``graphs``
    twice, named after this process (:data:`SHARED_PREFIX`), once the folders of killed
    runs are removed (:func:`_remove_stale_folders`)."""
    import shutil
    import tempfile

    size = sum(int(g.data.nbytes + g.indices.nbytes + g.indptr.nbytes) for g in graphs.values())
    try:
        if not root.is_dir():
            return None
        _remove_stale_folders(root)
        if shutil.disk_usage(root).free < 2 * size:
            return None
        prefix = f"{SHARED_PREFIX}{os.getpid()}-{_host_token()}-"
        return Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    except OSError:
        return None


def _visible(handles: Sequence[_SharedGraph]) -> bool:
    """On a worker: whether it sees every shared graph (same machine)."""
    return all(h.visible() for h in handles)


class _Connection:
    """The run's client, opened before the run is prepared, and the whole networks' graphs on
    their way to the workers (:func:`_open`).

    The graphs (75-95 MB per mode at 2.2-2.7 M nodes) were sent after the preparation, with
    the rest of each whole-network share: the workers waited for them while nothing else ran
    (the launching process alone for 1.1 s before the first task at r28, on an idle
    machine). Now, from a helper thread as soon as the client exists, while this process
    prepares the run: written to shared memory when every worker sees it (a
    ``LocalCluster``, workers on this machine: :class:`_SharedGraph`), else sent through
    Dask (a remote cluster); the small rest of each share follows as before."""

    def __init__(self, client, owned: bool, graphs: Mapping[str, object] | None = None):
        self.client, self.owned = client, owned
        self._pool = None
        self._sending = None
        self._folder: Path | None = None
        self.shared = False  # whether the graphs went through shared memory
        # the name of this run's numba plugin, once the workers' threads are limited
        self.limited: str | None = None
        if graphs:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(1, thread_name_prefix="zonesblanches-graphes")
            self._sending = self._pool.submit(self._send, dict(graphs))

    def _send(self, graphs: dict) -> dict:
        modes = list(graphs)
        values = list(graphs.values())
        self._folder = _shared_folder(graphs)
        if self._folder is not None:
            token = uuid.uuid4().hex
            try:
                handles = [
                    _SharedGraph.write(g, self._folder / m, token) for m, g in graphs.items()
                ]
                seen = self.client.run(_visible, handles)
            except OSError:
                seen = {}
            if seen and all(seen.values()):
                values, self.shared = handles, True
            else:  # a worker elsewhere (a remote cluster): through Dask, as before
                import shutil

                shutil.rmtree(self._folder, ignore_errors=True)
                self._folder = None
        sent = self.client.scatter(values, broadcast=True, hash=False)
        return dict(zip(modes, sent, strict=True))

    def graphs(self) -> dict:
        """Mode → future of its whole graph (or :class:`_SharedGraph`) on every worker
        (waits for the sending to end)."""
        return {} if self._sending is None else self._sending.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._folder is not None:  # the workers' maps stay valid until they drop them
            import shutil

            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        if self.owned:
            self.owned = False
            cluster = getattr(self.client, "cluster", None)
            self.client.close()
            if cluster is not None:
                cluster.close()
        elif self.limited:  # the caller's cluster: the numba plugin does not outlive the run
            from zonesblanches.worker_threads import unlimit_numba_threads

            name, self.limited = self.limited, None
            unlimit_numba_threads(self.client, name)
