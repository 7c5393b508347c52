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
``NUMBA_NUM_THREADS``, and workers that join later are not limited. Each run registers the
plugin under a name of its own (:func:`limit_numba_threads` returns it): two runs at once on one
client do not share it, so one run's end does not unregister the other's, and a worker gets its
previous settings back only when the last run's plugin leaves it. Imported only where
``distributed`` is installed.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections import Counter

from distributed.diagnostics.plugin import WorkerPlugin

from zonesblanches.coverage import partition_parts

_UNSET = object()
_before: tuple = (_UNSET, _UNSET)
"""This worker process's ``(THREAD_SHARE, NUMBA_NUM_THREADS)`` before the first of the plugins
set up in it (put back by the teardown of the last one)."""

_active: dict[str, int] = {}
"""Per worker process: name → share of each :class:`NumbaThreads` set up and not torn down
(one per run on the cluster), in the order they were set up."""


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
    """Prefix of the name each run registers its plugin under (:func:`limit_numba_threads`)."""

    def __init__(self, workers_per_host: dict[str, int], name: str | None = None):
        self.workers_per_host = dict(workers_per_host)
        self.name = name or NumbaThreads.name

    def setup(self, worker) -> None:
        global _before
        if not _active:
            _before = (partition_parts.THREAD_SHARE, os.environ.get("NUMBA_NUM_THREADS"))
        count = self.workers_per_host.get(_host(worker.address), 1)
        share = partition_parts.thread_share(_cores(), count, worker.state.nthreads)
        _active[self.name] = share
        _apply(share)

    def teardown(self, worker) -> None:
        """The worker as it was before the plugin, once no other run's plugin is left on it
        (else the share of the latest one left; numba's count already set in a task's thread
        stays: it is that thread's, and only this package's tasks set it)."""
        global _before
        if _active.pop(self.name, None) is None:
            return
        if _active:
            _apply(list(_active.values())[-1])
            return
        share, env = _before
        if share is _UNSET:
            return
        partition_parts.THREAD_SHARE = share
        if env is None:
            os.environ.pop("NUMBA_NUM_THREADS", None)
        else:
            os.environ["NUMBA_NUM_THREADS"] = env
        _before = (_UNSET, _UNSET)


def _apply(share: int) -> None:
    partition_parts.THREAD_SHARE = share
    os.environ["NUMBA_NUM_THREADS"] = str(share)  # read when numba is first imported


def plugin_name() -> str:
    """A new name for a run's :class:`NumbaThreads` (its prefix, then a random part)."""
    return f"{NumbaThreads.name}-{uuid.uuid4().hex[:12]}"


def limit_numba_threads(client, name: str | None = None) -> str:
    """Register :class:`NumbaThreads` on the cluster of ``client`` (now and for workers that
    join later), with the number of workers on each host, under ``name`` (default: a new
    :func:`plugin_name`), returned for :func:`unlimit_numba_threads`."""
    workers = client.scheduler_info().get("workers", {})
    per_host = Counter(_host(address) for address in workers)
    name = name or plugin_name()
    client.register_plugin(NumbaThreads(dict(per_host), name), name=name)
    return name


def unlimit_numba_threads(client, name: str) -> None:
    """Remove the plugin ``name`` (:func:`limit_numba_threads`) from the cluster of ``client``
    (a caller's cluster, at the end of the run), if it is there; another run's plugin stays.
    Best effort: the run's own error, if any, is the one to see, and a cluster that is gone
    keeps no plugin."""
    # ValueError: not registered (the run failed first); OSError: the cluster is gone
    with contextlib.suppress(ValueError, OSError):
        client.unregister_worker_plugin(name)
