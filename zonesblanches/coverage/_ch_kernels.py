"""Compiled kernels of the contraction hierarchy (numba): contraction and the PHAST query.

Private module: the public interface is :mod:`zonesblanches.coverage.hierarchy`. Every function
here works on plain numpy arrays (node positions as int32/int64, times as float64) and never
allocates per edge in Python.

References
----------
- R. Geisberger, P. Sanders, D. Schultes, D. Delling, « Contraction Hierarchies: Faster and
  Simpler Hierarchical Routing in Road Networks », WEA 2008 (node order by edge difference,
  witness searches, lazy updates).
- D. Delling, A. V. Goldberg, A. Nowatzyk, R. F. Werneck, « PHAST: Hardware-accelerated shortest
  path trees », J. Parallel Distrib. Comput. 73 (2013) (one upward search, then one linear sweep
  over the nodes in decreasing rank).
"""

from __future__ import annotations

import numba as nb
import numpy as np

_CACHE = True


@nb.njit(cache=_CACHE, inline="always")
def _hpush(hk, hv, size, key, val):
    """Push ``(key, val)`` on the binary min-heap ``hk``/``hv`` of ``size`` entries."""
    j = size
    while j > 0:
        p = (j - 1) >> 1
        if hk[p] <= key:
            break
        hk[j] = hk[p]
        hv[j] = hv[p]
        j = p
    hk[j] = key
    hv[j] = val
    return size + 1


@nb.njit(cache=_CACHE, inline="always")
def _hpop(hk, hv, size):
    """Remove the minimum of the heap (read ``hk[0]``, ``hv[0]`` before); return the new size."""
    size -= 1
    if size > 0:
        kd = hk[size]
        kv = hv[size]
        j = 0
        while True:
            c = 2 * j + 1
            if c >= size:
                break
            if c + 1 < size and hk[c + 1] < hk[c]:
                c += 1
            if hk[c] >= kd:
                break
            hk[j] = hk[c]
            hv[j] = hv[c]
            j = c
        hk[j] = kd
        hv[j] = kv
    return size


@nb.njit(cache=_CACHE)
def _witness(src, skip, limit, settle_limit, ohead, onext, eto, ew, wd, stamp, cur, hk, hv, left,
             is_target, tstamp):  # fmt: skip
    """Local Dijkstra from ``src`` in the remaining graph, avoiding node ``skip``.

    Stops beyond ``limit``, after ``settle_limit`` settled nodes, or once the ``left`` marked
    targets are settled. Tentative distances are left in ``wd`` (valid where
    ``stamp == cur``): each is the length of a real path avoiding ``skip``, so a target whose
    tentative distance is at most a shortcut's length has a witness. Stopping early only adds
    shortcuts that were not needed, never wrong ones.
    """
    wd[src] = 0.0
    stamp[src] = cur
    size = _hpush(hk, hv, 0, 0.0, src)
    settled = 0
    cap = len(hk)
    while size > 0:
        d = hk[0]
        u = hv[0]
        size = _hpop(hk, hv, size)
        if d > wd[u]:
            continue
        if d > limit:
            break
        if tstamp[u] == cur and is_target[u]:
            is_target[u] = False
            left -= 1
            if left == 0:
                break
        settled += 1
        if settled > settle_limit:
            break
        e = ohead[u]
        while e != -1:
            x = eto[e]
            if x != skip:
                nd = d + ew[e]
                if nd <= limit and (stamp[x] != cur or nd < wd[x]) and size < cap:
                    wd[x] = nd
                    stamp[x] = cur
                    size = _hpush(hk, hv, size, nd, x)
            e = onext[e]


