"""Contraction by rounds of independent nodes, their witness searches in parallel (numba).

Private module: the public interface is :mod:`zonesblanches.coverage.hierarchy`. Same edge store,
witness searches, priority formula and result as :func:`._ch_kernels.contract`; the order of
work differs. Each round:

1. selects the remaining nodes whose priority is smaller than that of every remaining
   neighbour (ties broken by node number): no two of them are adjacent, and the node of
   smallest priority is always one, so every round makes progress;
2. searches their witnesses (the full searches of a contraction), all at once, in parallel, on
   the graph as it stands. A node whose priority was stale (a neighbour contracted since it
   was estimated) takes its priority from these searches' shortcut count; the nodes still
   local minima are kept (a subset: still independent, their shortcuts already found). So a
   node is estimated by a simulated contraction only once, at the start: later estimates are
   the real contraction's own searches;
3. contracts the kept nodes one after the other in node order (their edges join the
   hierarchy, their shortcuts are inserted, their neighbours' priorities become stale).

Exactness: a witness found in step 2 may go through another node ``w`` selected in the round,
which may be contracted too. Such a witness is accepted only if it is strictly shorter than the path through
the node being contracted (one that avoids the round's nodes may be as long). Then no shortest
path is lost: replacing, in a shortest path, a contracted node by its shortcut or by its witness
either removes a node of the round without adding one, or gives a strictly shorter path, which
cannot be. Rounds are independent sets, so no shortcut ends at a node of the same round.

Determinism: steps 1 and 3 are sequential; in step 2 (and the first estimates) each node's
result depends on the graph and on the node only, never on which thread computes it or when. So the hierarchy is the
same, edge for edge, whatever the number of threads (``tests/test_engine.py`` checks it).

Reference: C. Vetter, « Parallel Time-Dependent Contraction Hierarchies », student research
project, Karlsruhe Institute of Technology, 2009 (independent node sets contracted in parallel).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from zonesblanches.coverage._ch_kernels import (
    _detach,
    _evaluate,
    _grow,
    _insert,
    _load,
    _priority,
    _rebuild,
    _with_core,
)

_CACHE = True

_MAXDEG = 1 << 14
"""Distinct neighbours a node may have when it is evaluated (as in ``_ch_kernels``)."""


@nb.njit(cache=_CACHE)
def _scratch(threads, n):
    """Per-thread work arrays of the witness searches (one row per thread)."""
    return (
        np.empty((threads, n)), np.empty((threads, n), np.int32), np.zeros((threads, n), np.bool_),
        np.zeros((threads, n), np.int64), np.zeros((threads, n), np.int64),
        np.zeros((threads, n), np.bool_), np.full((threads, n), -1, np.int32),
        np.empty((threads, n), np.int32), np.empty((threads, 1 << 15)),
        np.empty((threads, 1 << 15), np.int32), np.empty((threads, _MAXDEG), np.int32),
        np.empty((threads, _MAXDEG)), np.empty((threads, _MAXDEG), np.int32),
        np.empty((threads, _MAXDEG)), np.zeros((threads, 1), np.int64),
    )  # fmt: skip


@nb.njit(cache=_CACHE)
def _evaluate_some(t, step, nodes, excl, settle, max_hops, collect, offset, sc_from, sc_to, sc_w,
                   nsc, ki, ko, ohead, onext, ihead, inext, efrom, eto, ew, scratch):  # fmt: skip
    """:func:`._ch_kernels._evaluate` of ``nodes[t::step]`` with the work arrays of row ``t``:
    node ``nodes[i]`` gets its counts in ``nsc[i]``, ``ki[i]``, ``ko[i]`` and, if ``collect``,
    its shortcuts in ``sc_*[offset[i]:offset[i + 1]]`` (room for one per pair of edges, never
    exceeded)."""
    wd, hop, thru, stamp, tstamp, is_target, mark, pos, hk, hv, in_n, in_w, out_n, out_w, cnt = (
        scratch
    )
    for i in range(t, len(nodes), step):
        lo, hi = offset[i], offset[i + 1]
        a, b, c, r1, r2, r3 = _evaluate(
            nodes[i], excl, settle, max_hops, collect, ohead, onext, ihead, inext, efrom, eto,
            ew, mark[t], pos[t], in_n[t], in_w[t], out_n[t], out_w[t], wd[t], hop[t], thru[t],
            stamp[t], tstamp[t], is_target[t], hk[t], hv[t], cnt[t], sc_from[lo:hi],
            sc_to[lo:hi], sc_w[lo:hi])  # fmt: skip
        nsc[i] = a
        ki[i] = b
        ko[i] = c


@nb.njit(cache=_CACHE, parallel=True)
def _evaluate_parallel(nodes, excl, settle, max_hops, collect, offset, sc_from, sc_to, sc_w, nsc,
                       ki, ko, ohead, onext, ihead, inext, efrom, eto, ew, scratch):  # fmt: skip
    """:func:`_evaluate_some` of every node, spread over the rows of work arrays in parallel."""
    rows = scratch[0].shape[0]
    for t in nb.prange(rows):
        _evaluate_some(np.int64(t), rows, nodes, excl, settle, max_hops, collect, offset, sc_from,
                       sc_to, sc_w, nsc, ki, ko, ohead, onext, ihead, inext, efrom, eto, ew,
                       scratch)  # fmt: skip


@nb.njit(cache=_CACHE)
def _evaluate_all(nodes, excl, settle, max_hops, collect, offset, sc_from, sc_to, sc_w, nsc, ki, ko,
                  ohead, onext, ihead, inext, efrom, eto, ew, scratch, parallel_min):  # fmt: skip
    """:func:`._ch_kernels._evaluate` of every node of ``nodes`` (see :func:`_evaluate_some`),
    in parallel from ``parallel_min`` nodes on (below, starting the threads costs more than it
    saves); the results do not depend on it."""
    if len(nodes) >= parallel_min and scratch[0].shape[0] > 1:
        _evaluate_parallel(nodes, excl, settle, max_hops, collect, offset, sc_from, sc_to, sc_w,
                           nsc, ki, ko, ohead, onext, ihead, inext, efrom, eto, ew,
                           scratch)  # fmt: skip
    else:
        _evaluate_some(np.int64(0), np.int64(1), nodes, excl, settle, max_hops, collect, offset,
                       sc_from, sc_to, sc_w, nsc, ki, ko, ohead, onext, ihead, inext, efrom, eto,
                       ew, scratch)  # fmt: skip


@nb.njit(cache=_CACHE)
def _degree(head, nxt, v):
    k = 0
    e = head[v]
    while e != -1:
        k += 1
        e = nxt[e]
    return k


@nb.njit(cache=_CACHE)
def _is_local_min(v, prio, head, nxt, other):
    """No neighbour of ``v`` along one list comes before it (smaller priority, or equal and a
    smaller number)."""
    e = head[v]
    while e != -1:
        w = other[e]
        if prio[w] < prio[v] or (prio[w] == prio[v] and w < v):
            return False
        e = nxt[e]
    return True


@nb.njit(cache=_CACHE)
def _is_min(v, prio, ohead, onext, eto, ihead, inext, efrom):
    """``v`` comes before each of its neighbours, either way."""
    return _is_local_min(v, prio, ohead, onext, eto) and _is_local_min(v, prio, ihead, inext, efrom)


@nb.njit(cache=_CACHE)
def contract_rounds(indptr, indices, data, settle_sim, settle_real, hops_sim, core_nodes,
                    core_degree, threads, parallel_min):  # fmt: skip
    """Contract the nodes of a directed graph by rounds of independent nodes (module
    docstring); same parameters and result as :func:`._ch_kernels.contract`, plus ``threads``,
    the rows of work arrays (one per thread), and ``parallel_min``, the nodes searched at once
    from which the threads are used (the result depends on neither)."""
    n = len(indptr) - 1
    efrom, eto, ew, onext, oprev, inext, iprev, ohead, ihead, used = _load(indptr, indices, data)
    live = used
    hf = np.empty(len(ew), np.int32)
    ht = np.empty(len(ew), np.int32)
    hw = np.empty(len(ew))
    nh = np.int64(0)  # typed, not a literal 0: see _ch_kernels.contract
    last_rebuild = n
    contracted = np.zeros(n, np.bool_)
    excl = np.zeros(n, np.bool_)
    deleted = np.zeros(n, np.int32)
    level = np.zeros(n, np.int32)
    rank = np.full(n, -1, np.int32)
    diff = np.empty(n)
    prio = np.empty(n)
    scratch = _scratch(threads, n)
    mark = np.full(n, -1, np.int32)
    # Initial priorities, every node at once.
    nodes = np.arange(n).astype(np.int32)
    nsc = np.empty(n, np.int64)
    ki = np.empty(n, np.int64)
    ko = np.empty(n, np.int64)
    zero = np.zeros(n + 1, np.int64)
    sc_from = np.empty(1 << 16, np.int32)
    sc_to = np.empty(1 << 16, np.int32)
    sc_w = np.empty(1 << 16)
    _evaluate_all(nodes, excl, settle_sim, hops_sim, np.bool_(False), zero, sc_from, sc_to, sc_w,
                  nsc, ki, ko, ohead, onext, ihead, inext, efrom, eto, ew, scratch,
                  parallel_min)  # fmt: skip
    for v in range(n):
        diff[v] = nsc[v] - ki[v] - ko[v]
        prio[v] = _priority(diff[v], 0, 0, 0, 0)
    remain = nodes
    nrem = n
    order = 0
    batch = np.empty(n, np.int32)
    offset = np.empty(n + 1, np.int64)
    dirty = np.zeros(n, np.bool_)
    stop = False
    while nrem > 0 and not stop:
        # 1. Local minima of the priority.
        nb_ = 0
        for i in range(nrem):
            v = remain[i]
            if _is_min(v, prio, ohead, onext, eto, ihead, inext, efrom):
                batch[nb_] = v
                nb_ += 1
        # 2. Their witness searches, in parallel, on the graph as it stands; stale priorities
        # updated from them, the nodes still local minima kept.
        offset[0] = 0
        for i in range(nb_):
            v = batch[i]
            excl[v] = True
            offset[i + 1] = offset[i] + _degree(ihead, inext, v) * _degree(ohead, onext, v)
        if offset[nb_] > len(sc_w):
            size = len(sc_w)
            while offset[nb_] > size:
                size *= 2
            sc_from = np.empty(size, np.int32)
            sc_to = np.empty(size, np.int32)
            sc_w = np.empty(size)
        _evaluate_all(batch[:nb_], excl, settle_real, np.int64(1 << 30), np.bool_(True), offset,
                      sc_from, sc_to, sc_w, nsc, ki, ko, ohead, onext, ihead, inext, efrom, eto, ew,
                      scratch, parallel_min)  # fmt: skip
        for i in range(nb_):
            v = batch[i]
            excl[v] = False
            if dirty[v]:
                diff[v] = nsc[i] - ki[i] - ko[i]
                prio[v] = _priority(diff[v], 0, 0, deleted[v], level[v])
                dirty[v] = False
        keep = np.zeros(nb_, np.bool_)
        for i in range(nb_):
            keep[i] = _is_min(batch[i], prio, ohead, onext, eto, ihead, inext, efrom)
        # 3. The kept ones contracted one after the other, in node order.
        for i in range(nb_):
            v = batch[i]
            if not keep[i]:
                continue
            remaining = n - order
            if stop or remaining <= core_nodes or live > core_degree * remaining:
                stop = True
                continue
            contracted[v] = True
            rank[v] = order
            order += 1
            need = nh + _degree(ohead, onext, v) + _degree(ihead, inext, v)
            while need > len(hw):
                hf = _grow(hf)
                ht = _grow(ht)
                hw = _grow(hw)
            nh0 = nh
            nh = _detach(v, ohead, onext, eto, ihead, inext, iprev, ew, hf, ht, hw, nh)
            nh = _detach(v, ihead, inext, efrom, ohead, onext, oprev, ew, ht, hf, hw, nh)
            live -= nh - nh0
            for k in range(nh0, nh):  # every neighbour: one more deleted, a level above v
                w = ht[k] if hf[k] == v else hf[k]
                if mark[w] != v:
                    mark[w] = v
                    deleted[w] += 1
                    level[w] = max(level[w], level[v] + 1)
                    prio[w] = _priority(diff[w], 0, 0, deleted[w], level[w])
                    dirty[w] = True
            ohead[v] = -1
            ihead[v] = -1
            k = nsc[i]
            remaining = n - order
            if used + k > len(ew) or 2 * remaining < last_rebuild:
                size = len(ew)
                while 2 * (live + k) > size:
                    size *= 2
                efrom, eto, ew, onext, oprev, inext, iprev, used = _rebuild(
                    ohead, ihead, eto, ew, onext, size)  # fmt: skip
                last_rebuild = remaining
            lo = offset[i]
            added = _insert(sc_from, sc_to, sc_w, lo, lo + k, used, efrom, eto, ew, onext, oprev,
                            inext, iprev, ohead, ihead)  # fmt: skip
            live += added
            used += added
        k = 0
        for i in range(nrem):
            if not contracted[remain[i]]:
                remain[k] = remain[i]
                k += 1
        nrem = k
    return _with_core(rank, level, contracted, hf, ht, hw, nh, live, ohead, onext, eto, ew)
