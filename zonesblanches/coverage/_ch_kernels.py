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
def _witness(src, skip, excl, limit, settle_limit, max_hops, ohead, onext, eto, ew, wd, hop, thru,
             stamp, cur, hk, hv, left, is_target, tstamp):  # fmt: skip
    """Local Dijkstra from ``src`` in the remaining graph, avoiding node ``skip``.

    Stops beyond ``limit``, after ``settle_limit`` settled nodes, or once the ``left`` marked
    targets are settled; does not relax edges out of a node reached in ``max_hops`` edges.
    Tentative distances are left in ``wd`` (valid where ``stamp == cur``): each is the length of
    a real path avoiding ``skip``, so a target whose tentative distance is at most a shortcut's
    length has a witness. Stopping early only adds shortcuts that were not needed, never wrong
    ones. ``thru[x]`` tells whether the path behind ``wd[x]`` goes through a node where
    ``excl`` is true (another node of the same round, see :mod:`._ch_rounds`; of two paths of
    the same length, the one avoiding them is kept).
    """
    wd[src] = 0.0
    hop[src] = 0
    thru[src] = False
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
        if hop[u] >= max_hops:
            continue
        h = hop[u] + 1
        tu = thru[u]
        e = ohead[u]
        while e != -1:
            x = eto[e]
            if x != skip:
                nd = d + ew[e]
                if nd <= limit and size < cap:
                    t = tu or excl[x]
                    if stamp[x] != cur or nd < wd[x]:
                        wd[x] = nd
                        hop[x] = h
                        thru[x] = t
                        stamp[x] = cur
                        size = _hpush(hk, hv, size, nd, x)
                    elif nd == wd[x] and thru[x] and not t:
                        thru[x] = False
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
def _evaluate(v, excl, settle, max_hops, collect, ohead, onext, ihead, inext, efrom, eto, ew,
              mark, pos, in_n, in_w, out_n, out_w, wd, hop, thru, stamp, tstamp, is_target, hk, hv,
              cnt, sc_from, sc_to, sc_w):  # fmt: skip
    """Shortcuts that contracting ``v`` would add (stored in ``sc_*`` if ``collect``).

    For each in-neighbour ``u`` one witness search towards every out-neighbour ``x``; the pair
    gets a shortcut ``u -> x`` unless a path avoiding ``v`` was found at most as long (strictly
    shorter if it goes through an ``excl`` node: see :mod:`._ch_rounds`). Leaves the distinct in- and out-neighbours with their weights in ``in_n``/``in_w`` and
    ``out_n``/``out_w``. Returns ``(shortcuts, in-degree, out-degree, sc_from, sc_to, sc_w)``
    (the shortcut arrays grow when full).
    """
    ki = _gather(v, ihead, inext, efrom, ew, mark, pos, in_n, in_w)
    ko = _gather(v, ohead, onext, eto, ew, mark, pos, out_n, out_w)
    if ki < 0 or ko < 0:
        raise ValueError("node degree too high for the contraction")
    nsc = 0
    for a in range(ki):
        u = in_n[a]
        lim = 0.0
        cnt[0] += 1
        cur = cnt[0]
        nt = np.int64(0)  # not a literal 0: _witness compiled once (see contract)
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
        _witness(u, v, excl, lim, settle, max_hops, ohead, onext, eto, ew, wd, hop, thru, stamp,
                 cur, hk, hv, nt, is_target, tstamp)  # fmt: skip
        for b in range(ko):
            x = out_n[b]
            if x == u:
                continue
            c = in_w[a] + out_w[b]
            if stamp[x] == cur and (wd[x] < c or (wd[x] == c and not thru[x])):
                continue
            if collect:
                if nsc == len(sc_from):
                    sc_from = _grow(sc_from)
                    sc_to = _grow(sc_to)
                    sc_w = _grow(sc_w)
                sc_from[nsc] = u
                sc_to[nsc] = x
                sc_w[nsc] = c
            nsc += 1
    return nsc, ki, ko, sc_from, sc_to, sc_w


@nb.njit(cache=_CACHE, inline="always")
def _priority(nsc, ki, ko, deleted, level):
    """Contraction priority of a node, smallest first: twice the edge difference (shortcuts
    added minus edges removed), plus contracted neighbours and level (both spread the
    contraction evenly over the network)."""
    return 2.0 * (nsc - ki - ko) + deleted + level