@nb.njit(cache=_CACHE)
def _gather(v, head, nxt, other, ew, mark, pos, out_n, out_w):
    """Distinct neighbours of ``v`` along one adjacency list, with the smallest weight each."""
    k = 0
    e = head[v]
    while e != -1:
        x = other[e]
        if x != v:
            if mark[x] != v:
                if k == len(out_n):
                    return -1
                mark[x] = v
                pos[x] = k
                out_n[k] = x
                out_w[k] = ew[e]
                k += 1
            elif ew[e] < out_w[pos[x]]:
                out_w[pos[x]] = ew[e]
        e = nxt[e]
    for a in range(k):
        mark[out_n[a]] = -1
    return k


@nb.njit(cache=_CACHE, inline="always")
def _link(e, u, x, w, efrom, eto, ew, onext, oprev, inext, iprev, ohead, ihead):
    """Store edge ``e``: ``u -> x`` of weight ``w``, at the head of u's out-list and x's in-list
    (doubly linked, so that contracting a node can unlink its edges in constant time each)."""
    efrom[e] = u
    eto[e] = x
    ew[e] = w
    onext[e] = ohead[u]
    oprev[e] = -1
    if ohead[u] != -1:
        oprev[ohead[u]] = e
    ohead[u] = e
    inext[e] = ihead[x]
    iprev[e] = -1
    if ihead[x] != -1:
        iprev[ihead[x]] = e
    ihead[x] = e


@nb.njit(cache=_CACHE)
def _grow(a):
    """``a`` copied into an array twice as long."""
    b = np.empty(2 * len(a), a.dtype)
    b[: len(a)] = a
    return b


