"""Compiled many-to-many query on a contraction hierarchy (numba): the bucket algorithm.

Private module: the public interface is
:meth:`zonesblanches.coverage.hierarchy.ContractionHierarchy.pairs`. The arrays are those the
hierarchy keeps for PHAST (nodes numbered by decreasing level): upward edges by tail
(``up_ptr``/``up_to``/``up_w``) and downward edges by head (``dn_ptr``/``dn_from``/``dn_w``).

A shortest path in a contraction hierarchy climbs then descends: it is an upward path from the
source to its highest node ``m``, then a downward path from ``m`` to the target. So a bounded
search from every target over the downward edges, followed backwards, leaves in a *bucket* at
each node ``m`` it settles the pair (target, time ``m → target``); then a bounded upward search
from each source, at each node ``m`` it settles, scans ``m``'s bucket: the minimum over ``m`` of
``time(source → m) + time(m → target)`` is the shortest time (Knopp, Sanders, Schultes, Schulz,
Wagner, « Computing Many-to-Many Shortest Paths Using Highway Hierarchies », ALENEX 2007;
on contraction hierarchies: Geisberger et al. 2008). Searches stop at the time limit: the
meeting node of a path within the limit is within it from both ends, so nothing is lost.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from zonesblanches.coverage._ch_kernels import _grow, _hpop, _hpush

_CACHE = True


@nb.njit(cache=_CACHE)
def _search(s, limit, ptr, nbr, w, dist, stamp, cur, hk, hv, sn, sd):
    """Dijkstra from ``s`` over the edges ``ptr``/``nbr``/``w``, nodes beyond ``limit`` left
    out; the settled nodes and their times go to ``sn``/``sd``, their number is returned."""
    dist[s] = 0.0
    stamp[s] = cur
    size = _hpush(hk, hv, 0, 0.0, s)
    k = 0
    while size > 0:
        d = hk[0]
        u = hv[0]
        size = _hpop(hk, hv, size)
        if d > dist[u]:
            continue
        sn[k] = u
        sd[k] = d
        k += 1
        for e in range(ptr[u], ptr[u + 1]):
            x = nbr[e]
            nd = d + w[e]
            if nd <= limit and (stamp[x] != cur or nd < dist[x]):
                dist[x] = nd
                stamp[x] = cur
                size = _hpush(hk, hv, size, nd, x)
    return k


@nb.njit(cache=_CACHE)
def many_to_many(up_ptr, up_to, up_w, dn_ptr, dn_from, dn_w, src, src_limit, tgt, first,
                 max_entries):  # fmt: skip
    """Shortest times from every source to the targets ``tgt[first:]`` within each source's
    limit, filling the buckets until they hold ``max_entries`` entries (at least one target).

    Returns ``(stop, i, j, seconds)``: the targets done are ``tgt[first:stop]``; each found
    pair is source ``src[i]``, target ``tgt[j]`` (``j`` indexes ``tgt``), time ``seconds``
    (at most ``src_limit[i]``).
    """
    n = len(up_ptr) - 1
    dist = np.empty(n)
    stamp = np.zeros(n, np.int64)
    cap = max(len(up_to), len(dn_from)) + 2
    hk = np.empty(cap)
    hv = np.empty(cap, np.int32)
    sn = np.empty(n, np.int32)
    sd = np.empty(n)
    limit = 0.0
    for i in range(len(src)):
        limit = max(limit, src_limit[i])
    # Backward searches from the targets: bucket entries (node, target, time node → target).
    bn = np.empty(1 << 16, np.int32)
    bj = np.empty(1 << 16, np.int32)
    bd = np.empty(1 << 16)
    nbk = 0
    cur = 0
    stop = first
    while stop < len(tgt) and (stop == first or nbk < max_entries):
        cur += 1
        k = _search(tgt[stop], limit, dn_ptr, dn_from, dn_w, dist, stamp, cur, hk, hv, sn, sd)
        while nbk + k > len(bn):
            bn = _grow(bn)
            bj = _grow(bj)
            bd = _grow(bd)
        for a in range(k):
            bn[nbk] = sn[a]
            bj[nbk] = stop
            bd[nbk] = sd[a]
            nbk += 1
        stop += 1
    # Buckets as CSR by node (counting sort).
    bptr = np.zeros(n + 1, np.int64)
    for a in range(nbk):
        bptr[bn[a] + 1] += 1
    for v in range(n):
        bptr[v + 1] += bptr[v]
    fill = bptr[:-1].copy()
    bjs = np.empty(nbk, np.int32)
    bds = np.empty(nbk)
    for a in range(nbk):
        p = fill[bn[a]]
        bjs[p] = bj[a]
        bds[p] = bd[a]
        fill[bn[a]] += 1
    # Forward searches from the sources, scanning the buckets of the nodes they settle.
    best = np.empty(len(tgt))
    seen = np.zeros(len(tgt), np.int64)
    touched = np.empty(len(tgt), np.int32)
    oi = np.empty(1 << 16, np.int32)
    oj = np.empty(1 << 16, np.int32)
    od = np.empty(1 << 16)
    no = 0
    for i in range(len(src)):
        cur += 1
        lim = src_limit[i]
        k = _search(src[i], lim, up_ptr, up_to, up_w, dist, stamp, cur, hk, hv, sn, sd)
        nt = 0
        for a in range(k):
            m = sn[a]
            d1 = sd[a]
            for p in range(bptr[m], bptr[m + 1]):
                tot = d1 + bds[p]
                if tot <= lim:
                    j = bjs[p]
                    if seen[j] != i + 1:
                        seen[j] = i + 1
                        best[j] = tot
                        touched[nt] = j
                        nt += 1
                    elif tot < best[j]:
                        best[j] = tot
        while no + nt > len(oi):
            oi = _grow(oi)
            oj = _grow(oj)
            od = _grow(od)
        for a in range(nt):
            oi[no] = i
            oj[no] = touched[a]
            od[no] = best[touched[a]]
            no += 1
    return stop, oi[:no].copy(), oj[:no].copy(), od[:no].copy()
