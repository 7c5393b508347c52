"""Compiled RAPTOR kernel (numba): range queries with labels re-used from run to run.

One function, :func:`range_raptor`, runs the round-based earliest-arrival search of Delling,
Pajor and Werneck (RAPTOR, *Transportation Science* 49(3), 2015) for several departure times,
processed from the latest to the earliest (rRAPTOR): every label of a later departure is a valid
upper bound for an earlier one, so each run starts from the previous run's labels and only
explores what improves. Labels are kept per round (``k`` vehicles boarded), which is what keeps
the re-use exact under a bounded number of transfers.

The backward (arrive-by) search is the same kernel on the time-reversed timetable built by
:meth:`zonesblanches.coverage.raptor.Timetable.reversed`.

Semantics (the tests' oracle models exactly these)
--------------------------------------------------
- A traveller may board trip ``t`` at position ``i`` of its route when ``ready <= dep[t, i]``
  and boarding is allowed there; alighting at ``j > i`` (when allowed) gives a vehicle arrival
  ``arr[t, j]``.
- After a vehicle arrival ``a`` at stop ``s``: boarding again at ``s`` is possible from
  ``a + change[s]``; walking a footpath ``s → q`` of ``w`` seconds gives arrival and
  boarding-readiness ``a + w`` at ``q``. Footpaths are not chained (one walk between two
  vehicles); one footpath may also start the journey (from a source) and one end it, so that
  the search and its time-reversed twin answer the same question.
- The answer at a stop is the earliest of: the source time itself, vehicle arrivals, and
  arrivals by a footpath after a vehicle, over at most ``max_rounds`` vehicles.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_CACHE = True

INF = np.int64(2**62)


@nb.njit(cache=_CACHE, inline="always")
def _push(s, flags, items, n):
    """Add stop ``s`` to the set (``flags``, ``items[:n]``) if absent; return the new size."""
    if not flags[s]:
        flags[s] = True
        items[n] = s
        n += 1
    return n


@nb.njit(cache=_CACHE)
def range_raptor(
    route_stop_ptr,
    route_stops,
    route_trip_ptr,
    route_time_ptr,
    arr,
    dep,
    pick,
    drop,
    stop_route_ptr,
    stop_route_route,
    stop_route_pos,
    foot_ptr,
    foot_to,
    foot_s,
    change_s,
    src_stop,
    src_off,
    starts,
    max_rounds,
    max_duration,
):
    """Earliest arrival at every stop for each departure time of ``starts`` (descending).

    Returns
    -------
    best : int64 array (len(starts), n_stops)
        Earliest arrival (seconds), ``INF`` when not reached within ``max_duration``.
    source : int64 array (len(starts), n_stops)
        Index into ``src_stop`` of the source of that journey, ``-1`` when not reached.
    """
    n_stops = stop_route_ptr.shape[0] - 1
    n_routes = route_stop_ptr.shape[0] - 1
    n_rounds = max_rounds
    varr = np.full((n_rounds + 1, n_stops), INF, dtype=np.int64)
    vsrc = np.full((n_rounds + 1, n_stops), -1, dtype=np.int64)
    ready = np.full((n_rounds + 1, n_stops), INF, dtype=np.int64)
    rsrc = np.full((n_rounds + 1, n_stops), -1, dtype=np.int64)
    reach = np.full((n_rounds + 1, n_stops), INF, dtype=np.int64)
    csrc = np.full((n_rounds + 1, n_stops), -1, dtype=np.int64)
    n_runs = starts.shape[0]
    best = np.full((n_runs, n_stops), INF, dtype=np.int64)
    bsrc = np.full((n_runs, n_stops), -1, dtype=np.int64)

    marked = np.zeros(n_stops, dtype=np.bool_)
    marked_list = np.empty(n_stops, dtype=np.int64)
    improved = np.zeros(n_stops, dtype=np.bool_)
    improved_list = np.empty(n_stops, dtype=np.int64)
    next_marked = np.zeros(n_stops, dtype=np.bool_)
    next_list = np.empty(n_stops, dtype=np.int64)
    first_pos = np.full(n_routes, -1, dtype=np.int64)
    route_queue = np.empty(n_routes, dtype=np.int64)

    for run in range(n_runs):
        tau = starts[run]
        horizon = tau + max_duration
        n_marked = 0
        for i in range(src_stop.shape[0]):
            s = src_stop[i]
            t = tau + src_off[i]
            if t < ready[0, s]:
                ready[0, s] = t
                rsrc[0, s] = i
                reach[0, s] = t
                csrc[0, s] = i
                n_marked = _push(s, marked, marked_list, n_marked)
        # One footpath from each source (walking at the start of the journey).
        for i in range(src_stop.shape[0]):
            s = src_stop[i]
            t0 = tau + src_off[i]
            for e in range(foot_ptr[s], foot_ptr[s + 1]):
                q2 = foot_to[e]
                w = t0 + foot_s[e]
                if w <= horizon and w < ready[0, q2]:
                    ready[0, q2] = w
                    rsrc[0, q2] = i
                    reach[0, q2] = w
                    csrc[0, q2] = i
                    n_marked = _push(q2, marked, marked_list, n_marked)
        for k in range(1, n_rounds + 1):
            if n_marked == 0:
                break
            # Round-k labels are never worse than round k-1 labels at the marked stops.
            n_queue = 0
            for m in range(n_marked):
                p = marked_list[m]
                if ready[k - 1, p] < ready[k, p]:
                    ready[k, p] = ready[k - 1, p]
                    rsrc[k, p] = rsrc[k - 1, p]
                for e in range(stop_route_ptr[p], stop_route_ptr[p + 1]):
                    r = stop_route_route[e]
                    pos = stop_route_pos[e]
                    if first_pos[r] < 0:
                        route_queue[n_queue] = r
                        n_queue += 1
                        first_pos[r] = pos
                    elif pos < first_pos[r]:
                        first_pos[r] = pos
            for m in range(n_marked):
                marked[marked_list[m]] = False
            n_improved = 0
            # Scan routes.
            for q in range(n_queue):
                r = route_queue[q]
                start = first_pos[r]
                first_pos[r] = -1
                s0 = route_stop_ptr[r]
                ns = route_stop_ptr[r + 1] - s0
                nt = route_trip_ptr[r + 1] - route_trip_ptr[r]
                base = route_time_ptr[r]
                t = -1
                tsrc = -1
                for i in range(start, ns):
                    s = route_stops[s0 + i]
                    if t >= 0:
                        idx = base + t * ns + i
                        if drop[idx]:
                            a = arr[idx]
                            if a <= horizon and a < varr[k, s] and a < varr[k - 1, s]:
                                varr[k, s] = a
                                vsrc[k, s] = tsrc
                                n_improved = _push(s, improved, improved_list, n_improved)
                    rt = ready[k - 1, s]
                    if rt >= INF:
                        continue
                    bound = nt if t < 0 else t
                    if bound == 0 or dep[base + (bound - 1) * ns + i] < rt:
                        continue
                    # Earliest trip in [0, bound) departing at or after rt (columns are sorted).
                    lo = 0
                    hi = bound
                    while lo < hi:
                        mid = (lo + hi) // 2
                        if dep[base + mid * ns + i] < rt:
                            lo = mid + 1
                        else:
                            hi = mid
                    while lo < bound and not pick[base + lo * ns + i]:
                        lo += 1
                    if lo < bound:
                        t = lo
                        tsrc = rsrc[k - 1, s]
            # Change times and footpaths from the stops reached by vehicle.
            n_next = 0
            for m in range(n_improved):
                s = improved_list[m]
                improved[s] = False
                a = varr[k, s]
                src = vsrc[k, s]
                if a < reach[k, s]:
                    reach[k, s] = a
                    csrc[k, s] = src
                r_ = a + change_s[s]
                if r_ < ready[k, s]:
                    ready[k, s] = r_
                    rsrc[k, s] = src
                    n_next = _push(s, next_marked, next_list, n_next)
                for e in range(foot_ptr[s], foot_ptr[s + 1]):
                    q2 = foot_to[e]
                    w = a + foot_s[e]
                    if w > horizon:
                        continue
                    if w < reach[k, q2]:
                        reach[k, q2] = w
                        csrc[k, q2] = src
                    if w < ready[k, q2]:
                        ready[k, q2] = w
                        rsrc[k, q2] = src
                        n_next = _push(q2, next_marked, next_list, n_next)
            n_marked = 0
            for m in range(n_next):
                s = next_list[m]
                next_marked[s] = False
                marked[s] = True
                marked_list[n_marked] = s
                n_marked += 1
        for m in range(n_marked):
            marked[marked_list[m]] = False
        # Output: best over rounds, within the horizon of this run.
        for s in range(n_stops):
            b = INF
            bs = -1
            for k in range(n_rounds + 1):
                if reach[k, s] < b:
                    b = reach[k, s]
                    bs = csrc[k, s]
            if b <= horizon:
                best[run, s] = b
                bsrc[run, s] = bs
    return best, bsrc


@nb.njit(cache=_CACHE)
def min_plus_rows(stop_labels, ptr, cols, w, extra):
    """For each row ``h`` of a CSR (``ptr``, ``cols``, ``w``): ``min(extra[h], min_j labels[cols[j]]
    + w[j])`` for every run, and the column achieving it (``-1`` for ``extra``/nothing).

    ``stop_labels`` is (n_runs, n_stops) int64 with ``INF`` for unreached; ``extra`` is
    (n_runs, n_rows).
    """
    n_runs = stop_labels.shape[0]
    n_rows = ptr.shape[0] - 1
    out = extra.copy()
    which = np.full((n_runs, n_rows), -1, dtype=np.int64)
    for r in range(n_runs):
        for h in range(n_rows):
            b = out[r, h]
            bj = -1
            for j in range(ptr[h], ptr[h + 1]):
                v = stop_labels[r, cols[j]]
                if v < INF:
                    v += w[j]
                    if v < b:
                        b = v
                        bj = cols[j]
            out[r, h] = b
            which[r, h] = bj
    return out, which