@nb.njit(cache=_CACHE)
def contract(indptr, indices, data, settle_sim, settle_real):
    """Contract every node of a directed graph; return each node's rank and the final edges.

    Parameters
    ----------
    indptr, indices, data : numpy.ndarray
        CSR arrays of the graph (edge ``u -> indices[k]`` of weight ``data[k] > 0`` for ``k`` in
        ``indptr[u]:indptr[u+1]``).
    settle_sim, settle_real : int
        Settled-node limits of the witness searches when estimating a node's priority and when
        contracting it.

    Returns
    -------
    rank : int32 array
        Contraction order of each node (0 first).
    level : int32 array
        Level of each node: every edge of the hierarchy joins a node to one of strictly higher
        level and rank, so decreasing level is a valid order for the downward sweep.
    efrom, eto, ew : arrays
        Every edge of the hierarchy: the original edges (parallel ones reduced to the fastest,
        self-loops dropped) and the shortcuts, each one a real path of the graph.
    """
    n = len(indptr) - 1
    cap = 2 * len(indices) + 16
    efrom = np.empty(cap, np.int32)
    eto = np.empty(cap, np.int32)
    ew = np.empty(cap)
    onext = np.empty(cap, np.int32)
    oprev = np.empty(cap, np.int32)
    inext = np.empty(cap, np.int32)
    iprev = np.empty(cap, np.int32)
    ohead = np.full(n, -1, np.int32)
    ihead = np.full(n, -1, np.int32)
    used = 0
    for u in range(n):
        for k in range(indptr[u], indptr[u + 1]):
            x = indices[k]
            if x == u:
                continue
            _link(used, u, x, data[k], efrom, eto, ew, onext, oprev, inext, iprev, ohead, ihead)
            used += 1

    contracted = np.zeros(n, np.bool_)
    deleted = np.zeros(n, np.int32)
    level = np.zeros(n, np.int32)
    rank = np.full(n, -1, np.int32)
    wd = np.empty(n)
    stamp = np.zeros(n, np.int64)
    tstamp = np.zeros(n, np.int64)
    is_target = np.zeros(n, np.bool_)
    hk = np.empty(1 << 15)
    hv = np.empty(1 << 15, np.int32)
    mark = np.full(n, -1, np.int32)
    pos = np.empty(n, np.int32)
    maxdeg = 1 << 14
    in_n = np.empty(maxdeg, np.int32)
    in_w = np.empty(maxdeg)
    out_n = np.empty(maxdeg, np.int32)
    out_w = np.empty(maxdeg)
    sc_from = np.empty(1 << 16, np.int32)
    sc_to = np.empty(1 << 16, np.int32)
    sc_w = np.empty(1 << 16)
    prio = np.empty(n)
    qcap = 4 * n + 16
    qk = np.empty(qcap)
    qv = np.empty(qcap, np.int32)
    qsize = 0
    cur = 0
    order = 0
    t = 0
    while True:
        if t < n:
            v = t
            t += 1
            real = False
        else:
            if qsize == 0:
                break
            v = qv[0]
            p0 = qk[0]
            qsize = _hpop(qk, qv, qsize)
            if contracted[v] or p0 != prio[v]:
                continue
            real = True
        ki = _gather(v, ihead, inext, efrom, ew, mark, pos, in_n, in_w)
        ko = _gather(v, ohead, onext, eto, ew, mark, pos, out_n, out_w)
        if ki < 0 or ko < 0:
            raise ValueError("node degree too high for the contraction")
        nsc = 0
        settle = settle_real if real else settle_sim
        for a in range(ki):
            u = in_n[a]
            lim = 0.0
            cur += 1
            nt = 0
            for b in range(ko):
                x = out_n[b]
                if x != u:
                    c = in_w[a] + out_w[b]
                    if c > lim:
                        lim = c
                    if tstamp[x] != cur:
                        tstamp[x] = cur
                        is_target[x] = True
                        nt += 1
            if nt == 0:
                continue
            _witness(u, v, lim, settle, ohead, onext, eto, ew, wd, stamp, cur, hk, hv, nt,
                     is_target, tstamp)  # fmt: skip
            for b in range(ko):
                x = out_n[b]
                if x == u:
                    continue
                c = in_w[a] + out_w[b]
                if stamp[x] == cur and wd[x] <= c:
                    continue
                if real:
                    if nsc == len(sc_from):
                        sc_from = _grow(sc_from)
                        sc_to = _grow(sc_to)
                        sc_w = _grow(sc_w)
                    sc_from[nsc] = u
                    sc_to[nsc] = x
                    sc_w[nsc] = c
                nsc += 1
        newp = 2.0 * (nsc - ki - ko) + deleted[v] + level[v]
        if not real or (qsize > 0 and newp > qk[0]):
            prio[v] = newp
            if qsize == qcap:
                # Drop stale entries (contracted nodes, outdated priorities) and rebuild.
                k2 = 0
                for i in range(qsize):
                    if not contracted[qv[i]] and qk[i] == prio[qv[i]]:
                        qk[k2] = qk[i]
                        qv[k2] = qv[i]
                        k2 += 1
                qsize = 0
                for i in range(k2):
                    qsize = _hpush(qk, qv, qsize, qk[i], qv[i])
            qsize = _hpush(qk, qv, qsize, newp, v)
            continue

        # Contract v: unlink its edges from its neighbours' lists, add the shortcuts.
        contracted[v] = True
        rank[v] = order
        order += 1
        e = ohead[v]
        while e != -1:
            x = eto[e]
            if iprev[e] != -1:
                inext[iprev[e]] = inext[e]
            else:
                ihead[x] = inext[e]
            if inext[e] != -1:
                iprev[inext[e]] = iprev[e]
            e = onext[e]
        e = ihead[v]
        while e != -1:
            u = efrom[e]
            if oprev[e] != -1:
                onext[oprev[e]] = onext[e]
            else:
                ohead[u] = onext[e]
            if onext[e] != -1:
                oprev[onext[e]] = oprev[e]
            e = inext[e]
        for s in range(nsc):
            u = sc_from[s]
            x = sc_to[s]
            c = sc_w[s]
            e = ohead[u]
            found = False
            while e != -1:
                if eto[e] == x:
                    found = True
                    if c < ew[e]:
                        ew[e] = c
                    break
                e = onext[e]
            if found:
                continue
            if used == len(ew):
                efrom = _grow(efrom)
                eto = _grow(eto)
                ew = _grow(ew)
                onext = _grow(onext)
                oprev = _grow(oprev)
                inext = _grow(inext)
                iprev = _grow(iprev)
            _link(used, u, x, c, efrom, eto, ew, onext, oprev, inext, iprev, ohead, ihead)
            used += 1
        for a in range(ki):
            u = in_n[a]
            deleted[u] += 1
            level[u] = max(level[u], level[v] + 1)
        for b in range(ko):
            x = out_n[b]
            deleted[x] += 1
            level[x] = max(level[x], level[v] + 1)
    return rank, level, efrom[:used].copy(), eto[:used].copy(), ew[:used].copy()


