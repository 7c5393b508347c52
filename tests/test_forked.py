"""maps/_forked.py: part of the jobs in a forked process, the same results in the same order as
all of them here, and every failure of the child made good here."""

from __future__ import annotations

import os

import pytest

from zonesblanches.maps import _forked

pytestmark = pytest.mark.skipif(not _forked.can_fork(), reason="no fork or a single CPU here")


@pytest.fixture(autouse=True)
def _other_tests_threads_are_idle(monkeypatch):
    """Threads other tests left in this test process (Dask's offload pool, a test server) are
    idle: allowed beside the fork here, so these tests fork whatever ran before them on the
    same worker. The tests below start their own threads to check the rule itself."""
    import threading

    main = threading.main_thread()
    idle = frozenset(t.name for t in threading.enumerate() if t is not main)
    monkeypatch.setattr(_forked, "FORK_SAFE_THREADS", _forked.FORK_SAFE_THREADS | idle)


def _jobs(n):
    return [lambda i=i: (i, os.getpid()) for i in range(n)]


@pytest.mark.parametrize(("n", "here"), [(1, 0), (3, 1), (4, 2), (5, 0), (2, 5), (0, 0)])
def test_results_in_order_half_from_the_child(n, here):
    results = _forked.run_split(_jobs(n), here)
    assert [i for i, _ in results] == list(range(n))
    here = max(0, min(here, n))
    assert all(pid == os.getpid() for _, pid in results[:here])
    assert all(pid != os.getpid() for _, pid in results[here:])


def test_a_failing_child_job_runs_again_here():
    parent = os.getpid()

    def fails_away():
        if os.getpid() != parent:
            raise RuntimeError("échec dans le processus fils")
        return "ici"

    assert _forked.run_split([lambda: 0, fails_away, lambda: 2], 1) == [0, "ici", 2]


def test_a_child_that_dies_has_its_jobs_run_here():
    parent = os.getpid()

    def dies_away():
        if os.getpid() != parent:
            os._exit(3)
        return os.getpid()

    assert _forked.run_split([lambda: 0, dies_away], 1) == [0, parent]


def test_a_result_that_cannot_be_sent_back_is_made_here():
    parent = os.getpid()

    def unpicklable():
        return (lambda: None) if os.getpid() != parent else "ici"

    assert _forked.run_split([lambda: 0, unpicklable], 1) == [0, "ici"]


def test_an_error_here_propagates_and_the_child_is_reaped():
    import multiprocessing

    def fails():
        raise ValueError("erreur ici")

    with pytest.raises(ValueError, match="erreur ici"):
        _forked.run_split([fails, lambda: 1], 1)
    assert not multiprocessing.active_children()


def test_serial_outside_the_main_thread():
    import threading

    out = {}
    worker = threading.Thread(target=lambda: out.update(r=_forked.run_split(_jobs(3), 1)))
    worker.start()
    worker.join()
    assert out["r"] == [(i, os.getpid()) for i in range(3)]


@pytest.mark.parametrize("why", ["disabled", "one_cpu", "no_fork"])
def test_serial_when_it_cannot_fork(monkeypatch, why):
    if why == "disabled":
        monkeypatch.setattr(_forked, "ENABLED", False)
    elif why == "one_cpu":
        monkeypatch.setattr(_forked, "usable_cpus", lambda: 1)
    else:
        monkeypatch.setattr(_forked.multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    assert not _forked.can_fork()
    results = _forked.run_split(_jobs(3), 1)
    assert results == [(i, os.getpid()) for i in range(3)]


def test_serial_beside_another_thread():
    """A notebook's kernel or a Dask client runs threads: no fork beside them (a lock one of
    them held would stay held in the child); tqdm's monitor thread is allowed."""
    import threading

    stop = threading.Event()
    other = threading.Thread(target=stop.wait, name="autre", daemon=True)
    other.start()
    try:
        assert not _forked.can_fork()
        assert _forked.run_split(_jobs(3), 1) == [(i, os.getpid()) for i in range(3)]
    finally:
        stop.set()
        other.join()
    monitor = threading.Thread(target=stop.wait, name="tqdm_monitor", daemon=True)
    stop.clear()
    monitor.start()
    try:
        assert _forked.can_fork()
    finally:
        stop.set()
        monitor.join()


def test_a_stuck_child_is_stopped_and_its_jobs_run_here(monkeypatch):
    """A child that never answers (a lock held forever, a full pipe) does not hang the
    report: past :func:`~zonesblanches.maps._forked.child_wait` it is stopped and its jobs
    run here."""
    import multiprocessing
    import time

    monkeypatch.setattr(_forked, "CHILD_WAIT_MIN_S", 0.5)
    parent = os.getpid()

    def stuck_away():
        if os.getpid() != parent:
            time.sleep(600)
        return "ici"

    start = time.monotonic()
    assert _forked.run_split([lambda: 0, stuck_away, lambda: 2], 1) == [0, "ici", 2]
    assert time.monotonic() - start < 30
    assert not multiprocessing.active_children()


@pytest.mark.parametrize(
    ("elapsed", "here", "away", "expected"),
    [(1.0, 1, 2, 120.0), (40.0, 2, 2, 200.0), (0.0, 0, 3, 120.0), (100.0, 1, 1, 500.0)],
)
def test_the_child_is_given_a_minimum_and_five_times_this_side_s_pace(
    elapsed, here, away, expected
):
    assert _forked.child_wait(elapsed, here, away) == pytest.approx(expected)
