"""The road network of one travel mode, as plain arrays.

This is the contract between the network builders (:mod:`zonesblanches.geodata.osm`: OSM PBF,
OSM XML, GraphML, download) and the travel-time engine (:mod:`zonesblanches.coverage.network`).
It holds arrays, not a networkx graph, so that the engine can build a sparse matrix without a
Python loop over edges.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass
class RoadNetwork:
    """A directed graph of one mode with travel times on its edges.

    Attributes
    ----------
    mode : str
        ``marche``, ``velo`` or ``voiture``.
    node_id : numpy.ndarray
        int64 OSM node ids, one per node; node ``i`` of the arrays below is ``node_id[i]``.
    x, y : numpy.ndarray
        Node coordinates in Lambert-93 metres (EPSG:2154).
    tail, head : numpy.ndarray
        int64 node positions of each directed edge (from ``tail`` to ``head``). A two-way street
        appears twice, once in each direction.
    length_m : numpy.ndarray
        Edge length in metres.
    time_s : numpy.ndarray
        Edge travel time in seconds for this mode (strictly positive).
    source : str
        Where the network comes from, in French, for the provenance of outputs
        (e.g. ``"OpenStreetMap, extrait andorra.osm.pbf"``).
    meta : dict
        Free build metadata (rules version, parameters, counts).
    """

    mode: str
    node_id: np.ndarray
    x: np.ndarray
    y: np.ndarray
    tail: np.ndarray
    head: np.ndarray
    length_m: np.ndarray
    time_s: np.ndarray
    source: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.node_id)

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return len(self.tail)

    def to_csr(self, weight: str = "time_s") -> sp.csr_matrix:
        """Sparse adjacency matrix ``A[tail, head] = weight``, keeping the smallest parallel edge."""
        w = np.asarray(getattr(self, weight), dtype=float)
        n = self.n_nodes
        # Sort so that, among parallel edges, the smallest weight comes first, then keep it.
        order = np.lexsort((w, self.head, self.tail))
        t, h, w = self.tail[order], self.head[order], w[order]
        keep = np.ones(len(t), dtype=bool)
        keep[1:] = (t[1:] != t[:-1]) | (h[1:] != h[:-1])
        return sp.csr_matrix((w[keep], (t[keep], h[keep])), shape=(n, n))