@nb.njit(cache=_CACHE)
def phast(up_ptr, up_to, up_w, dn_ptr, dn_from, dn_w, src, off):
    """Multi-source shortest times on a hierarchy whose nodes are numbered by decreasing level.

    One Dijkstra from all sources (initial times ``off``) on the upward edges, then one sweep
    over the nodes in order (decreasing level): each node takes the best of its incoming
    downward edges, whose tails, of higher level, come earlier and are final.

    Returns one interleaved float64 array ``dl``: ``dl[2 v]`` is the time of node ``v``
    (``inf`` where no source reaches), ``dl[2 v + 1]`` the index in ``src`` of the source
    achieving it (``-1``). Reading a tail's time in the sweep brings its label into the cache
    too.
    """
    n = len(up_ptr) - 1
    dl = np.empty(2 * n)
    for v in range(n):
        dl[2 * v] = np.inf
        dl[2 * v + 1] = -1.0
    cap = len(up_to) + len(src) + 1
    hk = np.empty(cap)
    hv = np.empty(cap, np.int32)
    size = 0
    for i in range(len(src)):
        s = src[i]
        if off[i] < dl[2 * s]:
            dl[2 * s] = off[i]
            dl[2 * s + 1] = i
            size = _hpush(hk, hv, size, off[i], s)
    while size > 0:
        du = hk[0]
        u = hv[0]
        size = _hpop(hk, hv, size)
        if du > dl[2 * u]:
            continue
        lab = dl[2 * u + 1]
        for e in range(up_ptr[u], up_ptr[u + 1]):
            x = up_to[e]
            nd = du + up_w[e]
            if nd < dl[2 * x]:
                dl[2 * x] = nd
                dl[2 * x + 1] = lab
                size = _hpush(hk, hv, size, nd, x)
    # Branch-free sweep: the label slot to copy starts as the node's own and moves to the tail's
    # when that tail gives a shorter time.
    e = dn_ptr[0]
    for v in range(n):
        dv = dl[2 * v]
        slot = 2 * v + 1
        end = dn_ptr[v + 1]
        while e < end:
            t = 2 * dn_from[e]
            c = dl[t] + dn_w[e]
            better = c < dv
            dv = c if better else dv
            slot = t + 1 if better else slot
            e += 1
        dl[2 * v] = dv
        dl[2 * v + 1] = dl[slot]
    return dl


@nb.njit(cache=_CACHE)
def query(up_ptr, up_to, up_w, dn_ptr, dn_from, dn_w, newid, src, off, limit):
    """:func:`phast` from the sources ``src`` (original node positions), answered in the
    original node order: times (``inf`` beyond ``limit``) and source indices (``-1``)."""
    n = len(newid)
    first = np.empty(len(src), np.int64)
    for i in range(len(src)):
        first[i] = newid[src[i]]
    dl = phast(up_ptr, up_to, up_w, dn_ptr, dn_from, dn_w, first, off)
    seconds = np.empty(n)
    label = np.empty(n, np.int64)
    for v in range(n):
        j = newid[v]
        d = dl[2 * j]
        if d <= limit:
            seconds[v] = d
            label[v] = np.int64(dl[2 * j + 1])
        else:
            seconds[v] = np.inf
            label[v] = -1
    return seconds, label
