"""Part of a list of jobs run in one forked process while this one runs the rest: the report's
static maps on the two cores of a planner's laptop (issue 17: the region's workbook and report
≤ 5 s; its three maps took 2 of the report's 5.7 s, one after the other).

Why a forked process and not threads: a map is drawn by matplotlib's Agg renderer and its text
engine, which hold Python's lock. Why fork: the child starts with the parent's memory (the
result, the projected polygons, matplotlib's fonts), so nothing is sent to it and nothing is
set up again; it sends back only what each job returns (small: the report's screen copy of
each map, a few hundred kilobytes).

It degrades to running every job here, in order, with the same results: where ``fork`` does
not exist (Windows, and macOS by default), where this process may use a single CPU, outside
the main thread, when :data:`ENABLED` is false, beside threads other than tqdm's monitor, and
when the child fails in any way or sends nothing within :func:`child_wait` (its jobs are then
run here, from the start: a job writes its files whole, so a half-done file is written again).
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

ENABLED = True
"""Run part of the jobs in a forked process when the machine allows it (tests compare both)."""


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


FORK_SAFE_THREADS = frozenset({"tqdm_monitor"})
"""Threads that may run beside a fork: tqdm's monitor only takes tqdm's own lock, which the
child never uses (it draws maps)."""


def _only_known_threads() -> bool:
    """No live thread but the main one and :data:`FORK_SAFE_THREADS`."""
    main = threading.main_thread()
    return all(t is main or t.name in FORK_SAFE_THREADS for t in threading.enumerate())


def can_fork() -> bool:
    """Whether :func:`run_split` may fork here: enabled, two CPUs or more, ``fork`` available,
    called from the main thread, and no other thread running but tqdm's monitor. A report
    written from a worker thread (e.g. under Dask) or beside other threads (a notebook's
    kernel, a Dask client) is drawn serially: forking beside running threads risks a child
    stuck on a lock one of them held, and Python 3.12 warns about it."""
    return (
        ENABLED
        and usable_cpus() >= 2
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.current_thread() is threading.main_thread()
        and _only_known_threads()
    )


CHILD_WAIT_MIN_S = 120.0
"""The child is always given this long (seconds from the fork) to send its results."""

CHILD_WAIT_FACTOR = 5.0
"""Beyond :data:`CHILD_WAIT_MIN_S`, the child is given this many times as long per job as
this process took per job for its own share."""


def child_wait(elapsed_here: float, here: int, away: int) -> float:
    """How long (seconds from the fork) :func:`run_split` waits for the child's results, this
    process having run its ``here`` jobs in ``elapsed_here`` seconds and the child having
    ``away`` jobs: at least :data:`CHILD_WAIT_MIN_S`, and :data:`CHILD_WAIT_FACTOR` times the
    time per job here for each of the child's. A child stuck on a lock or a full disk would
    otherwise hang the report; past this bound it is stopped and its jobs run here (a slow
    but working child only costs the time of its jobs run again)."""
    per_job = elapsed_here / max(here, 1)
    return max(CHILD_WAIT_MIN_S, CHILD_WAIT_FACTOR * per_job * away)


def _reap(process) -> None:
    """Wait for the child's end; one that does not stop when asked is killed."""
    process.join(timeout=10.0)
    if process.is_alive():
        process.kill()
        process.join()


def run_split(jobs: Sequence[Callable[[], T]], here: int) -> list[T]:
    """The results of ``jobs``, in order: the first ``here`` run in this process while a forked
    child runs the others (when :func:`can_fork`); otherwise all run here, in order.

    A job's exception in this process propagates as usual; the child's failure (an exception,
    a crash, a result that cannot be sent back, no result within :func:`child_wait`) makes
    its jobs run here instead."""
    jobs = list(jobs)
    here = max(0, min(here, len(jobs)))
    if here == len(jobs) or not can_fork():
        return [job() for job in jobs]
    away = jobs[here:]
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)

    def child() -> None:
        receiver.close()
        # What the parent made stays out of this process's garbage collections: they would
        # walk (and so copy, page by page) its whole memory for objects that cannot be freed.
        gc.freeze()
        try:
            sender.send(("ok", [job() for job in away]))
        except BaseException as exc:  # noqa: BLE001 - anything: the parent runs the jobs again
            with contextlib.suppress(OSError):  # the parent stopped listening (its job failed)
                sender.send(("failed", repr(exc)))
        finally:
            sender.close()

    process = context.Process(target=child, name="zonesblanches-cartes", daemon=True)
    try:
        process.start()
    except OSError:  # no process left (limits, memory): everything here
        receiver.close()
        sender.close()
        return [job() for job in jobs]
    sender.close()
    started = time.monotonic()
    try:
        results = [job() for job in jobs[:here]]
        wait = child_wait(time.monotonic() - started, here, len(away))
        try:
            if receiver.poll(max(0.0, started + wait - time.monotonic())):
                status, payload = receiver.recv()
            else:  # the child is stuck (or far too slow): its jobs are run here
                status, payload = "timeout", None
                process.terminate()
        except (EOFError, OSError):  # the child died before sending anything
            status, payload = "failed", None
    except BaseException:
        process.terminate()  # its maps would be thrown away: do not wait for them
        raise
    finally:
        receiver.close()
        _reap(process)
    if status != "ok":
        payload = [job() for job in away]
    return results + list(payload)
