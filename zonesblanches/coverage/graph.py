"""Graph primitives of the road-network engines: the sparse travel-time matrix and Dijkstra.

The bottom of the engine layer (``graph`` ← ``hierarchy`` ← ``network``): a
:class:`~zonesblanches.geodata.network.RoadNetwork` is checked and turned into a compressed
sparse row matrix ``A[tail, head] = time_s`` (reversed for home → service queries), and
:func:`multi_source_times` answers « how many seconds to the nearest source? » for every node
in one multi-source Dijkstra pass (see :mod:`zonesblanches.coverage.network` for how the
virtual source nodes work).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from zonesblanches._text import fr_count
from zonesblanches.errors import DataError, ParameterError
from zonesblanches.geodata.network import RoadNetwork

_SHIFT_S = 1.0
"""Common shift (seconds) added to every source offset; see the module docstring."""


def check_network(network: RoadNetwork) -> None:
    """Check that a :class:`RoadNetwork` is usable by the engine, or raise.

    Raises
    ------
    DataError
        Arrays of inconsistent lengths, edge ends out of range, travel times that are not
        finite and strictly positive, or coordinates that are not finite (French message).
    """
    n = len(network.node_id)
    if len(network.x) != n or len(network.y) != n:
        raise DataError("Réseau routier incohérent : coordonnées et nœuds en nombres différents.")
    m = len(network.tail)
    if not (len(network.head) == len(network.time_s) == len(network.length_m) == m):
        raise DataError(
            "Réseau routier incohérent : tableaux des tronçons de longueurs différentes."
        )
    if n == 0:
        raise DataError("Le réseau routier est vide : aucun nœud.")
    if not (np.all(np.isfinite(network.x)) and np.all(np.isfinite(network.y))):
        raise DataError("Réseau routier : certains nœuds n'ont pas de coordonnées valides.")
    if m:
        # bounds of each array: no copy of the edge ends (a region's walking network has
        # millions of edges; issue 17: memory)
        tail, head = np.asarray(network.tail), np.asarray(network.head)
        if min(tail.min(), head.min()) < 0 or max(tail.max(), head.max()) >= n:
            raise DataError("Réseau routier : un tronçon désigne un nœud qui n'existe pas.")
        t = np.asarray(network.time_s, dtype=float)
        if not np.all(np.isfinite(t) & (t > 0)):
            bad = int(np.count_nonzero(~(np.isfinite(t) & (t > 0))))
            raise DataError(
                f"Réseau routier : {fr_count(bad, 'tronçon a', 'tronçons ont')} un temps de parcours nul, négatif ou "
                "non défini ; chaque tronçon doit avoir un temps strictement positif."
            )


def prepare_graph(network: RoadNetwork, *, reverse: bool = True) -> sp.csr_matrix:
    """Sparse travel-time matrix of a network, ready for :func:`multi_source_times`.

    Parameters
    ----------
    network : RoadNetwork
        The network of one mode (checked with :func:`check_network`).
    reverse : bool, default True
        If True, the matrix holds the reversed edges (``M[head, tail]``): distances computed
        from sources on it are times **to** the sources on the real directed network (home →
        service). If False, ``M[tail, head]``: times **from** the sources.

    Returns
    -------
    scipy.sparse.csr_matrix
        Square float64 matrix with int32 indices; of parallel edges only the fastest is kept.
    """
    check_network(network)
    n = network.n_nodes
    tail = np.asarray(network.tail, dtype=np.int64)
    head = np.asarray(network.head, dtype=np.int64)
    w = np.asarray(network.time_s, dtype=np.float64)
    # Two paths, the same matrix array for array (tests/test_memory.py), kept apart on
    # purpose: either alone is slower. On 2 M nodes and 6.3 M edges (30 Nov. 2026, two runs,
    # machine loaded; scripts/bench_graph_paths.py), _sort_graph took 1.3-1.9x (tail → head)
    # and 3.1-4.8x (reversed) the time of _sorted_graph on sorted edges (what the OSM loaders
    # give), and sorting unsorted edges to go through _sorted_graph 1.1-1.6x that of
    # _sort_graph (and more temporaries).
    if _sorted_edges(tail, head):
        return _sorted_graph(n, tail, head, w, reverse)
    return _sort_graph(n, tail, head, w, reverse)


def _sort_graph(
    n: int, tail: np.ndarray, head: np.ndarray, w: np.ndarray, reverse: bool
) -> sp.csr_matrix:
    """:func:`prepare_graph` of edges in any order."""
    rows, cols = (head, tail) if reverse else (tail, head)
    # Sort edges by (row, col) through one int64 key, then keep the fastest of each group.
    # Temporaries are let go as soon as used: a region's walking network has millions of edges.
    key = rows * n + cols
    del rows, cols, tail, head
    order = np.argsort(key, kind="stable")
    key = key[order]
    if len(key):
        new = np.empty(len(key), dtype=bool)
        new[0] = True
        np.not_equal(key[1:], key[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        del new
        w = np.minimum.reduceat(w[order], starts)
        key = key[starts]
        del starts
    del order
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(key // n, minlength=n), out=indptr[1:])
    cols = (key % n).astype(np.int32)
    del key
    return sp.csr_matrix((w, cols, indptr), shape=(n, n))


_CHECK_BLOCK = 1 << 20
"""Edges compared at a time by :func:`_sorted_edges` (its temporaries are a few such blocks)."""


def _sorted_edges(tail: np.ndarray, head: np.ndarray) -> bool:
    """True if the edges are sorted by (tail, head), as the OSM loaders give them."""
    for i in range(0, max(len(tail) - 1, 0), _CHECK_BLOCK):
        t, h = tail[i : i + _CHECK_BLOCK + 1], head[i : i + _CHECK_BLOCK + 1]
        same_tail = t[1:] == t[:-1]
        if (t[1:] < t[:-1]).any() or (same_tail & (h[1:] < h[:-1])).any():
            return False
    return True


def _sorted_graph(
    n: int, tail: np.ndarray, head: np.ndarray, w: np.ndarray, reverse: bool
) -> sp.csr_matrix:
    """:func:`prepare_graph` of edges sorted by (tail, head): the same matrix, array for array,
    without sorting. Parallel edges are neighbours (the fastest is kept); the rows of the edges
    as given are counted, and the reversed matrix is their transpose, which scipy builds by one
    counting pass (its rows' columns come out sorted). Temporaries: about 16 bytes an edge,
    against 50 for the sort (issue 17: a region's walking network has 7 million edges)."""
    given = w  # the network's own array: the matrix must not share it
    if len(tail) > 1:
        new = np.empty(len(tail), dtype=bool)
        new[0] = True
        np.not_equal(tail[1:], tail[:-1], out=new[1:])
        new[1:] |= head[1:] != head[:-1]
        if not new.all():
            starts = np.flatnonzero(new)
            del new
            w = np.minimum.reduceat(w, starts)
            tail, head = tail[starts], head[starts]
            del starts
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(tail, minlength=n), out=indptr[1:])
    cols = head.astype(np.int32)
    if not reverse:
        return sp.csr_matrix((w.copy() if w is given else w, cols, indptr), shape=(n, n))
    # the edges by tail are the columns of the reversed matrix: convert to rows
    return sp.csc_matrix((w, cols, indptr), shape=(n, n)).tocsr()


def check_sources(
    n_nodes: int, source_nodes: np.ndarray, offsets: np.ndarray | None, limit: float
) -> tuple[np.ndarray, np.ndarray]:
    """Validate the sources of a query on ``n_nodes`` nodes; return them as int64 and float64.

    Raises :class:`~zonesblanches.errors.ParameterError` (in French) for a source outside the
    network, a number of offsets that differs from the number of sources, a negative or
    non-finite offset, or a negative limit.
    """
    src = np.asarray(source_nodes, dtype=np.int64).ravel()
    k = len(src)
    if k and (src.min() < 0 or src.max() >= n_nodes):
        raise ParameterError("Un nœud source n'existe pas dans le réseau.")
    if offsets is None:
        off = np.zeros(k)
    else:
        off = np.asarray(offsets, dtype=np.float64).ravel()
        if len(off) != k:
            raise ParameterError(
                f"{fr_count(len(off), 'décalage initial', 'décalages initiaux')} pour "
                f"{fr_count(k, 'source')} : il en faut un par source."
            )
        if not np.all(np.isfinite(off) & (off >= 0)):
            raise ParameterError("Les décalages initiaux doivent être finis et positifs ou nuls.")
    if not limit >= 0:
        raise ParameterError(f"La limite de temps doit être positive (reçu : {limit}).")
    return src, off


def multi_source_times(
    graph: sp.csr_matrix,
    source_nodes: np.ndarray,
    offsets: np.ndarray | None = None,
    *,
    limit: float = np.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """Shortest time from the nearest source to every node, in one Dijkstra pass.

    Parameters
    ----------
    graph : scipy.sparse.csr_matrix
        Square matrix of strictly positive edge times, as returned by :func:`prepare_graph`;
        times are computed along its edges, from the sources.
    source_nodes : array of int
        Node position of each source. Several sources may share a node.
    offsets : array of float, optional
        Initial time of each source (seconds, finite, ``>= 0``), e.g. its off-network leg.
        Default zero.
    limit : float, default inf
        Stop exploring beyond this time (seconds); nodes farther away get ``inf``.

    Returns
    -------
    seconds : numpy.ndarray
        float64, one per node: ``min over sources of offset + shortest time``; ``inf`` if no
        source reaches the node (or only beyond ``limit``).
    source_index : numpy.ndarray
        int64, one per node: position in ``source_nodes`` of the source achieving that minimum
        (one of them in case of a tie); ``-1`` where ``seconds`` is ``inf``.
    """
    if not sp.issparse(graph) or graph.shape[0] != graph.shape[1]:
        raise ParameterError("Le graphe doit être une matrice creuse carrée.")
    graph = sp.csr_matrix(graph)
    n = graph.shape[0]
    src, off = check_sources(n, source_nodes, offsets, limit)
    k = len(src)
    if k == 0:
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    # Virtual node n + i --(offset_i + shift)--> src_i, appended as k extra rows.
    end = graph.indptr[-1]
    indptr = np.concatenate([graph.indptr, end + np.arange(1, k + 1)]).astype(np.int32)
    indices = np.concatenate([graph.indices, src], dtype=np.int32)
    data = np.concatenate([graph.data, off + _SHIFT_S], dtype=np.float64)
    aug = sp.csr_matrix((data, indices, indptr), shape=(n + k, n + k))
    dist, _, origin = dijkstra(
        aug,
        directed=True,
        indices=np.arange(n, n + k),
        min_only=True,
        return_predecessors=True,
        limit=limit + _SHIFT_S,
    )
    # the augmented copy of the matrix goes before the results are shaped (a region's
    # walking network: 84 MB; issue 17: memory)
    del aug, data, indices, indptr
    seconds = dist[:n]
    seconds -= _SHIFT_S
    del dist
    reached = np.isfinite(seconds)
    seconds[~reached] = np.inf
    source_index = origin[:n].astype(np.int64)
    del origin
    source_index -= n
    source_index[~reached] = -1
    return seconds, source_index


def nearest_source_times(
    network: RoadNetwork,
    source_nodes: np.ndarray,
    offsets: np.ndarray | None = None,
    *,
    reverse: bool = True,
    limit: float = np.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """Time from every node to its nearest source (or from it, with ``reverse=False``).

    Convenience wrapper: :func:`prepare_graph` then :func:`multi_source_times`. When several
    queries run on the same network, prepare the matrix once (or use :class:`NetworkModel`).

    Parameters
    ----------
    network : RoadNetwork
        Network of one mode.
    source_nodes : array of int
        Node positions of the sources (services).
    offsets : array of float, optional
        Initial time of each source in seconds (default zero).
    reverse : bool, default True
        True: time **from each node to** the nearest source (home → service on a directed
        graph). False: time from the nearest source to each node.
    limit : float, default inf
        Stop beyond this many seconds.

    Returns
    -------
    seconds, source_index : numpy.ndarray
        See :func:`multi_source_times`.
    """
    return multi_source_times(
        prepare_graph(network, reverse=reverse), source_nodes, offsets, limit=limit
    )
