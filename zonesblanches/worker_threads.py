"""Each Dask worker's share of the machine's cores for numba's threads.

numba starts one thread per core by default. The contraction hierarchy's rounds
(:mod:`zonesblanches.coverage.hierarchy`, ``threads=None``) use them all: two workers on a
two-core machine would then run four busy threads on two cores (each worker believing it has
the machine). :class:`NumbaThreads`, registered on the cluster by a partitioned run, gives each
worker its share (cores over the task threads of the workers on its host): ``NUMBA_NUM_THREADS``
before numba is imported there, and each task sets it in its own thread
(:func:`zonesblanches.coverage.partition_parts.apply_thread_share`), since numba's count is
per thread. On a cluster the caller gave (``client=``), the run removes the plugin at its end
(:func:`unlimit_numba_threads`): its teardown puts back each worker's previous share and
``NUMBA_NUM_THREADS``, and workers that join later are not limited. Imported only where
``distributed`` is installed.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter

from distributed.diagnostics.plugin import WorkerPlugin

from zonesblanches.coverage import partition_parts

_UNSET = object()
_before: tuple = (_UNSET, _UNSET)
"""This worker process's ``(THREAD_SHARE, NUMBA_NUM_THREADS)`` before the plugin's first setup
in it (put back by its teardown)."""


def _host(address: str) -> str:
    return address.split("://")[-1].rsplit(":", 1)[0]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class NumbaThreads(WorkerPlugin):
    """Sets, on each worker, numba's threads to the worker's share of its host's cores.

    Parameters
    ----------
    workers_per_host : dict
        Host → number of workers on it, when registered (a worker on a host not listed counts
        as alone there).
    """

    name = "zonesblanches-numba-threads"

    def __init__(self, workers_per_host: dict[str, int]):
        self.workers_per_host = dict(workers_per_host)

    def setup(self, worker) -> None:
        global _before
        if _before[0] is _UNSET:
            _before = (partition_parts.THREAD_SHARE, os.environ.get("NUMBA_NUM_THREADS"))
        count = self.workers_per_host.get(_host(worker.address), 1)
        share = partition_parts.thread_share(_cores(), count, worker.state.nthreads)
        partition_parts.THREAD_SHARE = share
        os.environ["NUMBA_NUM_THREADS"] = str(share)  # read when numba is first imported

    def teardown(self, worker) -> None:
        """The worker as it was before the plugin (numba's count already set in a task's
        thread stays: it is that thread's, and only this package's tasks set it)."""
        global _before
        share, env = _before
        if share is _UNSET:
            return
        partition_parts.THREAD_SHARE = share
        if env is None:
            os.environ.pop("NUMBA_NUM_THREADS", None)
        else:
            os.environ["NUMBA_NUM_THREADS"] = env
        _before = (_UNSET, _UNSET)


def limit_numba_threads(client) -> None:
    """Register :class:`NumbaThreads` on the cluster of ``client`` (now and for workers that
    join later), with the number of workers on each host."""
    workers = client.scheduler_info().get("workers", {})
    per_host = Counter(_host(address) for address in workers)
    client.register_plugin(NumbaThreads(dict(per_host)), name=NumbaThreads.name)


def unlimit_numba_threads(client) -> None:
    """Remove :class:`NumbaThreads` from the cluster of ``client`` (a caller's cluster, at the
    end of the run), if it is there. Best effort: the run's own error, if any, is the one to
    see, and a cluster that is gone keeps no plugin."""
    # ValueError: not registered (the run failed first); OSError: the cluster is gone
    with contextlib.suppress(ValueError, OSError):
        client.unregister_worker_plugin(NumbaThreads.name)