@nb.njit(cache=_CACHE)
def _qpush(qk, qv, qsize, key, v, prio, contracted):
    """Push ``v`` with priority ``key`` on the lazy queue, first dropping its stale entries
    (contracted nodes, outdated priorities) if it is full."""
    if qsize == len(qk):
        k2 = 0
        for i in range(qsize):
            if not contracted[qv[i]] and qk[i] == prio[qv[i]]:
                qk[k2] = qk[i]
                qv[k2] = qv[i]
                k2 += 1
        qsize = 0
        for i in range(k2):
            qsize = _hpush(qk, qv, qsize, qk[i], qv[i])
    return _hpush(qk, qv, qsize, key, v)


@nb.njit(cache=_CACHE)
def _edge_arrays(cap):
    """Empty edge store of ``cap`` slots: tail, head, weight, out-list and in-list links."""
    return (
        np.empty(cap, np.int32), np.empty(cap, np.int32), np.empty(cap),
        np.empty(cap, np.int32), np.empty(cap, np.int32), np.empty(cap, np.int32),
        np.empty(cap, np.int32),
    )  # fmt: skip


@nb.njit(cache=_CACHE)
def _rebuild(ohead, ihead, eto, ew, onext, cap):
    """Live edges copied into fresh arrays of ``cap`` slots, each out-list contiguous.

    Contracting nodes unlinks their edges and appends shortcuts at the end, so after a while an
    out-list jumps all over memory; copied in node order, a witness search reads its edges
    sequentially. In-lists are relinked over the new slots. Returns the new arrays and the
    number of slots used.
    """
    n = len(ohead)
    nf, nt, nw, non, nop, nin, nip = _edge_arrays(cap)
    k = 0
    for u in range(n):
        e = ohead[u]
        first = k
        while e != -1:
            nf[k] = u
            nt[k] = eto[e]
            nw[k] = ew[e]
            nop[k] = k - 1 if k > first else -1
            non[k] = k + 1
            k += 1
            e = onext[e]
        if k > first:
            non[k - 1] = -1
            ohead[u] = first
        else:
            ohead[u] = -1
    for x in range(n):
        ihead[x] = -1
    for e in range(k - 1, -1, -1):
        x = nt[e]
        nin[e] = ihead[x]
        nip[e] = -1
        if ihead[x] != -1:
            nip[ihead[x]] = e
        ihead[x] = e
    return nf, nt, nw, non, nop, nin, nip, k


@nb.njit(cache=_CACHE, inline="always")
def _detach(v, head, nxt, other, ohead, onext, oprev, ew, mine, theirs, hw, nh):
    """Move the edges along one list of ``v`` (``head``/``nxt``, other ends ``other``) into the
    hierarchy, ``v`` in ``mine`` and the other end in ``theirs`` from ``nh`` on, and unlink
    each from the opposite list of its other end (``ohead``/``onext``/``oprev``); return the
    new ``nh``."""
    e = head[v]
    while e != -1:
        x = other[e]
        mine[nh] = v
        theirs[nh] = x
        hw[nh] = ew[e]
        nh += 1
        if oprev[e] != -1:
            onext[oprev[e]] = onext[e]
        else:
            ohead[x] = onext[e]
        if onext[e] != -1:
            oprev[onext[e]] = oprev[e]
        e = nxt[e]
    return nh


@nb.njit(cache=_CACHE)
def _insert(sc_from, sc_to, sc_w, lo, hi, used, efrom, eto, ew, onext, oprev, inext, iprev, ohead,
            ihead):  # fmt: skip
    """Shortcuts ``lo:hi`` of ``sc_*`` into the remaining graph: an edge ``u -> x`` already
    there keeps the smaller weight, a new one takes slot ``used`` onwards (there must be room);
    return the number of new edges."""
    added = 0
    for s in range(lo, hi):
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
        _link(used + added, u, x, c, efrom, eto, ew, onext, oprev, inext, iprev, ohead, ihead)
        added += 1
    return added


@nb.njit(cache=_CACHE)
def _load(indptr, indices, data):
    """Edge store of a CSR graph (self-loops dropped): the edge arrays (room for twice the
    edges), the list heads and the number of slots used."""
    n = len(indptr) - 1
    efrom, eto, ew, onext, oprev, inext, iprev = _edge_arrays(2 * len(indices) + 16)
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
    return efrom, eto, ew, onext, oprev, inext, iprev, ohead, ihead, used


@nb.njit(cache=_CACHE)
def _with_core(rank, level, contracted, hf, ht, hw, nh, live, ohead, onext, eto, ew):
    """The result of a contraction: the uncontracted nodes (the core) rank above every
    contracted one (``n``), their remaining edges join the hierarchy's ``nh`` edges."""
    n = len(rank)
    if nh + live > len(hw):
        size = len(hw)
        while nh + live > size:
            size *= 2
        hf2, ht2, hw2 = np.empty(size, np.int32), np.empty(size, np.int32), np.empty(size)
        hf2[:nh] = hf[:nh]
        ht2[:nh] = ht[:nh]
        hw2[:nh] = hw[:nh]
        hf, ht, hw = hf2, ht2, hw2
    for u in range(n):
        if contracted[u]:
            continue
        rank[u] = n
        e = ohead[u]
        while e != -1:
            hf[nh] = u
            ht[nh] = eto[e]
            hw[nh] = ew[e]
            nh += 1
            e = onext[e]
    return rank, level, hf[:nh].copy(), ht[:nh].copy(), hw[:nh].copy()


@nb.njit(cache=_CACHE)
def contract(indptr, indices, data, settle_sim, settle_real, hops_sim, core_nodes, core_degree):
    """Contract the nodes of a directed graph, the least important first, until a *core* is
    left; return each node's rank and the final edges.

    Parameters
    ----------
    indptr, indices, data : numpy.ndarray
        CSR arrays of the graph (edge ``u -> indices[k]`` of weight ``data[k] > 0`` for ``k`` in
        ``indptr[u]:indptr[u+1]``).
    settle_sim, settle_real : int
        Settled-node limits of the witness searches when estimating a node's priority and when
        contracting it.
    hops_sim : int
        Hop limit of the witness searches that estimate a priority.
    core_nodes, core_degree : int, float
        The contraction stops, leaving the remaining nodes uncontracted (the core), once at most
        ``core_nodes`` nodes remain, or once their remaining edges exceed ``core_degree`` per
        node (``core_nodes = 0`` and ``core_degree = inf``: every node is contracted).

    Every node first gets a priority from a cheap simulated contraction (bounded witness
    searches, shortcuts counted, not stored). Priorities are then updated lazily: the node at
    the top of the queue is simulated again (if a neighbour was contracted since its last
    simulation), and put back if its new priority is no longer the smallest; otherwise it is
    contracted with the full witness searches (``settle_real``, no hop limit), whose shortcuts
    are stored. The simulations only choose the order; the shortcuts, and so the exactness,
    come from the contraction's own searches.

    Returns
    -------
    rank : int32 array
        Contraction order of each node (0 first); ``n`` for the nodes of the core.
    level : int32 array
        Level of each node: every edge of the hierarchy joins a node to one of strictly higher
        level and rank, so decreasing level is a valid order for the downward sweep.
    efrom, eto, ew : arrays
        Every edge of the hierarchy: the original edges (parallel ones reduced to the fastest,
        self-loops dropped) and the shortcuts, each one a real path of the graph; the edges
        between two nodes of the core come last.
    """
    n = len(indptr) - 1
    efrom, eto, ew, onext, oprev, inext, iprev, ohead, ihead, used = _load(indptr, indices, data)

    live = used
    hf = np.empty(len(ew), np.int32)
    ht = np.empty(len(ew), np.int32)
    hw = np.empty(len(ew))
    nh = np.int64(0)
    last_rebuild = n
    contracted = np.zeros(n, np.bool_)
    deleted = np.zeros(n, np.int32)
    level = np.zeros(n, np.int32)
    rank = np.full(n, -1, np.int32)
    wd = np.empty(n)
    hop = np.empty(n, np.int32)
    thru = np.zeros(n, np.bool_)
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
    nbr = np.empty(2 * maxdeg, np.int32)
    sc_from = np.empty(1 << 16, np.int32)
    sc_to = np.empty(1 << 16, np.int32)
    sc_w = np.empty(1 << 16)
    cnt = np.zeros(1, np.int64)
    # Typed variables, not literal constants, and the node as int32: numba would compile
    # ``_evaluate`` once per literal value or node type passed; with these types the rounds'
    # kernels (``_ch_rounds``) reuse the same compilation.
    big = np.int64(1 << 30)
    no = np.bool_(False)
    yes = np.bool_(True)
    prio = np.empty(n)
    diff = np.empty(n)
    dirty = np.zeros(n, np.bool_)
    qk = np.empty(4 * n + 16)
    qv = np.empty(4 * n + 16, np.int32)
    qsize = 0
    for v in range(n):
        nsc, ki, ko, sc_from, sc_to, sc_w = _evaluate(
            np.int32(v), contracted, settle_sim, hops_sim, no, ohead, onext, ihead, inext, efrom, eto, ew, mark, pos,
            in_n, in_w, out_n, out_w, wd, hop, thru, stamp, tstamp, is_target, hk, hv, cnt, sc_from,
            sc_to, sc_w)  # fmt: skip
        diff[v] = nsc - ki - ko
        prio[v] = _priority(nsc, ki, ko, 0, 0)
        qsize = _hpush(qk, qv, qsize, prio[v], v)
    order = 0
    while qsize > 0:
        remaining = n - order
        if remaining <= core_nodes or live > core_degree * remaining:
            break
        v = qv[0]
        p0 = qk[0]
        qsize = _hpop(qk, qv, qsize)
        if contracted[v] or p0 != prio[v]:
            continue
        if qsize > 0:
            if dirty[v]:
                # A neighbour was contracted since v's last simulation: simulate again.
                nsc, ki, ko, sc_from, sc_to, sc_w = _evaluate(
                    np.int32(v), contracted, settle_sim, hops_sim, no, ohead, onext, ihead, inext, efrom, eto, ew,
                    mark, pos, in_n, in_w, out_n, out_w, wd, hop, thru, stamp, tstamp, is_target, hk,
                    hv, cnt, sc_from, sc_to, sc_w)  # fmt: skip
                diff[v] = nsc - ki - ko
                dirty[v] = False
            newp = _priority(diff[v], 0, 0, deleted[v], level[v])
            if newp > qk[0]:
                prio[v] = newp
                qsize = _qpush(qk, qv, qsize, newp, v, prio, contracted)
                continue
        nsc, ki, ko, sc_from, sc_to, sc_w = _evaluate(
            np.int32(v), contracted, settle_real, big, yes, ohead, onext, ihead, inext, efrom, eto, ew, mark, pos,
            in_n, in_w, out_n, out_w, wd, hop, thru, stamp, tstamp, is_target, hk, hv, cnt, sc_from,
            sc_to, sc_w)  # fmt: skip

        # Contract v: its edges join the hierarchy and leave its neighbours' lists, then the
        # shortcuts are added.
        contracted[v] = True
        rank[v] = order
        order += 1
        if nh + ki + ko > len(hw):  # v has one edge per distinct neighbour
            hf = _grow(hf)
            ht = _grow(ht)
            hw = _grow(hw)
        nh0 = nh
        # Out-edges v -> x (v is their tail), then in-edges u -> v (v is their head).
        nh = _detach(v, ohead, onext, eto, ihead, inext, iprev, ew, hf, ht, hw, nh)
        nh = _detach(v, ihead, inext, efrom, ohead, onext, oprev, ew, ht, hf, hw, nh)
        live -= nh - nh0
        ohead[v] = -1
        ihead[v] = -1
        remaining = n - order
        if used + nsc > len(ew) or 2 * remaining < last_rebuild:
            # Out of slots, or half the nodes gone since the last copy: copy the live edges
            # contiguously (twice the room if they fill more than half of it).
            size = len(ew)
            while 2 * (live + nsc) > size:
                size *= 2
            efrom, eto, ew, onext, oprev, inext, iprev, used = _rebuild(
                ohead, ihead, eto, ew, onext, size)  # fmt: skip
            last_rebuild = remaining
        added = _insert(sc_from, sc_to, sc_w, np.int64(0), nsc, used, efrom, eto, ew, onext, oprev,
                        inext, iprev, ohead, ihead)  # fmt: skip
        live += added
        used += added
        # Distinct neighbours: one more deleted neighbour, a level above v's.
        nn = 0
        for a in range(ki + ko):
            w = in_n[a] if a < ki else out_n[a - ki]
            if mark[w] != v:
                mark[w] = v
                nbr[nn] = w
                nn += 1
                dirty[w] = True
                deleted[w] += 1
                level[w] = max(level[w], level[v] + 1)
        for a in range(nn):
            mark[nbr[a]] = -1
    return _with_core(rank, level, contracted, hf, ht, hw, nh, live, ohead, onext, eto, ew)


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
